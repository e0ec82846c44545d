"""Operations on the scene document and the deterministic reducer shared by client and server.

Design notes
------------
* Five op types: ``AddNode``, ``RemoveNode`` (a whole subtree), ``Reparent``, ``SetField``
  (name, transform, mesh, colour, opacity, visibility, kind-free user properties as
  ``prop:<key>``) and ``Batch`` (atomic: all or nothing).
* ``apply(doc, op)`` validates, mutates and returns the op's inverse (for undo and for
  rolling back optimistic edits) together with a ``ChangeSet``. A failing op raises
  ``InvalidOp`` and leaves the document exactly as it was (a failing batch is rolled back).
* Validation normalises values (ints to floats where a float is meant, lists to tuples),
  so the same op applied on any replica produces the same bytes and the same hash.
* ``op_from_wire`` parses untrusted msgpack data; anything malformed raises ``InvalidOp``
  with code ``malformed`` and never another exception type.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Union

from twin_app.core import fracindex
from twin_app.core.changes import NODE, ChangeSet
from twin_app.core.document import Document, Node, PropValue
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import ROOT_ID, is_content_hash, is_valid_id

MAX_NAME = 256
MAX_STR_PROP = 4096
MAX_PROPS = 64
MAX_VECTOR = 64
MAX_BATCH = 10_000
DEFAULT_MAX_NODES = 2_000_000
FIELDS = ("name", "transform", "mesh", "color", "opacity", "visible")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PROP_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_INT64 = 1 << 63


@dataclass(frozen=True, slots=True)
class AddNode:
    """Create ``node`` (its parent must exist, its id must be new)."""

    node: Node


@dataclass(frozen=True, slots=True)
class RemoveNode:
    """Remove a node and its whole subtree."""

    id: str


@dataclass(frozen=True, slots=True)
class Reparent:
    """Move a node under ``parent`` at sibling position ``order`` (cycles are rejected)."""

    id: str
    parent: str
    order: str


@dataclass(frozen=True, slots=True)
class SetField:
    """Set one field of a node: last writer (in server order) wins per field."""

    id: str
    field: str
    value: Any


@dataclass(frozen=True, slots=True)
class Batch:
    """Several ops applied atomically.

    ``restore`` marks the inverses the reducer builds: they only bring back a state the
    document was in, so they are exempt from ``MAX_BATCH`` (the inverse of removing a
    group of 20,000 parts must apply, or undo and rollback of pending edits would fail).
    It is not part of the wire form: a batch received from the network is always checked.
    """

    ops: tuple[Op, ...]
    restore: bool = field(default=False, compare=False, repr=False)


Op = Union[AddNode, RemoveNode, Reparent, SetField, Batch]


# -- wire form --------------------------------------------------------------------------
def op_to_wire(op: Op) -> list[Any]:
    """Return ``op`` as a msgpack-ready list (see docs/protocol.md, "Operations")."""
    if isinstance(op, SetField):
        value = list(op.value) if isinstance(op.value, tuple) else op.value
        return ["set", op.id, op.field, value]
    if isinstance(op, AddNode):
        return ["add", op.node.to_wire()]
    if isinstance(op, RemoveNode):
        return ["remove", op.id]
    if isinstance(op, Reparent):
        return ["move", op.id, op.parent, op.order]
    return ["batch", [op_to_wire(o) for o in op.ops]]


def op_from_wire(obj: Any, _depth: int = 0) -> Op:
    """Parse an op from its wire form. Raises ``InvalidOp('malformed', …)``."""
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], str):
        raise InvalidOp("malformed", "an op must be a non-empty list starting with its name")
    tag, n = obj[0], len(obj)
    if tag == "set" and n == 4 and isinstance(obj[1], str) and isinstance(obj[2], str):
        return SetField(obj[1], obj[2], obj[3])
    if tag == "add" and n == 2:
        return AddNode(node_from_wire(obj[1]))
    if tag == "remove" and n == 2 and isinstance(obj[1], str):
        return RemoveNode(obj[1])
    if tag == "move" and n == 4 and all(isinstance(x, str) for x in obj[1:]):
        return Reparent(obj[1], obj[2], obj[3])
    if tag == "batch" and n == 2 and isinstance(obj[1], list):
        if _depth >= 4:
            raise InvalidOp("malformed", "batches nest at most 4 deep")
        if len(obj[1]) > MAX_BATCH:
            raise InvalidOp("too_large", f"a batch holds at most {MAX_BATCH} ops")
        return Batch(tuple(op_from_wire(o, _depth + 1) for o in obj[1]))
    raise InvalidOp("malformed", f"unknown or malformed op {tag!r}")


def node_from_wire(obj: Any) -> Node:
    """Parse a node record (no value validation beyond types; ``apply`` validates)."""
    if not isinstance(obj, list) or len(obj) != 11:
        raise InvalidOp("malformed", "a node is a list of 11 fields")
    nid, parent, order, kind, name, transform, mesh, color, opacity, visible, props = obj
    if not isinstance(nid, str) or not (parent is None or isinstance(parent, str)):
        raise InvalidOp("malformed", "node id and parent must be strings")
    if not isinstance(order, str) or not isinstance(kind, str) or not isinstance(props, dict):
        raise InvalidOp("malformed", "node order, kind and props have wrong types")
    return Node(nid, parent, order, kind, name, transform, mesh, color, opacity, visible, props)


def count_ops(op: Op) -> int:
    """Return the number of primitive ops in ``op`` (a batch counts its members)."""
    if isinstance(op, Batch):
        return sum(count_ops(o) for o in op.ops)
    return 1


def iter_primitive(op: Op) -> list[Op]:
    """Return the primitive ops of ``op`` in application order."""
    if isinstance(op, Batch):
        return [p for o in op.ops for p in iter_primitive(o)]
    return [op]


# -- value validation -------------------------------------------------------------------
def _finite(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidOp("bad_value", f"{what} must be a number")
    try:
        f = float(v)
    except OverflowError:  # a Python int beyond float range (not possible from msgpack)
        raise InvalidOp("bad_value", f"{what} is out of range") from None
    if not math.isfinite(f):
        raise InvalidOp("bad_value", f"{what} must be finite")
    return f


def _vector(v: Any, n: int, what: str) -> tuple[float, ...]:
    if not isinstance(v, (list, tuple)) or len(v) != n:
        raise InvalidOp("bad_value", f"{what} must be {n} numbers")
    return tuple(_finite(x, what) for x in v)


def _unit(v: Any, what: str) -> float:
    f = _finite(v, what)
    if not 0.0 <= f <= 1.0:
        raise InvalidOp("bad_value", f"{what} must be between 0 and 1")
    return f


def check_prop_value(v: Any, key: str) -> PropValue:
    """Validate and normalise a user-property value."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if not -_INT64 <= v < _INT64:
            raise InvalidOp("bad_value", f"property {key!r} does not fit in 64 bits")
        return v
    if isinstance(v, float):
        return _finite(v, f"property {key!r}")
    if isinstance(v, str):
        if len(v) > MAX_STR_PROP:
            raise InvalidOp("bad_value", f"property {key!r} is longer than {MAX_STR_PROP}")
        return v
    if isinstance(v, (list, tuple)) and len(v) <= MAX_VECTOR:
        return tuple(_finite(x, f"property {key!r}") for x in v)
    raise InvalidOp("bad_value", f"property {key!r} must be text, a number, a bool or a vector")


def check_field(fld: str, value: Any) -> Any:
    """Validate and normalise a value for field ``fld``; raise ``InvalidOp``."""
    if fld == "name":
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise InvalidOp("bad_value", f"name must be text of at most {MAX_NAME} characters")
        return value
    if fld == "transform":
        t = _vector(value, 10, "transform")
        if any(s == 0.0 for s in t[7:]):
            raise InvalidOp("bad_value", "scale must not be zero")
        q = math.sqrt(sum(c * c for c in t[3:7]))
        if q < 1e-9:
            raise InvalidOp("bad_value", "rotation quaternion must not be zero")
        return t
    if fld == "mesh":
        if value is not None and not is_content_hash(value):
            raise InvalidOp("bad_value", "mesh must be a content hash (64 lowercase hex digits, SHA-256) or nil")
        return value
    if fld == "color":
        if value is None:
            return None
        return tuple(_unit(x, "colour") for x in _vector(value, 3, "colour"))
    if fld == "opacity":
        return _unit(value, "opacity")
    if fld == "visible":
        if not isinstance(value, bool):
            raise InvalidOp("bad_value", "visible must be true or false")
        return value
    if fld.startswith("prop:") and _PROP_RE.fullmatch(fld[5:]):
        return None if value is None else check_prop_value(value, fld[5:])
    raise InvalidOp("bad_field", f"unknown field {fld!r}")


def _checked_node(node: Node) -> Node:
    if not is_valid_id(node.id) or node.id == ROOT_ID:
        raise InvalidOp("bad_id", f"invalid node id {node.id!r}")
    if not isinstance(node.kind, str) or not _KIND_RE.fullmatch(node.kind) or node.kind == "root":
        raise InvalidOp("bad_value", f"invalid node kind {node.kind!r}")
    if not fracindex.is_valid_key(node.order):
        raise InvalidOp("bad_order", f"invalid sibling order key {node.order!r}")
    if not isinstance(node.props, dict) or len(node.props) > MAX_PROPS:
        raise InvalidOp("bad_value", f"a node holds at most {MAX_PROPS} properties")
    props: dict[str, PropValue] = {}
    for k, v in node.props.items():
        if not isinstance(k, str) or not _PROP_RE.fullmatch(k):
            raise InvalidOp("bad_value", f"invalid property name {k!r}")
        props[k] = check_prop_value(v, k)
    return Node(
        node.id,
        node.parent,
        node.order,
        node.kind,
        check_field("name", node.name),
        check_field("transform", node.transform),
        check_field("mesh", node.mesh),
        check_field("color", node.color),
        check_field("opacity", node.opacity),
        check_field("visible", node.visible),
        props,
    )


# -- the reducer ------------------------------------------------------------------------
def apply(
    doc: Document,
    op: Op,
    changes: ChangeSet | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[Op, ChangeSet]:
    """Validate ``op``, apply it to ``doc`` and return ``(inverse, changes)``.

    Raises ``InvalidOp`` (and leaves ``doc`` untouched) if the op does not apply.
    ``max_nodes`` bounds the document size (code ``doc_too_large``).
    """
    ch = changes if changes is not None else ChangeSet()
    if isinstance(op, SetField):
        return _set(doc, op, ch), ch
    if isinstance(op, AddNode):
        return _add(doc, op, ch, max_nodes), ch
    if isinstance(op, RemoveNode):
        return _remove(doc, op, ch), ch
    if isinstance(op, Reparent):
        return _move(doc, op, ch), ch
    if isinstance(op, Batch):
        return _batch(doc, op, ch, max_nodes), ch
    raise InvalidOp("malformed", f"not an op: {type(op).__name__}")


def _need(doc: Document, node_id: str) -> Node:
    node = doc.nodes.get(node_id)
    if node is None:
        raise InvalidOp("no_such_node", f"node {node_id!r} does not exist")
    return node


def _set(doc: Document, op: SetField, ch: ChangeSet) -> Op:
    node = _need(doc, op.id)
    value = check_field(op.field, op.value)
    key = op.field[5:] if op.field.startswith("prop:") else None
    if key is not None and value is not None and key not in node.props and len(node.props) >= MAX_PROPS:
        # Same limit as AddNode: otherwise the node could not be re-added by the inverse
        # of its removal (undo, rollback of a pending edit).
        raise InvalidOp("bad_value", f"a node holds at most {MAX_PROPS} properties")
    old = node.get(op.field)
    doc.assign(op.id, op.field, value)
    ch.touch(op.id, op.field)
    return SetField(op.id, op.field, old)


def _add(doc: Document, op: AddNode, ch: ChangeSet, max_nodes: int) -> Op:
    node = _checked_node(op.node)
    if node.id in doc.nodes:
        raise InvalidOp("exists", f"node {node.id!r} already exists")
    if node.parent is None or node.parent not in doc.nodes:
        raise InvalidOp("no_such_node", f"parent {node.parent!r} does not exist")
    if len(doc.nodes) >= max_nodes:
        raise InvalidOp("doc_too_large", f"the document is full ({max_nodes} nodes)")
    doc.insert(node)
    ch.touch(node.id, NODE)
    return RemoveNode(node.id)


def _remove(doc: Document, op: RemoveNode, ch: ChangeSet) -> Op:
    _need(doc, op.id)
    if op.id == ROOT_ID:
        raise InvalidOp("bad_id", "the root cannot be removed")
    ids = doc.subtree(op.id)
    restore = tuple(AddNode(doc.nodes[nid].copy()) for nid in ids)
    for nid in reversed(ids):
        doc.delete(nid)
        ch.touch(nid, NODE)
    return restore[0] if len(restore) == 1 else Batch(restore, restore=True)


def _move(doc: Document, op: Reparent, ch: ChangeSet) -> Op:
    node = _need(doc, op.id)
    if op.id == ROOT_ID:
        raise InvalidOp("bad_id", "the root cannot be moved")
    _need(doc, op.parent)
    if not fracindex.is_valid_key(op.order):
        raise InvalidOp("bad_order", f"invalid sibling order key {op.order!r}")
    if doc.is_ancestor(op.id, op.parent):
        raise InvalidOp("cycle", "a node cannot be moved under itself or its descendants")
    assert node.parent is not None
    inverse = Reparent(op.id, node.parent, node.order)
    doc.place(op.id, op.parent, op.order)
    ch.touch(op.id, "parent", "order")
    return inverse


def _batch(doc: Document, op: Batch, ch: ChangeSet, max_nodes: int) -> Op:
    if not op.restore and count_ops(op) > MAX_BATCH:
        raise InvalidOp("too_large", f"a batch holds at most {MAX_BATCH} ops")
    inverses: list[Op] = []
    try:
        for sub in op.ops:
            inverses.append(apply(doc, sub, ch, max_nodes)[0])
    except InvalidOp:
        for inv in reversed(inverses):
            apply(doc, inv, ch)
        raise
    return Batch(tuple(reversed(inverses)), restore=True)
