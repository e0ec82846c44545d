"""The replay timeline: a slider with the recording's events drawn along it.

One row per person shows their edits in their colour (ops per time slice, darker = more);
below, event markers: alarms raised (red), escalated (dark red), acknowledged (orange),
cleared or removed (green), comments (yellow), guidance steps (grey), joins and leaves
(blue ticks). The playhead is a vertical line with a handle; A and B (for comparing)
are labelled flags. Pressing or dragging anywhere on it moves the playhead
(``sig_seek`` on every move, ``sig_released`` at the end).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from twin_app.replay.model import Index

MARK_COLORS = {
    "alarm_raise": "#d64545", "alarm_level": "#8b1e1e", "alarm_ack": "#e08a1e",
    "alarm_clear": "#2f9e55", "alarm_end": "#2f9e55", "comment": "#d9b300", "step": "#7a7f88",
    "join": "#3b7dd8", "leave": "#3b7dd8",
}
ROW_H = 9
MARK_H = 12
PAD = 8


class TimelineSlider(QWidget):
    """See the module docstring. Times are ns on the server clock."""

    sig_seek = Signal(object)  # int ns
    sig_released = Signal(object)  # int ns

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index: Index | None = None
        self.t = 0
        self.a: int | None = None
        self.b: int | None = None
        self._dragging = False
        self.setMinimumHeight(40)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(False)
        self.setToolTip("Drag to move through the recording")

    def set_index(self, index: Index) -> None:
        self.index = index
        self.t = index.t0
        self.updateGeometry()
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def sizeHint(self) -> QSize:
        rows = len(self._rows())
        return QSize(600, PAD * 2 + rows * ROW_H + MARK_H + 12)

    def _rows(self) -> list[str]:
        if self.index is None:
            return []
        return [p.client_id for p in self.index.participants if sum(self.index.activity.get(p.client_id, []))]

    def set_time(self, t: int) -> None:
        self.t = t
        self.update()

    # -- geometry ---------------------------------------------------------------------------
    def _span(self) -> tuple[int, int]:
        if self.index is None:
            return 0, 1
        return self.index.t0, max(self.index.t1, self.index.t0 + 1)

    def x_of(self, t: int) -> float:
        t0, t1 = self._span()
        w = max(1, self.width() - 2 * PAD)
        return PAD + (min(max(t, t0), t1) - t0) / (t1 - t0) * w

    def t_of(self, x: float) -> int:
        t0, t1 = self._span()
        w = max(1, self.width() - 2 * PAD)
        frac = min(1.0, max(0.0, (x - PAD) / w))
        return int(t0 + frac * (t1 - t0))

    # -- input ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.index is not None:
            self._dragging = True
            self._seek_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._seek_to(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self._seek_to(event.position().x())
            self.sig_released.emit(self.t)

    def _seek_to(self, x: float) -> None:
        t = self.t_of(x)
        if t != self.t:
            self.t = t
            self.update()
            self.sig_seek.emit(t)

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        index = self.index
        if index is None:
            return
        w = self.width() - 2 * PAD
        y = PAD
        people = {q.client_id: q for q in index.participants}
        for cid in self._rows():
            counts = index.activity.get(cid, [])
            peak = max(counts) if counts else 1
            person = people.get(cid)
            r, g, b = person.color if person and person.color else (0.5, 0.5, 0.55)
            bw = w / max(1, len(counts))
            for i, n in enumerate(counts):
                if n:
                    c = QColor.fromRgbF(r, g, b, 0.35 + 0.65 * n / peak)
                    p.fillRect(QRectF(PAD + i * bw, y, max(3.0, bw), ROW_H - 2), c)
            y += ROW_H
        base = y + 2
        p.setPen(QPen(pal.mid().color(), 1))
        p.drawLine(QPointF(PAD, base + MARK_H / 2), QPointF(PAD + w, base + MARK_H / 2))
        for m in index.marks:
            x = self.x_of(m.t_ns)
            color = QColor(MARK_COLORS.get(m.kind, "#888888"))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color)
            if m.kind in ("join", "leave"):
                p.drawRect(QRectF(x - 0.5, base + 2, 1.5, MARK_H - 4))
            elif m.kind.startswith("alarm"):
                p.drawPolygon(QPolygonF([QPointF(x, base), QPointF(x - 4, base + MARK_H),
                                         QPointF(x + 4, base + MARK_H)]))
            else:
                p.drawEllipse(QPointF(x, base + MARK_H / 2), 3.5, 3.5)
        for label, t in (("A", self.a), ("B", self.b)):
            if t is not None:
                x = self.x_of(t)
                p.setPen(QPen(QColor("#7c4dff"), 1.5))
                p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
                p.drawText(QPointF(x + 2, 10), label)
        x = self.x_of(self.t)
        p.setPen(QPen(pal.highlight().color(), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setBrush(pal.highlight())
        p.drawEllipse(QPointF(x, self.height() - 6), 5, 5)
        p.end()
