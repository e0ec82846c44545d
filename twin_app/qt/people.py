"""The People panel: who is in the room, their role and colour; follow and present.

The panel only shows state and emits intents (``sig_follow``, ``sig_present`` …); the
consent rules live in :mod:`twin_app.qt.presence`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin_app.qt.presence import peer_color
from twin_app.session.facade import Peer

SessionRole = Qt.ItemDataRole.UserRole + 1


def swatch(color: Any, size: int = 14) -> QIcon:
    """Return a round colour swatch for an ``(r, g, b)`` colour in 0..1 (or 0..255)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(to_qcolor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)


def to_qcolor(color: Any) -> QColor:
    """Return a QColor for ``(r, g, b)`` in 0..1 or 0..255, or a grey for anything else."""
    try:
        r, g, b = (float(c) for c in color[:3])
    except (TypeError, ValueError):
        return QColor(128, 128, 128)
    if max(r, g, b) > 1.0:
        return QColor(int(r), int(g), int(b))
    return QColor.fromRgbF(r, g, b)


class PeoplePanel(QWidget):
    """A list of the people in the room, with follow / present controls."""

    sig_follow = Signal(str)  # session to follow
    sig_stop_follow = Signal()
    sig_jump = Signal(str)  # session whose view to jump to once
    sig_present = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Name", "Role", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        h = self.tree.header()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._on_follow_clicked())
        self.follow_btn = QPushButton("Follow")
        self.follow_btn.setToolTip("Ask to follow this person's view (they must allow it)")
        self.follow_btn.clicked.connect(self._on_follow_clicked)
        self.jump_btn = QPushButton("Go to view")
        self.jump_btn.setToolTip("Move your camera to where this person is looking, once")
        self.jump_btn.clicked.connect(self._on_jump_clicked)
        self.present_btn = QPushButton("Present")
        self.present_btn.setCheckable(True)
        self.present_btn.setToolTip("Invite everyone to follow your view")
        self.present_btn.toggled.connect(self.sig_present.emit)
        row = QHBoxLayout()
        row.addWidget(self.follow_btn)
        row.addWidget(self.jump_btn)
        row.addStretch(1)
        row.addWidget(self.present_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.tree)
        lay.addLayout(row)
        self.following: str | None = None
        self._update_buttons()

    def selected_session(self) -> str | None:
        """The session of the selected person (never yourself)."""
        items = self.tree.selectedItems()
        return items[0].data(0, SessionRole) if items else None

    def _on_follow_clicked(self) -> None:
        s = self.selected_session()
        if s is None:
            return
        if s == self.following:
            self.sig_stop_follow.emit()
        else:
            self.sig_follow.emit(s)

    def _on_jump_clicked(self) -> None:
        s = self.selected_session()
        if s is not None:
            self.sig_jump.emit(s)

    def _update_buttons(self) -> None:
        s = self.selected_session()
        self.follow_btn.setEnabled(s is not None)
        self.jump_btn.setEnabled(s is not None)
        self.follow_btn.setText("Stop following" if s is not None and s == self.following
                                else "Follow")

    def set_people(self, me: dict[str, Any], peers: Iterable[Peer], following: str | None,
                   statuses: dict[str, str]) -> None:
        """Show yourself (``me``: name, role, color, state) and ``peers``."""
        self.following = following
        keep = self.selected_session()
        self.tree.clear()
        top = QTreeWidgetItem([f"{me.get('name', 'You')} (you)", me.get("role", ""),
                               statuses.get("", "")])
        top.setIcon(0, swatch(me.get("color")))
        top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
        self.tree.addTopLevelItem(top)
        for p in sorted(peers, key=lambda p: p.name):
            session = p.session
            item = QTreeWidgetItem([
                p.name or "Anonymous", p.role or "",
                statuses.get(session, ""),
            ])
            item.setIcon(0, swatch(peer_color(p)))
            item.setData(0, SessionRole, session)
            item.setToolTip(0, f"session {session}")
            self.tree.addTopLevelItem(item)
            if session == keep:
                item.setSelected(True)
        self._update_buttons()

    def names(self) -> list[str]:
        """The names shown (first is yourself)."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item.text(0) for item in items if item is not None]

    def set_presenting(self, on: bool) -> None:
        """Reflect the present state without emitting ``sig_present``."""
        self.present_btn.blockSignals(True)
        self.present_btn.setChecked(on)
        self.present_btn.blockSignals(False)
