"""The Comments panel: threads pinned to a part or a 3D point, each remembering its view.

Comments are document nodes of kind ``comment`` under the top-level ``comments`` node
(kind ``annotation``, created with the first comment, see ``commands.comments_container``);
a reply is a child comment. Props: ``text``, ``author``,
``resolved``, ``target`` (node id) or ``point`` (x, y, z), ``camera`` (9 floats: position,
focal point, view-up) and ``created`` (unix seconds). Because they are ordinary nodes they
sync, undo and persist like everything else. Clicking a thread restores its camera and
selects its part.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document, Node
from twin_app.core.ops import RemoveNode, SetField
from twin_app.session import commands

IdRole = Qt.ItemDataRole.UserRole + 1
# ``dispatch(op, label, undoable=True)`` submits an edit and returns None if it was refused.
Dispatch = Callable[..., object]
FILTERS = ("Open", "Resolved", "All")


def _when(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return ""
    age = time.time() - ts
    if age < 60:
        return "just now"
    if age < 3600:
        return f"{int(age // 60)} min ago"
    if age < 86400:
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%d %b", time.localtime(ts))


class CommentsPanel(QWidget):
    """Lists comment threads and adds, replies to, resolves and deletes them."""

    sig_goto = Signal(object, object)  # camera tuple | None, target node id | None

    def __init__(self, get_doc: Callable[[], Document], dispatch: Dispatch,
                 context: Callable[[], tuple[str, tuple[float, ...], list[str]]],
                 parent: QWidget | None = None) -> None:
        """``context()`` returns (author name, current camera, selected node ids)."""
        super().__init__(parent)
        self._get_doc = get_doc
        self._dispatch = dispatch
        self._context = context
        self.filter = QComboBox()
        self.filter.addItems(FILTERS)
        self.filter.currentIndexChanged.connect(lambda *_: self.refresh())
        self.count = QLabel("")
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter)
        top.addStretch(1)
        top.addWidget(self.count)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Comment", "By", "When"])
        self.tree.setWordWrap(True)
        self.tree.setColumnWidth(0, 170)
        self.tree.setColumnWidth(1, 70)
        self.tree.itemClicked.connect(self._on_item_clicked)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Write a comment, then Ctrl+Enter… it is pinned to the "
                                       "selected part (or the point you look at) with your "
                                       "current view")
        self.editor.setMaximumHeight(70)
        self.editor.installEventFilter(self)
        self.add_btn = QPushButton("Comment")
        self.add_btn.setToolTip("Start a thread with the text above (Ctrl+Enter)")
        # ``clicked`` carries a bool: never let it arrive as the comment text.
        self.add_btn.clicked.connect(lambda _checked=False: self.add_thread())
        self.reply_btn = QPushButton("Reply")
        self.reply_btn.setToolTip("Reply to the selected thread with the text above")
        self.reply_btn.clicked.connect(lambda _checked=False: self.reply())
        self.resolve_btn = QPushButton("Resolve")
        self.resolve_btn.clicked.connect(self.toggle_resolved)
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_selected)
        row = QHBoxLayout()
        for b in (self.add_btn, self.reply_btn, self.resolve_btn, self.delete_btn):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.editor)
        lay.addLayout(row)
        self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+Enter in the editor does what the Comment button does."""
        if (watched is self.editor and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.add_thread()
            return True
        return super().eventFilter(watched, event)

    @property
    def doc(self) -> Document:
        """The document shown."""
        return self._get_doc()

    def threads(self) -> list[Node]:
        """Top-level comments (threads), oldest first."""
        doc = self.doc
        if commands.COMMENTS_ID not in doc:
            return []
        return [doc.nodes[c] for c in doc.children(commands.COMMENTS_ID)
                if doc.nodes[c].kind == "comment"]

    def on_changes(self, changes: ChangeSet) -> None:
        """Refresh when comments changed."""
        doc = self.doc
        if changes.reset or commands.COMMENTS_ID in changes.nodes or any(
                (n := doc.get(nid)) is None or n.kind == "comment" for nid in changes.nodes):
            self.refresh()

    def selected_id(self) -> str | None:
        """The selected comment's node id."""
        items = self.tree.selectedItems()
        return items[0].data(0, IdRole) if items else None

    def _thread_of(self, cid: str) -> str:
        doc = self.doc
        node = doc.get(cid)
        while node is not None and node.parent not in (commands.COMMENTS_ID, None):
            node = doc.get(node.parent)
        return node.id if node is not None else cid

    def refresh(self) -> None:
        """Rebuild the list (comment counts are small) keeping the selection."""
        keep = self.selected_id()
        mode = FILTERS[self.filter.currentIndex()]
        self.tree.clear()
        doc = self.doc
        shown = 0
        threads = self.threads()
        for t in threads:
            resolved = bool(t.props.get("resolved"))
            if (mode == "Open" and resolved) or (mode == "Resolved" and not resolved):
                continue
            item = self._item(t, resolved)
            target = t.props.get("target")
            if isinstance(target, str) and target in doc:
                item.setToolTip(0, f"On {commands.display_name(doc, target)}")
            self.tree.addTopLevelItem(item)
            for rid in doc.subtree(t.id)[1:]:
                r = doc.nodes[rid]
                if r.kind == "comment":
                    item.addChild(self._item(r, resolved))
            item.setExpanded(True)
            shown += 1
        n_open = sum(1 for t in threads if not t.props.get("resolved"))
        self.count.setText(f"{n_open} open · {len(threads) - n_open} resolved")
        if keep:
            self.select(keep)
        self._update_buttons()

    def _item(self, node: Node, resolved: bool) -> QTreeWidgetItem:
        text = str(node.props.get("text", node.name))
        item = QTreeWidgetItem([("✓ " if resolved and node.parent == commands.COMMENTS_ID
                                 else "") + text,
                                str(node.props.get("author", "")), _when(node.props.get("created"))])
        item.setData(0, IdRole, node.id)
        item.setToolTip(0, text)
        if resolved:
            for c in range(3):
                item.setForeground(c, QColor(130, 130, 130))
        if node.parent == commands.COMMENTS_ID:
            f = QFont(item.font(0))
            f.setBold(not resolved)
            item.setFont(0, f)
        return item

    def select(self, cid: str) -> None:
        """Select comment ``cid`` in the list (if shown)."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is None:
                continue
            for item in [top] + [top.child(j) for j in range(top.childCount())]:
                if item is not None and item.data(0, IdRole) == cid:
                    self.tree.setCurrentItem(item)
                    return

    def _update_buttons(self) -> None:
        cid = self.selected_id()
        self.reply_btn.setEnabled(cid is not None)
        self.delete_btn.setEnabled(cid is not None)
        self.resolve_btn.setEnabled(cid is not None)
        if cid is not None:
            t = self.doc.get(self._thread_of(cid))
            self.resolve_btn.setText("Reopen" if t and t.props.get("resolved") else "Resolve")

    def _on_item_clicked(self, item: QTreeWidgetItem, _col: int) -> None:
        self.go_to(item.data(0, IdRole))

    def go_to(self, cid: str) -> None:
        """Restore the view stored with comment ``cid`` (or its thread) and its part."""
        doc = self.doc
        node = doc.get(cid)
        thread = doc.get(self._thread_of(cid))
        cam = (node.props.get("camera") if node else None) or (
            thread.props.get("camera") if thread else None)
        target = thread.props.get("target") if thread else None
        self.sig_goto.emit(tuple(cam) if isinstance(cam, tuple) else None,
                           target if isinstance(target, str) and target in doc else None)

    # -- edits ---------------------------------------------------------------------------
    def add_thread(self, text: str | None = None, point: Sequence[float] | None = None
                   ) -> str | None:
        """Start a thread from the editor text, pinned to the first selected part, or to
        ``point`` (default: the camera's focal point). Returns the comment id."""
        body = self.editor.toPlainText() if text is None else text
        author, camera, selection = self._context()
        target = next((s for s in selection if s in self.doc), None)
        if target is None and point is None and len(camera) >= 6:
            point = camera[3:6]
        cmd = commands.add_comment(self.doc, body, author, camera, target=target,
                                   point=None if target else point)
        if cmd is None:
            return None
        container = commands.comments_container(self.doc)
        if container is not None and self._dispatch(container, "Start comments",
                                                    undoable=False) is None:
            return None
        op, label, cid = cmd
        if self._dispatch(op, label) is None:
            return None
        self.editor.clear()
        if FILTERS[self.filter.currentIndex()] == "Resolved":
            self.filter.setCurrentIndex(0)
        self.select(cid)
        return cid

    def reply(self, text: str | None = None) -> str | None:
        """Reply to the selected thread with the editor text. Returns the reply id."""
        cid = self.selected_id()
        if cid is None:
            return None
        body = self.editor.toPlainText() if text is None else text
        author, camera, _ = self._context()
        cmd = commands.add_comment(self.doc, body, author, camera, reply_to=self._thread_of(cid))
        if cmd is None:
            return None
        op, label, rid = cmd
        if self._dispatch(op, label) is None:
            return None
        self.editor.clear()
        self.select(rid)
        return rid

    def toggle_resolved(self) -> None:
        """Resolve (or reopen) the selected thread."""
        cid = self.selected_id()
        if cid is None:
            return
        tid = self._thread_of(cid)
        node = self.doc.get(tid)
        if node is None:
            return
        now = not bool(node.props.get("resolved"))
        self._dispatch(SetField(tid, "prop:resolved", now),
                       "Resolve comment" if now else "Reopen comment")

    def delete_selected(self) -> None:
        """Delete the selected comment (a thread goes with its replies)."""
        cid = self.selected_id()
        if cid is not None and cid in self.doc:
            self._dispatch(RemoveNode(cid), "Delete comment")
