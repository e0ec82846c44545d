"""The Sensors panel: the room's sensors with live values, and binding a part to a sensor.

Design notes
------------
* The table is a ``QAbstractTableModel`` over ``SensorBoard.rows()``; values change many
  times a second, so the panel refreshes on a timer (``REFRESH_MS``) and only emits
  ``dataChanged`` for the value columns — never a reset that would lose the selection.
* The panel only reports what the person asked for (signals); the window turns them into
  commands (``twin_app.session.sensor_commands``) through ``dispatch``, so binding, new
  thresholds and fault injection are undoable and synced like any other edit.
* ``SensorDialog`` edits one sensor's rules: the tag comes from the hub's streams
  (``SensorFeed.by_tag``) or is typed; empty threshold boxes mean "no threshold".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.document import Node, PropValue
from twin_app.core.sensors import (
    BAD,
    COLORMAPS,
    DISPLAYS,
    LEVEL_COLORS,
    LEVEL_NAMES,
    STALE_COLOR,
    UNCERTAIN,
)
from twin_app.session.sensor_overlays import SensorBoard, SensorRow, value_text
from twin_app.session.sensors import SensorFeed

REFRESH_MS = 250
COL_NAME, COL_VALUE, COL_QUALITY, COL_TREND, COL_TAG = range(5)
HEADERS = ("Sensor", "Value", "Quality", "Trend", "Tag")
SparkRole = Qt.ItemDataRole.UserRole + 10
NodeRole = Qt.ItemDataRole.UserRole + 11
AnyIndex = QModelIndex | QPersistentModelIndex
FAULT_CHOICES = (("Bearing fault", "bearing"), ("Overheating", "overheat"),
                 ("Dropouts", "dropout"), ("No fault", ""))


def _qcolor(rgb: Sequence[float]) -> QColor:
    return QColor.fromRgbF(float(rgb[0]), float(rgb[1]), float(rgb[2]))


class SensorTableModel(QAbstractTableModel):
    """Rows of ``SensorBoard.rows()``: name, value + unit, quality, sparkline, tag."""

    def __init__(self, board: SensorBoard, parent: Any = None) -> None:
        super().__init__(parent)
        self.board = board
        self.rows: list[SensorRow] = []

    def refresh(self) -> None:
        """Re-read the board: reset when the list of sensors changed, else only values."""
        rows = self.board.rows()
        if [r.node for r in rows] != [r.node for r in self.rows] or \
                [(r.name, r.tag) for r in rows] != [(r.name, r.tag) for r in self.rows]:
            self.beginResetModel()
            self.rows = rows
            self.endResetModel()
            return
        self.rows = rows
        if rows:
            self.dataChanged.emit(self.index(0, COL_VALUE), self.index(len(rows) - 1, COL_TREND))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        r = self.rows[index.row()]
        col = index.column()
        if role == NodeRole:
            return r.node
        if role == SparkRole:
            return r
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                return r.name
            if col == COL_VALUE:
                return row_value_text(r)
            if col == COL_QUALITY:
                return r.quality_name if r.seen else "no data"
            if col == COL_TAG:
                return r.tag
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_VALUE, COL_QUALITY):
            if not r.seen or r.quality >= BAD:
                return _qcolor(STALE_COLOR)
            if r.level:
                return _qcolor(LEVEL_COLORS[r.level] * 0.85)
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{r.name} · {r.tag}"
            if r.seen:
                tip += f"\n{LEVEL_NAMES[r.level]}, quality {r.quality_name}"
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_VALUE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def row_value_text(r: SensorRow) -> str:
    """What the value column says: the reading, or why there is none."""
    if not r.seen:
        return "—"
    if r.quality >= BAD or not math.isfinite(r.value):
        return r.quality_name
    return value_text(r.value, r.unit) + (" ?" if r.quality == UNCERTAIN else "")


class SparklineDelegate(QStyledItemDelegate):
    """Draws a row's recent values as a small line, in the level colour."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        if index.column() != COL_TREND:
            super().paint(painter, option, index)
            return
        r = index.data(SparkRole)
        if not isinstance(r, SensorRow):
            return
        vals = r.spark[np.isfinite(r.spark)]
        rect: QRect = option.rect.adjusted(3, 4, -3, -4)
        if len(vals) < 2 or rect.width() < 4:
            return
        lo, hi = float(vals.min()), float(vals.max())
        span = hi - lo if hi > lo else 1.0
        xs = np.linspace(rect.left(), rect.right(), len(vals))
        ys = rect.bottom() - (vals - lo) / span * rect.height()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = STALE_COLOR if (not r.seen or r.quality >= BAD) else \
            LEVEL_COLORS[r.level] if r.level else (0.25, 0.5, 0.85)
        painter.setPen(QPen(_qcolor(color), 1.3))
        painter.drawPolyline(QPolygonF([QPointF(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]))
        painter.restore()


class SensorsPanel(QWidget):
    """The room's sensors: filter, live table, bind/edit, trend, spectrum, fault injection."""

    sig_fly = Signal(str)  # sensor node id: select and frame its bound part
    sig_bind = Signal()  # bind a sensor to the selected part
    sig_edit = Signal(str)  # edit this sensor's rules
    sig_trend = Signal(list)  # sensor node ids to chart
    sig_spectrum = Signal(str)  # sensor node id
    sig_fault = Signal(str, str)  # sensor node id, fault ("" clears)
    sig_current = Signal(object)  # sensor node id (or None) the person looks at

    def __init__(self, board: SensorBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.model = SensorTableModel(board, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter sensors (name or tag)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        lay.addWidget(self.filter)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(SparklineDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_VALUE, 74), (COL_QUALITY, 56), (COL_TREND, 72), (COL_TAG, 110)):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(col, width)
        self.view.doubleClicked.connect(self._on_double_clicked)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.bind_btn = QPushButton("Bind…")
        self.bind_btn.setToolTip("Bind a sensor to the selected part")
        self.bind_btn.clicked.connect(self.sig_bind.emit)
        self.edit_btn = QPushButton("Thresholds…")
        self.edit_btn.setToolTip("Edit the selected sensor's range, thresholds and display")
        self.edit_btn.clicked.connect(self._on_edit_clicked)
        self.trend_btn = QPushButton("Trend")
        self.trend_btn.setToolTip("Chart the selected sensors over time")
        self.trend_btn.clicked.connect(self._on_trend_clicked)
        self.spectrum_btn = QPushButton("Spectrum")
        self.spectrum_btn.setToolTip("Frequency spectrum of the selected vibration sensor")
        self.spectrum_btn.clicked.connect(self._on_spectrum_clicked)
        self.fault_btn = QToolButton()
        self.fault_btn.setText("Inject Fault")
        self.fault_btn.setToolTip("Make the simulator develop a fault on the selected sensor")
        self.fault_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.fault_btn)
        self.fault_actions: dict[str, QAction] = {}
        for text, fault in FAULT_CHOICES:
            act = menu.addAction(text)
            act.triggered.connect(lambda _=False, f=fault: self._on_fault_chosen(f))
            self.fault_actions[fault] = act
        self.fault_btn.setMenu(menu)
        for w in (self.bind_btn, self.edit_btn, self.trend_btn, self.spectrum_btn, self.fault_btn):
            row.addWidget(w)
        row.addStretch(1)
        lay.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.set_can_bind(False)
        self.refresh()

    # -- reading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read values (and the list, if sensors came or went)."""
        keep = self.selected()
        self.model.refresh()
        if keep and not self.view.selectionModel().hasSelection():
            self.select(keep)
        self._update_buttons()
        feed = self.board.feed
        offline = [s.name for s in feed.sources.values() if not s.online]
        n = len(self.model.rows)
        text = f"{n} sensor{'s' if n != 1 else ''}"
        if offline:
            text += f" · <span style='color:#d64545'>source offline: {', '.join(offline)}</span>"
        self.status.setText(text)

    def selected(self) -> list[str]:
        """Sensor node ids of the selected rows, in table order."""
        rows = sorted({self.proxy.mapToSource(i).row()
                       for i in self.view.selectionModel().selectedRows()})
        return [self.model.rows[r].node for r in rows if r < len(self.model.rows)]

    def row_of(self, sensor: str) -> QModelIndex:
        """The view's index (column 0) of a sensor's row, invalid if not shown."""
        for r, row in enumerate(self.model.rows):
            if row.node == sensor:
                return self.proxy.mapFromSource(self.model.index(r, 0))
        return QModelIndex()

    def select(self, sensors: Sequence[str]) -> None:
        sm = self.view.selectionModel()
        sm.clearSelection()
        for sid in sensors:
            idx = self.row_of(sid)
            if idx.isValid():
                sm.select(idx, sm.SelectionFlag.Select | sm.SelectionFlag.Rows)

    def set_can_bind(self, on: bool) -> None:
        """Whether a part is selected to bind a sensor to."""
        self.bind_btn.setEnabled(on)

    def _update_buttons(self) -> None:
        sel = self.selected()
        self.edit_btn.setEnabled(len(sel) == 1)
        self.trend_btn.setEnabled(bool(sel))
        self.fault_btn.setEnabled(len(sel) == 1)
        vib = len(sel) == 1 and self._is_vibration(sel[0])
        self.spectrum_btn.setEnabled(vib)

    def _is_vibration(self, sensor: str) -> bool:
        spec = self.board.spec(sensor)
        return spec is not None and (spec.sensor_type == "vibration" or bool(spec.fault_hz)
                                     or f"{spec.tag}/wave" in self.board.feed.by_tag)

    # -- person's actions --------------------------------------------------------------
    def _on_double_clicked(self, index: QModelIndex) -> None:
        src = self.proxy.mapToSource(index)
        if 0 <= src.row() < len(self.model.rows):
            self.sig_fly.emit(self.model.rows[src.row()].node)

    def _on_selection_changed(self, *_args: object) -> None:
        self._update_buttons()
        sel = self.selected()
        self.sig_current.emit(sel[0] if sel else None)

    def _on_edit_clicked(self) -> None:
        sel = self.selected()
        if len(sel) == 1:
            self.sig_edit.emit(sel[0])

    def _on_trend_clicked(self) -> None:
        sel = self.selected()
        if sel:
            self.sig_trend.emit(sel)

    def _on_spectrum_clicked(self) -> None:
        sel = self.selected()
        if len(sel) == 1:
            self.sig_spectrum.emit(sel[0])

    def _on_fault_chosen(self, fault: str) -> None:
        sel = self.selected()
        if len(sel) == 1:
            self.sig_fault.emit(sel[0], fault)


def _num_text(v: PropValue | None) -> str:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v)):
        return f"{float(v):g}"
    return ""


class SensorDialog(QDialog):
    """Bind a sensor to a part, or edit a sensor's rules: tag, unit, display, range and
    thresholds. ``values()`` returns the properties (numbers or ``None``)."""

    NUMBERS = (("range_min", "Range from"), ("range_max", "Range to"),
               ("warn_high", "Warning above"), ("alarm_high", "Alarm above"),
               ("warn_low", "Warning below"), ("alarm_low", "Alarm below"),
               ("stale_s", "Stale after (s)"))

    def __init__(self, feed: SensorFeed, *, part_name: str, sensor: Node | None = None,
                 validate: Callable[[dict[str, PropValue | None], str], str | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.feed = feed
        self._validate = validate
        self.setWindowTitle(f"Sensor on {part_name}" if sensor is None else f"Edit {sensor.name}")
        form = QFormLayout(self)
        self.name = QLineEdit(sensor.name if sensor is not None else "")
        self.name.setPlaceholderText("e.g. Motor temperature")
        form.addRow("Name", self.name)
        self.tag = QComboBox()
        self.tag.setEditable(True)
        self.tag.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        tags = sorted(t for t, s in feed.by_tag.items() if not t.endswith("/wave"))
        self.tag.addItems(tags)
        current = str(sensor.props.get("tag", "")) if sensor is not None else ""
        self.tag.setCurrentText(current if current or not tags else tags[0])
        self.tag.setToolTip("The measurement: one of the sensor hub's streams, or type a tag")
        self.tag.currentTextChanged.connect(self._on_tag_changed)
        form.addRow("Measurement", self.tag)
        self.unit = QLineEdit(str(sensor.props.get("unit", "")) if sensor is not None else "")
        form.addRow("Unit", self.unit)
        self.display = QComboBox()
        self.display.addItems(list(DISPLAYS))
        self.display.setCurrentText(str(sensor.props.get("display", "value")) if sensor is not None
                                    else "value")
        form.addRow("Show as", self.display)
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.setCurrentText(str(sensor.props.get("colormap", "turbo")) if sensor is not None
                                     else "turbo")
        form.addRow("Colour map", self.colormap)
        self.numbers: dict[str, QLineEdit] = {}
        for key, label in self.NUMBERS:
            edit = QLineEdit(_num_text(sensor.props.get(key)) if sensor is not None else "")
            edit.setPlaceholderText("none")
            edit.setObjectName(key)
            self.numbers[key] = edit
            form.addRow(label, edit)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d64545")
        self.error.setWordWrap(True)
        form.addRow(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        if sensor is None:
            self._on_tag_changed(self.tag.currentText())

    def _on_tag_changed(self, tag: str) -> None:
        stream = self.feed.by_tag.get(tag)
        if stream is not None and stream.unit and not self.unit.text():
            self.unit.setText(stream.unit)
        if stream is not None and stream.kind == "array":
            self.display.setCurrentText("heatmap")
        if not self.name.text() and tag:
            self.name.setPlaceholderText(tag)

    def values(self) -> dict[str, PropValue | None]:
        """The properties as typed; raises ``ValueError`` for a box that is not a number."""
        out: dict[str, PropValue | None] = {
            "tag": self.tag.currentText().strip(), "unit": self.unit.text().strip(),
            "display": self.display.currentText(), "colormap": self.colormap.currentText(),
        }
        for key, label in self.NUMBERS:
            text = self.numbers[key].text().strip().replace(",", ".")
            if not text:
                out[key] = None
                continue
            try:
                out[key] = float(text)
            except ValueError:
                raise ValueError(f"“{label}” must be a number (or empty for none)") from None
        return out

    def _on_ok(self) -> None:
        try:
            values = self.values()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        why = self._validate(values, self.name.text()) if self._validate is not None else None
        if why:
            self.error.setText(why)
            return
        self.accept()
