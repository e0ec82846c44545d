"""docs/protocol.md §13 checked by a raw client: only HELLO, then REPLAY_* requests."""

from __future__ import annotations

import time

import pytest

from tests.server.test_protocol_doc import joined
from tests.server.test_robustness import raw_dealer, recv
from twin_app import protocol
from twin_app.core import AddNode, Node, new_id
from twin_app.core.ops import op_to_wire

pytestmark = pytest.mark.net


def hello(endpoint: str, token: str):
    s = raw_dealer(endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": token, "client_id": new_id(), "name": "raw"}))
    assert recv(s).type == protocol.WELCOME
    return s


def ask(s, msg_type: int, body: dict) -> protocol.Message:
    s.send_multipart(protocol.encode(msg_type, body))
    while (m := recv(s)).type not in (protocol.REPLAY_ROOMS, protocol.REPLAY_INDEX, protocol.REPLAY_DATA,
                                      protocol.ERROR):
        pass
    return m


def test_replay_requests_follow_section_13(server, room_name):
    editor, _snap = joined(server.endpoint, room_name)
    ids = [new_id() for _ in range(5)]
    for i, nid in enumerate(ids, 1):
        op = AddNode(Node(nid, "root", "V", kind="part", name=f"p{i}"))
        editor.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": i, "op": op_to_wire(op)}))
    while (m := recv(editor)).type != protocol.ACK or m.body["cseq"] != 5:
        pass
    s = hello(server.endpoint, "viewer-token")
    rooms = ask(s, protocol.REPLAY_LIST, {"req": 1})
    assert rooms.type == protocol.REPLAY_ROOMS and rooms.body["req"] == 1
    room = next(r for r in rooms.body["rooms"] if r["room"] == room_name)
    assert room["head_seq"] == 5 and room["spans"][0][2] == 5
    deadline = time.monotonic() + 5
    while True:  # presence samples reach the log within a loop tick or two
        index = ask(s, protocol.REPLAY_OPEN, {"req": 2, "room": room_name, "bins": 10}).body["index"]
        if index["marks"] or time.monotonic() > deadline:
            break
    assert index["head_seq"] == 5 and sum(sum(v) for v in index["activity"].values()) == 5
    assert [m[3] for m in index["marks"]] == ["join"]
    # From nothing: a keyframe (its chunks as frames), then the ops after it.
    data = ask(s, protocol.REPLAY_RANGE, {"req": 3, "room": room_name, "have": -1, "seq": 3})
    assert data.body["kf_seq"] == 0 and len(data.blobs) >= 1
    assert [o[0] for o in data.body["ops"]] == [1, 2, 3] and data.body["seq"] == 3
    assert [p[2] for p in data.body["presence"]] == ["raw"]  # the editor, present at that moment
    # Playing on from seq 3: only the new ops, no keyframe.
    data = ask(s, protocol.REPLAY_RANGE, {"req": 4, "room": room_name, "have": 3, "t": index["t1"]})
    assert data.body["kf_seq"] is None and not data.blobs
    assert [o[0] for o in data.body["ops"]] == [4, 5]
    assert data.body["ops"][0][3] == op_to_wire(AddNode(Node(ids[3], "root", "V", kind="part", name="p4")))
    # Errors are answers with a sentence; a source may not replay.
    err = ask(s, protocol.REPLAY_OPEN, {"req": 5, "room": "nosuchroom"})
    assert err.type == protocol.REPLAY_INDEX and err.body["req"] == 5 and "no recording" in err.body["error"]
    src = hello(server.endpoint, "source-token")
    refused = ask(src, protocol.REPLAY_OPEN, {"req": 1, "room": room_name})
    assert refused.type == protocol.ERROR and refused.body["code"] == protocol.E_FORBIDDEN
    bad = ask(s, protocol.REPLAY_RANGE, {"req": 6, "room": room_name, "have": "x"})
    assert bad.type == protocol.ERROR and bad.body["code"] == protocol.E_BAD_BODY
    for sock in (editor, s, src):
        sock.close(0)
