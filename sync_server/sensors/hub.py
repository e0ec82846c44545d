"""The sensor hub: ingest from every source, record at full rate, fan out per client, alarms.

It runs on its own thread beside the server's main loop and shares nothing with it but
two queues, so a sensor burst never delays an edit (the loop only forwards ready-made
frames to sockets):

* **in**: batches from sources (``sink(name)`` gives each source its own ``Sink``;
  ``SENSOR_PUSH`` from bridge processes arrives the same way), and commands from the
  loop — a client subscribed, granted credit or asked for history, a room's sensor
  nodes changed (``room_specs``);
* **out**: ``send(rid, frames)`` for a client and ``alarms(room, transitions)`` — the loop
  turns alarm transitions into ops, so alarms are synced, recorded and replayed like
  any edit.

Every tick (``TICK_S``) the hub cleans the new samples (``samples.clean``: time order,
no duplicates, non-finite values marked bad), folds them into the current state, hands
them to the sensor log, marks stale and offline streams, evaluates each room's
thresholds and sends every subscriber with credit the streams of its room that changed
since its previous frame (latest, min, max, count: a client that gets fewer frames
still sees every spike). At most ``CREDIT`` frames are in flight per client.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sync_server.sensors.store import SensorLog
from twin_app import protocol
from twin_app.core.samples import (
    F32,
    I64,
    U8,
    U32,
    Aggregate,
    ArraySample,
    Frame,
    Stream,
    partition,
)
from twin_app.core.sensors import (
    GOOD,
    NORMAL,
    OFFLINE,
    STALE,
    WARNING,
    SensorSpec,
    next_levels,
    thresholds,
)

log = logging.getLogger(__name__)

TICK_S = 0.02
CREDIT = 2
DEFAULT_HZ = 30.0
MAX_STREAMS = 100_000
MAX_QUERY_POINTS = 200_000
MAX_DECODE = 2_000_000  # samples a query decodes; longer ranges answer from chunk summaries
INBOX_LIMIT = 20_000  # batches waiting for the hub; beyond that new ones are dropped

Send = Callable[[bytes, list[bytes]], None]


@dataclass(frozen=True, slots=True)
class Transition:
    """A sensor's alarm state changed: ``level`` 0 (cleared), 1 warning, 2 alarm."""

    sensor: str  # the sensor node id
    tag: str
    level: int
    reason: str  # "high", "low", "stale"
    value: float
    threshold: float
    t_ns: int


Alarms = Callable[[str, list[Transition]], None]


@dataclass
class _Sub:
    room: str
    hz: float
    agg: Aggregate
    fseq: int = 0
    acked: int = 0
    last: float = 0.0


@dataclass
class _Room:
    specs: list[SensorSpec]
    sids: U32
    cols: tuple[npt.NDArray[np.float64], ...]
    mask: npt.NDArray[np.bool_]
    levels: npt.NDArray[np.int8]
    stale: npt.NDArray[np.bool_]
    stale_s: npt.NDArray[np.float64]
    faults: dict[str, str] = field(default_factory=dict)
    stale_new: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    stale_gone: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    tags: set[str] = field(default_factory=set)
    # Array sensors (heat maps): their stream ids and stale times, once the streams exist.
    arr_sids: U32 = field(default_factory=lambda: np.zeros(0, np.uint32))
    arr_stale_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    arr_specs: list[SensorSpec] = field(default_factory=list)


class _SourceSink:
    """The ``Sink`` a named source pushes into."""

    def __init__(self, hub: Hub, name: str) -> None:
        self._hub = hub
        self.name = name

    def push(self, tags: Sequence[str], idx: U32, t_ns: I64, values: npt.NDArray[np.float64], quality: U8,
             units: Sequence[str] | None = None) -> None:
        self._hub.post("push", self.name, list(tags), np.asarray(idx, np.uint32), np.asarray(t_ns, np.int64),
                       np.asarray(values, np.float64).astype(np.float32), np.asarray(quality, np.uint8),
                       list(units) if units is not None else None)

    def push_array(self, tag: str, t_ns: int, values: F32, quality: int) -> None:
        self._hub.post("array", self.name, tag, int(t_ns), np.asarray(values, np.float32), int(quality))

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        self._hub.post("status", name, bool(online), detail)


class Hub(threading.Thread):
    """See the module docstring. ``send`` and ``alarms`` are called on the hub's thread."""

    def __init__(self, path: Path, send: Send, alarms: Alarms, wake: Callable[[], None],
                 tick_s: float = TICK_S, max_streams: int = MAX_STREAMS) -> None:
        super().__init__(name="sensor-hub", daemon=True)
        self.log = SensorLog(path)
        self._send = send
        self._alarms = alarms
        self._wake = wake
        self.tick_s = tick_s
        self.max_streams = max_streams
        self._inbox: deque[tuple[Any, ...]] = deque()
        self._event = threading.Event()
        self._running = True
        self.streams: dict[int, Stream] = {}
        self.by_tag: dict[str, Stream] = {}
        for s in self.log.streams():
            self.streams[s.id] = s
            self.by_tag[s.tag] = s
        self.state = Aggregate(max(self.streams, default=0) + 1)
        # After a restart, what is stored is not taken again (a bridge resends what the
        # old server may not have recorded): each stream starts at its newest stored time.
        for sid, t1 in self.log.newest().items():
            if sid < len(self.state):
                self.state.t_last[sid] = t1
        self.source_of: dict[int, str] = {}
        self.latest_arrays: dict[int, ArraySample] = {}
        self.sources: dict[str, tuple[bool, str]] = {}
        self.subs: dict[bytes, _Sub] = {}
        self.rooms: dict[str, _Room] = {}
        self.stats = {"ingested": 0, "dropped_old": 0, "late_recorded": 0, "dropped_inbox": 0, "frames": 0,
                      "refused_streams": 0, "batches": 0}
        self._streams_dirty = False
        self._refused_logged = False
        self.faults: dict[str, str] = {}  # tag -> simulator fault, from the rooms' sensor nodes

    # -- thread-safe entry points -------------------------------------------------------------
    def post(self, *item: Any) -> None:
        if len(self._inbox) >= INBOX_LIMIT and item[0] in ("push", "array"):
            self.stats["dropped_inbox"] += 1
            return
        self._inbox.append(item)

    def sink(self, name: str) -> _SourceSink:
        """The sink for a source called ``name``."""
        return _SourceSink(self, name)

    def subscribe(self, rid: bytes, room: str, hz: float) -> None:
        self.post("sub", rid, room, hz)
        self._event.set()

    def unsubscribe(self, rid: bytes) -> None:
        self.post("unsub", rid)

    def credit(self, rid: bytes, fseq: int) -> None:
        self.post("credit", rid, fseq)

    def query(self, rid: bytes, req: int, tags: list[str], t0: int, t1: int, points: int) -> None:
        self.post("query", rid, req, tags, t0, t1, points)
        self._event.set()

    def room_specs(self, room: str, specs: list[SensorSpec]) -> None:
        self.post("specs", room, specs)

    def stop(self) -> None:
        self._running = False
        self._event.set()
        self.join(timeout=10)
        self.log.close()

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        next_tick = time.monotonic()
        while self._running:
            self._event.wait(max(0.0, next_tick - time.monotonic()))
            self._event.clear()
            try:
                self._drain()
                now = time.monotonic()
                if now >= next_tick:
                    self._tick(now)
                    next_tick = now + self.tick_s
            except Exception:  # never die: a bad batch must not stop every sensor
                log.exception("sensor hub: internal error; continuing")

    def _drain(self) -> None:
        pending: list[tuple[U32, I64, F32, U8]] = []
        inbox = self._inbox
        while inbox:
            item = inbox.popleft()
            kind = item[0]
            if kind == "push":
                batch = self._resolve(*item[1:])
                if batch is not None:
                    pending.append(batch)
            elif kind == "array":
                self._on_array(*item[1:])
            elif kind == "status":
                self._on_status(item[1], item[2], item[3])
            elif kind == "sub":
                self._on_sub(item[1], item[2], item[3])
            elif kind == "unsub":
                self.subs.pop(item[1], None)
            elif kind == "credit":
                sub = self.subs.get(item[1])
                if sub is not None and sub.acked < item[2] <= sub.fseq:
                    sub.acked = item[2]
            elif kind == "query":
                self._on_query(*item[1:])
            elif kind == "specs":
                self._on_specs(item[1], item[2])
        if pending:
            self._ingest(pending)

    def _stream(self, tag: str, kind: str, shape: tuple[int, ...], unit: str) -> Stream | None:
        s = self.by_tag.get(tag)
        if s is not None:
            if unit and not s.unit:
                self.log.set_unit(s.id, unit)
                s = self.streams[s.id] = self.by_tag[tag] = Stream(s.id, s.tag, s.kind, s.shape, unit)
                self._streams_dirty = True
            return s
        if len(self.streams) >= self.max_streams or not tag or len(tag) > 256:
            self.stats["refused_streams"] += 1
            if not self._refused_logged:
                self._refused_logged = True
                log.warning("sensor hub: refusing new stream %r (limit %d streams)", tag[:80], self.max_streams)
            return None
        s = self.log.add_stream(tag, kind, shape, unit)
        self.streams[s.id] = s
        self.by_tag[tag] = s
        self.state.grow(s.id + 1)
        self._streams_dirty = True
        for name, r in self.rooms.items():
            if tag in r.tags:
                self._mask(name, r)
        return s

    def _resolve(self, source: str, tags: list[str], idx: U32, t: I64, v: F32, q: U8,
                 units: list[str] | None) -> tuple[U32, I64, F32, U8] | None:
        if not self.sources.get(source, (False, ""))[0]:
            self._on_status(source, True, "")  # a source that delivers is online
        n = len(idx)
        if not (len(t) == len(v) == len(q) == n) or (n and int(idx.max()) >= len(tags)):
            log.warning("sensor hub: source %s sent a malformed batch; dropped", source)
            return None
        sid_of = np.full(len(tags), np.iinfo(np.uint32).max, np.uint32)
        for i, tag in enumerate(tags):
            s = self._stream(tag, "scalar", (), units[i] if units and i < len(units) else "")
            if s is not None and s.kind == "scalar":
                sid_of[i] = s.id
                self.source_of[s.id] = source
        sid = sid_of[idx]
        ok = sid != np.iinfo(np.uint32).max
        return sid[ok], t[ok], v[ok], q[ok]

    def _ingest(self, batches: list[tuple[U32, I64, F32, U8]]) -> None:
        sid = np.concatenate([b[0] for b in batches])
        t = np.concatenate([b[1] for b in batches])
        v = np.concatenate([b[2] for b in batches])
        q = np.concatenate([b[3] for b in batches])
        self.stats["batches"] += len(batches)
        n_in = len(sid)
        (sid, t, v, q), late = partition(sid, t, v, q, self.state.t_last)
        now = time.monotonic()
        # Late samples are recorded (in order) but never shown as the latest value.
        recorded = self._record(*late, now, late=True)
        self.stats["late_recorded"] += recorded
        self.stats["dropped_old"] += n_in - len(sid) - recorded
        if not len(sid):
            return
        self.stats["ingested"] += len(sid)
        self.state.add(sid, t, v, q)
        self._record(sid, t, v, q, now)

    def _record(self, sid: U32, t: I64, v: F32, q: U8, now: float, late: bool = False) -> int:
        if not len(sid):
            return 0
        starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
        ends = np.r_[starts[1:], len(sid)]
        n = 0
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            n += self.log.append(int(sid[a]), t[a:b], v[a:b], q[a:b], now, late)
        return n

    def _on_array(self, source: str, tag: str, t_ns: int, values: F32, quality: int) -> None:
        if values.ndim != 2 or not 0 < values.size <= 1 << 20:
            log.warning("sensor hub: source %s sent an array frame of shape %s; dropped", source, values.shape)
            return
        s = self._stream(tag, "array", tuple(values.shape), "")
        if s is None or s.kind != "array" or s.shape != tuple(values.shape):
            return
        if t_ns <= self.state.t_last[s.id]:
            self.stats["dropped_old"] += 1
            return
        self.source_of[s.id] = source
        sample = ArraySample(s.id, t_ns, np.nan_to_num(values, nan=np.nan, posinf=np.nan, neginf=np.nan), quality)
        self.state.add_array(sample)
        self.latest_arrays[s.id] = sample
        self.state.dirty[s.id] = True
        self.log.append_frame(s.id, t_ns, values, quality)
        self.stats["ingested"] += 1

    def _on_status(self, name: str, online: bool, detail: str) -> None:
        if self.sources.get(name) == (online, detail):
            return
        self.sources[name] = (online, detail)
        log.info("sensor source %s: %s%s", name, "online" if online else "OFFLINE", f" ({detail})" if detail else "")
        if not online:
            ids = np.array([sid for sid, src in self.source_of.items() if src == name], np.uint32)
            self.state.set_quality(ids, OFFLINE)
        self._streams_dirty = True

    def _on_sub(self, rid: bytes, room: str, hz: float) -> None:
        if not hz or not math.isfinite(hz) or hz <= 0:
            hz = DEFAULT_HZ
        sub = _Sub(room, min(hz, 1.0 / self.tick_s), Aggregate(len(self.state)))
        self.subs[rid] = sub
        self._send(rid, self._streams_message())
        # Start the client from the current state of every stream of its room.
        r = self.rooms.get(room)
        if r is not None:
            n = min(len(r.mask), len(self.state))
            self._start(sub, np.flatnonzero(r.mask[:n] & (self.state.seq[:n] > 0)).astype(np.uint32))

    def _frame_of(self, ids: U32) -> Frame:
        st = self.state
        return Frame(ids, st.latest[ids], st.t_last[ids], st.latest[ids], st.latest[ids],
                     np.zeros(len(ids), np.uint32), st.quality[ids], st.seq[ids])

    def _streams_message(self) -> list[bytes]:
        return protocol.encode(protocol.SENSOR_STREAMS, {
            "streams": [s.to_wire() for s in self.streams.values()],
            "sources": [{"name": n, "online": o, "detail": d} for n, (o, d) in sorted(self.sources.items())],
        })

    def _on_specs(self, room: str, specs: list[SensorSpec]) -> None:
        if not specs:
            self.rooms.pop(room, None)
            self._refresh_faults()
            return
        old = self.rooms.get(room)
        prev = {s.node: (int(old.levels[i]), bool(old.stale[i])) for i, s in enumerate(old.specs)} if old else {}
        # Alarms are evaluated on scalar sensors; array sensors (heat maps) are only shown.
        scalar = [sp for sp in specs if sp.display != "heatmap"]
        sids = np.array([s.id if (s := self._stream(sp.tag, "scalar", (), sp.unit)) else 0 for sp in scalar],
                        np.uint32)
        levels = np.array([prev.get(s.node, (NORMAL, False))[0] for s in scalar], np.int8)
        stale = np.array([prev.get(s.node, (NORMAL, False))[1] for s in scalar], bool)
        r = _Room(scalar, sids, thresholds(scalar), np.zeros(0, bool), levels, stale,
                  np.array([s.stale_s for s in scalar]),
                  {s.tag: s.sim_fault for s in specs if s.sim_fault})
        r.tags = {sp.tag for sp in specs} | {sp.tag + "/wave" for sp in specs}
        r.arr_specs = [sp for sp in specs if sp.display == "heatmap"]
        self.rooms[room] = r
        self._mask(room, r)
        self._refresh_faults()

    def _mask(self, name: str, r: _Room) -> None:
        """Which streams the room's clients get: its sensors' tags and their waveforms.
        Its subscribers get the current state of every stream the room gains."""
        mask = np.zeros(len(self.state), bool)
        for tag in r.tags:
            s = self.by_tag.get(tag)
            if s is not None:
                mask[s.id] = True
        arr = [(st.id, sp.stale_s) for sp in r.arr_specs
               if (st := self.by_tag.get(sp.tag)) is not None and st.kind == "array"]
        r.arr_sids = np.array([a[0] for a in arr], np.uint32)
        r.arr_stale_s = np.array([a[1] for a in arr], np.float64)
        gained = mask.copy()
        gained[:len(r.mask)] &= ~r.mask[:len(mask)]
        r.mask = mask
        ids = np.flatnonzero(gained & (self.state.seq > 0)).astype(np.uint32)
        if len(ids):
            for sub in self.subs.values():
                if sub.room == name:
                    self._start(sub, ids)

    def _start(self, sub: _Sub, ids: U32) -> None:
        sub.agg.merge(self._frame_of(ids))
        for sid in ids.tolist():
            if sid in self.latest_arrays:
                sub.agg.arrays[sid] = self.latest_arrays[sid]

    def _refresh_faults(self) -> None:
        faults: dict[str, str] = {}
        for r in self.rooms.values():
            faults.update(r.faults)
        self.faults = faults

    def _on_query(self, rid: bytes, req: int, tags: list[str], t0: int, t1: int, points: int) -> None:
        points = max(2, min(points, MAX_QUERY_POINTS))
        series: list[list[Any]] = []
        blobs: list[bytes] = []
        error = None
        for tag in tags:
            s = self.by_tag.get(tag)
            if s is None or s.kind != "scalar":
                t = np.zeros(0, np.int64)
                v = np.zeros(0, np.float32)
                raw, lo, hi = True, v, v
            else:
                try:
                    if self.log.count(s.id, t0, t1) > MAX_DECODE:
                        # Too long to decode in a tick: chunk summaries, bucketed again.
                        t, lo, hi = self.log.summaries(s.id, t0, t1)
                        t, lo, hi = envelope(t, lo, t0, t1, points // 2, hi)
                        raw = False
                    else:
                        t, v, _q = self.log.query(s.id, t0, t1)
                        raw = len(t) <= points
                        lo = hi = v
                        if not raw:
                            t, lo, hi = envelope(t, v, t0, t1, points // 2)
                except Exception as exc:  # a damaged file must not take the hub down
                    log.exception("sensor hub: query failed")
                    error = f"cannot read the sensor log: {exc}"
                    t, lo = np.zeros(0, np.int64), np.zeros(0, np.float32)
                    hi, raw = lo, True
            series.append([tag, raw, len(t)])
            blobs += [t.astype("<i8").tobytes(), lo.astype("<f4").tobytes(), hi.astype("<f4").tobytes()]
        body: dict[str, Any] = {"req": req, "series": series}
        if error:
            body["error"] = error
        self._send(rid, protocol.encode(protocol.SENSOR_DATA, body, blobs))

    # -- the tick ----------------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        self.log.flush_due(now)
        t_ns = time.time_ns()
        self._mark_stale(t_ns)
        tick = self.state.take(t_ns)
        self._evaluate(tick, t_ns)
        if self._streams_dirty:
            self._streams_dirty = False
            msg = self._streams_message()
            for rid in self.subs:
                self._send(rid, msg)
        sent = False
        for rid, sub in self.subs.items():
            r = self.rooms.get(sub.room)
            if r is not None and len(tick):
                inside = tick.ids < len(r.mask)
                keep = np.zeros(len(tick.ids), bool)
                keep[inside] = r.mask[tick.ids[inside]]
                if keep.any():
                    ids = tick.ids[keep]
                    sub.agg.merge(Frame(ids, tick.latest[keep], tick.t_last[keep], tick.vmin[keep],
                                        tick.vmax[keep], tick.count[keep], tick.quality[keep], tick.seq[keep]))
                for a in tick.arrays:
                    if a.stream < len(r.mask) and r.mask[a.stream]:
                        sub.agg.arrays[a.stream] = a
            if sub.fseq - sub.acked >= CREDIT or now - sub.last < 1.0 / sub.hz:
                continue
            if not sub.agg.dirty.any() and not sub.agg.arrays:
                continue
            frame = sub.agg.take(t_ns)
            sub.fseq += 1
            sub.last = now
            self._send(rid, protocol.encode_frame(sub.fseq, frame))
            self.stats["frames"] += 1
            sent = True
        if sent:
            self._wake()

    def _mark_stale(self, t_ns: int) -> None:
        st = self.state
        for r in self.rooms.values():
            age = (t_ns - st.t_last[r.sids]) / 1e9
            has = st.seq[r.sids] > 0
            stale = has & (age > r.stale_s)
            fresh_again = r.stale & ~stale
            newly = stale & ~r.stale
            if newly.any():
                ids = r.sids[newly]
                ids = ids[st.quality[ids] < STALE]
                st.set_quality(ids, STALE)
            if fresh_again.any():
                ids = r.sids[fresh_again]
                ids = ids[st.quality[ids] == STALE]
                st.set_quality(ids, GOOD)
            r.stale_new = newly
            r.stale_gone = fresh_again
            r.stale = stale
            if len(r.arr_sids):
                # A heat map whose camera went quiet shows stale, not its last image.
                a = r.arr_sids
                quiet = (st.seq[a] > 0) & ((t_ns - st.t_last[a]) / 1e9 > r.arr_stale_s) & (st.quality[a] < STALE)
                st.set_quality(a[quiet], STALE)

    def _evaluate(self, tick: Frame, t_ns: int) -> None:
        if not self.rooms:
            return
        for room, r in self.rooms.items():
            sids = r.sids
            # The tick's min / max / latest of the room's sensors (NaN: no sample this tick).
            vmin = np.full(len(sids), np.nan)
            vmax = np.full(len(sids), np.nan)
            latest = np.full(len(sids), np.nan)
            if len(tick) and len(sids):
                pos = np.searchsorted(tick.ids, sids).clip(0, len(tick) - 1)
                hit = (tick.ids[pos] == sids) & (tick.count[pos] > 0)
                vmin[hit] = tick.vmin[pos[hit]]
                vmax[hit] = tick.vmax[pos[hit]]
                latest[hit] = tick.latest[pos[hit]]
            new = next_levels(r.levels, vmin, vmax, latest, *r.cols)
            out: list[Transition] = []
            for i in np.flatnonzero(new != r.levels).tolist():
                sp = r.specs[i]
                lvl = int(new[i])
                value = float(vmax[i]) if lvl and not math.isnan(sp.threshold_of(lvl, float(vmax[i]))) \
                    else float(vmin[i]) if lvl else float(latest[i])
                thr = sp.threshold_of(lvl, value) if lvl else math.nan
                reason = "high" if lvl and value >= thr else "low" if lvl else ""
                out.append(Transition(sp.node, sp.tag, lvl, reason, value, thr, t_ns))
            for i in np.flatnonzero(r.stale_new).tolist():
                sp = r.specs[i]
                out.append(Transition(sp.node, sp.tag, WARNING, "stale", float(self.state.latest[sids[i]]),
                                      sp.stale_s, t_ns))
            for i in np.flatnonzero(r.stale_gone).tolist():
                sp = r.specs[i]
                out.append(Transition(sp.node, sp.tag, NORMAL, "stale", float(self.state.latest[sids[i]]),
                                      math.nan, t_ns))
            r.levels = new
            if out:
                self._alarms(room, out)


def envelope(t: I64, v: F32, t0: int, t1: int, buckets: int, v_hi: F32 | None = None) -> tuple[I64, F32, F32]:
    """Min and max of ``v`` per time bucket (empty buckets left out); with ``v_hi`` the
    input is already min (``v``) and max (``v_hi``) pairs."""
    edges = np.linspace(t0, t1 + 1, buckets + 1).astype(np.int64)
    idx = np.searchsorted(t, edges[:-1])
    nonempty = np.r_[idx[1:], len(t)] > idx
    idx = idx[nonempty]
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(v, idx)
        hi = np.fmax.reduceat(v if v_hi is None else v_hi, idx)
    mid = ((edges[:-1] + edges[1:]) // 2)[nonempty]
    return mid.astype(np.int64), lo.astype(np.float32), hi.astype(np.float32)
