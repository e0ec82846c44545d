"""From a source's own names to sensor tags, and from single readings to batches.

A source names its measurements in its own terms — an MQTT topic (``plant/line1/temp``,
or ``plant/line1/env/hum`` for one key of a JSON map), a Sparkplug metric
(``group/node/device/metric``), an OPC UA node id (``ns=2;s=Press.Force``), a CSV column.
``TagMap`` turns those into the hub's sensor tags, with an optional linear conversion
(``value * scale + offset``) and unit; a name with no entry passes through unchanged or is
dropped (the ``passthrough`` setting), logged once either way.

``MappedSink`` applies a ``TagMap`` between a source and the real sink, so sources never
know about the mapping file. ``Batcher`` collects single readings from a source's network
thread and hands them to the sink as one columnar batch every few milliseconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sync_server.sensors import F64, I64, U8, U32, Sink, Source, Tags

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TagRule:
    """Where one source tag goes: the sensor ``tag``, ``value * scale + offset``, ``unit``
    (empty: whatever the source says)."""

    tag: str
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""


class TagMap:
    """Source tag → ``TagRule`` (see the module docstring). Thread-safe for lookups."""

    def __init__(self, rules: dict[str, TagRule] | None = None, passthrough: bool = True,
                 source: str = "") -> None:
        self.rules = dict(rules or {})
        self.passthrough = passthrough
        self.source = source
        self._seen: set[str] = set()
        self.dropped = 0

    def resolve(self, tag: str) -> TagRule | None:
        """The rule for ``tag``, or ``None`` if it is dropped."""
        rule = self.rules.get(tag)
        if rule is not None:
            return rule
        if tag not in self._seen:
            self._seen.add(tag)
            if self.passthrough:
                log.info("source %s: tag %r is not in the mapping; passed through unchanged",
                         self.source, tag)
            else:
                log.warning("source %s: tag %r is not in the mapping; its samples are dropped",
                            self.source, tag)
        return TagRule(tag) if self.passthrough else None


class MappedSink:
    """A ``Sink`` that renames, converts and filters tags by a ``TagMap`` on the way."""

    def __init__(self, sink: Sink, tags: TagMap) -> None:
        self.sink = sink
        self.tags = tags

    def push(self, tags: Tags, idx: U32, t_ns: I64, values: F64, quality: U8,
             units: Sequence[str] | None = None) -> None:
        rules = [self.tags.resolve(t) for t in tags]
        if all(r is not None and r.tag == t and r.scale == 1.0 and r.offset == 0.0 and not r.unit
               for r, t in zip(rules, tags, strict=True)):
            self.sink.push(tags, idx, t_ns, values, quality, units)
            return
        keep_tag = np.array([r is not None for r in rules], bool)
        if not keep_tag.all():
            rows = keep_tag[idx]
            self.tags.dropped += int(len(idx) - rows.sum())
            idx, t_ns, values, quality = idx[rows], t_ns[rows], values[rows], quality[rows]
        if not len(idx):
            return
        # Several source tags may map to one sensor tag: renumber against the output tags.
        out_tags: list[str] = []
        out_units: list[str] = []
        where: dict[str, int] = {}
        remap = np.zeros(len(tags), np.uint32)
        scale = np.ones(len(tags), np.float64)
        offset = np.zeros(len(tags), np.float64)
        for i, r in enumerate(rules):
            if r is None:
                continue
            j = where.get(r.tag)
            if j is None:
                j = where[r.tag] = len(out_tags)
                out_tags.append(r.tag)
                out_units.append("")
            if not out_units[j]:
                out_units[j] = r.unit or (units[i] if units is not None else "")
            remap[i] = j
            scale[i], offset[i] = r.scale, r.offset
        values = values * scale[idx] + offset[idx]
        has_units = units is not None or any(out_units)
        self.sink.push(out_tags, remap[idx], t_ns, values, quality, out_units if has_units else None)

    def push_array(self, tag: str, t_ns: int, values: npt.NDArray[np.float32], quality: int) -> None:
        rule = self.tags.resolve(tag)
        if rule is None:
            self.tags.dropped += 1
            return
        if rule.scale != 1.0 or rule.offset != 0.0:
            values = (values * rule.scale + rule.offset).astype(np.float32)
        self.sink.push_array(rule.tag, t_ns, values, quality)

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        self.sink.source_status(name, online, detail)


class MappedSource:
    """A source whose samples pass through a ``TagMap`` before reaching the sink."""

    def __init__(self, source: Source, tags: TagMap) -> None:
        self.source = source
        self.tags = tags
        self.name = source.name

    def start(self, sink: Sink) -> None:
        self.source.start(MappedSink(sink, self.tags))

    def stop(self) -> None:
        self.source.stop()

    def __repr__(self) -> str:
        return f"MappedSource({self.source!r})"


class Batcher:
    """Single readings in, columnar batches out: ``add`` from any thread; a flusher thread
    pushes what has gathered every ``interval`` seconds (sooner past ``max_rows``)."""

    def __init__(self, sink: Sink, interval: float = 0.01, max_rows: int = 50_000,
                 name: str = "batcher") -> None:
        self.sink = sink
        self.interval = interval
        self.max_rows = max_rows
        self._lock = threading.Lock()
        # Held while a batch is handed over: two flushes (the flusher's and a source's before
        # a status change) must not deliver their batches out of order.
        self._flush_lock = threading.Lock()
        self._tag_ids: dict[str, int] = {}
        self._tags: list[str] = []
        self._units: list[str] = []
        self._idx: list[int] = []
        self._t: list[int] = []
        self._v: list[float] = []
        self._q: list[int] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-flush", daemon=True)
        self.pushed = 0

    def start(self) -> None:
        self._thread.start()

    def add(self, tag: str, t_ns: int, value: float, quality: int, unit: str = "") -> None:
        with self._lock:
            i = self._tag_ids.get(tag)
            if i is None:
                i = self._tag_ids[tag] = len(self._tags)
                self._tags.append(tag)
                self._units.append(unit)
            elif unit and not self._units[i]:
                self._units[i] = unit
            self._idx.append(i)
            self._t.append(t_ns)
            self._v.append(value)
            self._q.append(quality)
            full = len(self._idx) >= self.max_rows
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Push what has gathered (on the caller's thread)."""
        with self._flush_lock:
            with self._lock:
                if not self._idx:
                    return
                tags, units = self._tags, self._units
                idx, t, v, q = self._idx, self._t, self._v, self._q
                self._tag_ids, self._tags, self._units = {}, [], []
                self._idx, self._t, self._v, self._q = [], [], [], []
            self.pushed += len(idx)
            self.sink.push(tags, np.array(idx, np.uint32), np.array(t, np.int64),
                           np.array(v, np.float64), np.array(q, np.uint8),
                           units if any(units) else None)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a sink bug must not end the source's delivery
                log.exception("delivering a batch failed")
        self.flush()

    def stop(self) -> None:
        """Deliver what is left and end the flusher thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        else:
            self.flush()

