"""Record a real multi-client session with sensors and alarms, then replay it."""

from __future__ import annotations

import random

import pytest

from tests.replay.kit import TAG, record_session, reference_hashes
from twin_app.replay import Replay
from twin_app.replay.files import FileRecording
from twin_app.replay.remote import ReplayLink

pytestmark = pytest.mark.net


def test_a_recorded_session_replays_exactly(server, make_client, room_name):
    s = record_session(server, make_client, room_name)
    s.clients[1].close()  # Olu leaves; Ana is still there when the server stops
    assert server.stop() == 0  # flushes the sensor log and the room log
    data = server.data
    path = data / "rooms" / f"{room_name}.db"
    ref = reference_hashes(path)

    # -- the index: people with their names and colours, the alarm's life, the comment
    rec = FileRecording(path, data / "sensors.sqlite")
    replay = Replay(rec)
    ix = replay.index
    names = {p.name: p for p in ix.participants}
    assert {"Ana", "Olu", "Server (alarms)"} <= set(names)
    assert names["Ana"].color == pytest.approx((0.9, 0.2, 0.2)) and names["Ana"].ops >= 8
    kinds = [m.kind for m in ix.marks]
    for k in ("alarm_raise", "alarm_ack", "alarm_end", "comment", "join", "leave"):
        assert k in kinds, kinds
    assert kinds.index("alarm_raise") < kinds.index("alarm_ack") < kinds.index("alarm_end")
    ack = next(m for m in ix.marks if m.kind == "alarm_ack")
    assert ack.client_id == names["Olu"].client_id and "Olu" in ack.label
    assert sum(sum(v) for v in ix.activity.values()) == ix.head_seq == max(ref)

    # -- sensor values at t are the recorded samples at t
    replay.seek(s.samples[0][0])
    assert replay.tags == (TAG,)
    for (t, v), nxt in zip(s.samples, [*s.samples[1:], (s.samples[-1][0] + 10**9, 0.0)], strict=True):
        replay.seek(t)
        got = replay.samples[TAG]
        assert (got.t_ns, got.value) == (t, pytest.approx(v))
        replay.seek((t + nxt[0]) // 2)  # between two samples: the earlier one is in force
        assert replay.samples[TAG].value == pytest.approx(v)
    replay.seek(s.samples[0][0] - 1)
    assert TAG not in replay.samples  # before the first sample there is no value

    # -- presence at a moment: both cameras, Ana's selection
    replay.seek(ix.t0 + (s.samples[0][0] - ix.t0) // 2)
    people = {p.name: p for p in replay.presence}
    assert set(people) == {"Ana", "Olu"}
    assert people["Ana"].selection == (s.part,) and people["Ana"].camera is not None
    rec.close()

    # -- over the wire, from a server again: every op boundary, in order and at random
    server.start()
    link = ReplayLink(server.endpoint, "instructor-token", name="Ines")
    try:
        rooms, problems = link.rooms()
        assert room_name in [r.room for r in rooms] and not problems
        info = next(r for r in rooms if r.room == room_name)
        assert info.spans and {"Ana", "Olu"} <= set(info.spans[0].people)
        remote = Replay(link.recording(room_name))
        for seq in sorted(ref):
            remote.seek_seq(seq)
            assert remote.doc.hash() == ref[seq], seq
        order = list(ref)
        random.Random(9).shuffle(order)
        fresh = Replay(link.recording(room_name))
        for seq in order:
            fresh.seek_seq(seq)
            assert fresh.doc.hash() == ref[seq], seq
        # Playing forward one op at a time reads only the new op each time.
        before = dict(remote.stats)
        remote.seek_seq(0)
        kf_before = remote.stats["keyframes"]
        for seq in range(1, max(ref) + 1):
            remote.seek_seq(seq)
        assert remote.stats["keyframes"] == kf_before
        assert remote.stats["ops"] - before["ops"] == max(ref)
    finally:
        link.close()
