"""CSV and Parquet replay: layouts, time formats, pacing by the speed factor, looping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sync_server.sensors.config import ConfigError, load_sources
from sync_server.sensors.replay import ReplayError, ReplaySource, from_table, read
from tests.sensors.kit import RecordingSink
from twin_app.core.sensors import BAD, GOOD, UNCERTAIN

T0 = 1_764_670_000_000_000_000  # ns
S = 1_000_000_000

WIDE_CSV = """\
time,press/temp,press/force
2025-12-02T10:06:40Z,20.0,100
2025-12-02T10:06:41Z,20.5,
2025-12-02T10:06:42Z,21.0,102
2025-12-02T10:06:44Z,,104
"""

LONG_CSV = """\
tag,time,value,quality
press/temp,1764670000.0,20.0,good
press/force,1764670000.5,100,uncertain
press/temp,1764670001.0,20.5,bad
"""


class VirtualClock:
    """The replay's clock, advanced only by its own waits: timing without real sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, dt: float) -> None:
        with self.lock:
            self.now += dt


class TimedSink(RecordingSink):
    """Notes the (virtual) clock at every push."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.vclock = clock
        self.pushed_at: list[tuple[float, int]] = []

    def push(self, tags, idx, t_ns, values, quality, units=None) -> None:
        self.pushed_at.append((self.vclock.now, len(idx)))
        super().push(tags, idx, t_ns, values, quality, units)


def test_wide_csv(tmp_path):
    p = tmp_path / "line.csv"
    p.write_text(WIDE_CSV)
    rec = read(p, "csv")
    assert rec.tags == ["press/temp", "press/force"]
    got = [(rec.tags[i], int(t), float(v)) for i, t, v in zip(rec.idx, rec.t, rec.values, strict=True)]
    assert got == [("press/temp", T0, 20.0), ("press/force", T0, 100.0), ("press/temp", T0 + S, 20.5),
                   ("press/temp", T0 + 2 * S, 21.0), ("press/force", T0 + 2 * S, 102.0),
                   ("press/force", T0 + 4 * S, 104.0)]


def test_long_csv_with_quality(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text(LONG_CSV)
    rec = read(p, "csv")
    got = [(rec.tags[i], int(t), float(v), int(q))
           for i, t, v, q in zip(rec.idx, rec.t, rec.values, rec.quality, strict=True)]
    assert got == [("press/temp", T0, 20.0, GOOD), ("press/force", T0 + S // 2, 100.0, UNCERTAIN),
                   ("press/temp", T0 + S, 20.5, BAD)]


def test_parquet_wide_and_long_and_time_units(tmp_path):
    wide = pa.table({"ts": pa.array([T0 // 1_000_000, T0 // 1_000_000 + 10], pa.int64()),  # ms
                     "a": [1.0, 2.0], "running": [True, False]})
    pq.write_table(wide, tmp_path / "w.parquet")
    rec = read(tmp_path / "w.parquet", "parquet")
    assert rec.tags == ["a", "running"] and list(rec.t) == [T0, T0, T0 + 10_000_000, T0 + 10_000_000]
    assert list(rec.values) == [1.0, 1.0, 2.0, 0.0]
    long = pa.table({"time": pa.array([T0 + 5, T0], pa.timestamp("ns", "UTC")),
                     "tag": ["x", "y"], "value": [1.5, 2.5], "quality": pa.array([0, 2], pa.int8())})
    pq.write_table(long, tmp_path / "l.parquet")
    rec = read(tmp_path / "l.parquet", "parquet")
    assert [rec.tags[i] for i in rec.idx] == ["y", "x"] and list(rec.t) == [T0, T0 + 5]
    assert list(rec.quality) == [BAD, GOOD]


@pytest.mark.parametrize(("text", "words"), [
    ("a,b\n1,2\n", "no time column"),
    ("time,a\nyesterday,1\n", "not a time"),
    ("time,a\n1764670000,hot\n", "not numbers"),
    ("time\n1764670000\n", "no value columns"),
])
def test_broken_recordings(tmp_path, text, words):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ReplayError, match=words):
        read(p, "csv")


def test_broken_recording_in_a_mapping_file(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "m.toml").write_text('[[source]]\nname = "r"\ntype = "csv"\npath = "bad.csv"\n')
    with pytest.raises(ConfigError, match=r"line 4.*no time column"):
        load_sources(tmp_path / "m.toml")


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_pacing_follows_the_speed_factor(tmp_path, speed):
    """Each sample is delivered when it is due (recorded offset / speed), never before,
    in batches at most ``batch_s`` late; retimed samples carry the replay's times."""
    n = 200  # 10 Hz for 20 s, plus a 5 s gap
    t = T0 + np.arange(n, dtype=np.int64) * (S // 10)
    t[150:] += 5 * S
    rec = from_table(pa.table({"time": pa.array(t, pa.timestamp("ns")), "v": np.arange(n, dtype=float)}))
    vc = VirtualClock()
    sink = TimedSink(vc)
    src = ReplaySource("r", rec, speed=speed, clock=vc.clock, wall=lambda: 7 * S, sleep=vc.sleep)
    src.start(sink)
    assert src.finished.wait(10)
    src.stop()
    assert [v for _, _, v, _ in sink.samples] == list(range(n))
    due = (t - T0) / 1e9 / speed
    # The push that delivered sample k happened at or after its due time, and not more than
    # one batch interval later.
    at = np.repeat([a - 100.0 for a, _ in sink.pushed_at], [c for _, c in sink.pushed_at])
    assert (at >= due - 1e-6).all()
    assert (at <= due + src.batch_s + 1e-9).all()
    assert [ts for _, ts, _, _ in sink.samples] == list(7 * S + np.round(due * 1e9).astype(np.int64))
    assert vc.now - 100.0 == pytest.approx(due[-1], abs=src.batch_s)
    assert sink.status[0][1] is True and sink.status[-1] == ("r", False, "replay finished")


def test_loop_continues_the_timeline(tmp_path):
    rec = from_table(pa.table({"time": pa.array([T0, T0 + S, T0 + 2 * S], pa.timestamp("ns")),
                               "v": [1.0, 2.0, 3.0]}))
    vc = VirtualClock()
    sink = TimedSink(vc)
    src = ReplaySource("r", rec, speed=2.0, loop=True, retime=False, clock=vc.clock, wall=lambda: 0,
                       sleep=vc.sleep)
    src.start(sink)
    sink.wait(lambda s: len(s.samples) >= 9, what="three passes")
    src.stop()
    times = [t for _, t, _, _ in sink.samples[:9]]
    assert times == [T0 + k * S for k in range(9)]  # passes follow on, one interval apart
    assert [v for _, _, v, _ in sink.samples[:9]] == [1.0, 2.0, 3.0] * 3


def test_real_clock_replay_takes_span_over_speed(tmp_path):
    """With the real clock: a 2 s recording at ×20 takes at least 0.1 s and delivers all."""
    p = tmp_path / "r.parquet"
    t = T0 + np.arange(201, dtype=np.int64) * (S // 100)
    pq.write_table(pa.table({"time": pa.array(t, pa.timestamp("ns")), "v": np.ones(201)}), p)
    (tmp_path / "m.toml").write_text(
        '[[source]]\nname = "r"\ntype = "parquet"\npath = "r.parquet"\nspeed = 20\n')
    [src] = load_sources(tmp_path / "m.toml")
    sink = RecordingSink()
    began = time.monotonic()
    src.start(sink)
    sink.wait(lambda s: s.online("r") is False, what="the end of the replay")
    elapsed = time.monotonic() - began
    src.stop()
    assert len(sink.samples) == 201
    assert elapsed >= 2.0 / 20
    ts = [x[1] for x in sink.samples]
    assert ts == sorted(ts) and (ts[-1] - ts[0]) == pytest.approx(0.1 * S, rel=1e-6)
