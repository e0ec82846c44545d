"""The Alarms panel: the room's alarms (raised by the server), acknowledged by people.

Design notes
------------
* Alarms are document nodes of kind ``alarm`` that only the server creates, updates and
  removes; the panel re-reads them when a change touches one. People acknowledge with a
  comment: the panel asks (``sig_ack``) and the window dispatches the ``ack_*`` property
  edit, so every client sees who acknowledged, when and why.
* Unacknowledged alarms are listed first, in bold on their level's colour; the window
  flashes a status-bar badge and the dock title while any is unacknowledged
  (``sig_unacked``).
* Clicking an alarm asks the window to select and frame its part (``sig_goto``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document, Node
from twin_app.core.sensors import SensorSpec
from twin_app.session.commands import display_name
from twin_app.session.sensor_commands import alarm_subject
from twin_app.session.sensor_overlays import value_text

COLUMNS = ("Severity", "Raised", "Part", "Sensor", "Value", "State", "Acknowledged")
COL_SEV, COL_TIME, COL_PART, COL_SENSOR, COL_VALUE, COL_STATE, COL_ACK = range(len(COLUMNS))
AlarmRole = Qt.ItemDataRole.UserRole + 20
UNACKED_BG = {1: "#fff1cc", 2: "#ffd6d6"}
LEVEL_TEXT = {1: "Warning", 2: "Alarm"}
REASONS = {"high": "high", "low": "low", "stale": "no data"}


def _time_text(t_ns: object) -> str:
    if not isinstance(t_ns, int | float) or t_ns <= 0:
        return ""
    return dt.datetime.fromtimestamp(float(t_ns) / 1e9).strftime("%H:%M:%S")


def alarm_part(doc: Document, alarm: Node) -> str | None:
    """The part an alarm is about: its sensor's bound node (else the sensor)."""
    sensor = alarm.props.get("sensor")
    node = doc.nodes.get(sensor) if isinstance(sensor, str) else None
    if node is None:
        return None
    spec = SensorSpec.from_node(node)
    bound = spec.bound_to if spec is not None else node.parent
    return bound if bound in doc.nodes else node.id


def _level(alarm: Node) -> int:
    lv = alarm.props.get("level")
    return int(lv) if isinstance(lv, int | float) and lv in (1, 2) else 2


class AlarmsPanel(QWidget):
    """List of alarms with acknowledge-with-comment."""

    sig_goto = Signal(str)  # part node id
    sig_ack = Signal(str, str)  # alarm node id, comment
    sig_unacked = Signal(int)  # number of active, unacknowledged alarms

    def __init__(self, get_doc: Callable[[], Document], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._get_doc = get_doc
        self.unacked = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.currentItemChanged.connect(lambda *_: self._update_ack())
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (what you found or did)")
        self.comment.returnPressed.connect(self._on_ack_clicked)
        self.ack_btn = QPushButton("Acknowledge")
        self.ack_btn.setToolTip("Acknowledge the selected alarm with your comment")
        self.ack_btn.clicked.connect(self._on_ack_clicked)
        row.addWidget(self.comment, 1)
        row.addWidget(self.ack_btn)
        lay.addLayout(row)
        self.empty = QLabel("No alarms.")
        self.empty.setStyleSheet("color: #8a8f99")
        lay.addWidget(self.empty)
        self.refresh()

    @property
    def doc(self) -> Document:
        return self._get_doc()

    def on_changes(self, changes: ChangeSet) -> None:
        """Re-list when an alarm (or a sensor an alarm names) changed."""
        doc = self.doc
        if changes.reset or any(
                (n := doc.nodes.get(nid)) is None or n.kind in ("alarm", "sensor")
                for nid in changes.nodes):
            self.refresh()

    def alarms(self) -> list[Node]:
        """Alarm nodes in list order: unacknowledged active first, newest first."""
        found = [n for n in self.doc.nodes.values() if n.kind == "alarm"]

        def key(n: Node) -> tuple[int, int, float]:
            active = n.props.get("state") == "active"
            acked = bool(n.props.get("ack_by"))
            raised = n.props.get("raised_t")
            return (0 if active and not acked else 1 if active else 2, -_level(n),
                    -float(raised) if isinstance(raised, int | float) else 0.0)

        return sorted(found, key=key)

    def refresh(self) -> None:
        doc = self.doc
        current = self.current_alarm()
        self.tree.clear()
        unacked = 0
        bold = QFont()
        bold.setBold(True)
        for n in self.alarms():
            p = n.props
            level = _level(n)
            acked = bool(p.get("ack_by"))
            active = p.get("state") == "active"
            part = alarm_part(doc, n)
            sensor = p.get("sensor")
            spec_node = doc.nodes.get(sensor) if isinstance(sensor, str) else None
            unit = str(spec_node.props.get("unit", "")) if spec_node is not None else ""
            value = p.get("value")
            threshold = p.get("threshold")
            reason = REASONS.get(str(p.get("reason", "")), str(p.get("reason", "")))
            vtext = value_text(float(value), unit) if isinstance(value, int | float) else ""
            if isinstance(threshold, int | float) and reason in ("high", "low"):
                vtext += f" ({reason}, limit {value_text(float(threshold), unit)})"
            elif reason:
                vtext += f" ({reason})" if vtext else reason
            ack = ""
            if acked:
                ack = f"{p.get('ack_by')} {_time_text(p.get('ack_t'))}".strip()
                if p.get("ack_comment"):
                    ack += f": {p.get('ack_comment')}"
            item = QTreeWidgetItem([
                LEVEL_TEXT.get(level, "Alarm"), _time_text(p.get("raised_t")),
                display_name(doc, part) if part else "", alarm_subject(doc, n.id), vtext,
                "active" if active else "cleared", ack or "not yet"])
            item.setData(0, AlarmRole, n.id)
            if active and not acked:
                unacked += 1
                for c in range(len(COLUMNS)):
                    item.setBackground(c, QBrush(QColor(UNACKED_BG[level])))
                    item.setForeground(c, QBrush(QColor("#1b1b1f")))
                    item.setFont(c, bold)
            self.tree.addTopLevelItem(item)
            if n.id == current:
                self.tree.setCurrentItem(item)
        self.empty.setVisible(self.tree.topLevelItemCount() == 0)
        if unacked != self.unacked:
            self.unacked = unacked
            self.sig_unacked.emit(unacked)
        self._update_ack()

    def item_of(self, alarm: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, AlarmRole) == alarm:
                return item
        return None

    def current_alarm(self) -> str | None:
        item = self.tree.currentItem() if hasattr(self, "tree") else None
        value: Any = item.data(0, AlarmRole) if item is not None else None
        return value if isinstance(value, str) else None

    def _update_ack(self) -> None:
        aid = self.current_alarm()
        node = self.doc.nodes.get(aid) if aid else None
        self.ack_btn.setEnabled(node is not None and not node.props.get("ack_by"))

    def _on_item_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        aid = item.data(0, AlarmRole)
        node = self.doc.nodes.get(aid) if isinstance(aid, str) else None
        if node is not None:
            part = alarm_part(self.doc, node)
            if part is not None:
                self.sig_goto.emit(part)
        self._update_ack()

    def _on_ack_clicked(self) -> None:
        aid = self.current_alarm()
        if aid is not None and self.ack_btn.isEnabled():
            self.sig_ack.emit(aid, self.comment.text())
            self.comment.clear()
