"""Per-user undo and redo as new ops (Figma's rule).

Each entry keeps the user's forward op, its inverse and what the document looked like
right after the forward op (the values it wrote). Undo first checks that those values are
still there; if someone else has changed them since, it refuses with ``UndoConflict``
instead of clobbering their work. The redo entry is the inverse computed when the undo is
applied (at undo time), not the original op, so redo restores exactly what undo removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin_app.core.document import Document
from twin_app.core.errors import UndoConflict
from twin_app.core.ops import AddNode, Op, RemoveNode, Reparent, SetField, iter_primitive

MAX_DEPTH = 200


@dataclass
class UndoEntry:
    """One undoable edit: ``op`` was applied, ``inverse`` reverts it."""

    label: str
    op: Op
    inverse: Op
    expect: list[tuple[str, str, Any]]


def expectations(doc: Document, op: Op) -> list[tuple[str, str, Any]]:
    """Return ``(node id, field, value)`` triples ``op`` left in ``doc`` (just applied)."""
    out: list[tuple[str, str, Any]] = []
    for p in iter_primitive(op):
        if isinstance(p, SetField):
            node = doc.get(p.id)
            if node is not None:
                out.append((p.id, p.field, node.get(p.field)))
        elif isinstance(p, AddNode):
            out.append((p.node.id, "node", True))
        elif isinstance(p, RemoveNode):
            out.append((p.id, "node", False))
        elif isinstance(p, Reparent):
            out.append((p.id, "parent", p.parent))
    return out


def conflict(doc: Document, entry: UndoEntry) -> str | None:
    """Return why ``entry`` can no longer be reverted, or ``None``."""
    created = {nid for nid, fld, v in entry.expect if fld == "node" and v is True}
    moved = {nid for nid, fld, _ in entry.expect if fld == "parent"}
    for nid, fld, value in entry.expect:
        node = doc.get(nid)
        name = (node.name if node else None) or nid
        if fld == "node":
            if value and node is None:
                return f"{name} has since been deleted by someone else"
            if not value and node is not None:
                return f"{name} has since been re-created"
            if value and node is not None and _foreign_descendant(doc, nid, created, moved):
                return f"someone else has since added parts under {name}"
            continue
        if node is None:
            return f"{name} has since been deleted by someone else"
        if node.get(fld) != value:
            label = fld[5:] if fld.startswith("prop:") else fld
            return f"someone else has since changed the {label} of {name}"
    return None


def _foreign_descendant(doc: Document, node_id: str, created: set[str], moved: set[str]) -> bool:
    """True if something other than this edit's own nodes now hangs under ``node_id``.

    Nodes the edit moved in bring their subtrees along (e.g. "Group": add a group and move
    the selection into it); undo moves them back out before removing the group, so what
    hangs under them is not lost and does not count.
    """
    stack = doc.children(node_id)
    while stack:
        cid = stack.pop()
        if cid in moved:
            continue
        if cid not in created:
            return True
        stack.extend(doc.children(cid))
    return False


class UndoStack:
    """Bounded undo and redo stacks of one user's edits."""

    def __init__(self, depth: int = MAX_DEPTH) -> None:
        self.depth = depth
        self.undo_entries: list[UndoEntry] = []
        self.redo_entries: list[UndoEntry] = []

    def record(self, entry: UndoEntry, *, clear_redo: bool = True) -> None:
        """Push a new edit (clears the redo stack unless ``clear_redo`` is false)."""
        self.undo_entries.append(entry)
        del self.undo_entries[: -self.depth]
        if clear_redo:
            self.redo_entries.clear()

    def undo_label(self) -> str | None:
        """Label of the edit Undo would revert, or ``None``."""
        return self.undo_entries[-1].label if self.undo_entries else None

    def redo_label(self) -> str | None:
        """Label of the edit Redo would re-apply, or ``None``."""
        return self.redo_entries[-1].label if self.redo_entries else None

    def take(self, doc: Document, redo: bool) -> UndoEntry:
        """Pop the next undo (or redo) entry after checking it still applies.

        Raises ``UndoConflict`` (the entry is dropped: it can never apply again) or
        ``IndexError`` when the stack is empty.
        """
        stack = self.redo_entries if redo else self.undo_entries
        entry = stack.pop()
        why = conflict(doc, entry)
        if why:
            verb = "redo" if redo else "undo"
            raise UndoConflict(f"Cannot {verb} “{entry.label}”: {why}.")
        return entry
