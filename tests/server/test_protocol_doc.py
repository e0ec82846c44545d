"""docs/protocol.md, checked against the real server: each rule a client writer relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.test_robustness import raw_dealer, recv
from twin_app import protocol
from twin_app.core import AddNode, Node, SetField, new_id

pytestmark = pytest.mark.net

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def joined(endpoint: str, room: str, client_id: str = "", color: list[float] | None = None):
    s = raw_dealer(endpoint)
    hello = {"token": "owner-token", "client_id": client_id or new_id(), "name": "raw"}
    if color is not None:
        hello["color"] = color
    s.send_multipart(protocol.encode(protocol.HELLO, hello))
    assert recv(s).type == protocol.WELCOME
    s.send_multipart(protocol.encode(protocol.JOIN, {"room": room}))
    snap = recv(s)
    assert snap.type == protocol.SNAPSHOT
    return s, snap


def until(s, *types: int) -> protocol.Message:
    while (m := recv(s)).type not in types:
        pass
    return m


def test_the_documented_session_works_on_a_new_server(server):
    text = DOC.read_text()
    code = text[text.index("## 10."):].split("```python\n", 1)[1].split("```", 1)[0]
    code, n = re.subn(r'^ENDPOINT, TOKEN = .*$', f'ENDPOINT, TOKEN = "{server.endpoint}", "owner-token"',
                      code, flags=re.M)
    assert n == 1
    for _ in range(2):  # on a new room, then on the room it made
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr


def test_a_ping_answer_never_overtakes_the_ops_it_counts(server, room_name):
    s, snap = joined(server.endpoint, room_name)
    nid = new_id()
    s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": 1, "op": [
        "add", [nid, "root", "V", "part", "p", [0, 0, 0, 0, 0, 0, 1, 1, 1, 1], None, None, 1.0, True, {}]]}))
    for cseq in range(2, 202):
        # An edit and a ping in one go: both are handled in the same server loop turn.
        s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": cseq, "op": ["set", nid, "name", str(cseq)]}))
        s.send_multipart(protocol.encode(protocol.HEARTBEAT, {"t": 1.0}))
    last = snap.body["seq"] + len(snap.body["ops"])
    answered = 0
    while answered < 200:
        m = recv(s)
        if m.type == protocol.OPS:
            last = m.body["first_seq"] + len(m.body["ops"]) - 1
        elif m.type == protocol.HEARTBEAT and "t" in m.body:
            answered += 1
            assert m.body["head_seq"] <= last, "a heartbeat announced ops not sent yet"
    s.close()


@pytest.mark.parametrize("op", [5, "set", {"set": 1}, [], ["set", "x"], None])
def test_a_malformed_op_gets_a_nack_with_its_cseq(server, room_name, op):
    s, _ = joined(server.endpoint, room_name)
    s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": 7, "op": op}))
    m = until(s, protocol.NACK, protocol.ERROR)
    assert (m.type, m.body["cseq"], m.body["code"]) == (protocol.NACK, 7, "malformed")
    s.close()


@pytest.mark.parametrize("color,ok", [([1.0, 0.0, 0.5], True), ([0, 1, 1], True), ([2.0, 0.0, 0.0], False),
                                      ([-0.1, 0.0, 0.0], False), ([0.5, 0.5], False)])
def test_hello_color_must_be_three_numbers_in_0_1(server, color, ok):
    s = raw_dealer(server.endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "owner-token", "client_id": new_id(),
                                                      "name": "c", "color": color}))
    m = recv(s)
    assert m.type == (protocol.WELCOME if ok else protocol.ERROR)
    if not ok:
        assert m.body["code"] == "bad_body"
    s.close()


def test_every_catchup_is_answered_and_to_seq_is_inclusive(server, room_name):
    s, _ = joined(server.endpoint, room_name)
    nid = new_id()
    s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": 1, "op": [
        "add", [nid, "root", "V", "part", "p", [0, 0, 0, 0, 0, 0, 1, 1, 1, 1], None, None, 1.0, True, {}]]}))
    for cseq in range(2, 6):
        s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": cseq, "op": ["set", nid, "name", str(cseq)]}))
    # Every broadcast OPS of those edits precedes the ACK of the last one on this connection.
    while until(s, protocol.ACK).body["cseq"] != 5:
        pass
    s.send_multipart(protocol.encode(protocol.CATCHUP, {"from_seq": 2, "to_seq": 4}))
    m = until(s, protocol.OPS)
    assert (m.body["first_seq"], len(m.body["ops"])) == (2, 3)  # 2, 3 and 4
    s.send_multipart(protocol.encode(protocol.CATCHUP, {"from_seq": 4, "to_seq": 2}))
    m = until(s, protocol.OPS)
    assert (m.body["first_seq"], m.body["ops"]) == (4, [])
    s.send_multipart(protocol.encode(protocol.CATCHUP, {"from_seq": 50, "to_seq": 60}))  # beyond the head
    m = until(s, protocol.OPS)
    assert (m.body["first_seq"], m.body["ops"]) == (50, [])
    s.close()


def test_a_silent_slow_peers_behind_is_refreshed(server, make_client, room_name):
    watcher = make_client(room_name, name="watcher")
    assert watcher.wait_for(lambda: watcher.state == "live")
    silent, _ = joined(server.endpoint, room_name)  # joins, then never says a word
    assert watcher.wait_for(lambda: any(p.name == "raw" for p in watcher.peers.values()))
    n = Node(new_id(), "root", "V", kind="part", name="p")
    watcher.submit(AddNode(n), "add")
    for i in range(20):
        watcher.submit(SetField(n.id, "name", str(i)), "rename")

    def behind() -> int:
        return next(p.behind for p in watcher.peers.values() if p.name == "raw")

    assert watcher.wait_for(lambda: behind() == 21, 5)
    silent.close()


def test_sensor_frames_follow_section_11_and_stop_at_two_without_credit(server, room_name):
    import numpy as np

    from tests.sensorkit import Pusher, now_ns

    s, _snap = joined(server.endpoint, room_name)
    sensor = Node(new_id(), "root", "V", kind="sensor", name="t", props={"tag": "doc/t", "stale_s": 3600.0})
    s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": 1, "op": ["add", sensor.to_wire()]}))
    until(s, protocol.ACK)
    s.send_multipart(protocol.encode(protocol.SENSOR_SUB, {"on": True, "hz": 50}))
    streams = until(s, protocol.SENSOR_STREAMS)
    assert isinstance(streams.body["streams"], list)
    src = Pusher(server.endpoint)
    try:
        frames = []
        for i in range(40):  # far more pushes than frames we let through
            src.push(["doc/t"], [0], [now_ns()], [float(i)])
            try:
                m = recv(s, 50)
            except AssertionError:
                continue
            if m.type == protocol.SENSOR_FRAME:
                frames.append(m)
        # No credit was sent: the server stopped at two frames.
        assert len(frames) == 2
        ids = np.frombuffer(frames[0].blobs[0], "<u4")
        latest = np.frombuffer(frames[0].blobs[1], "<f4")
        count = np.frombuffer(frames[0].blobs[5], "<u4")
        assert len(ids) == frames[0].body["n"] == len(latest) == len(count) >= 1
        # Credit both: the next frame merges everything pushed meanwhile.
        for f in frames:
            s.send_multipart(protocol.encode(protocol.SENSOR_CREDIT, {"fseq": f.body["fseq"]}))
        m = until(s, protocol.SENSOR_FRAME)
        assert float(np.frombuffer(m.blobs[1], "<f4")[0]) == 39.0
        assert int(np.frombuffer(m.blobs[7], "<u8")[0]) == 40  # seq: every sample taken in
    finally:
        src.close()
