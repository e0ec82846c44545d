"""The sensor log on its own: what is written is what is read, whenever it is asked."""

from __future__ import annotations

import sqlite3

import numpy as np

from sync_server.sensors.hub import envelope
from sync_server.sensors.store import CHUNK_SAMPLES, SensorLog


def samples(n: int, t0: int = 1_700_000_000_000_000_000, step: int = 1_000_000):
    t = t0 + np.arange(n, dtype=np.int64) * step
    v = np.sin(np.arange(n) / 100.0).astype(np.float32)
    return t, v, np.zeros(n, np.uint8)


def test_samples_are_readable_at_once_and_after_reopening(tmp_path):
    log = SensorLog(tmp_path / "s.sqlite")
    sid = log.add_stream("a/b", "scalar", (), "bar").id
    t, v, q = samples(3 * CHUNK_SAMPLES + 10)
    for i in range(0, len(t), 1000):  # as the hub appends, tick by tick
        log.append(sid, t[i:i + 1000], v[i:i + 1000], q[i:i + 1000], now=0.0)
        got_t, got_v, _ = log.query(sid, int(t[0]), int(t[-1]))  # buffered, in flight or written
        assert got_t.tolist() == t[:i + 1000].tolist()
        assert got_v.tolist() == v[:i + 1000].tolist()
    log.close()
    again = SensorLog(tmp_path / "s.sqlite")
    assert [s.tag for s in again.streams()] == ["a/b"] and again.streams()[0].unit == "bar"
    got_t, got_v, _ = again.query(sid, int(t[100]), int(t[200]))
    assert got_t.tolist() == t[100:201].tolist() and got_v.tolist() == v[100:201].tolist()
    assert again.count(sid, int(t[0]), int(t[-1])) == len(t)
    mid, lo, hi = again.summaries(sid, int(t[0]), int(t[-1]))
    assert len(mid) >= 4 and float(lo.min()) == float(v.min()) and float(hi.max()) == float(v.max())
    again.close()


def test_a_damaged_chunk_is_skipped_not_fatal(tmp_path):
    log = SensorLog(tmp_path / "s.sqlite")
    sid = log.add_stream("x", "scalar", (), "").id
    t, v, q = samples(2 * CHUNK_SAMPLES)
    log.append(sid, t, v, q, now=0.0)
    log.close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE chunks SET data = x'00ff' WHERE rowid = (SELECT MIN(rowid) FROM chunks)")
    db.commit()
    db.close()
    again = SensorLog(tmp_path / "s.sqlite")
    got_t, _, _ = again.query(sid, int(t[0]), int(t[-1]))
    assert got_t.tolist() == t[CHUNK_SAMPLES:].tolist()
    again.close()


def test_envelope_keeps_every_extreme_and_handles_empty_ranges():
    t, v, _ = samples(10_000)
    v[1234] = 9.0
    v[8765] = -9.0
    mid, lo, hi = envelope(t, v, int(t[0]), int(t[-1]), 50)
    assert len(mid) == 50 and hi.max() == 9.0 and lo.min() == -9.0
    e = envelope(np.zeros(0, np.int64), np.zeros(0, np.float32), 0, 10, 5)
    assert all(len(x) == 0 for x in e)


def test_late_samples_are_recorded_in_order_once_and_never_after_their_chunk_is_sealed(tmp_path):
    log = SensorLog(tmp_path / "s.sqlite")
    sid = log.add_stream("x", "scalar", (), "").id
    t, v, q = samples(10)
    # Two bridges sharing a subscription: 0,2,4,… arrive, then 1,3,5,… late, 3 twice.
    assert log.append(sid, t[::2], v[::2], q[::2], now=0.0) == 5
    assert log.append(sid, t[1::2], v[1::2], q[1::2], now=0.0, late=True) == 5
    assert log.append(sid, t[3:4], v[3:4], q[3:4], now=0.0, late=True) == 1
    log.flush_due(0.0, everything=True)
    assert log.append(sid, t[5:6], v[5:6], q[5:6], now=0.0, late=True) == 0  # its chunk is sealed
    log.close()
    again = SensorLog(tmp_path / "s.sqlite")
    got_t, got_v, _ = again.query(sid, int(t[0]), int(t[-1]))
    assert got_t.tolist() == t.tolist() and got_v.tolist() == v.tolist()
    assert again.newest() == {sid: int(t[-1])}
    again.close()
