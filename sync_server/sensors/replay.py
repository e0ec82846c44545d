"""Replay of recorded measurements from CSV or Parquet (pyarrow reads both).

Settings (a ``[[source]]`` table with ``type = "csv"`` or ``type = "parquet"``)::

    path = "recordings/line1.csv"   # relative to the mapping file
    speed = 1.0                     # 10 = ten times faster than recorded
    loop = false                    # start over at the end
    time_column = "time"            # default: the first of time, t, ts, timestamp
    retime = true                   # stamp samples with the replay's clock (false: keep
                                    # the file's times, e.g. to fill a room's history)

Two layouts are understood:

* **wide**: a time column and one column per tag (``time,press/temp,press/force``);
  an empty cell means no sample of that tag at that time;
* **long**: columns ``tag``, ``time``, ``value`` and optionally ``quality`` (a name —
  good, uncertain, bad — or 0–4), one sample per row.

Times may be timestamps, ISO 8601 text, or numbers of seconds, milliseconds, microseconds
or nanoseconds since the epoch (told apart by magnitude, as for MQTT).

A sample recorded ``d`` seconds after the file's first one is delivered ``d / speed``
seconds after the replay started, in batches at most ``batch_s`` apart; with ``retime`` its
time is the replay's start plus ``d / speed``. Looping continues the timeline, so times
keep increasing and the hub records every pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sync_server.sensors import F64, I64, U8, U32, Sink
from sync_server.sensors.config import SettingError, Settings
from twin_app.core.sensors import QUALITY_NAMES

log = logging.getLogger(__name__)

TIME_COLUMNS = ("time", "t", "ts", "timestamp")


class ReplayError(ValueError):
    """A recording that cannot be replayed; the message says why."""


@dataclass
class Recording:
    """A recording in columns, sorted by time: sample ``i`` is of ``tags[idx[i]]``."""

    tags: list[str]
    idx: U32
    t: I64
    values: F64
    quality: U8

    def __len__(self) -> int:
        return len(self.t)

    @property
    def span_ns(self) -> int:
        return int(self.t[-1] - self.t[0]) if len(self.t) else 0


def _times(col: pa.ChunkedArray, name: str) -> I64:
    """A time column as int64 ns since the epoch."""
    typ = col.type
    if pa.types.is_timestamp(typ):
        return np.asarray(col.cast(pa.timestamp("ns", typ.tz)).cast(pa.int64()).to_numpy(), np.int64)
    if pa.types.is_date(typ):
        return np.asarray(col.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy(), np.int64)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        raw = np.asarray(col.to_numpy(zero_copy_only=False), np.float64)
        if not np.isfinite(raw).all():
            raise ReplayError(f"column {name!r} has empty or non-finite times")
        a = float(np.abs(raw).max()) if len(raw) else 0.0
        mult = 1_000_000_000 if a < 1e11 else 1_000_000 if a < 1e14 else 1_000 if a < 1e17 else 1
        if pa.types.is_integer(typ):
            return np.asarray(col.to_numpy(), np.int64) * mult
        # Milliseconds as floats: round at the microsecond, float64 cannot do better.
        return (np.round(raw * (mult / 1_000)) * 1_000).astype(np.int64)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        out = np.empty(len(col), np.int64)
        for i, text in enumerate(col.to_pylist()):
            try:
                dt = datetime.fromisoformat(str(text).strip())
            except ValueError as exc:
                raise ReplayError(f"column {name!r}, row {i + 1}: {text!r} is not a time") from exc
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            d = dt - datetime(1970, 1, 1, tzinfo=UTC)
            out[i] = (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000
        return out
    raise ReplayError(f"column {name!r} holds {typ}, not times")


def _quality(col: pa.ChunkedArray) -> U8:
    if pa.types.is_integer(col.type):
        q = np.asarray(col.fill_null(0).to_numpy(), np.int64)
        if ((q < 0) | (q >= len(QUALITY_NAMES))).any():
            raise ReplayError(f"column 'quality' must be 0–{len(QUALITY_NAMES) - 1}")
        return q.astype(np.uint8)
    names = {n: i for i, n in enumerate(QUALITY_NAMES)}
    out = np.zeros(len(col), np.uint8)
    for i, text in enumerate(col.to_pylist()):
        if text is None:
            continue
        if str(text).lower() not in names:
            raise ReplayError(f"row {i + 1}: quality {text!r} is not one of {', '.join(QUALITY_NAMES)}")
        out[i] = names[str(text).lower()]
    return out


def _numeric(col: pa.ChunkedArray, name: str) -> F64:
    typ = col.type
    if pa.types.is_boolean(typ):
        col = col.cast(pa.float64())
    elif not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_null(typ)):
        raise ReplayError(f"column {name!r} holds {typ}, not numbers")
    return np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)


def from_table(table: pa.Table, time_column: str | None = None) -> Recording:
    """A recording from an arrow table in the wide or the long layout."""
    names = [str(n) for n in table.column_names]
    lower = {n.lower(): n for n in names}
    if time_column is None:
        time_column = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
        if time_column is None:
            raise ReplayError(f"no time column (one of {', '.join(TIME_COLUMNS)}); columns: {', '.join(names)}")
    elif time_column not in names:
        raise ReplayError(f"no column {time_column!r}; columns: {', '.join(names)}")
    t = _times(table.column(time_column), time_column)
    if "tag" in lower and "value" in lower:  # long
        tag_col = table.column(lower["tag"])
        if tag_col.null_count:
            raise ReplayError("column 'tag' has empty cells")
        enc = pc.dictionary_encode(tag_col.cast(pa.string())).combine_chunks()
        tags = [str(x) for x in enc.dictionary.to_pylist()]
        idx = np.asarray(enc.indices.to_numpy(), np.uint32)
        values = _numeric(table.column(lower["value"]), "value")
        q_name = lower.get("quality") or lower.get("q")
        quality = _quality(table.column(q_name)) if q_name else np.zeros(len(t), np.uint8)
    else:  # wide
        cols = [n for n in names if n != time_column]
        if not cols:
            raise ReplayError("no value columns besides the time")
        tags, parts_i, parts_t, parts_v = [], [], [], []
        for n in cols:
            col = table.column(n)
            v = _numeric(col, n)
            present = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
            parts_i.append(np.full(int(present.sum()), len(tags), np.uint32))
            parts_t.append(t[present])
            parts_v.append(v[present])
            tags.append(n)
        idx = np.concatenate(parts_i) if parts_i else np.zeros(0, np.uint32)
        t = np.concatenate(parts_t) if parts_t else np.zeros(0, np.int64)
        values = np.concatenate(parts_v) if parts_v else np.zeros(0, np.float64)
        quality = np.zeros(len(t), np.uint8)
    order = np.argsort(t, kind="stable")
    return Recording(tags, idx[order], t[order], values[order], quality[order])


def read(path: Path, fmt: str, time_column: str | None = None) -> Recording:
    """Read a CSV or Parquet recording; raises ``ReplayError`` in words."""
    try:
        table = pacsv.read_csv(path) if fmt == "csv" else pq.read_table(path)
    except (OSError, pa.ArrowInvalid, pa.ArrowException) as exc:
        raise ReplayError(f"cannot read {path.name} as {fmt.upper()}: {exc}") from exc
    rec = from_table(table, time_column)
    if not len(rec):
        raise ReplayError(f"{path.name} holds no samples")
    return rec


class ReplaySource:
    """Delivers a recording at ``speed`` times the recorded pace (module docstring)."""

    def __init__(self, name: str, recording: Recording, speed: float = 1.0, loop: bool = False,
                 retime: bool = True, batch_s: float = 0.01,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], int] = time.time_ns,
                 sleep: Callable[[float], object] | None = None) -> None:
        if not speed > 0:
            raise SettingError("speed", "'speed' must be more than 0")
        self.name = name
        self.recording = recording
        self.speed = speed
        self.loop = loop
        self.retime = retime
        self.batch_s = batch_s
        self.clock = clock
        self.wall = wall
        self.passes = 0
        self.delivered = 0
        self._stop = threading.Event()
        # Waits until the next batch is due (or ``stop``); a test may pass a virtual clock.
        self.sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    @classmethod
    def from_settings(cls, name: str, s: Settings) -> ReplaySource:
        fmt = s.text("type", choices=("csv", "parquet"))
        path = s.path("path")
        try:
            rec = read(path, fmt, s.opt_text("time_column"))
        except ReplayError as exc:
            raise SettingError("path", str(exc)) from exc
        return cls(name, rec, speed=s.number("speed", 1.0, 1e-6, 1e6), loop=s.flag("loop", False),
                   retime=s.flag("retime", True))

    def __repr__(self) -> str:
        return f"ReplaySource({self.name!r}, {len(self.recording)} samples, ×{self.speed:g})"

    def start(self, sink: Sink) -> None:
        self._thread = threading.Thread(target=self._run, args=(sink,), name=f"replay-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def due(self) -> F64:
        """Seconds after the start at which each sample of one pass is delivered."""
        rec = self.recording
        return np.asarray((rec.t - rec.t[0]) / 1e9 / self.speed, np.float64)

    def _run(self, sink: Sink) -> None:
        rec = self.recording
        sink.source_status(self.name, True, f"replaying {len(rec)} samples at ×{self.speed:g}")
        due = self.due()
        # One pass lasts the recording's span plus one typical sample interval, so the
        # next pass's first sample does not land on the last one's time.
        step = float(np.median(np.diff(due))) if len(due) > 1 else 1.0 / self.speed
        pass_s = float(due[-1]) + max(step, 1e-6)
        start_mono = self.clock()
        start_wall = self.wall()
        base = 0.0  # seconds from the start to this pass
        try:
            while not self._stop.is_set():
                i = 0
                while i < len(rec) and not self._stop.is_set():
                    now = self.clock() - start_mono - base
                    # Within a microsecond counts as due (clocks are floats).
                    j = int(np.searchsorted(due, now + 1e-6, side="right"))
                    delivered = j > i
                    if delivered:
                        self._deliver(sink, i, j, due, base, start_wall)
                        i = j
                    if i < len(rec):
                        wait = float(due[i]) - (self.clock() - start_mono - base)
                        # After a delivery, gather at least ``batch_s`` worth before the next.
                        self.sleep(max(wait, self.batch_s if delivered else 0.0, 0.0))
                self.passes += 1
                if not self.loop:
                    break
                base += pass_s
        finally:
            self.finished.set()
            sink.source_status(self.name, False, "replay finished" if not self._stop.is_set() else "stopped")

    def _deliver(self, sink: Sink, i: int, j: int, due: F64, base: float, start_wall: int) -> None:
        rec = self.recording
        if self.retime:
            t = start_wall + np.round((due[i:j] + base) * 1e9).astype(np.int64)
        else:
            t = rec.t[i:j] + round(base * self.speed * 1e9)
        sink.push(rec.tags, rec.idx[i:j], t, rec.values[i:j], rec.quality[i:j])
        self.delivered += j - i

