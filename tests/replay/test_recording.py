"""What the server records besides the ops: presence (rate-limited, privacy switch),
the timeline index, retention; and what a seek reads."""

from __future__ import annotations

import itertools
import sqlite3
import time

import msgpack
import pytest

from sync_server.roomlog import RoomLog
from tests.netutil import ServerProcess
from twin_app.core import AddNode, Node, SetField, new_id
from twin_app.core.ids import ROOT_ID
from twin_app.replay import Replay
from twin_app.replay.files import FileRecording
from twin_app.replay.logfile import RECORD_PRESENCE, presence_row

pytestmark = pytest.mark.net


def presence_rows(path, event="state"):
    db = sqlite3.connect(str(path))
    try:
        return [(s, msgpack.unpackb(d)) for s, d in db.execute(
            "SELECT session, data FROM presence WHERE event = ? ORDER BY t_ns", (event,))]
    finally:
        db.close()


def test_presence_is_recorded_at_most_5_hz_per_person_and_only_on_change(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    assert a.wait_for(lambda: a.state == "live", 15)
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 1.2:  # 1.2 s of camera moves at ~60 Hz
        i += 1
        a.set_presence(camera=[float(i), 0, 5, 0, 0, 0, 0, 0, 1])
        a.wait_for(lambda: False, 0.016)
    a.set_presence(camera=[-1.0, 0, 5, 0, 0, 0, 0, 0, 1])
    for _ in range(10):  # the same state again and again: nothing new to record
        a.set_presence(camera=[-1.0, 0, 5, 0, 0, 0, 0, 0, 1])
        a.wait_for(lambda: False, 0.05)
    path = server.data / "rooms" / f"{room_name}.db"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not (rows := presence_rows(path))
                                           or rows[-1][1]["camera"][0] != -1.0):
        time.sleep(0.05)
    assert rows[-1][1]["camera"][0] == -1.0  # the last state is always written
    assert rows[-1][1]["name"] == "Ana"
    assert 3 <= len(rows) <= 9, len(rows)  # ~1.7 s at ≤ 5 Hz, not ~70 updates
    assert len(presence_rows(path, "join")) == 1


def test_a_room_can_be_marked_not_to_record_presence(server, make_client, room_name):
    a = make_client(room_name, name="Ana")
    assert a.wait_for(lambda: a.state == "live", 15)
    a.submit(SetField(ROOT_ID, f"prop:{RECORD_PRESENCE}", False), "do not record presence")
    assert a.wait_for(lambda: a.unacked_count == 0, 10)
    b = make_client(room_name, name="Bo")
    assert b.wait_for(lambda: b.state == "live", 15)
    # Everyone sees the setting: it is a property of the room's root.
    assert b.store.doc.get(ROOT_ID).props[RECORD_PRESENCE] is False
    for i in range(5):
        a.set_presence(camera=[float(i), 0, 5, 0, 0, 0, 0, 0, 1], selection=[])
        b.set_presence(camera=[0, float(i), 5, 0, 0, 0, 0, 0, 1])
        a.wait_for(lambda: False, 0.25)
    b.close()
    path = server.data / "rooms" / f"{room_name}.db"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not presence_rows(path, "leave"):
        time.sleep(0.05)
    assert presence_rows(path, "leave")  # who was there is still known…
    assert presence_rows(path) == []  # …but not where they looked or what they selected
    index = Replay(FileRecording(path)).index
    assert index.presence_recorded is False and {"Ana", "Bo"} <= {p.name for p in index.participants}


def test_retention_deletes_old_presence_and_sensor_history_but_never_ops(tmp_path):
    data = tmp_path / "srv"
    (data / "rooms").mkdir(parents=True)
    old = time.time_ns() - 10 * 86400 * 10**9
    rlog = RoomLog(data / "rooms" / "r.db", lambda *_: None)
    rlog.load()
    rlog.start()
    from sync_server.roomlog import Entry

    nid = new_id()
    op = AddNode(Node(nid, "root", "V", kind="part", name="p"))
    from twin_app.core.ops import op_to_wire

    rlog.append([Entry(1, old, "c1", 1, op, op_to_wire(op))])
    rlog.append_presence([presence_row(old + i, "s1", "c1", "state", {"camera": None}) for i in range(12_000)]
                         + [presence_row(time.time_ns(), "s1", "c1", "state", {"camera": None})])
    rlog.close()
    srv = ServerProcess(data, ["--retain-days", "3", "--no-sensors"]).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(presence_rows(data / "rooms" / "r.db")) > 1:
            time.sleep(0.1)
    finally:
        srv.stop()
    assert len(presence_rows(data / "rooms" / "r.db")) == 1  # the recent one stays
    db = sqlite3.connect(str(data / "rooms" / "r.db"))
    assert db.execute("SELECT count(*) FROM ops").fetchone()[0] == 1  # edits are never deleted
    db.close()


def test_a_seek_reads_one_keyframe_and_a_short_tail(tmp_path):
    path = tmp_path / "long.db"
    durable = [0]
    rlog = RoomLog(path, lambda kind, v: durable.__setitem__(0, v) if kind == "durable" else None,
                   min_keyframe_ops=200)
    rlog.load()
    rlog.start()
    from sync_server.roomlog import Entry
    from twin_app.core.ops import op_to_wire

    ids = [new_id() for _ in range(50)]
    t = time.time_ns()
    batch = []
    for i in range(6050):
        seq = i + 1
        if i < 50:
            op = AddNode(Node(ids[i], "root", "V", kind="part", name=ids[i]))
        else:
            op = SetField(ids[i % 50], "transform", (float(i), 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0))
        batch.append(Entry(seq, t + seq, "c", seq, op, op_to_wire(op)))
        if len(batch) == 50:  # group commits of 50, as a busy room makes them
            rlog.append(batch)
            batch = []
            while durable[0] < seq:
                time.sleep(0.001)
    rlog.close()
    rec = FileRecording(path)
    db = sqlite3.connect(str(path))
    kfs = [r[0] for r in db.execute("SELECT seq FROM keyframes ORDER BY seq")]
    db.close()
    assert len(kfs) >= 5
    gap = max(b - a for a, b in itertools.pairwise(kfs))
    replay = Replay(rec)
    for target in (5000, 1234, 6040, 300, 5999):
        rec.stats.update(keyframes=0, ops=0)
        fresh = Replay(rec)
        fresh.seek_seq(target)
        assert rec.stats["keyframes"] == 1  # one keyframe…
        assert rec.stats["ops"] <= gap < 6000 / 3  # …and a tail, never the whole history
        replay.seek_seq(target)
        assert replay.doc.hash() == fresh.doc.hash()
    # Playing on from where the replica is reads only the new ops.
    rec.stats.update(keyframes=0, ops=0)
    replay.seek_seq(6010)
    assert rec.stats == {"keyframes": 0, "ops": 11}
    # Seeking by time finds the last op at or before it.
    replay.seek(t + 4321)
    assert replay.seq == 4321


def _small_log(path, n=300):
    from sync_server.roomlog import Entry
    from twin_app.core.ops import op_to_wire

    durable = [0]
    rlog = RoomLog(path, lambda kind, v: durable.__setitem__(0, v) if kind == "durable" else None)
    rlog.load()
    rlog.start()
    t = time.time_ns()
    nid = new_id()
    entries = [Entry(1, t, "c", 1, AddNode(Node(nid, "root", "V", kind="part", name="p")), None)]
    for i in range(2, n + 1):
        entries.append(Entry(i, t + i * 1000, "c", i,
                             SetField(nid, "transform", (float(i), 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)), None))
    for e in entries:
        e.wire = op_to_wire(e.op)
        e.item = [e.client_id, e.cseq, e.wire]
    rlog.append(entries)
    rlog.close()
    return nid, t


@pytest.mark.parametrize("blob", [b"\xc1\xc1\xc1", msgpack.packb(["bogus"])], ids=["not msgpack", "not an op"])
def test_a_damaged_recording_replays_up_to_the_damage_and_says_so(tmp_path, blob):
    path = tmp_path / "damaged.db"
    nid, t = _small_log(path)
    db = sqlite3.connect(str(path))
    db.execute("UPDATE ops SET op = ? WHERE seq = 200", (blob,))  # bit rot in one row
    db.commit()
    db.close()
    replay = Replay(FileRecording(path))
    replay.seek_seq(150)
    assert replay.doc.get(nid).transform[0] == 150.0 and not replay.damage
    replay.seek(t + 250 * 1000)  # past the damage: shown as it stood just before it
    assert replay.seq == 199 and replay.doc.get(nid).transform[0] == 199.0
    assert "op 200" in replay.damage and "up to op 199" in replay.damage


def test_a_truncated_recording_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "cut.db"
    _small_log(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    from twin_app.replay.model import RecordingError

    with pytest.raises(RecordingError) as err:
        Replay(FileRecording(path)).seek_seq(300)
    assert "cut.db" in str(err.value) or "recording" in str(err.value)


def test_a_log_from_before_the_index_is_indexed_on_first_opening(tmp_path):
    path = tmp_path / "old.db"
    _small_log(path)
    alarm = new_id()
    rlog = RoomLog(path, lambda *_: None)
    rlog.load()
    rlog.start()
    from sync_server.roomlog import Entry
    from twin_app.core.ops import op_to_wire

    for seq, op in ((301, AddNode(Node(alarm, "root", "W", kind="alarm", name="hot"))),
                    (302, SetField(alarm, "prop:ack_by", "Olu"))):
        rlog.append([Entry(seq, time.time_ns(), "server", seq, op, op_to_wire(op))])
    rlog.close()
    fresh = Replay(FileRecording(path)).index
    db = sqlite3.connect(str(path))
    db.executescript("DELETE FROM marks; DELETE FROM activity; DELETE FROM meta WHERE key = 'index_seq';")
    db.commit()
    db.close()
    again = Replay(FileRecording(path)).index  # as a log written before the index: indexed now
    assert [m.kind for m in again.marks] == [m.kind for m in fresh.marks] == ["alarm_raise", "alarm_ack"]
    assert again.activity == fresh.activity and again.indexed_seq == 302
    # The writer carries on indexing once the backlog is done.
    rlog = RoomLog(path, lambda *_: None)
    rlog.load()
    rlog.start()
    op = SetField(alarm, "prop:state", "cleared")
    rlog.append([Entry(303, time.time_ns(), "server", 303, op, op_to_wire(op))])
    rlog.close()
    assert [m.kind for m in Replay(FileRecording(path)).index.marks][-1] == "alarm_clear"


def test_the_replay_reader_knows_the_room_log_schema_the_server_writes():
    from sync_server.roomlog import SCHEMA_VERSION
    from twin_app.replay.files import READS_SCHEMA

    assert READS_SCHEMA == SCHEMA_VERSION
