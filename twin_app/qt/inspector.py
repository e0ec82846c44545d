"""The inspector: name, transform, appearance and user properties of the selection.

Design notes
------------
* Widgets show the document; every edit dispatches an op (through ``commands``) and the
  widgets are refreshed from the resulting ChangeSet, never written from the edit itself.
  Refreshing blocks widget signals, so a refresh never echoes back as an edit.
* Spin boxes use ``keyboardTracking(False)``: typing does not dispatch per keystroke, only
  Enter, focus-out or an arrow step does (one op and one undo entry each).
* With several nodes selected, a field shows its value when all agree and "—" when they
  differ; editing one component (say position X) sets just that component on each node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin_app.core import xform as tf
from twin_app.core.changes import ChangeSet
from twin_app.core.document import DEFAULT_COLOR, Document, Node, PropValue
from twin_app.core.ops import Op
from twin_app.session import commands

Dispatch = Callable[[Op, str], object]
MIXED = "—"
_LIMIT = 1.0e6
AXES = "XYZ"


SENSOR_ORDER = ("tag", "unit", "sensor_type", "display", "bound_to", "range_min", "range_max",
                "warn_low", "alarm_low", "warn_high", "alarm_high", "hysteresis", "stale_s",
                "colormap", "fault_hz", "sim_fault")
SENSOR_TIPS = {
    "tag": "The measurement shown (the sensor hub's stream name)",
    "display": "value (colour map), state (green/amber/red), label, heatmap or off",
    "range_min": "Bottom of the colour map", "range_max": "Top of the colour map",
    "warn_high": "Warning at or above this value", "alarm_high": "Alarm at or above this value",
    "warn_low": "Warning at or below this value", "alarm_low": "Alarm at or below this value",
    "hysteresis": "How far back inside a threshold the value must come to clear it",
    "stale_s": "Seconds without a sample before the value counts as stale",
    "fault_hz": "Characteristic frequencies marked in the spectrum (comma-separated)",
    "sim_fault": "Fault the simulator injects: bearing, overheat or dropout",
}


class MixedSpin(QDoubleSpinBox):
    """A spin box that can show "—" for differing values (its minimum is the sentinel)."""

    def __init__(self, lo: float, hi: float, decimals: int, suffix: str = "") -> None:
        super().__init__()
        self._lo = lo
        self.setDecimals(decimals)
        self.setRange(lo - 1.0, hi)
        self.setSpecialValueText(MIXED)
        self.setSuffix(suffix)
        self.setKeyboardTracking(False)
        self.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
        self.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(60)

    def show_value(self, value: float | None) -> None:
        """Show ``value`` or "—" (``None``) without emitting ``valueChanged``."""
        self.blockSignals(True)
        self.setValue(self.minimum() if value is None else value)
        self.blockSignals(False)

    def is_mixed(self) -> bool:
        """True while showing "—"."""
        return self.value() == self.minimum()


def format_value(v: PropValue | None) -> str:
    """Return the text shown for a property value."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return ", ".join(f"{x:g}" for x in v)
    return str(v)


def parse_value(text: str, like: PropValue | None = None) -> PropValue:
    """Parse user text into a property value.

    With ``like`` (the current value) the type is kept where the text allows it (a text
    property stays text even if it now looks like a number); otherwise the type is
    inferred: true/false, integer, number, comma-separated numbers, else text. Raises
    ``ValueError`` if the text cannot be read as the current value's type.
    """
    s = text.strip()
    if isinstance(like, str):
        return text
    if isinstance(like, bool):
        if s.lower() in ("true", "yes", "1", "on"):
            return True
        if s.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError("expected true or false")
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        try:
            return int(s) if isinstance(like, int) else float(s)
        except ValueError:
            if isinstance(like, int):
                return float(s)
            raise
    if isinstance(like, tuple):
        return tuple(float(x) for x in s.replace(";", ",").split(",") if x.strip())
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    if "," in s:
        try:
            return tuple(float(x) for x in s.split(","))
        except ValueError:
            pass
    return text


def _common(values: Sequence[Any], tol: float | None = None) -> Any:
    if not values:
        return None
    first = values[0]
    for v in values[1:]:
        if tol is not None:
            if abs(v - first) > tol:
                return None
        elif v != first:
            return None
    return first


class ColorButton(QPushButton):
    """A button that shows a colour swatch."""

    def show_color(self, rgb: tuple[float, float, float] | None, mixed: bool = False) -> None:
        """Show ``rgb`` (or "—" when the selection's colours differ)."""
        if mixed:
            self.setText(MIXED)
            self.setStyleSheet("")
            return
        c = QColor.fromRgbF(*(rgb or DEFAULT_COLOR))
        self.setText("" if rgb is not None else "default")
        fg = "#000" if c.lightnessF() > 0.5 else "#fff"
        self.setStyleSheet(f"background-color: {c.name()}; color: {fg}; min-height: 20px;")


def _types_text(event: QKeyEvent) -> bool:
    return bool(event.text()) and event.text().isprintable() and not event.modifiers() & (
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        | Qt.KeyboardModifier.MetaModifier)


def _is_f2(event: QKeyEvent) -> bool:
    return event.key() == Qt.Key.Key_F2 and event.modifiers() == Qt.KeyboardModifier.NoModifier


class InspectorPanel(QWidget):
    """Shows and edits the selected nodes."""

    sig_message = Signal(str)  # a refused edit, for the status bar

    def __init__(self, get_doc: Callable[[], Document], dispatch: Dispatch,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._get_doc = get_doc
        self._dispatch = dispatch
        self.ids: list[str] = []
        self._refreshing = False

        self.title = QLabel("Nothing selected")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel("")
        self.subtitle.setEnabled(False)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name")
        self.name.editingFinished.connect(self._on_name_edited)

        self.spins: dict[str, list[MixedSpin]] = {}
        tbox = QGroupBox("Transform")
        grid = QGridLayout(tbox)
        grid.setContentsMargins(6, 6, 6, 6)
        for col, axis_name in enumerate(AXES):
            lab = QLabel(axis_name)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(lab, 0, col + 1)
        specs = (("position", "Position", 3, " m"), ("rotation", "Rotation", 1, "°"),
                 ("scale", "Scale", 3, ""))
        for row, (key, label, decimals, suffix) in enumerate(specs, start=1):
            grid.addWidget(QLabel(label), row, 0)
            spins = []
            for axis in range(3):
                lo, hi = (-360.0, 360.0) if key == "rotation" else (-_LIMIT, _LIMIT)
                sp = MixedSpin(lo, hi, decimals, suffix)
                sp.setObjectName(f"{key}_{AXES[axis].lower()}")
                sp.setSingleStep(15.0 if key == "rotation" else 0.1)
                sp.valueChanged.connect(
                    lambda v, k=key, a=axis: self._on_transform_edited(k, a, v))
                grid.addWidget(sp, row, axis + 1)
                spins.append(sp)
            self.spins[key] = spins

        abox = QGroupBox("Appearance")
        form = QFormLayout(abox)
        self.color = ColorButton()
        self.color.setToolTip("Colour")
        self.color.clicked.connect(self._on_color_clicked)
        self.reset_color = QPushButton("Reset")
        self.reset_color.setToolTip("Use the default colour")
        self.reset_color.clicked.connect(lambda: self.apply_color(None))
        crow = QHBoxLayout()
        crow.addWidget(self.color, 1)
        crow.addWidget(self.reset_color)
        form.addRow("Colour", crow)
        self.opacity = QSpinBox()
        self.opacity.setRange(-1, 100)
        self.opacity.setSpecialValueText(MIXED)
        self.opacity.setSuffix(" %")
        self.opacity.setKeyboardTracking(False)
        self.opacity.valueChanged.connect(self._on_opacity_edited)
        form.addRow("Opacity", self.opacity)
        self.visible = QCheckBox("Visible")
        self.visible.clicked.connect(self._on_visible_clicked)
        form.addRow("", self.visible)

        pbox = QGroupBox("Properties")
        play = QVBoxLayout(pbox)
        self.props = QTableWidget(0, 2)
        self.props.setHorizontalHeaderLabels(["Property", "Value"])
        self.props.verticalHeader().setVisible(False)
        self.props.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.props.horizontalHeader().setStretchLastSection(True)
        self.props.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.props.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.props.itemChanged.connect(self._on_prop_item_changed)
        self.props.installEventFilter(self)
        self.props.setMinimumHeight(120)
        play.addWidget(self.props)
        arow = QHBoxLayout()
        self.new_key = QLineEdit()
        self.new_key.setPlaceholderText("name")
        self.new_value = QLineEdit()
        self.new_value.setPlaceholderText("value")
        self.new_value.returnPressed.connect(self.add_property)
        self.add_btn = QPushButton("Add")
        self.add_btn.clicked.connect(self.add_property)
        self.del_btn = QPushButton("Remove")
        self.del_btn.clicked.connect(self._on_remove_prop_clicked)
        arow.addWidget(self.new_key, 2)
        arow.addWidget(self.new_value, 3)
        arow.addWidget(self.add_btn)
        arow.addWidget(self.del_btn)
        play.addLayout(arow)

        body = QWidget()
        lay = QVBoxLayout(body)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addWidget(self.name)
        lay.addWidget(tbox)
        lay.addWidget(abox)
        lay.addWidget(pbox)
        lay.addStretch(1)
        self.editors = body
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._groups = (tbox, abox, pbox)
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Let typing in the properties table, and F2, edit the value.

        The window has one-key shortcuts (1 = Front view, F = Fit View, F2 = Rename …); a
        table, unlike a line edit, does not claim those keys, so typing "130" into a value
        cell would switch to the Front view, and F2 (the table's own "edit this cell" key)
        would rename the part instead. The table claims them while it (or its cell editor)
        has the focus."""
        if (watched is self.props and event.type() == QEvent.Type.ShortcutOverride
                and isinstance(event, QKeyEvent) and (_types_text(event) or _is_f2(event))):
            event.accept()
            return True
        return super().eventFilter(watched, event)

    # -- model side ----------------------------------------------------------------------
    @property
    def doc(self) -> Document:
        """The document shown."""
        return self._get_doc()

    def nodes(self) -> list[Node]:
        """The selected nodes that still exist."""
        return [n for n in (self.doc.get(i) for i in self.ids) if n is not None]

    def set_ids(self, ids: Sequence[str]) -> None:
        """Show the nodes ``ids``."""
        self.ids = list(ids)
        self.refresh()

    def on_changes(self, changes: ChangeSet) -> None:
        """Refresh if ``changes`` touched the shown nodes."""
        if changes.reset or any(i in changes.nodes for i in self.ids):
            self.refresh()

    def set_steps(self, position: float, rotation: float) -> None:
        """Set the arrow-key steps (the snapping increments)."""
        for sp in self.spins["position"]:
            sp.setSingleStep(position)
        for sp in self.spins["rotation"]:
            sp.setSingleStep(rotation)

    def refresh(self) -> None:
        """Re-read every shown value from the document."""
        self._refreshing = True
        try:
            self._refresh()
        finally:
            self._refreshing = False

    def _refresh(self) -> None:
        nodes = [n for n in self.nodes() if n.parent is not None]
        for g in self._groups:
            g.setEnabled(bool(nodes))
        self.name.setEnabled(len(nodes) == 1)
        if not nodes:
            self.title.setText("Nothing selected")
            self.subtitle.setText("Select a part in the view or the scene tree.")
            self.name.setText("")
            for spins in self.spins.values():
                for sp in spins:
                    sp.show_value(None)
            self.opacity.blockSignals(True)
            self.opacity.setValue(-1)
            self.opacity.blockSignals(False)
            self.color.show_color(None, mixed=True)
            self.props.blockSignals(True)
            self.props.setRowCount(0)
            self.props.blockSignals(False)
            return
        if len(nodes) == 1:
            n = nodes[0]
            self.title.setText(n.name or n.id)
            extra = [n.kind]
            if n.props.get("part_number"):
                extra.append(str(n.props["part_number"]))
            if n.kind in ("sensor", "alarm") and n.props.get("tag"):
                extra.append(str(n.props["tag"]))
            self.subtitle.setText(" · ".join(extra))
            self.name.setText(n.name)
        else:
            self.title.setText(f"{len(nodes)} selected")
            kinds = sorted({n.kind for n in nodes})
            self.subtitle.setText(", ".join(kinds))
            self.name.setText("")
        positions = [n.transform[:3] for n in nodes]
        eulers = [tf.quat_to_euler(n.transform[3:7]) for n in nodes]
        scales = [n.transform[7:10] for n in nodes]
        for key, vals, tol in (("position", positions, 1e-9), ("rotation", eulers, 1e-6),
                               ("scale", scales, 1e-9)):
            for a, sp in enumerate(self.spins[key]):
                v = _common([x[a] for x in vals], tol)
                if v is not None and key == "rotation" and abs(v) < 5e-7:
                    v = 0.0
                sp.show_value(v)
        # A group shows the colour of its parts: that is what colouring it changes.
        parts = commands.parts_under(self.doc, self.ids)
        colors = [self.doc.nodes[p].color for p in parts] or [n.color for n in nodes]
        same_color = all(c == colors[0] for c in colors)
        self.color.show_color(colors[0], mixed=not same_color)
        self.color.setToolTip(f"Colour of the {len(parts)} parts selected" if len(parts) > 1
                              else "Colour")
        op = _common([n.opacity for n in nodes], 1e-9)
        self.opacity.blockSignals(True)
        self.opacity.setValue(-1 if op is None else round(op * 100))
        self.opacity.blockSignals(False)
        vis = _common([n.visible for n in nodes])
        self.visible.setTristate(vis is None)
        self.visible.setCheckState(Qt.CheckState.PartiallyChecked if vis is None else
                                   Qt.CheckState.Checked if vis else Qt.CheckState.Unchecked)
        self._fill_props(nodes)

    def _fill_props(self, nodes: list[Node]) -> None:
        keys = [k for k in nodes[0].props if all(k in n.props for n in nodes[1:])]
        if all(n.kind == "sensor" for n in nodes):
            # A sensor's rules in the order a person reads them, not as they were added.
            keys.sort(key=lambda k: (SENSOR_ORDER.index(k) if k in SENSOR_ORDER
                                     else len(SENSOR_ORDER), k))
        self.props.blockSignals(True)
        self.props.setRowCount(len(keys))
        for row, key in enumerate(keys):
            kitem = QTableWidgetItem(key)
            kitem.setFlags(kitem.flags() & ~Qt.ItemFlag.ItemIsEditable)
            val = _common([n.props.get(key) for n in nodes])
            vitem = QTableWidgetItem(MIXED if val is None else format_value(val))
            vitem.setData(Qt.ItemDataRole.UserRole, key)
            vitem.setToolTip(type(val).__name__ if val is not None else "values differ")
            if key == "bound_to" and isinstance(val, str) and val in self.doc.nodes:
                vitem.setToolTip(f"Coloured part: {commands.display_name(self.doc, val)}")
            elif key in SENSOR_TIPS and nodes[0].kind == "sensor":
                vitem.setToolTip(SENSOR_TIPS[key])
            self.props.setItem(row, 0, kitem)
            self.props.setItem(row, 1, vitem)
        self.props.blockSignals(False)

    # -- edits ---------------------------------------------------------------------------
    def _send(self, cmd: tuple[Op, str] | None) -> None:
        if cmd is not None:
            self._dispatch(*cmd)
        # The dispatch refreshes us through the ChangeSet; if nothing changed (or the op
        # was refused) put the document's values back in the widgets.
        self.refresh()

    def _on_name_edited(self) -> None:
        if self._refreshing or len(self.ids) != 1:
            return
        if self.name.text().strip():
            self._send(commands.rename(self.doc, self.ids[0], self.name.text()))
        else:
            self.refresh()

    def _on_transform_edited(self, group: str, axis: int, value: float) -> None:
        if self._refreshing or self.spins[group][axis].is_mixed():
            return
        if group == "scale" and math.isclose(value, 0.0, abs_tol=1e-12):
            self.sig_message.emit("Scale cannot be zero.")
            self.refresh()
            return
        self._send(commands.edit_transform_component(self.doc, self.ids, group, axis, value))

    def set_transform_component(self, group: str, axis: int, value: float) -> None:
        """Type ``value`` into a transform field, as a user would (for scripts and tests)."""
        sp = self.spins[group][axis]
        sp.setValue(value)

    def _on_color_clicked(self) -> None:
        parts = commands.parts_under(self.doc, self.ids)
        first = self.doc.nodes[parts[0]].color if parts else None
        start = QColor.fromRgbF(*(first or DEFAULT_COLOR))
        color = QColorDialog.getColor(start, self, "Part colour")
        if color.isValid():
            self.apply_color(color)

    def apply_color(self, color: QColor | None) -> None:
        """Colour the selection, every part of a selected group included, as one edit
        (``None`` = default colour)."""
        value = None if color is None else (
            round(color.redF(), 4), round(color.greenF(), 4), round(color.blueF(), 4))
        self._send(commands.set_color(self.doc, self.ids, value))

    def _on_opacity_edited(self, value: int) -> None:
        if self._refreshing or value < 0:
            return
        self._send(commands.set_field(self.doc, self.ids, "opacity", value / 100.0,
                                      "Change opacity of"))

    def _on_visible_clicked(self) -> None:
        if self._refreshing:
            return
        self.visible.setTristate(False)
        self._send(commands.set_visible(self.doc, self.ids, self.visible.isChecked()))

    def _on_prop_item_changed(self, item: QTableWidgetItem) -> None:
        if self._refreshing or item.column() != 1:
            return
        key = item.data(Qt.ItemDataRole.UserRole)
        nodes = self.nodes()
        if not key or not nodes:
            return
        like = nodes[0].props.get(key)
        try:
            value = parse_value(item.text(), like)
        except ValueError as exc:
            self.sig_message.emit(f"{key}: {exc}")
            self.refresh()
            return
        self.set_property(key, value)

    def set_property(self, key: str, value: PropValue | None) -> None:
        """Set (or with ``None`` remove) user property ``key`` on the selection."""
        self._send(commands.set_prop(self.doc, self.ids, key, value))

    def add_property(self) -> None:
        """Add the property typed into the name/value boxes."""
        key = self.new_key.text().strip()
        if not key or not self.ids:
            return
        self.set_property(key, parse_value(self.new_value.text()))
        self.new_key.clear()
        self.new_value.clear()

    def _on_remove_prop_clicked(self) -> None:
        row = self.props.currentRow()
        item = self.props.item(row, 1) if row >= 0 else None
        if item is not None:
            self.set_property(item.data(Qt.ItemDataRole.UserRole), None)
