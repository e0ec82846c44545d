"""The scene document: a tree of nodes with typed fields.

Design notes
------------
* Nodes are plain records (``Node``) held in a dict by id. The tree is the parent pointer
  on each child plus its fractional ``order`` key; siblings sort by ``(order, id)``, so
  two replicas that hold the same nodes hold the same tree, whatever order ops arrived in.
* A ``root`` node always exists and cannot be removed or moved.
* ``Document`` does no validation: ``twin_app.core.ops`` validates and then mutates through
  the small set of methods here, which keep the child index and the document hash current.
* The document hash is the sum (mod 2**128) of a BLAKE2b digest of every node's canonical
  msgpack encoding, so it is updated in O(1) per changed node and is independent of the
  order in which nodes were added. Equal hashes on two replicas mean equal documents.
* Field values are immutable (tuples, str, numbers, and a props dict that is replaced,
  never mutated in place), so a node can be copied shallowly.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from twin_app.core.ids import ROOT_ID

# Transform: position (3), rotation quaternion x, y, z, w (4), scale (3).
IDENTITY: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)
DEFAULT_COLOR: tuple[float, float, float] = (0.75, 0.75, 0.78)

PropValue = str | int | float | bool | tuple[float, ...]

_MASK = (1 << 128) - 1


@dataclass(slots=True)
class Node:
    """One node of the scene tree. Fields are replaced, never mutated in place."""

    id: str
    parent: str | None
    order: str
    kind: str = "group"
    name: str = ""
    transform: tuple[float, ...] = IDENTITY
    mesh: str | None = None
    color: tuple[float, float, float] | None = None
    opacity: float = 1.0
    visible: bool = True
    props: dict[str, PropValue] = field(default_factory=dict)

    def to_wire(self) -> list[Any]:
        """Return the node as the msgpack-ready list used in ops and snapshots."""
        return [
            self.id,
            self.parent,
            self.order,
            self.kind,
            self.name,
            list(self.transform),
            self.mesh,
            None if self.color is None else list(self.color),
            self.opacity,
            self.visible,
            # Sorted: the hash must not depend on the order keys were (re)inserted in. A
            # rolled-back batch or pending edit that deleted a property re-adds it last.
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(self.props.items())},
        ]

    def copy(self) -> Node:
        """Return a shallow copy (safe: field values are immutable)."""
        return Node(
            self.id, self.parent, self.order, self.kind, self.name, self.transform,
            self.mesh, self.color, self.opacity, self.visible, dict(self.props),
        )

    def get(self, fld: str) -> Any:
        """Return a field by its op name (``name``, ``color``, ``prop:<key>`` …)."""
        if fld.startswith("prop:"):
            return self.props.get(fld[5:])
        return getattr(self, fld)


def node_digest(node: Node) -> int:
    """Return the 128-bit content digest of ``node`` used by the document hash."""
    data = msgpack.packb(node.to_wire(), use_bin_type=True)
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


class Document:
    """A scene tree. Mutate it only through :mod:`twin_app.core.ops`."""

    __slots__ = ("_children", "_digests", "_dirty", "_hash", "nodes")

    def __init__(self, root_name: str = "Scene") -> None:
        self.nodes: dict[str, Node] = {}
        self._children: dict[str, list[tuple[str, str]]] = {}
        self._digests: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._hash = 0
        self.insert(Node(ROOT_ID, None, "V", kind="root", name=root_name))

    # -- queries ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def get(self, node_id: str) -> Node | None:
        """Return the node with ``node_id`` or ``None``."""
        return self.nodes.get(node_id)

    def children(self, node_id: str) -> list[str]:
        """Return the ids of ``node_id``'s children in sibling order."""
        return [cid for _, cid in self._children.get(node_id, ())]

    def child_keys(self, node_id: str) -> list[tuple[str, str]]:
        """Return ``(order, id)`` pairs of ``node_id``'s children, sorted."""
        return list(self._children.get(node_id, ()))

    def is_ancestor(self, ancestor: str, node_id: str | None) -> bool:
        """True if ``ancestor`` is ``node_id`` or one of its ancestors."""
        while node_id is not None:
            if node_id == ancestor:
                return True
            node = self.nodes.get(node_id)
            node_id = node.parent if node else None
        return False

    def subtree(self, node_id: str) -> list[str]:
        """Return ``node_id`` and its descendants in pre-order (parents first)."""
        out: list[str] = []
        stack = [node_id]
        while stack:
            nid = stack.pop()
            out.append(nid)
            stack.extend(reversed(self.children(nid)))
        return out

    def walk(self) -> Iterator[Node]:
        """Yield every node in pre-order from the root."""
        for nid in self.subtree(ROOT_ID):
            yield self.nodes[nid]

    def path(self, node_id: str) -> list[str]:
        """Return the names from the root's child down to ``node_id``."""
        names: list[str] = []
        cur = self.nodes.get(node_id)
        while cur is not None and cur.parent is not None:
            names.append(cur.name or cur.id)
            cur = self.nodes.get(cur.parent)
        return names[::-1]

    def hash(self) -> str:
        """Return the document hash as 32 hex digits.

        Digests of nodes changed since the last call are computed here, so mutation stays
        cheap and a document loaded from a snapshot pays for hashing only when asked.
        """
        acc = self._hash
        for nid in self._dirty:
            digest = node_digest(self.nodes[nid])
            acc += digest - self._digests.get(nid, 0)
            self._digests[nid] = digest
        self._dirty.clear()
        self._hash = acc & _MASK
        return f"{self._hash:032x}"

    # -- mutation (used by ops only) ---------------------------------------------------
    def insert(self, node: Node) -> None:
        """Insert ``node`` (its parent must exist unless it is the root)."""
        self.nodes[node.id] = node
        self._children.setdefault(node.id, [])
        if node.parent is not None:
            bisect.insort(self._children[node.parent], (node.order, node.id))
        self._rehash(node)

    def insert_hashed(self, node: Node, digest: int) -> None:
        """Insert ``node`` whose digest the caller computed from its canonical encoding."""
        self.nodes[node.id] = node
        self._children.setdefault(node.id, [])
        if node.parent is not None:
            bisect.insort(self._children[node.parent], (node.order, node.id))
        self._digests[node.id] = digest
        self._hash = (self._hash + digest) & _MASK

    def delete(self, node_id: str) -> Node:
        """Remove one node (childless) and return it."""
        node = self.nodes.pop(node_id)
        kids = self._children.pop(node_id, [])
        assert not kids, "delete children first"
        if node.parent is not None:
            siblings = self._children[node.parent]
            siblings.pop(bisect.bisect_left(siblings, (node.order, node.id)))
        self._dirty.discard(node_id)
        self._hash = (self._hash - self._digests.pop(node_id, 0)) & _MASK
        return node

    def place(self, node_id: str, parent: str, order: str) -> None:
        """Move ``node_id`` under ``parent`` at ``order``."""
        node = self.nodes[node_id]
        if node.parent is not None:
            siblings = self._children[node.parent]
            siblings.pop(bisect.bisect_left(siblings, (node.order, node.id)))
        node.parent = parent
        node.order = order
        bisect.insort(self._children[parent], (order, node_id))
        self._rehash(node)

    def assign(self, node_id: str, fld: str, value: Any) -> None:
        """Set one field (``prop:<key>`` with ``None`` deletes a user property)."""
        node = self.nodes[node_id]
        if fld.startswith("prop:"):
            props = dict(node.props)
            if value is None:
                props.pop(fld[5:], None)
            else:
                props[fld[5:]] = value
            node.props = props
        else:
            setattr(node, fld, value)
        self._rehash(node)

    def _rehash(self, node: Node) -> None:
        self._dirty.add(node.id)
