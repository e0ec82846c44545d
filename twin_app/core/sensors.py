"""Sensors in the document: what a sensor node says, its alarm levels and its colours.

A sensor is a node of kind ``sensor`` (usually a small puck under the part it measures).
Everything about it is an ordinary property, edited and synced like any other, so every
client and the server's alarm engine read the same rules:

=================  ==========================================================================
property           meaning
=================  ==========================================================================
``tag``            the measurement it shows: the hub's stream name (e.g. ``line1/press/force``)
``unit``           display unit (``°C``, ``mm/s`` …)
``sensor_type``    temperature, vibration, current, pressure, force, state, thermal …
``bound_to``       the node coloured by its value; default: the sensor's parent
``range_min/max``  expected range: the colour map spans it
``warn_high``      warning when the value reaches it (also ``warn_low``, below)
``alarm_high``     alarm when the value reaches it (also ``alarm_low``)
``hysteresis``     how far back inside a threshold the value must come to clear it
                   (default 2 % of the range)
``stale_s``        no sample for this long: the value is stale (default 5 s)
``display``        ``value`` (colour map), ``state`` (green/amber/red), ``label`` (label
                   only), ``heatmap`` (array sensors), ``off``
``colormap``       ``turbo`` (default), ``coolwarm``, ``viridis``
``fault_hz``       characteristic frequencies for the spectrum view, e.g. ``"29.5,178"``
                   (the first is the shaft speed; a vibration tag's raw waveform is the
                   stream ``<tag>/wave``)
``sim_fault``      the built-in simulator develops this fault: ``bearing``, ``overheat``,
                   ``dropout`` (empty: none)
=================  ==========================================================================

Levels are 0 normal, 1 warning, 2 alarm. ``next_levels`` applies the thresholds with
hysteresis to a tick's min, max and latest value of many sensors at once (numpy, NaN for
"no threshold"), so the server evaluates thousands of sensors per tick in microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twin_app.core.document import Document, Node

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]

# Data quality, per sample and per stream. Higher is worse; a frame carries the worst.
GOOD = 0
UNCERTAIN = 1
BAD = 2
STALE = 3  # no sample for ``stale_s``
OFFLINE = 4  # the source says the device or the link is gone
QUALITY_NAMES = ("good", "uncertain", "bad", "stale", "offline")

NORMAL, WARNING, ALARM = 0, 1, 2
LEVEL_NAMES = ("normal", "warning", "alarm")
DISPLAYS = ("value", "state", "label", "heatmap", "off")
DEFAULT_STALE_S = 5.0
DEFAULT_HYSTERESIS = 0.02  # of the range


def _num(props: dict[str, Any], key: str) -> float:
    v = props.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return math.nan
    return float(v)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor node's rules, read from its properties (see the module docstring)."""

    node: str
    tag: str
    name: str
    unit: str
    sensor_type: str
    bound_to: str | None
    range_min: float
    range_max: float
    warn_high: float
    alarm_high: float
    warn_low: float
    alarm_low: float
    hysteresis: float
    stale_s: float
    display: str
    colormap: str
    fault_hz: tuple[float, ...]
    sim_fault: str = ""

    @staticmethod
    def from_node(node: Node) -> SensorSpec | None:
        """The spec of a ``sensor`` node with a tag, or ``None``."""
        p = node.props
        tag = p.get("tag")
        if node.kind != "sensor" or not isinstance(tag, str) or not tag:
            return None
        lo, hi = _num(p, "range_min"), _num(p, "range_max")
        span = hi - lo if math.isfinite(hi - lo) and hi > lo else math.nan
        hyst = _num(p, "hysteresis")
        if not math.isfinite(hyst) or hyst < 0:
            hyst = DEFAULT_HYSTERESIS * span if math.isfinite(span) else 0.0
        stale = _num(p, "stale_s")
        bound = p.get("bound_to")
        display = p.get("display")
        cmap = p.get("colormap")
        faults = p.get("fault_hz")
        fault_hz: tuple[float, ...] = ()
        if isinstance(faults, str):
            try:
                fault_hz = tuple(float(x) for x in faults.replace(";", ",").split(",") if x.strip())
            except ValueError:
                fault_hz = ()
        unit = p.get("unit")
        stype = p.get("sensor_type")
        return SensorSpec(
            node=node.id, tag=tag, name=node.name or tag,
            unit=unit if isinstance(unit, str) else "",
            sensor_type=stype if isinstance(stype, str) else "",
            bound_to=bound if isinstance(bound, str) and bound else node.parent,
            range_min=lo, range_max=hi,
            warn_high=_num(p, "warn_high"), alarm_high=_num(p, "alarm_high"),
            warn_low=_num(p, "warn_low"), alarm_low=_num(p, "alarm_low"),
            hysteresis=hyst,
            stale_s=stale if math.isfinite(stale) and stale > 0 else DEFAULT_STALE_S,
            display=display if display in DISPLAYS else "value",
            colormap=cmap if isinstance(cmap, str) and cmap in COLORMAPS else "turbo",
            fault_hz=fault_hz,
            sim_fault=fault if isinstance(fault := p.get("sim_fault"), str) else "",
        )

    def level_of(self, value: float) -> int:
        """The level a single value would raise (without hysteresis)."""
        return int(next_levels(np.zeros(1, np.int8), np.array([value]), np.array([value]),
                               np.array([value]), *thresholds([self]))[0])

    def threshold_of(self, level: int, value: float) -> float:
        """The threshold a value at ``level`` crossed (high side first), NaN if none."""
        hi, lo = (self.alarm_high, self.alarm_low) if level == ALARM else (self.warn_high, self.warn_low)
        if math.isfinite(hi) and value >= hi:
            return hi
        if math.isfinite(lo) and value <= lo:
            return lo
        return math.nan


def sensor_specs(doc: Document) -> dict[str, SensorSpec]:
    """Every sensor node's spec, by node id."""
    out: dict[str, SensorSpec] = {}
    for node in doc.nodes.values():
        if node.kind == "sensor":
            spec = SensorSpec.from_node(node)
            if spec is not None:
                out[node.id] = spec
    return out


def thresholds(specs: list[SensorSpec]) -> tuple[F64, F64, F64, F64, F64]:
    """Columns for ``next_levels``: warn_high, alarm_high, warn_low, alarm_low, hysteresis."""
    return (
        np.array([s.warn_high for s in specs], np.float64),
        np.array([s.alarm_high for s in specs], np.float64),
        np.array([s.warn_low for s in specs], np.float64),
        np.array([s.alarm_low for s in specs], np.float64),
        np.array([s.hysteresis for s in specs], np.float64),
    )


def next_levels(prev: I8, vmin: F64, vmax: F64, latest: F64,
                warn_hi: F64, alarm_hi: F64, warn_lo: F64, alarm_lo: F64, hyst: F64) -> I8:
    """New levels after a tick whose samples spanned ``vmin``..``vmax`` and ended at ``latest``.

    A level is raised as soon as any sample reached its threshold (so a spike between two
    frames still raises it); it falls only when the latest value is back inside the
    threshold by the hysteresis. NaN thresholds never fire; NaN values change nothing.
    """
    with np.errstate(invalid="ignore"):
        raise_alarm = (vmax >= alarm_hi) | (vmin <= alarm_lo)
        raise_warn = (vmax >= warn_hi) | (vmin <= warn_lo)
        # Still at a level while the latest value has not come back past threshold ∓ hyst.
        hold_alarm = (latest > alarm_hi - hyst) | (latest < alarm_lo + hyst)
        hold_warn = (latest > warn_hi - hyst) | (latest < warn_lo + hyst)
    hold_alarm |= raise_alarm
    out = np.where(raise_alarm, ALARM,
                   np.where((prev >= ALARM) & hold_alarm, ALARM,
                            np.where(raise_warn | ((prev >= WARNING) & hold_warn), WARNING, NORMAL)))
    unknown = np.isnan(latest)
    return np.where(unknown, prev, out).astype(np.int8)


# -- colours -----------------------------------------------------------------------------
# Each map: anchor colours at evenly spaced positions, interpolated linearly (sRGB 0..1).
COLORMAPS: dict[str, F64] = {
    "turbo": np.array([
        [0.19, 0.07, 0.23], [0.27, 0.40, 0.86], [0.16, 0.73, 0.92], [0.18, 0.94, 0.62],
        [0.64, 0.99, 0.24], [0.95, 0.80, 0.23], [0.98, 0.47, 0.11], [0.80, 0.16, 0.02],
        [0.48, 0.02, 0.01],
    ]),
    "coolwarm": np.array([
        [0.23, 0.30, 0.75], [0.55, 0.69, 1.00], [0.87, 0.87, 0.87], [0.96, 0.60, 0.48],
        [0.71, 0.02, 0.15],
    ]),
    "viridis": np.array([
        [0.27, 0.00, 0.33], [0.23, 0.32, 0.55], [0.13, 0.57, 0.55], [0.37, 0.79, 0.38],
        [0.99, 0.91, 0.14],
    ]),
}
LEVEL_COLORS = np.array([[0.20, 0.70, 0.30], [1.00, 0.70, 0.00], [0.90, 0.10, 0.10]])
STALE_COLOR = (0.45, 0.45, 0.48)


def colormap_table(name: str, n: int = 256) -> F64:
    """An (n, 3) table of the named colour map."""
    anchors = COLORMAPS.get(name, COLORMAPS["turbo"])
    x = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, x, anchors[:, i]) for i in range(3)], axis=1)


def value_colors(values: F64, lo: F64, hi: F64, table: F64) -> F64:
    """Colours (k, 3) of ``values`` mapped over ``lo``..``hi`` through ``table``; NaN → grey."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (values - lo) / (hi - lo)
    idx = np.clip(np.nan_to_num(t, nan=0.0) * (len(table) - 1), 0, len(table) - 1).astype(np.int64)
    out = table[idx]
    out[~np.isfinite(t)] = STALE_COLOR
    return out

