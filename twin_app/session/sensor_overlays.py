"""What the sensor overlays show: small models, one per overlay kind, fed by one board.

Design notes
------------
* napari's split: each overlay kind is a small Qt- and VTK-free model with a list of
  listeners (``on_change``); a render visual (``twin_app.render.sensor_overlays``) listens
  to one model and draws it. Models never know who draws them.
* ``SensorBoard`` reads the document's sensor nodes (``SensorSpec``) and the client's
  ``SensorFeed`` and keeps the models up to date. On a document change it rebuilds its
  columns (one row per sensor: stream id, range, thresholds, colour rule) and the binding
  of parts to sensors; on a frame it does everything in numpy: levels with hysteresis
  (``next_levels``), value or state colours, quality. So 5 000 bound parts recolour in a
  few milliseconds.
* Which parts a sensor colours: the parts (nodes with a mesh, not themselves sensors) in
  the subtree of its ``bound_to`` node. A part under several bindings shows the sensor
  bound closest to it (deepest bound node); among equals, the worse level.
* Bad data never looks live: a value whose quality is bad, stale or offline (or that has
  not been seen for ``stale_s``, judged on the server's clock as last heard) colours its
  parts grey and its label says why instead of showing the last number.
* Sparklines: the board keeps the last ``SPARK_POINTS`` latest values per sensor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.core.samples import Frame
from twin_app.core.sensors import (
    ALARM,
    BAD,
    GOOD,
    LEVEL_COLORS,
    OFFLINE,
    QUALITY_NAMES,
    STALE,
    STALE_COLOR,
    UNCERTAIN,
    SensorSpec,
    colormap_table,
    next_levels,
    sensor_specs,
    thresholds,
)
from twin_app.session.sensors import SensorFeed

F64 = npt.NDArray[np.float64]
SPARK_POINTS = 120
_SENSOR_FIELDS = frozenset({"prop:tag", "prop:bound_to", "prop:range_min", "prop:range_max",
                            "prop:warn_high", "prop:alarm_high", "prop:warn_low",
                            "prop:alarm_low", "prop:hysteresis", "prop:stale_s",
                            "prop:display", "prop:colormap", "prop:unit", "prop:fault_hz",
                            "name", "kind", "mesh", "parent", "node"})

Listener = Callable[[], None]


class _Model:
    """Base of the overlay models: a visibility flag and listeners."""

    def __init__(self) -> None:
        self.visible = True
        self.on_change: list[Listener] = []

    def _emit(self) -> None:
        for cb in list(self.on_change):
            cb()

    def set_visible(self, on: bool) -> None:
        """Show or hide the overlay."""
        if on != self.visible:
            self.visible = on
            self._emit()


class ValueColorModel(_Model):
    """Parts coloured by a sensor: ``ids`` (part node ids) and their colours ``rgb`` (k, 3).

    ``released`` lists parts that showed a sensor colour before the last change and no
    longer do (their own colour comes back)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: Sequence[str] = ()
        self.rgb: F64 = np.zeros((0, 3))
        self.released: list[str] = []
        self.bad: list[str] = []  # parts whose sensor's data is bad, stale or offline

    def set(self, ids: Sequence[str], rgb: F64, released: Iterable[str] = (),
            bad: list[str] | None = None) -> None:
        self.ids, self.rgb, self.released = ids, rgb, list(released)
        self.bad = bad or []
        self._emit()


@dataclass(slots=True)
class LabelItem:
    """One floating label: anchored on ``anchor`` (a node id), ``text`` on ``color``."""

    sensor: str
    anchor: str
    text: str
    color: tuple[float, float, float]
    quality: int
    alarm: bool = False  # at alarm level: drawn over everything


class LabelModel(_Model):
    """Floating labels (value + unit), one per sensor that shows one."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, LabelItem] = {}

    def set(self, items: dict[str, LabelItem]) -> None:
        self.items = items
        self._emit()


@dataclass(slots=True)
class LegendState:
    title: str
    lo: float
    hi: float
    colormap: str


class LegendModel(_Model):
    """The colour-map legend of one sensor (the one the person looks at)."""

    def __init__(self) -> None:
        super().__init__()
        self.state: LegendState | None = None

    def set(self, state: LegendState | None) -> None:
        if state != self.state:
            self.state = state
            self._emit()


@dataclass(slots=True)
class Heatmap:
    """An array sensor's newest frame to drape on ``node``'s face."""

    sensor: str
    node: str
    values: npt.NDArray[np.float32]
    lo: float
    hi: float
    colormap: str
    quality: int


class HeatmapModel(_Model):
    """Heat maps of array sensors (e.g. a thermal camera), by sensor node id."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Heatmap] = {}

    def set(self, items: dict[str, Heatmap]) -> None:
        self.items = items
        self._emit()


@dataclass(slots=True)
class AlarmMark:
    """An active alarm drawn on its parts: ``level`` 1 warning, 2 alarm."""

    alarm: str
    parts: list[str]
    level: int
    acked: bool


class AlarmModel(_Model):
    """Parts with an active alarm; unacknowledged ones pulse (``phase`` 0..1)."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[AlarmMark] = []
        self.phase = 0.0

    def set(self, marks: list[AlarmMark]) -> None:
        self.marks = marks
        self._emit()

    @property
    def unacked(self) -> int:
        return sum(1 for m in self.marks if not m.acked)

    def pulse(self, phase: float) -> None:
        """Advance the pulse of unacknowledged alarms (called by a timer)."""
        self.phase = phase % 1.0
        if self.unacked:
            self._emit()


@dataclass(slots=True)
class SensorRow:
    """A sensor as the Sensors dock lists it."""

    node: str
    name: str
    tag: str
    unit: str
    value: float
    quality: int
    level: int
    t_ns: int
    seen: bool
    spark: F64 = field(default_factory=lambda: np.zeros(0))

    @property
    def quality_name(self) -> str:
        return QUALITY_NAMES[self.quality] if 0 <= self.quality < len(QUALITY_NAMES) else "bad"


def value_text(value: float, unit: str) -> str:
    """A reading as a person reads it: 3 significant digits, then the unit."""
    if not math.isfinite(value):
        return "—"
    if unit == "bool":  # switches: presence, interlocks
        return "on" if value >= 0.5 else "off"
    a = abs(value)
    text = f"{value:.0f}" if a >= 100 else f"{value:.1f}" if a >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def level_color(level: int) -> tuple[float, float, float]:
    """The state colour of a level (0 green, 1 amber, 2 red)."""
    r, g, b = (float(c) for c in LEVEL_COLORS[min(max(level, 0), 2)])
    return (r, g, b)


def alarm_parts(doc: Document, bound: str | None) -> list[str]:
    """The parts a binding to ``bound`` colours (see the module docstring)."""
    if bound is None or bound not in doc.nodes:
        return []
    out = []
    for nid in doc.subtree(bound):
        node = doc.nodes[nid]
        if node.mesh is not None and (node.kind != "sensor" or nid == bound):
            out.append(nid)
    return out


class SensorBoard:
    """Keeps the overlay models in step with the document's sensors and the feed."""

    def __init__(self, feed: SensorFeed) -> None:
        self.feed = feed
        self.colors = ValueColorModel()
        self.labels = LabelModel()
        self.legend = LegendModel()
        self.heatmaps = HeatmapModel()
        self.alarms = AlarmModel()
        self.on_rows: list[Listener] = []  # the sensor list or a value changed
        self.focus: frozenset[str] = frozenset()  # nodes whose labels show the sensor name
        # Deferred: a frame only folds levels and sparklines in and calls ``on_dirty``; the
        # owner calls ``flush`` when it is time to draw (a window coalesces frames that way).
        self.deferred = False
        self.dirty = False
        self.on_dirty: list[Listener] = []
        self.specs: list[SensorSpec] = []
        self.index: dict[str, int] = {}
        self._doc: Document | None = None
        self._sid = np.zeros(0, np.int64)
        self._levels = np.zeros(0, np.int8)
        self._lo = self._hi = self._stale_ns = np.zeros(0)
        self._state_rows = np.zeros(0, bool)
        self._cmap_rows: dict[str, npt.NDArray[np.bool_]] = {}
        self._thr = thresholds([])
        self._array_rows: list[int] = []
        self._targets: tuple[str, ...] = ()
        self._released: list[str] = []
        self._owner = np.zeros(0, np.intp)
        self._spark = np.full((0, SPARK_POINTS), np.nan)
        self._head = SPARK_POINTS - 1
        self._legend_sensor: str | None = None
        self._clock_offset = 0  # server clock − local clock, from the last frame
        self._last_values = np.zeros(0)
        self._last_quality = np.zeros(0, np.uint8)
        self._last_t = np.zeros(0, np.int64)
        feed.on_frame.append(self._on_frame)
        feed.on_streams.append(self._on_streams)

    def close(self) -> None:
        """Stop listening to the feed."""
        if self._on_frame in self.feed.on_frame:
            self.feed.on_frame.remove(self._on_frame)
        if self._on_streams in self.feed.on_streams:
            self.feed.on_streams.remove(self._on_streams)

    # -- document --------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        """Read every sensor of ``doc`` afresh."""
        self._doc = doc
        old_spark = {s.node: self._spark_row(i) for i, s in enumerate(self.specs)}
        old_levels = {s.node: int(self._levels[i]) for i, s in enumerate(self.specs)}
        self.specs = sorted(sensor_specs(doc).values(), key=lambda s: s.node)
        self.index = {s.node: i for i, s in enumerate(self.specs)}
        n = len(self.specs)
        self._levels = np.array([old_levels.get(s.node, 0) for s in self.specs], np.int8)
        self._spark = np.full((n, SPARK_POINTS), np.nan)
        self._head = SPARK_POINTS - 1
        for i, s in enumerate(self.specs):
            if s.node in old_spark:
                self._spark[i] = old_spark[s.node]
        spans = [_span(sp) for sp in self.specs]
        self._lo = np.array([a for a, _ in spans], np.float64)
        self._hi = np.array([b for _, b in spans], np.float64)
        self._stale_ns = np.array([sp.stale_s * 1e9 for sp in self.specs], np.float64)
        self._state_rows = np.array([sp.display == "state" for sp in self.specs], bool)
        cmaps = np.array([sp.colormap for sp in self.specs], object)
        self._cmap_rows = {name: cmaps == name for name in set(cmaps.tolist())}
        self._thr = thresholds(self.specs)
        self._resolve_streams()
        # Parts → the sensor that colours them: deepest binding wins.
        depth = {s.node: len(doc.path(s.bound_to)) if s.bound_to in doc.nodes else 0
                 for s in self.specs}
        owner: dict[str, int] = {}
        for i, s in sorted(enumerate(self.specs), key=lambda p: depth[p[1].node]):
            if s.display in ("value", "state"):
                for pid in alarm_parts(doc, s.bound_to):
                    owner[pid] = i
        self._released = [*self._released, *(set(self._targets) - owner.keys())]
        self._targets = tuple(owner)
        self._owner = np.fromiter(owner.values(), np.intp, len(owner))
        self.refresh()
        self.update_alarms(doc)

    def on_changes(self, doc: Document, changes: ChangeSet) -> None:
        """Follow a document change: sensors added, removed or re-bound, alarms."""
        if changes.reset or doc is not self._doc:
            self.set_document(doc)
            return
        nodes = doc.nodes
        resensor = False
        realarm = False
        for nid, fields in changes.nodes.items():
            node = nodes.get(nid)
            if node is None:
                resensor |= nid in self.index
                realarm = True
                continue
            if node.kind == "alarm":
                realarm = True
            elif (node.kind == "sensor" or nid in self.index) and not fields.isdisjoint(_SENSOR_FIELDS):
                resensor = True
            elif "parent" in fields or "node" in fields or "mesh" in fields:
                resensor = True  # a part moved under (or out of) a bound group
        if resensor:
            self.set_document(doc)
        elif realarm:
            self.update_alarms(doc)

    def _on_streams(self) -> None:
        if self._doc is not None:
            self._resolve_streams()
            self.refresh()

    def _resolve_streams(self) -> None:
        by_tag = self.feed.by_tag
        self._sid = np.array([by_tag[s.tag].id if s.tag in by_tag else -1 for s in self.specs],
                             np.int64)
        self._array_rows = [i for i, s in enumerate(self.specs)
                            if s.tag in by_tag and by_tag[s.tag].kind == "array"]

    # -- values ----------------------------------------------------------------------
    def _columns(self) -> tuple[F64, npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Latest value, quality, time and 'seen' of every sensor (NaN/offline if unknown)."""
        cur = self.feed.current
        n = len(self.specs)
        sid = self._sid
        known = (sid >= 0) & (sid < len(cur))
        safe = np.where(known, sid, 0)
        seen = known & (cur.seq[safe] > 0) if len(cur) else np.zeros(n, bool)
        values = np.where(seen, cur.latest[safe].astype(np.float64) if len(cur) else np.nan, np.nan)
        quality = np.where(seen, cur.quality[safe] if len(cur) else OFFLINE, OFFLINE).astype(np.uint8)
        t_last = np.where(seen, cur.t_last[safe] if len(cur) else 0, 0).astype(np.int64)
        # Judged on the server's clock as last heard: no sample for stale_s → stale.
        now = time.time_ns() + self._clock_offset
        late = seen & (quality < STALE) & ((now - t_last) > self._stale_ns)
        quality = np.where(late, STALE, quality).astype(np.uint8)
        return values, quality, t_last, seen

    def _on_frame(self, frame: Frame) -> None:
        if self._doc is None:
            return
        if frame.t_ns:
            self._clock_offset = frame.t_ns - time.time_ns()
        if len(self.specs) and len(frame):
            # Levels with hysteresis over the frame's min/max, for the changed streams.
            cur = self.feed.current
            sid = self._sid
            pos = np.full(max(len(cur), int(frame.ids.max()) + 1), -1, np.intp)
            pos[frame.ids] = np.arange(len(frame))
            has = (sid >= 0) & (sid < len(pos))
            rows = np.flatnonzero(has)
            at = pos[sid[rows]]
            rows, at = rows[at >= 0], at[at >= 0]
            if len(rows):
                cols = [c[rows] for c in self._thr]
                self._levels[rows] = next_levels(
                    self._levels[rows], frame.vmin[at].astype(np.float64),
                    frame.vmax[at].astype(np.float64), frame.latest[at].astype(np.float64), *cols)
                # A ring of columns, one per frame: carry every sensor's last value
                # forward, then write the new ones (no per-row shifting of the history).
                prev, self._head = self._head, (self._head + 1) % SPARK_POINTS
                self._spark[:, self._head] = self._spark[:, prev]
                self._spark[rows, self._head] = frame.latest[at]
        if self.deferred:
            first = not self.dirty
            self.dirty = True
            if first:
                for cb in list(self.on_dirty):
                    cb()
            return
        self.refresh()

    def flush(self) -> bool:
        """Draw what frames changed since the last flush; True if there was anything."""
        if not self.dirty:
            return False
        self.refresh()
        return True

    def tick(self) -> None:
        """Re-judge staleness without a frame (called every second or so)."""
        if self._doc is not None and len(self.specs):
            self.refresh()

    def refresh(self) -> None:
        """Recompute every model from the current values."""
        self.dirty = False
        values, quality, t_last, seen = self._columns()
        self._last_values, self._last_quality, self._last_t = values, quality, t_last
        self._update_colors(values, quality, seen)
        self._update_labels(values, quality, seen)
        self._update_heatmaps()
        self._update_legend()
        for cb in list(self.on_rows):
            cb()

    def _sensor_colors(self, values: F64, quality: npt.NDArray[np.uint8]) -> F64:
        out = np.empty((len(self.specs), 3))
        for name, rows in self._cmap_rows.items():
            out[rows] = _value_colors(values[rows], self._lo[rows], self._hi[rows], name)
        state = self._state_rows
        if state.any():
            out[state] = LEVEL_COLORS[np.clip(self._levels[state], 0, 2)]
        bad = (quality >= BAD) | ~np.isfinite(values)
        out[bad] = STALE_COLOR
        return out

    def _update_colors(self, values: F64, quality: npt.NDArray[np.uint8],
                       seen: npt.NDArray[np.bool_]) -> None:
        del seen
        model = self.colors
        released, self._released = self._released, []
        if not model.visible or not self._targets:
            if released or model.ids:
                model.set((), np.zeros((0, 3)), [*released, *model.ids])
            return
        rgb = self._sensor_colors(values, quality)[self._owner]
        poor = ((quality >= BAD) | ~np.isfinite(values))[self._owner]
        bad = [self._targets[i] for i in np.flatnonzero(poor)] if poor.any() else []
        # The same tuple every frame: the scene reuses its id → slot plan.
        model.set(self._targets, rgb, released, bad)

    def _update_labels(self, values: F64, quality: npt.NDArray[np.uint8],
                       seen: npt.NDArray[np.bool_]) -> None:
        doc = self._doc
        if doc is None or not self.labels.visible:
            return
        items: dict[str, LabelItem] = {}
        focus = self.focus
        for i, s in enumerate(self.specs):
            if s.display == "off":
                continue
            q = int(quality[i])
            stream = self.feed.by_tag.get(s.tag)
            unit = s.unit or (stream.unit if stream is not None else "")
            arr = self.feed.array(s.tag) if stream is not None and stream.kind == "array" else None
            if arr is not None:
                q = self._array_quality(stream.id) if stream is not None else GOOD
                finite = arr[np.isfinite(arr)]
                top = float(finite.max()) if len(finite) else math.nan
                text = (f"{s.name}\nmax {value_text(top, unit)}" if q < BAD
                        else f"{s.name}\n{QUALITY_NAMES[min(q, OFFLINE)]}")
                color = STALE_COLOR if q >= BAD else level_color(int(self._levels[i]))
            elif not seen[i]:
                text = f"{s.name}\n{'no data' if self._sid[i] >= 0 else 'no stream'}"
                color = STALE_COLOR
            elif q >= BAD or not math.isfinite(values[i]):
                text = f"{s.name}\n{QUALITY_NAMES[min(q, OFFLINE)] if q >= BAD else 'bad'}"
                color = STALE_COLOR
            else:
                text = f"{s.name}\n{value_text(float(values[i]), unit)}"
                if q == UNCERTAIN:
                    text += " ?"
                color = level_color(int(self._levels[i]))
            node = doc.nodes.get(s.node)
            anchor = s.node if node is not None and node.mesh is not None else (s.bound_to or s.node)
            if s.node not in focus and s.bound_to not in focus and int(self._levels[i]) < ALARM:
                # Compact unless looked at (or in alarm): the reading only, the name on demand.
                text = text.split("\n", 1)[-1]
            items[s.node] = LabelItem(s.node, anchor, text, color, q,
                                      int(self._levels[i]) >= ALARM and q < BAD)
        self.labels.set(items)

    def _update_heatmaps(self) -> None:
        items: dict[str, Heatmap] = {}
        for s in (self.specs[i] for i in self._array_rows):
            stream = self.feed.by_tag.get(s.tag)
            if s.display == "off" or stream is None or stream.kind != "array" or s.bound_to is None:
                continue
            arr = self.feed.array(s.tag)
            if arr is None:
                continue
            lo, hi = s.range_min, s.range_max
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                finite = arr[np.isfinite(arr)]
                lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
            items[s.node] = Heatmap(s.node, s.bound_to, np.asarray(arr, np.float32).reshape(
                stream.shape if len(stream.shape) == 2 else (1, -1)), lo, hi, s.colormap,
                self._array_quality(stream.id))
        if items or self.heatmaps.items:
            self.heatmaps.set(items)

    def _array_quality(self, sid: int) -> int:
        # Frames carry array samples outside the scalar columns: their quality is known
        # only once a scalar-style update marked the stream (offline, stale).
        cur = self.feed.current
        return int(cur.quality[sid]) if sid < len(cur) and cur.seq[sid] > 0 else GOOD

    def _update_legend(self) -> None:
        spec = self.spec(self._legend_sensor) if self._legend_sensor else None
        if spec is None or spec.display not in ("value", "heatmap"):
            spec = next((s for s in self.specs if s.display == "value"), None)
        if spec is None:
            self.legend.set(None)
            return
        lo, hi = _span(spec)
        title = f"{spec.name} ({spec.unit})" if spec.unit else spec.name
        self.legend.set(LegendState(title, lo, hi, spec.colormap))

    def set_focus(self, ids: Iterable[str]) -> None:
        """Name the sensors of these nodes (sensors or bound parts) on their labels."""
        focus = frozenset(ids)
        if focus != self.focus:
            self.focus = focus
            if self._doc is not None:
                self.refresh()

    def show_legend_of(self, sensor: str | None) -> None:
        """Make the legend show ``sensor``'s colour map (e.g. the one selected)."""
        self._legend_sensor = sensor
        self._update_legend()

    # -- alarms ----------------------------------------------------------------------
    def update_alarms(self, doc: Document) -> None:
        """Re-read the active alarm nodes."""
        marks = []
        for node in doc.nodes.values():
            if node.kind != "alarm" or node.props.get("state") != "active":
                continue
            sensor = node.props.get("sensor")
            spec = self.spec(sensor) if isinstance(sensor, str) else None
            parts = alarm_parts(doc, spec.bound_to) if spec is not None else []
            level = node.props.get("level")
            marks.append(AlarmMark(node.id, parts, int(level) if isinstance(level, int | float) else ALARM,
                                   bool(node.props.get("ack_by"))))
        self.alarms.set(marks)

    # -- reading ---------------------------------------------------------------------
    def spec(self, node_id: str) -> SensorSpec | None:
        i = self.index.get(node_id)
        return self.specs[i] if i is not None else None

    def rows(self) -> list[SensorRow]:
        """Every sensor with its newest reading, level and sparkline."""
        out = []
        vals, qual, t_last = self._last_values, self._last_quality, self._last_t
        for i, s in enumerate(self.specs):
            seen = i < len(vals) and not (qual[i] == OFFLINE and math.isnan(vals[i]))
            stream = self.feed.by_tag.get(s.tag)
            unit = s.unit or (stream.unit if stream is not None else "")
            out.append(SensorRow(s.node, s.name, s.tag, unit,
                                 float(vals[i]) if i < len(vals) else math.nan,
                                 int(qual[i]) if i < len(qual) else OFFLINE,
                                 int(self._levels[i]) if i < len(self._levels) else 0,
                                 int(t_last[i]) if i < len(t_last) else 0, seen,
                                 self._spark_row(i)))
        return out

    def _spark_row(self, i: int) -> F64:
        """Sensor ``i``'s recent values, oldest first."""
        row: F64 = np.roll(self._spark[i], -(self._head + 1))
        return row

    def level(self, node_id: str) -> int:
        i = self.index.get(node_id)
        return int(self._levels[i]) if i is not None else 0


def _span(spec: SensorSpec) -> tuple[float, float]:
    """The colour map's span: the expected range, else around the thresholds, else 0..100."""
    lo, hi = spec.range_min, spec.range_max
    if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
        return lo, hi
    marks = [v for v in (spec.warn_low, spec.alarm_low, spec.warn_high, spec.alarm_high)
             if math.isfinite(v)]
    if len(marks) >= 2 and max(marks) > min(marks):
        pad = 0.25 * (max(marks) - min(marks))
        return min(marks) - pad, max(marks) + pad
    return 0.0, 100.0


_TABLES: dict[str, F64] = {}


def _value_colors(values: F64, lo: F64, hi: F64, name: str) -> F64:
    table = _TABLES.get(name)
    if table is None:
        table = _TABLES[name] = colormap_table(name)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (values - lo) / (hi - lo)
    t[~np.isfinite(t)] = 0.0  # shown grey below; any row will do
    idx = np.clip(t * (len(table) - 1), 0, len(table) - 1).astype(np.int64)
    out: F64 = table[idx]
    out[~np.isfinite(values)] = STALE_COLOR
    return out


__all__ = ["GOOD", "AlarmMark", "AlarmModel", "Heatmap", "HeatmapModel", "LabelItem", "LabelModel",
           "LegendModel", "LegendState", "SensorBoard", "SensorRow", "ValueColorModel", "value_text"]
