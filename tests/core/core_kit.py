"""Builders, invariants and hypothesis strategies shared by the pure-core tests."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from twin_app.core import fracindex
from twin_app.core.document import Document, Node
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, Op, RemoveNode, Reparent, SetField, apply

MESH_A = "ab" * 32
MESH_B = "cd" * 32


def node(
    nid: str,
    parent: str | None = ROOT_ID,
    order: str = "V",
    kind: str = "part",
    **fields: Any,
) -> Node:
    """Return a node record with defaults for everything not given."""
    return Node(nid, parent, order, kind, **fields)


def add(doc: Document, nid: str, parent: str = ROOT_ID, kind: str = "part", **fields: Any) -> Node:
    """Add ``nid`` as the last child of ``parent`` and return the stored node."""
    keys = doc.child_keys(parent)
    order = fracindex.key_between(keys[-1][0] if keys else None, None)
    apply(doc, AddNode(node(nid, parent, order, kind, **fields)))
    stored = doc.get(nid)
    assert stored is not None
    return stored


def plant() -> Document:
    """A small plant: a line with two stations holding parts, and a comment."""
    doc = Document()
    add(doc, "line", kind="group", name="Line 1")
    add(doc, "st1", "line", kind="group", name="Station 1")
    add(doc, "st2", "line", kind="group", name="Station 2")
    add(doc, "robot", "st1", name="Robot", mesh=MESH_A,
        props={"part_number": "R-100", "mass": 250.0, "bbox": (0.0, 0.0, 0.0, 1.0, 1.0, 2.0)})
    add(doc, "conveyor", "st2", name="Conveyor", color=(0.2, 0.3, 0.4),
        props={"supplier": "Acme", "k1": 1, "k2": True})
    add(doc, "note", kind="comment", name="Check clearance", props={"k1": "a", "k2": "b"})
    return doc


def assert_tree_ok(doc: Document) -> None:
    """The document is one tree rooted at ``root``: no cycle, nothing orphaned."""
    assert ROOT_ID in doc
    root = doc.get(ROOT_ID)
    assert root is not None and root.parent is None
    reached = [n.id for n in doc.walk()]
    assert len(reached) == len(set(reached)) == len(doc.nodes)
    for nid, n in doc.nodes.items():
        if nid == ROOT_ID:
            continue
        # Walking up must reach the root within len(doc) steps (no cycle).
        cur: str | None = nid
        for _ in range(len(doc.nodes) + 1):
            if cur == ROOT_ID:
                break
            parent = doc.nodes[cur].parent if cur is not None else None
            cur = parent
        else:
            raise AssertionError(f"cycle through {nid}")
        assert cur == ROOT_ID
        assert nid in doc.children(n.parent or "")
        assert fracindex.is_valid_key(n.order)
    for nid in doc.nodes:
        assert doc.child_keys(nid) == sorted(doc.child_keys(nid))


def try_apply(doc: Document, op: Op) -> Op | None:
    """Apply ``op`` and return its inverse, or ``None`` if it was invalid."""
    try:
        return apply(doc, op)[0]
    except InvalidOp:
        return None


# -- random ops -----------------------------------------------------------------------
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)
nonzero = finite.filter(lambda x: abs(x) > 1e-6)
transforms = st.tuples(
    finite, finite, finite, finite, finite, finite, finite, nonzero, nonzero, nonzero
).filter(lambda t: math.sqrt(sum(c * c for c in t[3:7])) > 1e-6)
colors = st.none() | st.tuples(unit, unit, unit)
prop_keys = st.sampled_from(["part_number", "supplier", "mass", "bbox", "k1", "k2"])
prop_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | finite
    | st.text(max_size=20)
    | st.tuples(finite, finite, finite, finite, finite, finite)
)
field_values: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=30),
    "transform": transforms,
    "mesh": st.sampled_from([None, MESH_A, MESH_B]),
    "color": colors,
    "opacity": unit,
    "visible": st.booleans(),
}
kinds = st.sampled_from(["group", "part", "sensor", "annotation", "comment", "markup", "step"])


@st.composite
def node_ids(draw: st.DrawFn, doc: Document, *, root: bool = True) -> str:
    """An id of a node in ``doc`` (sometimes a missing one)."""
    ids = sorted(doc.nodes) if root else sorted(set(doc.nodes) - {ROOT_ID})
    if not ids or draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(["ghost", "missing"]))
    return draw(st.sampled_from(ids))


@st.composite
def order_under(draw: st.DrawFn, doc: Document, parent: str) -> str:
    """A valid order key at a random position among ``parent``'s children."""
    keys = [k for k, _ in doc.child_keys(parent)]
    i = draw(st.integers(0, len(keys)))
    lo = keys[i - 1] if i > 0 else None
    hi = keys[i] if i < len(keys) else None
    if lo is not None and lo == hi:
        return lo  # equal keys are legal; the id breaks the tie
    return fracindex.key_between(lo, hi)


@st.composite
def primitive_ops(draw: st.DrawFn, doc: Document, fresh: st.SearchStrategy[str]) -> Op:
    """A primitive op that is usually valid on ``doc`` (sometimes deliberately not)."""
    what = draw(st.sampled_from(["add", "add", "remove", "move", "set", "set", "prop", "unset"]))
    if what == "add":
        parent = draw(node_ids(doc))
        order = draw(order_under(doc, parent)) if parent in doc else "V"
        props = draw(st.dictionaries(prop_keys, prop_values.filter(lambda v: v is not None),
                                     max_size=3))
        return AddNode(Node(
            draw(fresh), parent, order, draw(kinds), draw(field_values["name"]),
            draw(transforms), draw(field_values["mesh"]), draw(colors), draw(unit),
            draw(st.booleans()), props,
        ))
    if what == "remove":
        return RemoveNode(draw(node_ids(doc, root=False)))
    if what == "move":
        nid = draw(node_ids(doc, root=False))
        parent = draw(node_ids(doc))
        order = draw(order_under(doc, parent)) if parent in doc else "V"
        return Reparent(nid, parent, order)
    with_props = sorted(nid for nid, n in doc.nodes.items() if n.props)
    if what == "unset" and with_props:  # delete an existing property
        nid = draw(st.sampled_from(with_props))
        key = draw(st.sampled_from(sorted(doc.nodes[nid].props)))
        return SetField(nid, "prop:" + key, None)
    nid = draw(node_ids(doc))
    if what in ("prop", "unset"):
        return SetField(nid, "prop:" + draw(prop_keys), draw(prop_values))
    fld = draw(st.sampled_from(sorted(field_values)))
    return SetField(nid, fld, draw(field_values[fld]))


@st.composite
def ops_on(draw: st.DrawFn, doc: Document, fresh: st.SearchStrategy[str]) -> Op:
    """A primitive op or a small batch of them (built against ``doc`` as it is now)."""
    if draw(st.integers(0, 4)) == 0:
        return Batch(tuple(draw(st.lists(primitive_ops(doc, fresh), min_size=0, max_size=4))))
    return draw(primitive_ops(doc, fresh))


# Arbitrary msgpack-like values, for fuzzing parsers of untrusted input.
msgpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12)
    | st.sampled_from(["set", "add", "remove", "move", "batch", "root", "name", "prop:x"])
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda inner: st.lists(inner, max_size=12)
    | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4), inner, max_size=6),
    max_leaves=20,
)
