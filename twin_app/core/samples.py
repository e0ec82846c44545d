"""Sensor samples in columns: batches, per-stream aggregates, frames and stored chunks.

Everything on the sensor lane is columnar numpy, never one Python object per sample:

* a **batch** is what a source delivers — parallel arrays of stream id, time (ns since the
  Unix epoch), value (float32) and quality (``twin_app.core.sensors`` codes);
* an **Aggregate** keeps, per stream, the latest value and time, the min and max and the
  count since it was last taken, the worst quality and the number of samples ever seen.
  The hub keeps one per client (so a client that skips frames still sees the spike it
  missed) and a client merges the frames it receives into one for its display;
* a **Frame** is an aggregate's changed streams, taken at once: what a client draws;
* a **chunk** is one stream's samples over a time window as stored in the sensor log:
  delta-of-delta times and byte-shuffled float32 values, zlib-compressed
  (``encode_chunk``/``decode_chunk``; typically well under 4 bytes per sample).

Samples of a stream should arrive in time order: ``clean`` keeps only samples newer than
the newest one already seen for its stream and marks non-finite values bad; that is what
clients are shown. ``partition`` also returns the *late* ones (e.g. two bridges sharing
an MQTT subscription deliver a topic's messages slightly out of order): the sensor log
still records those, in time order, as long as their time has not been sealed into a
stored chunk; duplicates are never recorded twice.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from twin_app.core.sensors import BAD, GOOD

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class Stream:
    """A named measurement the hub knows: ``kind`` is ``scalar`` or ``array`` (e.g. a
    thermal camera's frame; ``shape`` rows × columns). Stream ids are the hub's, stable
    for the life of its sensor log."""

    id: int
    tag: str
    kind: str = "scalar"
    shape: tuple[int, ...] = ()
    unit: str = ""

    def to_wire(self) -> list[object]:
        return [self.id, self.tag, self.kind, list(self.shape), self.unit]

    @staticmethod
    def from_wire(obj: list[object]) -> Stream:
        sid, tag, kind, shape, unit = obj
        if not isinstance(sid, int) or not isinstance(tag, str) or not isinstance(kind, str) \
                or not isinstance(shape, list) or not isinstance(unit, str) \
                or not all(isinstance(d, int) and 0 < d <= 4096 for d in shape):
            raise ValueError("malformed stream record")
        return Stream(sid, tag, kind, tuple(int(d) for d in shape), unit)


@dataclass(slots=True)
class ArraySample:
    """One frame of an array stream (e.g. 24×32 temperatures)."""

    stream: int
    t_ns: int
    values: F32
    quality: int = GOOD


@dataclass(slots=True)
class Frame:
    """Per changed stream: latest value and its time, min and max since the previous
    frame, how many samples that covers, worst quality, and total samples seen (``seq``),
    plus the newest frame of each changed array stream."""

    ids: U32
    latest: F32
    t_last: I64
    vmin: F32
    vmax: F32
    count: U32
    quality: U8
    seq: U64
    arrays: list[ArraySample] = field(default_factory=list)
    t_ns: int = 0  # when the frame was taken (server clock)

    def __len__(self) -> int:
        return len(self.ids)

    COLUMNS = ("ids", "latest", "t_last", "vmin", "vmax", "count", "quality", "seq")
    DTYPES = (np.uint32, np.float32, np.int64, np.float32, np.float32, np.uint32, np.uint8, np.uint64)

    def blobs(self) -> list[bytes]:
        """The columns as little-endian byte strings, in ``COLUMNS`` order."""
        return [np.ascontiguousarray(getattr(self, c), dtype=np.dtype(d).newbyteorder("<")).tobytes()
                for c, d in zip(self.COLUMNS, self.DTYPES, strict=True)]

    @staticmethod
    def from_blobs(blobs: list[bytes], t_ns: int = 0) -> Frame:
        """Rebuild a frame from ``blobs()``; raises ``ValueError`` on wrong sizes."""
        if len(blobs) != len(Frame.COLUMNS):
            raise ValueError("a frame has 8 columns")
        n = len(blobs[0]) // 4
        cols = []
        for b, d in zip(blobs, Frame.DTYPES, strict=True):
            dt = np.dtype(d).newbyteorder("<")
            if len(b) != n * dt.itemsize:
                raise ValueError("frame columns differ in length")
            cols.append(np.frombuffer(b, dtype=dt).astype(d))
        ids, latest, t_last, vmin, vmax, count, quality, seq = cols
        return Frame(ids, latest, t_last, vmin, vmax, count, quality, seq, [], t_ns)


def clean(sid: U32, t: I64, v: F32, q: U8, t_last: I64) -> tuple[U32, I64, F32, U8]:
    """Sort a batch by stream then time and drop samples not newer than their stream's
    newest (``t_last[sid]``, ``NO_TIME`` if none) or than an earlier sample of the batch.
    Non-finite values become NaN with quality ``BAD``."""
    return partition(sid, t, v, q, t_last)[0]


Columns = tuple[U32, I64, F32, U8]


def partition(sid: U32, t: I64, v: F32, q: U8, t_last: I64) -> tuple[Columns, Columns]:
    """``clean``, also returning the *late* samples: older than their stream's newest but
    not a duplicate within the batch (they may still be recorded in time order)."""
    order = np.lexsort((t, sid))
    sid, t, v, q = sid[order], t[order], v[order].astype(np.float32), q[order].astype(np.uint8)
    bad = ~np.isfinite(v)
    if bad.any():
        v = v.copy()
        v[bad] = np.nan
        q = np.maximum(q, np.where(bad, BAD, GOOD).astype(np.uint8))
    unique = np.ones(len(t), bool)
    if len(t) > 1:
        # Within a stream, strictly increasing: after the sort, equal times are duplicates.
        unique[1:] = ~((sid[1:] == sid[:-1]) & (t[1:] <= t[:-1]))
    fresh = unique & (t > t_last[sid])
    late = unique & ~fresh
    return (sid[fresh], t[fresh], v[fresh], q[fresh]), (sid[late], t[late], v[late], q[late])


class Aggregate:
    """Per-stream latest/min/max/count since the last ``take``, over dense stream ids."""

    def __init__(self, size: int = 0) -> None:
        self.latest = np.full(size, np.nan, np.float32)
        self.t_last = np.full(size, NO_TIME, np.int64)
        self.vmin = np.full(size, np.nan, np.float32)
        self.vmax = np.full(size, np.nan, np.float32)
        self.count = np.zeros(size, np.uint32)
        self.quality = np.zeros(size, np.uint8)
        self.seq = np.zeros(size, np.uint64)
        self.dirty = np.zeros(size, bool)
        self.arrays: dict[int, ArraySample] = {}

    def __len__(self) -> int:
        return len(self.latest)

    def grow(self, size: int) -> None:
        """Make room for stream ids below ``size``."""
        n = len(self.latest)
        if size <= n:
            return
        extra = max(size, 2 * n) - n
        self.latest = np.concatenate([self.latest, np.full(extra, np.nan, np.float32)])
        self.t_last = np.concatenate([self.t_last, np.full(extra, NO_TIME, np.int64)])
        self.vmin = np.concatenate([self.vmin, np.full(extra, np.nan, np.float32)])
        self.vmax = np.concatenate([self.vmax, np.full(extra, np.nan, np.float32)])
        self.count = np.concatenate([self.count, np.zeros(extra, np.uint32)])
        self.quality = np.concatenate([self.quality, np.zeros(extra, np.uint8)])
        self.seq = np.concatenate([self.seq, np.zeros(extra, np.uint64)])
        self.dirty = np.concatenate([self.dirty, np.zeros(extra, bool)])

    def add(self, sid: U32, t: I64, v: F32, q: U8) -> None:
        """Fold in a batch already ``clean``ed (sorted by stream, then time)."""
        if len(sid) == 0:
            return
        self.grow(int(sid.max()) + 1)
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        ends = np.r_[starts[1:], len(sid)] - 1
        ids = sid[starts]
        with np.errstate(invalid="ignore"):
            bmin = np.fmin.reduceat(v, starts)
            bmax = np.fmax.reduceat(v, starts)
        self._fold(ids, v[ends], t[ends], bmin, bmax, np.diff(np.r_[starts, len(sid)]).astype(np.uint32),
                   np.maximum.reduceat(q, starts), q[ends])

    def _fold(self, ids: U32, latest: F32, t_last: I64, vmin: F32, vmax: F32, count: U32,
              worst: U8, last_q: U8) -> None:
        fresh = self.count[ids] == 0
        self.vmin[ids] = np.where(fresh, vmin, np.fmin(self.vmin[ids], vmin))
        self.vmax[ids] = np.where(fresh, vmax, np.fmax(self.vmax[ids], vmax))
        self.latest[ids] = latest
        self.t_last[ids] = t_last
        self.count[ids] += count
        self.seq[ids] += count.astype(np.uint64)
        # The quality shown is the latest sample's, unless a worse one passed in between.
        self.quality[ids] = np.where(fresh, np.maximum(worst, last_q), np.maximum(self.quality[ids], worst))
        self.dirty[ids] = True

    def merge(self, frame: Frame) -> None:
        """Fold in a frame (a client merging frames it has not drawn yet)."""
        if len(frame):
            self.grow(int(frame.ids.max()) + 1)
            ids = frame.ids
            fresh = self.count[ids] == 0
            self.vmin[ids] = np.where(fresh, frame.vmin, np.fmin(self.vmin[ids], frame.vmin))
            self.vmax[ids] = np.where(fresh, frame.vmax, np.fmax(self.vmax[ids], frame.vmax))
            self.latest[ids] = frame.latest
            self.t_last[ids] = frame.t_last
            self.count[ids] += frame.count
            self.seq[ids] = frame.seq
            self.quality[ids] = np.where(fresh, frame.quality, np.maximum(self.quality[ids], frame.quality))
            self.dirty[ids] = True
        for a in frame.arrays:
            self.arrays[a.stream] = a

    def add_array(self, sample: ArraySample) -> None:
        self.grow(sample.stream + 1)
        if sample.t_ns <= self.t_last[sample.stream]:
            return
        self.arrays[sample.stream] = sample
        self.t_last[sample.stream] = sample.t_ns
        self.seq[sample.stream] += 1
        self.quality[sample.stream] = sample.quality

    def set_quality(self, ids: U32, quality: int) -> None:
        """Mark streams (e.g. stale or offline ones) and send them in the next frame."""
        if len(ids):
            self.grow(int(ids.max()) + 1)
            changed = ids[self.quality[ids] != quality]
            self.quality[changed] = quality
            self.dirty[changed] = True

    def take(self, t_ns: int = 0) -> Frame:
        """The changed streams as a frame; min, max and count start over."""
        ids = np.flatnonzero(self.dirty).astype(np.uint32)
        frame = Frame(ids, self.latest[ids], self.t_last[ids], self.vmin[ids], self.vmax[ids],
                      self.count[ids], self.quality[ids], self.seq[ids],
                      list(self.arrays.values()), t_ns)
        self.dirty[ids] = False
        self.count[ids] = 0
        self.arrays = {}
        return frame


# -- stored chunks --------------------------------------------------------------------------
_CHUNK = struct.Struct("<4sIq")  # magic, n, t0
_MAGIC = b"TSC1"


def _shuffle(a: npt.NDArray[np.generic]) -> bytes:
    """Byte planes: all first bytes, then all second bytes … (compresses far better)."""
    b = np.ascontiguousarray(a).view(np.uint8).reshape(len(a), a.dtype.itemsize)
    return b.T.tobytes()


def _unshuffle(data: bytes, dtype: np.dtype[np.generic], n: int) -> npt.NDArray[np.generic]:
    b = np.frombuffer(data, np.uint8).reshape(dtype.itemsize, n)
    return b.T.copy().view(dtype).reshape(n)


def encode_chunk(t: I64, v: F32, q: U8) -> bytes:
    """One stream's ordered samples as a compressed chunk."""
    n = len(t)
    t = t.astype("<i8")
    d = np.diff(t, prepend=t[:1])  # d[0] = 0
    dd = np.diff(d, prepend=np.int64(0)).astype("<i8")
    # XOR with the previous value keeps the sign, exponent and high mantissa bytes of a
    # slowly changing signal at zero; the byte planes then compress to almost nothing.
    bits = v.astype("<f4").view("<u4")
    xor = bits ^ np.r_[np.uint32(0), bits[:-1]].astype("<u4")
    body = _shuffle(dd) + _shuffle(xor) + q.astype(np.uint8).tobytes()
    return _CHUNK.pack(_MAGIC, n, int(t[0]) if n else 0) + zlib.compress(body, 6)


def decode_chunk(blob: bytes) -> tuple[I64, F32, U8]:
    """Times, values and qualities of a chunk; raises ``ValueError`` if it is corrupt."""
    if len(blob) < _CHUNK.size:
        raise ValueError("sensor chunk too short")
    magic, n, t0 = _CHUNK.unpack_from(blob)
    if magic != _MAGIC:
        raise ValueError("not a sensor chunk")
    try:
        body = zlib.decompress(blob[_CHUNK.size:])
    except zlib.error as exc:
        raise ValueError(f"corrupt sensor chunk: {exc}") from exc
    if len(body) != n * 13:
        raise ValueError("sensor chunk has the wrong length")
    dd = _unshuffle(body[:8 * n], np.dtype("<i8"), n).astype(np.int64)
    xor = _unshuffle(body[8 * n:12 * n], np.dtype("<u4"), n).astype(np.uint32)
    q = np.frombuffer(body[12 * n:], np.uint8).copy()
    t = t0 + np.cumsum(np.cumsum(dd))
    bits = np.bitwise_xor.accumulate(xor)
    return t.astype(np.int64), bits.view(np.float32), q
