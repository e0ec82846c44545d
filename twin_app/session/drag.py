"""Dragging a part with the 3D handle: live edits while dragging, one undo entry after.

While the handle moves, the front end sends the latest transform every so often (others see
the part move live), each as an ordinary edit with its own undo entry. When the drag ends,
``HandleDrag.finish`` replaces those entries by one ("Undo Move Robot 1") whose inverse is
the transform from before the drag, so one Undo puts the part back where the drag started.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin_app.core.ops import SetField
from twin_app.core.store import ClientStore
from twin_app.core.undo import UndoEntry, expectations
from twin_app.core.xform import Transform
from twin_app.session.commands import display_name


@dataclass
class HandleDrag:
    """One drag of one node's handle, from press to release."""

    node_id: str
    start: Transform  # the node's transform before the drag
    label: str  # the undo label of the whole drag
    undo_len: int  # undo entries before the drag
    latest: Transform | None = None  # where the handle is now

    @staticmethod
    def begin(store: ClientStore, node_id: str, verb: str) -> HandleDrag | None:
        """Start dragging ``node_id`` (``verb`` is "Move" or "Rotate"); ``None`` if it is gone."""
        node = store.doc.get(node_id)
        if node is None:
            return None
        return HandleDrag(node_id, tuple(node.transform),
                          f"{verb} {display_name(store.doc, node_id)}",
                          len(store.history.undo_entries))

    def move_to(self, transform: Transform) -> None:
        """The handle is now at ``transform`` (10 floats)."""
        self.latest = tuple(float(x) for x in transform)

    def step(self, store: ClientStore) -> SetField | None:
        """The edit that brings the node to the handle, or ``None`` if it is there (or gone)."""
        node = store.doc.get(self.node_id)
        if self.latest is None or node is None or tuple(node.transform) == self.latest:
            return None
        return SetField(self.node_id, "transform", self.latest)

    def finish(self, store: ClientStore) -> None:
        """Fold the undo entries recorded since ``begin`` into one for the whole drag.

        Call after the final ``step`` was applied. A drag that ends where it began leaves
        no undo entry.
        """
        if self.latest is None or self.node_id not in store.doc:
            return
        entries = store.history.undo_entries
        if len(entries) <= self.undo_len:
            return
        del entries[self.undo_len:]
        if self.start != self.latest:
            final = SetField(self.node_id, "transform", self.latest)
            store.history.record(UndoEntry(
                self.label, final, SetField(self.node_id, "transform", self.start),
                expectations(store.doc, final)))
