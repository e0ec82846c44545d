"""A scripted multi-client session with sensors and alarms, recorded by a real server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from tests.netutil import wait_all
from tests.sensorkit import Pusher, now_ns
from twin_app.core import AddNode, Node, SetField, new_id
from twin_app.core.document import Document
from twin_app.core.ops import apply, op_from_wire
from twin_app.core.snapshot import decode, unpack_chunks
from twin_app.replay.files import open_log

TAG = "line1/pump/temp"


@dataclass
class Session:
    room: str
    samples: list[tuple[int, float]] = field(default_factory=list)  # what the source pushed
    part: str = ""
    sensor: str = ""
    comment: str = ""
    clients: list = field(default_factory=list)


def alarms(client) -> list[Node]:
    return [n for n in client.store.doc.nodes.values() if n.kind == "alarm"]


def live(*clients) -> None:
    for c in clients:
        assert c.wait_for(lambda c=c: c.state == "live", 15), c.state_detail


def record_session(server, make_client, room: str) -> Session:
    """Ana (owner) builds and edits, Olu (operator) comments and acknowledges an alarm; a
    source pushes temperatures across the thresholds; both move their cameras."""
    s = Session(room)
    ana = make_client(room, name="Ana", color=(0.9, 0.2, 0.2))
    live(ana)
    olu = make_client(room, token="operator-token", name="Olu", color=(0.2, 0.4, 0.9))
    live(olu)
    s.clients = [ana, olu]
    s.part, s.sensor = new_id(), new_id()
    ana.submit(AddNode(Node(s.part, "root", "V", kind="part", name="Pump")), "add part")
    ana.submit(AddNode(Node(s.sensor, s.part, "V", kind="sensor", name="Pump temperature", props={
        "tag": TAG, "unit": "°C", "range_min": 0.0, "range_max": 100.0, "warn_high": 50.0,
        "alarm_high": 80.0, "hysteresis": 2.0})), "add sensor")
    for i in range(5):
        ana.submit(SetField(s.part, "transform", (float(i), 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)), "move")
        ana.set_presence(camera=[10.0 + i, 0, 5, 0, 0, 0, 0, 0, 1], selection=[s.part])
        olu.set_presence(camera=[0, 10.0 + i, 5, 0, 0, 0, 0, 0, 1], selection=[])
        ana.wait_for(lambda: False, 0.25)  # let the presence samples out (≤ 5 Hz each)
    ana.submit(SetField(s.part, "color", (0.1, 0.8, 0.1)), "recolour")
    src = Pusher(server.endpoint)
    try:
        def push(v: float) -> None:
            t = now_ns()
            src.push([TAG], [0], [t], [v])
            s.samples.append((t, v))

        push(20.0)
        assert ana.wait_for(lambda: ana.sensors.value(TAG) is not None, 10)
        push(60.0)  # warning
        assert wait_all([ana, olu], lambda: [n.props.get("level") for n in alarms(olu)] == [1], 10)
        alarm = alarms(olu)[0]
        for k, v in (("ack_by", "Olu"), ("ack_t", now_ns()), ("ack_comment", "on it")):
            olu.submit(SetField(alarm.id, f"prop:{k}", v), "acknowledge alarm")
        assert wait_all([ana, olu], lambda: [n.props.get("ack_by") for n in alarms(ana)] == ["Olu"], 10)
        push(30.0)  # back to normal: cleared and acknowledged -> removed
        assert wait_all([ana, olu], lambda: not alarms(ana) and not alarms(olu), 10)
        for v in (31.0, 32.5, 33.0):
            push(v)
            ana.wait_for(lambda: False, 0.05)
    finally:
        src.close()
    from twin_app.session import commands

    first = commands.comments_container(ana.store.doc)
    if first is not None:
        olu.submit(first, "comments")
    made = commands.add_comment(olu.store.doc, "check the pump seal", "Olu", [0.0] * 9, target=s.part)
    assert made is not None
    olu.submit(made[0], made[1])
    s.comment = made[2]
    ana.submit(SetField(s.part, "name", "Pump P-101"), "rename")
    assert wait_all([ana, olu], lambda: ana.unacked_count == 0 and olu.unacked_count == 0
                    and ana.store.doc.hash() == olu.store.doc.hash()
                    and ana.store.last_seq == olu.store.last_seq, 15)
    return s


def reference_hashes(path: Path) -> dict[int, str]:
    """The document hash after every op, computed by applying the logged ops one by one to
    the first keyframe (the baseline a replay must reproduce)."""
    db = open_log(path)
    try:
        seq, blob, codec = db.execute("SELECT seq, chunks, codec FROM keyframes ORDER BY seq LIMIT 1").fetchone()
        doc: Document = decode(unpack_chunks(blob, codec))
        out = {seq: doc.hash()}
        for s, op in db.execute("SELECT seq, op FROM ops WHERE seq > ? ORDER BY seq", (seq,)):
            apply(doc, op_from_wire(msgpack.unpackb(op, raw=False)))
            out[s] = doc.hash()
        return out
    finally:
        db.close()
