"""Change sets: what an applied op (or a batch of them) touched, for views to observe.

A change set maps node ids to the names of the fields that changed. The field ``node``
means the node was created or removed; observers find out which by looking the id up in
the document, which is always the truth. Reporting a field that did not really change is
allowed (a view refreshes it from the document); missing one is a bug.
"""

from __future__ import annotations

NODE = "node"
STRUCTURE_FIELDS = frozenset({NODE, "parent", "order"})


class ChangeSet:
    """Node id → changed field names, plus ``reset`` when the whole document was replaced."""

    __slots__ = ("nodes", "reset")

    def __init__(self) -> None:
        self.nodes: dict[str, set[str]] = {}
        self.reset = False

    def touch(self, node_id: str, *fields: str) -> None:
        """Record that ``fields`` of ``node_id`` changed."""
        self.nodes.setdefault(node_id, set()).update(fields)

    def merge(self, other: ChangeSet) -> ChangeSet:
        """Add ``other`` into this change set and return self."""
        self.reset |= other.reset
        for nid, fields in other.nodes.items():
            self.nodes.setdefault(nid, set()).update(fields)
        return self

    def structural(self) -> bool:
        """True if any node was created, removed, moved or reordered (or on reset)."""
        return self.reset or any(f & STRUCTURE_FIELDS for f in self.nodes.values())

    def __bool__(self) -> bool:
        return self.reset or bool(self.nodes)

    def __repr__(self) -> str:
        return f"ChangeSet(reset={self.reset}, nodes={self.nodes!r})"


class _Discard(ChangeSet):
    """A change set that records nothing: for replicas nobody observes (the server)."""

    __slots__ = ()

    def touch(self, node_id: str, *fields: str) -> None:
        pass


DISCARD: ChangeSet = _Discard()
