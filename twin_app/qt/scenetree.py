"""The scene tree: an item model over the document and the outline panel that shows it.

Design notes
------------
* ``SceneModel`` keeps its own mirror of the tree (children lists and parent pointers). A
  ChangeSet arrives *after* the document changed, so the mirror is what still knows the
  old row of a removed or moved node; reconciling mirror and document per affected parent
  produces exact ``beginRemoveRows`` / ``beginInsertRows`` / ``beginMoveRows`` calls, so
  an edit never resets the model (selection and expansion survive remote edits).
  Reconciling runs in two phases: removals first (under every affected parent), then
  insertions and in-place moves top-down; a node moved to another parent is removed and
  re-inserted with its subtree.
* Field edits emit ``dataChanged`` for the node's row only.
* The ``comments`` group is not shown here (the Comments panel owns it), nor are alarm
  nodes (the Alarms panel lists them).
* Edits made in the tree (rename in place, visibility checkbox, drag to reparent) do not
  touch the mirror: they dispatch ops, and the resulting ChangeSet updates the view like
  anybody else's edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QByteArray,
    QItemSelection,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import Op
from twin_app.session import commands

MIME = "application/x-twinroom-node-ids"
HIDDEN = frozenset({commands.COMMENTS_ID})
HIDDEN_KINDS = frozenset({"alarm"})  # the server's alarm nodes: the Alarms panel lists them
COL_NAME, COL_VISIBLE = 0, 1
NodeIdRole = Qt.ItemDataRole.UserRole + 1
Dispatch = Callable[[Op, str], object]
AnyIndex = QModelIndex | QPersistentModelIndex

_KIND_COLORS = {
    "group": "#d9a441", "part": "#6f9bd1", "sensor": "#4fb37a", "annotation": "#b07cc6",
    "markup": "#c0607a", "step": "#8a8f99", "comment": "#e0c050",
}
_icons: dict[str, QIcon] = {}


def kind_icon(kind: str) -> QIcon:
    """Return a small coloured icon for a node kind (drawn, so no image files are needed)."""
    icon = _icons.get(kind)
    if icon is None:
        pm = QPixmap(14, 14)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(_KIND_COLORS.get(kind, "#999999")))
        p.setPen(Qt.PenStyle.NoPen)
        if kind == "group":
            p.drawRoundedRect(1, 3, 12, 9, 2, 2)
        elif kind == "sensor":
            p.drawEllipse(2, 2, 10, 10)
        else:
            p.drawRect(2, 2, 10, 10)
        p.end()
        icon = _icons[kind] = QIcon(pm)
    return icon


# Node fields the tree displays (name, icon by kind, greyed when hidden, part number tip).
SHOWN_FIELDS = frozenset({"name", "kind", "visible", "prop:part_number"})

class SceneModel(QAbstractItemModel):
    """A two-column (name, visible) tree model of a document, updated incrementally."""

    def __init__(self, get_doc: Callable[[], Document], dispatch: Dispatch,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._get_doc = get_doc
        self._dispatch = dispatch
        self._kids: dict[str, list[str]] = {}
        self._parent: dict[str, str] = {}
        self._int: dict[str, int] = {}
        self._by_int: dict[int, str] = {}
        self.read_only = False
        self._build()

    # -- mirror ------------------------------------------------------------------------
    @property
    def doc(self) -> Document:
        """The document shown."""
        return self._get_doc()

    def _doc_children(self, nid: str) -> list[str]:
        nodes = self.doc.nodes
        return [c for c in self.doc.children(nid)
                if c not in HIDDEN and nodes[c].kind not in HIDDEN_KINDS]

    def _key(self, nid: str) -> int:
        k = self._int.get(nid)
        if k is None:
            k = self._int[nid] = len(self._int) + 1
            self._by_int[k] = nid
        return k

    def _add_subtree(self, nid: str, parent: str) -> None:
        stack = [(nid, parent)]
        while stack:
            cur, par = stack.pop()
            self._parent[cur] = par
            kids = self._doc_children(cur)
            self._kids[cur] = kids
            stack.extend((k, cur) for k in kids)

    def _drop_subtree(self, nid: str) -> None:
        stack = [nid]
        while stack:
            cur = stack.pop()
            stack.extend(self._kids.pop(cur, ()))
            self._parent.pop(cur, None)

    def _build(self) -> None:
        self._kids.clear()
        self._parent.clear()
        self._kids[ROOT_ID] = self._doc_children(ROOT_ID)
        for k in self._kids[ROOT_ID]:
            self._add_subtree(k, ROOT_ID)

    def apply_changes(self, changes: ChangeSet) -> None:
        """Update the view for ``changes`` (already applied to the document)."""
        if changes.reset:
            self.beginResetModel()
            self._build()
            self.endResetModel()
            return
        doc = self.doc
        if changes.structural():
            affected: set[str] = set()
            for nid, fields in changes.nodes.items():
                if fields & {"node", "parent", "order"}:
                    if nid in self._parent:
                        affected.add(self._parent[nid])
                    node = doc.get(nid)
                    if node is not None and node.parent is not None:
                        affected.add(node.parent)
            self._remove_phase(affected)
            self._insert_phase(affected)
        for nid, fields in changes.nodes.items():
            # Only what the tree shows: a recolour or a sensor-like property stream must
            # not make the view (and its size-to-contents header) re-read every row.
            if nid in self._parent and fields & SHOWN_FIELDS:
                idx = self.index_of(nid)
                if idx.isValid():
                    self.dataChanged.emit(idx, idx.siblingAtColumn(COL_VISIBLE))

    def _remove_phase(self, affected: set[str]) -> None:
        doc = self.doc
        for par in list(affected):
            kids = self._kids.get(par)
            if kids is None:
                continue
            pidx = self.index_of(par)
            for row in range(len(kids) - 1, -1, -1):
                nid = kids[row]
                node = doc.get(nid)
                if node is None or node.parent != par or nid in HIDDEN:
                    self.beginRemoveRows(pidx, row, row)
                    del kids[row]
                    self._drop_subtree(nid)
                    self.endRemoveRows()

    def _depth(self, nid: str) -> int:
        return len(self.doc.path(nid))

    def _insert_phase(self, affected: set[str]) -> None:
        doc = self.doc
        for par in sorted((p for p in affected if p in doc), key=self._depth):
            cur = self._kids.get(par)
            if cur is None:
                continue  # not shown yet: it arrives with its own (fresh) subtree
            pidx = self.index_of(par)
            for j, nid in enumerate(self._doc_children(par)):
                if j < len(cur) and cur[j] == nid:
                    continue
                if nid in cur:
                    k = cur.index(nid)
                    self.beginMoveRows(pidx, k, k, pidx, j)
                    cur.pop(k)
                    cur.insert(j, nid)
                    self.endMoveRows()
                else:
                    self.beginInsertRows(pidx, j, j)
                    cur.insert(j, nid)
                    self._add_subtree(nid, par)
                    self.endInsertRows()
            # Anything left beyond the document's children is stale; drop it.
            want = len(self._doc_children(par))
            if len(cur) > want:
                self.beginRemoveRows(pidx, want, len(cur) - 1)
                for nid in cur[want:]:
                    self._drop_subtree(nid)
                del cur[want:]
                self.endRemoveRows()

    # -- lookups -----------------------------------------------------------------------
    def node_id(self, index: AnyIndex) -> str:
        """Return the node id of ``index`` (``root`` for the invalid index)."""
        if not index.isValid():
            return ROOT_ID
        return self._by_int.get(index.internalId(), ROOT_ID)

    def index_of(self, nid: str, column: int = 0) -> QModelIndex:
        """Return the index of node ``nid`` (invalid for the root or unknown ids)."""
        par = self._parent.get(nid)
        if par is None:
            return QModelIndex()
        row = self._kids[par].index(nid)
        return self.createIndex(row, column, self._key(nid))

    # -- QAbstractItemModel ------------------------------------------------------------
    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        kids = self._kids.get(self.node_id(parent), [])
        if 0 <= row < len(kids) and 0 <= column < 2:
            return self.createIndex(row, column, self._key(kids[row]))
        return QModelIndex()

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        par = self._parent.get(self.node_id(index))
        if par is None or par == ROOT_ID:
            return QModelIndex()
        return self.index_of(par)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._kids.get(self.node_id(parent), ()))

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 2

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ("Name", "Show")[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return ("Name", "Visible in the 3D view")[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.doc.get(self.node_id(index)) if index.isValid() else None
        if node is None:
            return None
        col = index.column()
        if role == NodeIdRole:
            return node.id
        if col == COL_NAME:
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
                return node.name or node.id
            if role == Qt.ItemDataRole.DecorationRole:
                return kind_icon(node.kind)
            if role == Qt.ItemDataRole.ToolTipRole:
                pn = node.props.get("part_number")
                return f"{node.kind}{f' · {pn}' if pn else ''} · id {node.id}"
            if role == Qt.ItemDataRole.ForegroundRole and not node.visible:
                return QColor(128, 128, 128)
        elif col == COL_VISIBLE and role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if node.visible else Qt.CheckState.Unchecked
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsDropEnabled
        if not index.isValid():
            return base
        f = base | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self.read_only:
            return f
        if index.column() == COL_NAME:
            f |= Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsDragEnabled
        else:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        nid = self.node_id(index)
        if not index.isValid() or nid not in self.doc:
            return False
        cmd: tuple[Op, str] | None = None
        if index.column() == COL_NAME and role == Qt.ItemDataRole.EditRole:
            cmd = commands.rename(self.doc, nid, str(value))
        elif index.column() == COL_VISIBLE and role == Qt.ItemDataRole.CheckStateRole:
            state = Qt.CheckState(value) if isinstance(value, int) else value
            cmd = commands.set_visible(self.doc, [nid], state == Qt.CheckState.Checked)
        if cmd is None:
            return False
        self._dispatch(*cmd)
        return True

    # -- drag and drop -----------------------------------------------------------------
    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        ids = list(dict.fromkeys(self.node_id(i) for i in indexes if i.isValid()))
        md = QMimeData()
        md.setData(MIME, QByteArray("\n".join(ids).encode()))
        return md

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                        parent: AnyIndex) -> bool:
        if self.read_only or not data.hasFormat(MIME):
            return False
        target = self.node_id(parent)
        ids = bytes(data.data(MIME).data()).decode().split()
        return not any(self.doc.is_ancestor(i, target) for i in ids)

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                     parent: AnyIndex) -> bool:
        """Reparent the dragged nodes under ``parent`` before view row ``row`` (−1 = end)."""
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        target = self.node_id(parent)
        ids = [i for i in bytes(data.data(MIME).data()).decode().split() if i in self.doc]
        kids = self._kids.get(target, [])
        before = None
        if 0 <= row < len(kids):
            before = next((k for k in kids[row:] if k not in ids), None)
        cmd = commands.reparent(self.doc, ids, target, before)
        if cmd is None:
            return False
        self._dispatch(*cmd)
        # The tree updates from the resulting ChangeSet; tell the view not to remove rows.
        return False


class SceneFilter(QSortFilterProxyModel):
    """Shows the nodes whose name, kind or any property value (part number, supplier, …)
    contains the filter text, case-insensitively, with their ancestors."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self.setRecursiveFilteringEnabled(True)

    def set_text(self, text: str) -> None:
        """Filter on ``text`` (empty: show everything)."""
        self._needle = text.strip().casefold()
        self.setFilterFixedString(self._needle)  # refilters (our test is filterAcceptsRow)

    def filterAcceptsRow(self, row: int, parent: AnyIndex) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        assert isinstance(model, SceneModel)
        node = model.doc.get(model.node_id(model.index(row, COL_NAME, parent)))
        if node is None:
            return False
        texts = [node.name, node.kind, *(f"{k} {v}" for k, v in node.props.items()
                                         if k != "bbox")]
        return any(self._needle in t.casefold() for t in texts)


class OutlinePanel(QWidget):
    """Search box + tree view; emits the selected node ids."""

    sig_selection = Signal(list)  # list[str]
    sig_activated = Signal(str)  # double-clicked node id

    def __init__(self, model: SceneModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = SceneFilter(self)
        self.proxy.setSourceModel(model)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter by name, part number, supplier…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search_changed)
        self.no_match = QLabel(self)
        self.no_match.setWordWrap(True)
        self.no_match.setEnabled(False)
        self.no_match.hide()
        self.view = QTreeView(self)
        self.view.setModel(self.proxy)
        self.view.setHeaderHidden(False)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.SelectedClicked)
        # The visibility box comes first and names take the width they need (scrolling
        # sideways when a deep name is longer than the panel), so no name is cut off.
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_VISIBLE, QHeaderView.ResizeMode.ResizeToContents)
        self._show_box_first()
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.search)
        lay.addWidget(self.no_match)
        lay.addWidget(self.view)
        self._syncing = False
        self._selected: list[str] = []
        self._expanded_before_filter: list[str] | None = None
        # A freshly loaded room opens one level deep (the site's halls and lines), not
        # folded into a single row.
        self.proxy.modelReset.connect(lambda: self.view.expandToDepth(0))
        self.proxy.modelReset.connect(self._show_box_first)  # a reset forgets the order
        self.view.expandToDepth(0)

    def _show_box_first(self) -> None:
        header = self.view.header()
        if header.visualIndex(COL_VISIBLE) != 0:
            header.moveSection(header.visualIndex(COL_VISIBLE), 0)

    def apply_changes(self, changes: ChangeSet) -> None:
        """Update the tree from ``changes``, keeping the selection of nodes that still exist.

        A node moved to another parent is removed and re-inserted; Qt drops removed rows
        from the view's selection, which is not the user changing the selection, so
        nothing is emitted and the moved nodes are selected again."""
        keep = list(self._selected)  # the window's selection, hidden rows (filter) included
        self._syncing = True
        try:
            self.model.apply_changes(changes)
        finally:
            self._syncing = False
        doc = self.model.doc
        self.set_selection([i for i in keep if i in doc])

    def _on_search_changed(self, text: str) -> None:
        # Filtering hides rows, which would drop them from the selection: the selection
        # is the window's, not the filter's, so keep it and show it again afterwards.
        if text and self._expanded_before_filter is None:
            self._expanded_before_filter = self.expanded_ids()
        self._syncing = True
        try:
            self.proxy.set_text(text)
        finally:
            self._syncing = False
        if text:
            self.view.expandAll()
        elif self._expanded_before_filter is not None:
            for nid in self._expanded_before_filter:
                self.view.expand(self.proxy.mapFromSource(self.model.index_of(nid)))
            self._expanded_before_filter = None
        self.set_selection(self._selected)
        empty = bool(text.strip()) and self.proxy.rowCount() == 0
        self.no_match.setText(f"No parts match “{text.strip()}”." if empty else "")
        self.no_match.setVisible(empty)

    def expanded_ids(self) -> list[str]:
        """Ids of the nodes whose rows are expanded."""
        out: list[str] = []

        def walk(parent: QModelIndex) -> None:
            for row in range(self.proxy.rowCount(parent)):
                idx = self.proxy.index(row, COL_NAME, parent)
                if self.view.isExpanded(idx):
                    out.append(self.model.node_id(self.proxy.mapToSource(idx)))
                    walk(idx)

        walk(QModelIndex())
        return out

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.column() == COL_NAME:
            return  # double-click on a name edits it (Qt's default for editable items)
        self.sig_activated.emit(self.model.node_id(self.proxy.mapToSource(index)))

    def selected_ids(self) -> list[str]:
        """Return the node ids selected in the tree, in view order."""
        rows = self.view.selectionModel().selectedRows(COL_NAME)
        return [self.model.node_id(self.proxy.mapToSource(i)) for i in rows]

    def _on_view_selection_changed(self, *_: object) -> None:
        if not self._syncing:
            self._selected = self.selected_ids()
            self.sig_selection.emit(self._selected)

    def set_selection(self, ids: Sequence[str]) -> None:
        """Select ``ids`` in the tree (no ``sig_selection`` echo) and reveal the first."""
        self._selected = list(ids)
        self._syncing = True
        try:
            sel = QItemSelection()
            first: QModelIndex | None = None
            for nid in ids:
                src = self.model.index_of(nid)
                idx = self.proxy.mapFromSource(src)
                if not idx.isValid():
                    continue
                sel.select(idx, idx.siblingAtColumn(COL_VISIBLE))
                first = first or idx
            sm = self.view.selectionModel()
            sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if first is not None:
                sm.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
                parent = first.parent()
                while parent.isValid():
                    self.view.expand(parent)
                    parent = parent.parent()
                self.view.scrollTo(first)
        finally:
            self._syncing = False

    def edit_name(self, nid: str) -> None:
        """Start editing the name of ``nid`` in place."""
        idx = self.proxy.mapFromSource(self.model.index_of(nid))
        if idx.isValid():
            # Move the cursor only: the view's setCurrentIndex would select the name cell
            # alone, which is not a selected row, and the selection would read as empty.
            self.view.selectionModel().setCurrentIndex(
                idx, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.view.edit(idx)
