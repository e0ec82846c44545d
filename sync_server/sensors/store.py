"""The sensor log: every sample at full rate, in compressed chunks per stream and time window.

One SQLite file per server (``sensors.sqlite`` in the data directory), beside the room
logs: a stream is a physical measurement and may be shown in several rooms. Tables:

* ``streams(id, tag, kind, shape, unit)`` — the hub's stream ids, stable for the file;
* ``chunks(stream, t0, t1, n, data)`` — one stream's samples from ``t0`` to ``t1`` (ns),
  ``twin_app.core.samples.encode_chunk`` format (typically 1–3.5 bytes per sample);
* ``frames(stream, t, quality, data)`` — array streams, one zlib'd float32 frame a row.

Samples wait in a per-stream buffer until ``CHUNK_SAMPLES`` have gathered or the oldest
is ``CHUNK_S`` old; full chunks go to a writer thread with its own connection, which
commits at most every ``COMMIT_S``. The hub never waits for the disk: when the writer's
queue is full, chunks are dropped and counted (``stats["dropped"]``), and the error is
kept in ``error`` for the hub to report. Queries read the file, the chunks on their way
to it and the buffers, so the newest samples are visible before they are written, and
never wait for the writer. Each chunk row also keeps its min and max, so a query over a
long range (a day of a 2 kHz waveform) answers from chunk summaries without decoding.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin_app.core.samples import F32, I64, U8, Stream, decode_chunk, encode_chunk

log = logging.getLogger(__name__)

CHUNK_SAMPLES = 4096
CHUNK_S = 10.0
COMMIT_S = 0.2
QUEUE_CHUNKS = 20_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY, tag TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,
    shape TEXT NOT NULL, unit TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    stream INTEGER NOT NULL, t0 INTEGER NOT NULL, t1 INTEGER NOT NULL,
    n INTEGER NOT NULL, vmin REAL, vmax REAL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (stream, t1);
CREATE TABLE IF NOT EXISTS frames (
    stream INTEGER NOT NULL, t INTEGER NOT NULL, quality INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS frames_by_time ON frames (stream, t);
"""


@dataclass
class _Buffer:
    t: list[I64] = field(default_factory=list)
    v: list[F32] = field(default_factory=list)
    q: list[U8] = field(default_factory=list)
    n: int = 0
    since: float = 0.0

    late: bool = False  # holds samples that arrived out of order: sort before sealing

    def take(self) -> tuple[I64, F32, U8]:
        t, v, q = np.concatenate(self.t), np.concatenate(self.v), np.concatenate(self.q)
        if self.late:
            t, first = np.unique(t, return_index=True)  # sorted; a repeated time kept once
            v, q = v[first], q[first]
        self.t, self.v, self.q, self.n, self.late = [], [], [], 0, False
        return t, v, q


class SensorLog:
    """Streams and samples on disk (see the module docstring). Used from one thread (the
    hub's) plus its own writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        cols = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
        for col in ("vmin", "vmax") if "vmin" not in cols else ():
            self._db.execute(f"ALTER TABLE chunks ADD COLUMN {col} REAL")
        self._buffers: dict[int, _Buffer] = {}
        self._sealed: dict[int, int] = {}  # stream -> time of its newest sealed sample
        # Sealed chunks not yet committed, by stream (the writer removes them after commit).
        self._inflight: dict[int, list[tuple[I64, F32, U8]]] = {}
        self._inflight_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, tuple[object, ...]] | None] = queue.Queue(QUEUE_CHUNKS)
        self.stats = {"samples": 0, "bytes": 0, "chunks": 0, "dropped": 0, "frames": 0}
        self.error: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="sensor-log", daemon=True)
        self._writer.start()

    # -- streams ---------------------------------------------------------------------------
    def streams(self) -> list[Stream]:
        rows = self._db.execute("SELECT id, tag, kind, shape, unit FROM streams ORDER BY id").fetchall()
        return [Stream(i, tag, kind, tuple(json.loads(shape)), unit) for i, tag, kind, shape, unit in rows]

    def newest(self) -> dict[int, int]:
        """The newest stored sample time of every stream (also the sealing mark)."""
        rows = self._db.execute("SELECT stream, MAX(t1) FROM chunks GROUP BY stream").fetchall()
        out = {int(sid): int(t1) for sid, t1 in rows}
        self._sealed.update(out)
        return out

    def add_stream(self, tag: str, kind: str, shape: tuple[int, ...], unit: str) -> Stream:
        cur = self._db.execute("INSERT INTO streams (tag, kind, shape, unit) VALUES (?, ?, ?, ?)",
                               (tag, kind, json.dumps(list(shape)), unit))
        assert cur.lastrowid is not None
        return Stream(cur.lastrowid, tag, kind, shape, unit)

    def set_unit(self, sid: int, unit: str) -> None:
        self._db.execute("UPDATE streams SET unit = ? WHERE id = ?", (unit, sid))

    # -- samples ---------------------------------------------------------------------------
    def append(self, sid: int, t: I64, v: F32, q: U8, now: float, late: bool = False) -> int:
        """Buffer one stream's samples, ordered and unique among themselves; return how
        many are kept. Fresh samples (newer than any before) always are; ``late`` ones only
        if their time is after the stream's last stored chunk (not yet sealed)."""
        if late:
            t0 = self._sealed.get(sid)
            if t0 is not None:
                keep = t > t0
                t, v, q = t[keep], v[keep], q[keep]
            if not len(t):
                return 0
        buf = self._buffers.get(sid)
        if buf is None:
            buf = self._buffers[sid] = _Buffer(since=now)
        if buf.n == 0:
            buf.since = now
        buf.t.append(t)
        buf.v.append(v)
        buf.q.append(q)
        buf.n += len(t)
        buf.late |= late
        if buf.n >= CHUNK_SAMPLES:
            self._seal(sid, buf)
        return len(t)

    def append_frame(self, sid: int, t: int, values: F32, quality: int) -> None:
        data = zlib.compress(np.ascontiguousarray(values, "<f4").tobytes(), 6)
        self._put(("frame", (sid, t, quality, data)))
        self.stats["frames"] += 1

    def flush_due(self, now: float, everything: bool = False) -> None:
        """Seal buffers whose oldest sample is ``CHUNK_S`` old (all of them if asked)."""
        for sid, buf in self._buffers.items():
            if buf.n and (everything or now - buf.since >= CHUNK_S):
                self._seal(sid, buf)

    def _seal(self, sid: int, buf: _Buffer) -> None:
        t, v, q = buf.take()
        if len(t):
            self._sealed[sid] = int(t[-1])
        # Chunks are at most CHUNK_SAMPLES long so a query decodes little it does not need.
        for i in range(0, len(t), CHUNK_SAMPLES):
            part = (t[i:i + CHUNK_SAMPLES], v[i:i + CHUNK_SAMPLES], q[i:i + CHUNK_SAMPLES])
            with self._inflight_lock:
                self._inflight.setdefault(sid, []).append(part)
            if not self._put(("chunk", (sid, *part))):
                self._written([(sid, part[0])])

    def _put(self, item: tuple[str, tuple[object, ...]]) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.stats["dropped"] += 1
            if self.error is None:
                self.error = "the disk cannot keep up with the sensor samples; some are not recorded"
                log.error("sensor log: %s", self.error)
            return False
        return True

    def query(self, sid: int, t0: int, t1: int) -> tuple[I64, F32, U8]:
        """Every sample of ``sid`` with ``t0 <= t <= t1``, in time order."""
        # What is on its way to the file first: a chunk the writer commits meanwhile is then
        # either in this copy or already in the file when we read it — never in neither.
        unwritten = self._unwritten(sid)
        parts: list[tuple[I64, F32, U8]] = []
        rows = self._db.execute(
            "SELECT data FROM chunks WHERE stream = ? AND t1 >= ? AND t0 <= ? ORDER BY t0",
            (sid, t0, t1)).fetchall()
        for (data,) in rows:
            try:
                parts.append(decode_chunk(data))
            except ValueError as exc:
                log.warning("sensor log: stream %d: skipping a damaged chunk: %s", sid, exc)
        parts += unwritten
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.uint8)
        t = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        q = np.concatenate([p[2] for p in parts])
        # A chunk committed while we read may be both in the file and in flight: times
        # are unique within a stream, so keep one sample per time.
        t, first = np.unique(t, return_index=True)
        v, q = v[first], q[first]
        keep = (t >= t0) & (t <= t1)
        return t[keep], v[keep], q[keep]

    def count(self, sid: int, t0: int, t1: int) -> int:
        """About how many samples of ``sid`` lie in ``t0``..``t1`` (whole chunks counted)."""
        row = self._db.execute("SELECT COALESCE(SUM(n), 0) FROM chunks WHERE stream = ? AND t1 >= ? AND t0 <= ?",
                               (sid, t0, t1)).fetchone()
        return int(row[0]) + sum(len(p[0]) for p in self._unwritten(sid))

    def summaries(self, sid: int, t0: int, t1: int) -> tuple[I64, F32, F32]:
        """Per stored chunk in range: its middle time, min and max (nothing decoded)."""
        rows = self._db.execute(
            "SELECT (t0 + t1) / 2, vmin, vmax FROM chunks WHERE stream = ? AND t1 >= ? AND t0 <= ? "
            "AND vmin IS NOT NULL ORDER BY t0", (sid, t0, t1)).fetchall()
        for t, v, _q in self._unwritten(sid):
            finite = v[np.isfinite(v)]
            if len(t) and len(finite):
                rows.append(((int(t[0]) + int(t[-1])) // 2, float(finite.min()), float(finite.max())))
        return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float32),
                np.array([r[2] for r in rows], np.float32))

    def _unwritten(self, sid: int) -> list[tuple[I64, F32, U8]]:
        with self._inflight_lock:
            parts = list(self._inflight.get(sid, ()))
        buf = self._buffers.get(sid)
        if buf is not None and buf.n:
            parts += list(zip(buf.t, buf.v, buf.q, strict=True))
        return parts

    def query_frames(self, sid: int, t0: int, t1: int, limit: int = 1000) -> list[tuple[int, int, bytes]]:
        rows = self._db.execute(
            "SELECT t, quality, data FROM frames WHERE stream = ? AND t >= ? AND t <= ? ORDER BY t LIMIT ?",
            (sid, t0, t1, limit)).fetchall()
        return [(t, q, zlib.decompress(d)) for t, q, d in rows]

    # -- writer ------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        last_commit = time.monotonic()
        in_tx = False
        written: list[tuple[int, I64]] = []
        while True:
            try:
                item = self._queue.get(timeout=COMMIT_S)
            except queue.Empty:
                item = ("idle", ())
            if item is None:
                self._queue.task_done()
                break
            kind, args = item
            try:
                if kind != "idle" and not in_tx:
                    db.execute("BEGIN")
                    in_tx = True
                if kind == "chunk":
                    sid, t, v, q = args
                    assert isinstance(t, np.ndarray) and isinstance(v, np.ndarray) and isinstance(q, np.ndarray)
                    data = encode_chunk(t, v, q)
                    finite = v[np.isfinite(v)]
                    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (None, None)
                    db.execute("INSERT INTO chunks (stream, t0, t1, n, vmin, vmax, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (sid, int(t[0]), int(t[-1]), len(t), lo, hi, data))
                    assert isinstance(sid, int)
                    written.append((sid, t))
                    self.stats["samples"] += len(t)
                    self.stats["bytes"] += len(data)
                    self.stats["chunks"] += 1
                elif kind == "frame":
                    db.execute("INSERT INTO frames (stream, t, quality, data) VALUES (?, ?, ?, ?)", args)
                if in_tx and (time.monotonic() - last_commit >= COMMIT_S or self._queue.empty()):
                    db.execute("COMMIT")
                    in_tx = False
                    self._written(written)
                    written = []
                    last_commit = time.monotonic()
                    self.error = None if not self.stats["dropped"] else self.error
            except sqlite3.Error as exc:
                self.stats["dropped"] += 1
                self.error = f"cannot record sensor samples: {exc}"
                log.error("sensor log: %s", self.error)
                if in_tx:
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    in_tx = False
                self._written(written)  # lost, not in flight: the error says so
                written = []
            finally:
                if kind != "idle":
                    self._queue.task_done()
        if in_tx:
            db.execute("COMMIT")
        self._written(written)
        db.close()

    def _written(self, items: list[tuple[int, I64]]) -> None:
        with self._inflight_lock:
            for sid, t in items:
                lst = self._inflight.get(sid)
                if lst:
                    self._inflight[sid] = [p for p in lst if p[0] is not t]

    def close(self) -> None:
        """Write every buffered sample, stop the writer, close the file."""
        self.flush_due(0.0, everything=True)
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._db.close()
