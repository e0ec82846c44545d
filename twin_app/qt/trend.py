"""Trend and spectrum charts (pyqtgraph) of sensors: history from the server, live tail.

Design notes
------------
* ``TrendPanel`` charts one or several sensors over a time window. When it opens (or the
  window changes) it asks the server for the recorded history (``SensorFeed.query``, a
  min/max envelope per pixel-ish bucket when there are more samples than points); frames
  then extend a live tail per stream (latest value per frame; the frame's min and max
  widen the envelope so spikes show). Redraws are coalesced on a timer.
* Pan and zoom are pyqtgraph's (drag, wheel, right-drag); panning or zooming by hand stops following
  the live edge until "Live" is ticked again. Thresholds are dashed horizontal lines.
* ``SpectrumPanel`` shows the amplitude spectrum of a vibration sensor's raw waveform
  (stream ``<tag>/wave``), refreshed every second from the recorded samples, with the
  machine's characteristic frequencies (``fault_hz``) and their harmonics marked, so a
  growing bearing fault shows as a rising peak on its line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.samples import Frame
from twin_app.core.sensors import LEVEL_COLORS, SensorSpec
from twin_app.session.sensor_overlays import SensorBoard
from twin_app.session.sensors import History

F64 = npt.NDArray[np.float64]
WINDOWS = (("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0), ("8 h", 8 * 3600.0),
           ("24 h", 86400.0))
HISTORY_POINTS = 1000
TAIL_MAX = 50_000
REDRAW_MS = 200
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
SPECTRUM_S = 1.0  # seconds of waveform per spectrum
SPECTRUM_MS = 1000


_KEEP_ALIVE: list[QWidget] = []


def plot_widget(**kwargs: Any) -> Any:
    """A pyqtgraph PlotWidget, its context menus turned off (pan, zoom and the A button
    stay).

    pyqtgraph builds its menus and their control widgets without a parent, so Python owns
    them. If the garbage collector freed one on another thread (the network agent's),
    shiboken would delete it later on the GUI thread while holding the GIL, which can
    deadlock against a thread emitting a Qt signal. They are kept alive for the life of
    the process instead (a few small hidden widgets per chart; charts are made on demand,
    at most one of each kind per window)."""
    before = set(QApplication.topLevelWidgets())
    plot = pg.PlotWidget(**kwargs)
    _KEEP_ALIVE.extend(w for w in QApplication.topLevelWidgets() if w not in before and w is not plot)
    plot.setMenuEnabled(False)
    return plot


def _pen(color: str | tuple[int, ...], width: float = 1.5, dash: bool = False) -> Any:
    pen = pg.mkPen(color=color, width=width)
    if dash:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


@dataclass
class _Series:
    spec: SensorSpec
    color: str
    hist_t: F64 = field(default_factory=lambda: np.zeros(0))
    hist_lo: F64 = field(default_factory=lambda: np.zeros(0))
    hist_hi: F64 = field(default_factory=lambda: np.zeros(0))
    tail_t: list[float] = field(default_factory=list)
    tail_v: list[float] = field(default_factory=list)
    tail_lo: list[float] = field(default_factory=list)
    tail_hi: list[float] = field(default_factory=list)
    curve: Any = None
    upper: Any = None
    lower: Any = None
    band: Any = None

    def data(self) -> tuple[F64, F64, F64, F64]:
        """Time (s), value, min, max: history then the live tail after it."""
        t0 = self.hist_t[-1] if len(self.hist_t) else -math.inf
        tt = np.asarray(self.tail_t, np.float64)
        keep = tt > t0
        t = np.concatenate([self.hist_t, tt[keep]])
        lo = np.concatenate([self.hist_lo, np.asarray(self.tail_lo, np.float64)[keep]])
        hi = np.concatenate([self.hist_hi, np.asarray(self.tail_hi, np.float64)[keep]])
        mid = np.concatenate([(self.hist_lo + self.hist_hi) / 2,
                              np.asarray(self.tail_v, np.float64)[keep]])
        return t, mid, lo, hi


class TrendPanel(QWidget):
    """A time chart of sensors with threshold lines, history and a live tail."""

    def __init__(self, board: SensorBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.series: dict[str, _Series] = {}
        self.queries = 0
        self.message = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.title = QLabel("Choose sensors in the Sensors panel and press Trend.")
        bar.addWidget(self.title, 1)
        self.window_box = QComboBox()
        for text, _s in WINDOWS:
            self.window_box.addItem(text)
        self.window_box.setCurrentIndex(1)
        self.window_box.setToolTip("How much time the chart shows")
        self.window_box.currentIndexChanged.connect(lambda *_: self.reload())
        bar.addWidget(self.window_box)
        self.live = QCheckBox("Live")
        self.live.setChecked(True)
        self.live.setToolTip("Keep the newest values in view (panning or zooming turns this off)")
        self.live.toggled.connect(lambda on: self._redraw() if on else None)
        bar.addWidget(self.live)
        lay.addLayout(bar)
        self.plot = plot_widget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.legend = self.plot.addLegend(offset=(10, 10))
        self.plot.getViewBox().sigRangeChangedManually.connect(self._on_panned)
        lay.addWidget(self.plot, 1)
        self.lines: list[Any] = []
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)
        self._timer.start()
        board.feed.on_frame.append(self._on_frame)

    @property
    def window_s(self) -> float:
        return WINDOWS[self.window_box.currentIndex()][1]

    def close_panel(self) -> None:
        """Stop listening to the feed (the panel is going away)."""
        if self._on_frame in self.board.feed.on_frame:
            self.board.feed.on_frame.remove(self._on_frame)
        self._timer.stop()

    # -- content -----------------------------------------------------------------------
    def set_sensors(self, sensors: Sequence[str]) -> None:
        """Chart these sensor nodes (replacing what was shown)."""
        for s in self.series.values():
            for item in (s.curve, s.upper, s.lower, s.band):
                if item is not None:
                    self.plot.removeItem(item)
        self.legend.clear()
        for line in self.lines:
            self.plot.removeItem(line)
        self.lines = []
        self.series = {}
        specs = [sp for sp in (self.board.spec(sid) for sid in sensors) if sp is not None]
        for k, spec in enumerate(specs):
            color = PALETTE[k % len(PALETTE)]
            s = _Series(spec, color)
            r, g, b = pg.mkColor(color).getRgb()[:3]
            s.upper = self.plot.plot(pen=None)
            s.lower = self.plot.plot(pen=None)
            s.band = pg.FillBetweenItem(s.upper, s.lower, brush=pg.mkBrush(r, g, b, 50))
            self.plot.addItem(s.band)
            unit = f" ({spec.unit})" if spec.unit else ""
            s.curve = self.plot.plot(pen=_pen(color, 1.6), name=f"{spec.name}{unit}")
            self.series[spec.tag] = s
        units = {s.spec.unit for s in self.series.values()}
        self.plot.setLabel("left", units.pop() if len(units) == 1 else "")
        if len(specs) == 1:
            self._threshold_lines(specs[0])
        names = ", ".join(sp.name for sp in specs)
        self.title.setText(f"<b>{names}</b>" if names else "No sensor")
        self.reload()

    def _threshold_lines(self, spec: SensorSpec) -> None:
        for value, level, text in ((spec.warn_high, 1, "warning"), (spec.alarm_high, 2, "alarm"),
                                   (spec.warn_low, 1, "warning"), (spec.alarm_low, 2, "alarm")):
            if math.isfinite(value):
                rgb = tuple(int(c * 255) for c in LEVEL_COLORS[level])
                line = pg.InfiniteLine(pos=value, angle=0, pen=_pen(rgb, 1.2, dash=True),
                                       label=f"{text} {value:g}",
                                       labelOpts={"position": 0.05, "color": rgb})
                self.plot.addItem(line)
                self.lines.append(line)

    def threshold_values(self) -> list[float]:
        """The values of the threshold lines drawn."""
        return sorted(float(line.value()) for line in self.lines)

    def reload(self) -> None:
        """Ask the server for the history of the shown window."""
        if not self.series:
            return
        now = time.time_ns()
        t0 = now - int(self.window_s * 1e9)
        tags = list(self.series)
        if self.board.feed.query(tags, t0, now, HISTORY_POINTS, self._on_history):
            self.queries += 1
            self.message = ""
        else:
            self.message = "History is not available (not connected); showing live values."
        self._dirty = True

    def _on_history(self, result: dict[str, History] | str) -> None:
        if isinstance(result, str):
            self.message = f"Could not load the history: {result}"
            self.title.setToolTip(self.message)
            return
        for tag, h in result.items():
            s = self.series.get(tag)
            if s is None:
                continue
            s.hist_t = h.t.astype(np.float64) / 1e9
            s.hist_lo = h.vmin.astype(np.float64)
            s.hist_hi = h.vmax.astype(np.float64)
        self._dirty = True
        self._redraw()

    def _on_frame(self, frame: Frame) -> None:
        if not self.series or not len(frame):
            return
        streams = self.board.feed.by_tag
        pos = {int(i): k for k, i in enumerate(frame.ids)}
        for tag, s in self.series.items():
            st = streams.get(tag)
            k = pos.get(st.id) if st is not None else None
            if k is None or frame.count[k] == 0:
                continue
            s.tail_t.append(float(frame.t_last[k]) / 1e9)
            s.tail_v.append(float(frame.latest[k]))
            s.tail_lo.append(float(frame.vmin[k]))
            s.tail_hi.append(float(frame.vmax[k]))
            if len(s.tail_t) > TAIL_MAX:
                for lst in (s.tail_t, s.tail_v, s.tail_lo, s.tail_hi):
                    del lst[: len(lst) - TAIL_MAX]
            self._dirty = True

    def _on_timer(self) -> None:
        if self._dirty and self.isVisible():
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        for s in self.series.values():
            t, mid, lo, hi = s.data()
            ok = np.isfinite(mid)
            s.curve.setData(t[ok], mid[ok])
            s.upper.setData(t[ok], hi[ok])
            s.lower.setData(t[ok], lo[ok])
        if self.live.isChecked():
            now = time.time()
            self.plot.getViewBox().setXRange(now - self.window_s, now, padding=0.0)
            self.plot.getViewBox().enableAutoRange(axis="y")

    def _on_panned(self, *_args: object) -> None:
        self.live.setChecked(False)

    def series_data(self, tag: str) -> tuple[F64, F64]:
        """(time in s, value) as drawn for ``tag`` (empty if not shown)."""
        s = self.series.get(tag)
        if s is None:
            return np.zeros(0), np.zeros(0)
        t, mid, _lo, _hi = s.data()
        return t, mid


def spectrum(t_ns: npt.NDArray[np.int64], v: npt.NDArray[np.floating[Any]],
             seconds: float = SPECTRUM_S) -> tuple[F64, F64, float]:
    """Amplitude spectrum of the last ``seconds`` of a sampled signal: ``(hz, amplitude,
    sample rate)``, Hann-windowed, amplitude-corrected. Empty with fewer than 64 samples."""
    ok = np.isfinite(v)
    t_ns, v = t_ns[ok], v[ok]
    if len(t_ns) < 64:
        return np.zeros(0), np.zeros(0), 0.0
    dt = float(np.median(np.diff(t_ns))) / 1e9
    if dt <= 0:
        return np.zeros(0), np.zeros(0), 0.0
    fs = 1.0 / dt
    n = min(len(v), max(64, int(seconds * fs)))
    x = v[-n:].astype(np.float64)
    x -= x.mean()
    w = np.hanning(n)
    amp = np.abs(np.fft.rfft(x * w)) * 2.0 / w.sum()
    freq: F64 = np.fft.rfftfreq(n, dt).astype(np.float64)
    return freq, amp.astype(np.float64), fs


class SpectrumPanel(QWidget):
    """Amplitude spectrum of a vibration sensor's waveform with fault frequencies marked."""

    def __init__(self, board: SensorBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.spec: SensorSpec | None = None
        self.freq = np.zeros(0)
        self.amp = np.zeros(0)
        self.updates = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.title = QLabel("Choose a vibration sensor in the Sensors panel and press Spectrum.")
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.plot = plot_widget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "frequency", units="Hz")
        self.curve = self.plot.plot(pen=_pen("#1f77b4", 1.3))
        lay.addWidget(self.plot, 1)
        self.lines: list[Any] = []
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setInterval(SPECTRUM_MS)
        self._timer.timeout.connect(self.reload)

    def close_panel(self) -> None:
        self._timer.stop()

    @property
    def wave_tag(self) -> str:
        return f"{self.spec.tag}/wave" if self.spec is not None else ""

    def set_sensor(self, sensor: str) -> None:
        """Show the spectrum of this sensor's waveform, refreshed every second."""
        self.spec = self.board.spec(sensor)
        for line in self.lines:
            self.plot.removeItem(line)
        self.lines = []
        if self.spec is None:
            return
        self.plot.setLabel("left", f"amplitude ({self.spec.unit})" if self.spec.unit else "amplitude")
        for f in self.spec.fault_hz:
            for h in (1, 2, 3):
                rgb = tuple(int(c * 255) for c in LEVEL_COLORS[2 if h == 1 else 1])
                line = pg.InfiniteLine(pos=f * h, angle=90, pen=_pen(rgb, 1.4 if h == 1 else 1.0,
                                                                     dash=h > 1),
                                       label=f"{f:g} Hz" if h == 1 else f"{h}×",
                                       labelOpts={"position": 0.92, "color": rgb})
                self.plot.addItem(line)
                self.lines.append(line)
        self.freq = np.zeros(0)
        self.amp = np.zeros(0)
        self.curve.setData([], [])
        self._pending = False
        self.reload()
        self._timer.start()

    def fault_lines(self) -> list[float]:
        return sorted(float(line.value()) for line in self.lines)

    def reload(self) -> None:
        if self.spec is None or self._pending:
            return
        if self.wave_tag not in self.board.feed.by_tag:
            self.title.setText(f"<b>{self.spec.name}</b>: the sensor hub has no waveform "
                               f"stream “{self.wave_tag}”.")
            return
        now = time.time_ns()
        ok = self.board.feed.query([self.wave_tag], now - int((SPECTRUM_S + 1.5) * 1e9), now,
                                   1 << 15, self._on_wave)
        self._pending = ok
        if not ok:
            self.title.setText(f"<b>{self.spec.name}</b>: not connected to the server.")

    def _on_wave(self, result: dict[str, History] | str) -> None:
        self._pending = False
        if self.spec is None:
            return
        if isinstance(result, str):
            self.title.setText(f"<b>{self.spec.name}</b>: could not load the waveform ({result}).")
            return
        h = result.get(self.wave_tag)
        if h is None or len(h.t) < 64:
            self.title.setText(f"<b>{self.spec.name}</b>: waiting for waveform samples…")
            return
        freq, amp, fs = spectrum(h.t, (h.vmin.astype(np.float32) + h.vmax.astype(np.float32)) / 2)
        if len(freq) == 0:
            return
        self.freq, self.amp = freq, amp
        self.updates += 1
        self.curve.setData(freq[1:], amp[1:])
        self.plot.setXRange(0.0, min(fs / 2, max(500.0, 4 * max(self.spec.fault_hz, default=100.0))),
                            padding=0.02)
        peak = self.peak_hz()
        self.title.setText(f"<b>{self.spec.name}</b> — spectrum of the last {SPECTRUM_S:g} s at "
                           f"{fs:.0f} Hz; highest peak {peak:.1f} Hz")

    def peak_hz(self) -> float:
        """Frequency of the highest peak (DC left out); NaN before any spectrum."""
        if len(self.amp) < 3:
            return math.nan
        return float(self.freq[1 + int(np.argmax(self.amp[1:]))])
