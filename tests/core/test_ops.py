"""The reducer: validation of every op type, atomic batches, exact inverses, wire form."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.core_kit import (
    MESH_A,
    add,
    assert_tree_ok,
    msgpack_scalars,
    msgpack_values,
    node,
    ops_on,
    plant,
    try_apply,
)
from twin_app.core import fracindex, snapshot
from twin_app.core.changes import ChangeSet
from twin_app.core.document import IDENTITY, Document, Node
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import (
    MAX_BATCH,
    MAX_NAME,
    MAX_PROPS,
    MAX_STR_PROP,
    MAX_VECTOR,
    AddNode,
    Batch,
    Op,
    RemoveNode,
    Reparent,
    SetField,
    apply,
    op_from_wire,
    op_to_wire,
)


def expect_invalid(doc: Document, op: Any, code: str, **kwargs: Any) -> InvalidOp:
    """Applying ``op`` fails with ``code`` and leaves the document exactly as it was."""
    before = doc.hash()
    nodes_before = {nid: n.copy() for nid, n in doc.nodes.items()}
    with pytest.raises(InvalidOp) as info:
        apply(doc, op, **kwargs)
    assert info.value.code == code, str(info.value)
    assert str(info.value)  # a human explanation travels with the code
    assert doc.hash() == before
    assert doc.nodes == nodes_before
    assert_tree_ok(doc)
    return info.value


# -- SetField -------------------------------------------------------------------------
def test_set_on_missing_node() -> None:
    expect_invalid(plant(), SetField("ghost", "name", "x"), "no_such_node")


@pytest.mark.parametrize(
    "fld", ["kind", "parent", "order", "id", "props", "colour", "Name", "prop:", "prop:a b",
            "prop:" + "k" * 65, "prop:ü", ""],
)
def test_set_unknown_or_protected_field(fld: str) -> None:
    expect_invalid(plant(), SetField("robot", fld, "x"), "bad_field")


BAD_VALUES: list[tuple[str, Any]] = [
    ("name", 5),
    ("name", None),
    ("name", "x" * (MAX_NAME + 1)),
    ("transform", list(IDENTITY[:9])),
    ("transform", [*IDENTITY, 1.0]),
    ("transform", [math.nan, *IDENTITY[1:]]),
    ("transform", [math.inf, *IDENTITY[1:]]),
    ("transform", [*IDENTITY[:9], -math.inf]),
    ("transform", [*IDENTITY[:7], 0.0, 1.0, 1.0]),
    ("transform", [*IDENTITY[:7], 1.0, 0.0, 1.0]),
    ("transform", [*IDENTITY[:7], 1.0, 1.0, -0.0]),
    ("transform", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),  # zero quaternion
    ("transform", [True, *IDENTITY[1:]]),
    ("transform", ["0", *IDENTITY[1:]]),
    ("transform", [10**400, *IDENTITY[1:]]),  # a Python int beyond float range
    ("transform", "identity"),
    ("transform", None),
    ("transform", {str(i): v for i, v in enumerate(IDENTITY)}),
    ("mesh", "AB" * 32),
    ("mesh", "abc"),
    ("mesh", "g" * 64),
    ("mesh", "0123456789abcdef"),  # hex, but not a SHA-256 (one definition: 64 digits)
    ("mesh", "ab" * 16),
    ("mesh", "ab" * 32 + "a"),
    ("mesh", 5),
    ("mesh", b"ab" * 32),
    ("color", (1.0, 0.0)),
    ("color", (1.0, 0.0, 0.0, 1.0)),
    ("color", (1.1, 0.0, 0.0)),
    ("color", (0.0, -0.01, 0.0)),
    ("color", (0.0, 0.0, math.nan)),
    ("color", "red"),
    ("opacity", 1.5),
    ("opacity", -0.1),
    ("opacity", math.nan),
    ("opacity", True),
    ("opacity", None),
    ("opacity", "1"),
    ("visible", 1),
    ("visible", None),
    ("visible", "true"),
    ("prop:mass", math.nan),
    ("prop:mass", math.inf),
    ("prop:mass", 1 << 63),
    ("prop:mass", -(1 << 63) - 1),
    ("prop:supplier", "x" * (MAX_STR_PROP + 1)),
    ("prop:bbox", (0.0,) * (MAX_VECTOR + 1)),
    ("prop:bbox", (0.0, "1")),
    ("prop:bbox", (0.0, [1.0])),
    ("prop:bbox", (0.0, True)),
    ("prop:bbox", (0.0, math.nan)),
    ("prop:x", {"a": 1}),
    ("prop:x", b"bytes"),
]


@pytest.mark.parametrize("fld, value", BAD_VALUES)
def test_set_rejects_bad_values(fld: str, value: Any) -> None:
    expect_invalid(plant(), SetField("robot", fld, value), "bad_value")


GOOD_VALUES: list[tuple[str, Any, Any]] = [
    ("name", "", ""),
    ("name", "x" * MAX_NAME, "x" * MAX_NAME),
    ("transform", [1, 2, 3, 0, 0, 0, 1, 2, 2, 2], (1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0)),
    ("transform", (0, 0, 0, 0, 0, 0, 2, -1, 1, 1), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -1.0, 1.0, 1.0)),
    ("mesh", None, None),
    ("mesh", "0123456789abcdef" * 4, "0123456789abcdef" * 4),
    ("color", [0, 1, 0.5], (0.0, 1.0, 0.5)),
    ("color", None, None),
    ("opacity", 0, 0.0),
    ("opacity", 1, 1.0),
    ("visible", False, False),
    ("prop:mass", 12, 12),
    ("prop:mass", 12.5, 12.5),
    ("prop:mass", (1 << 63) - 1, (1 << 63) - 1),
    ("prop:flag", True, True),
    ("prop:supplier", "x" * MAX_STR_PROP, "x" * MAX_STR_PROP),
    ("prop:bbox", [0, 0, 0, 1, 1, 1], (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)),
    ("prop:empty", [], ()),
    ("prop:a.b-c_D9", "ok", "ok"),
]


@pytest.mark.parametrize("fld, value, stored", GOOD_VALUES)
def test_set_normalises_values(fld: str, value: Any, stored: Any) -> None:
    doc = plant()
    _, changes = apply(doc, SetField("robot", fld, value))
    robot = doc.get("robot")
    assert robot is not None
    got = robot.get(fld)
    assert got == stored and type(got) is type(stored)
    if isinstance(got, tuple):
        assert all(type(x) is float for x in got)
    assert changes.nodes == {"robot": {fld}}
    assert not changes.structural()


def test_normalisation_makes_equal_values_hash_equal() -> None:
    a, b = plant(), plant()
    apply(a, SetField("robot", "transform", [1, 2, 3, 0, 0, 0, 1, 1, 1, 1]))
    apply(b, SetField("robot", "transform", (1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)))
    assert a.hash() == b.hash()


def test_prop_none_deletes_and_missing_prop_reads_none() -> None:
    doc = plant()
    apply(doc, SetField("robot", "prop:mass", None))
    robot = doc.get("robot")
    assert robot is not None and "mass" not in robot.props and robot.get("prop:mass") is None
    apply(doc, SetField("robot", "prop:never_there", None))  # deleting nothing is fine


def test_prop_count_limit_applies_to_set_as_to_add() -> None:
    doc = plant()
    conveyor = doc.get("conveyor")
    assert conveyor is not None
    for i in range(MAX_PROPS - len(conveyor.props)):
        apply(doc, SetField("conveyor", f"prop:p{i}", i))
    conveyor = doc.get("conveyor")
    assert conveyor is not None and len(conveyor.props) == MAX_PROPS
    expect_invalid(doc, SetField("conveyor", "prop:one_more", 1), "bad_value")
    apply(doc, SetField("conveyor", "prop:p0", "replaced"))  # replacing is not adding
    # The node stays restorable: removing it and applying the inverse brings it back.
    before = doc.hash()
    inverse, _ = apply(doc, RemoveNode("conveyor"))
    apply(doc, inverse)
    assert doc.hash() == before


# -- AddNode --------------------------------------------------------------------------
@pytest.mark.parametrize("nid", [ROOT_ID, "", "a b", "x" * 65, "ü", "a/b", None, 5])
def test_add_bad_id(nid: Any) -> None:
    expect_invalid(plant(), AddNode(node(nid)), "bad_id")


@pytest.mark.parametrize("kind", ["root", "Part", "", "9lives", "a-b", "k" * 33, None, 3])
def test_add_bad_kind(kind: Any) -> None:
    expect_invalid(plant(), AddNode(node("n1", kind=kind)), "bad_value")


@pytest.mark.parametrize("order", ["", "V0", "a-b", "z" * (fracindex.MAX_LEN + 1), None, 1])
def test_add_bad_order(order: Any) -> None:
    expect_invalid(plant(), AddNode(node("n1", order=order)), "bad_order")


def test_add_duplicate_and_missing_parent() -> None:
    doc = plant()
    expect_invalid(doc, AddNode(node("robot")), "exists")
    expect_invalid(doc, AddNode(node("n1", parent="ghost")), "no_such_node")
    expect_invalid(doc, AddNode(node("n1", parent=None)), "no_such_node")


@pytest.mark.parametrize(
    "fields",
    [
        {"name": 3},
        {"transform": (0.0,) * 10},
        {"mesh": "XYZ"},
        {"color": (2.0, 0.0, 0.0)},
        {"opacity": 2.0},
        {"visible": "yes"},
        {"props": {"bad key": 1}},
        {"props": {5: 1}},
        {"props": {"k": math.nan}},
        {"props": {"k": {"nested": 1}}},
        {"props": {f"k{i}": i for i in range(MAX_PROPS + 1)}},
        {"props": [("k", 1)]},
    ],
)
def test_add_validates_every_field(fields: dict[str, Any]) -> None:
    expect_invalid(plant(), AddNode(node("n1", **fields)), "bad_value")


def test_add_normalises_and_reports_creation() -> None:
    doc = plant()
    n = Node("n1", "st1", "W", "sensor", "T1", [0, 0, 1, 0, 0, 0, 1, 1, 1, 1], None,  # type: ignore[arg-type]
             [1, 0, 0], 1, True, {"bbox": [0, 0, 0, 1, 1, 1], "rate": 10})  # type: ignore[arg-type]
    inverse, changes = apply(doc, AddNode(n))
    stored = doc.get("n1")
    assert stored is not None
    assert stored.transform == (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)
    assert stored.color == (1.0, 0.0, 0.0) and stored.opacity == 1.0
    assert stored.props == {"bbox": (0.0, 0.0, 0.0, 1.0, 1.0, 1.0), "rate": 10}
    assert stored is not n  # the op's node is not aliased into the document
    assert inverse == RemoveNode("n1")
    assert changes.nodes == {"n1": {"node"}} and changes.structural()
    assert doc.children("st1") == ["robot", "n1"]


def test_document_size_limit() -> None:
    doc = plant()
    limit = len(doc)
    expect_invalid(doc, AddNode(node("n1")), "doc_too_large", max_nodes=limit)
    apply(doc, AddNode(node("n1")), max_nodes=limit + 1)
    batch = Batch((AddNode(node("n2")), AddNode(node("n3"))))
    expect_invalid(doc, batch, "doc_too_large", max_nodes=limit + 2)


def test_siblings_with_equal_keys_order_by_id() -> None:
    doc = Document()
    for nid in ["c", "a", "b"]:
        apply(doc, AddNode(node(nid, order="V")))
    assert doc.children(ROOT_ID) == ["a", "b", "c"]


# -- RemoveNode -----------------------------------------------------------------------
def test_remove_root_and_missing() -> None:
    doc = plant()
    expect_invalid(doc, RemoveNode(ROOT_ID), "bad_id")
    expect_invalid(doc, RemoveNode("ghost"), "no_such_node")


def test_remove_takes_the_subtree() -> None:
    doc = plant()
    _, changes = apply(doc, RemoveNode("line"))
    assert set(doc.nodes) == {ROOT_ID, "note"}
    assert changes.nodes == {nid: {"node"} for nid in ["line", "st1", "st2", "robot", "conveyor"]}
    assert_tree_ok(doc)


def test_inverse_of_removing_a_huge_group_restores_it() -> None:
    # A plant hall with more parts than fit in one submitted batch.
    doc = Document()
    add(doc, "hall", kind="group")
    keys = fracindex.keys_between(None, None, MAX_BATCH + 5)
    for i in range(0, len(keys), MAX_BATCH // 2):
        chunk = keys[i:i + MAX_BATCH // 2]
        apply(doc, Batch(tuple(AddNode(node(f"p{i + j}", "hall", k)) for j, k in enumerate(chunk))))
    before = doc.hash()
    inverse, _ = apply(doc, RemoveNode("hall"))
    assert len(doc) == 1
    apply(doc, inverse)
    assert doc.hash() == before and len(doc) == MAX_BATCH + 7


# -- Reparent -------------------------------------------------------------------------
def test_move_validation() -> None:
    doc = plant()
    expect_invalid(doc, Reparent(ROOT_ID, "line", "V"), "bad_id")
    expect_invalid(doc, Reparent("ghost", "line", "V"), "no_such_node")
    expect_invalid(doc, Reparent("robot", "ghost", "V"), "no_such_node")
    expect_invalid(doc, Reparent("robot", "st2", "V0"), "bad_order")
    expect_invalid(doc, Reparent("robot", "st2", ""), "bad_order")


@pytest.mark.parametrize("target", ["line", "st1", "robot"])
def test_move_into_itself_or_descendant_is_a_cycle(target: str) -> None:
    doc = plant()
    expect_invalid(doc, Reparent("line", target, "V"), "cycle")


def test_move_into_deep_descendant_is_a_cycle() -> None:
    doc = Document()
    parent = ROOT_ID
    for i in range(500):
        add(doc, f"c{i}", parent, kind="group")
        parent = f"c{i}"
    expect_invalid(doc, Reparent("c0", "c499", "V"), "cycle")
    expect_invalid(doc, Reparent("c250", "c251", "V"), "cycle")
    apply(doc, Reparent("c499", "c0", "V"))  # moving up is fine
    assert_tree_ok(doc)


def test_move_reports_and_reorders() -> None:
    doc = plant()
    inverse, changes = apply(doc, Reparent("robot", "st2", "A"))
    assert doc.children("st2") == ["robot", "conveyor"]
    assert doc.children("st1") == []
    assert changes.nodes == {"robot": {"parent", "order"}} and changes.structural()
    robot = doc.get("robot")
    assert robot is not None and robot.parent == "st2" and robot.order == "A"
    assert inverse == Reparent("robot", "st1", "V")


# -- Batch ----------------------------------------------------------------------------
def test_batch_size_limit_counts_nested_ops() -> None:
    half = MAX_BATCH // 2 + 1
    big = Batch((
        Batch(tuple(SetField("robot", "name", str(i)) for i in range(half))),
        Batch(tuple(SetField("robot", "name", str(i)) for i in range(half))),
    ))
    expect_invalid(plant(), big, "too_large")
    ok = Batch(tuple(SetField("robot", "name", str(i)) for i in range(MAX_BATCH)))
    doc = plant()
    apply(doc, ok)
    robot = doc.get("robot")
    assert robot is not None and robot.name == str(MAX_BATCH - 1)


def _all_kinds_then(failing: Op) -> Batch:
    return Batch((
        AddNode(node("n1", "st1", "X", name="new")),
        AddNode(node("n2", "n1", "V")),
        SetField("robot", "name", "Renamed"),
        SetField("robot", "prop:part_number", None),  # deletes a property
        SetField("robot", "prop:mass", 300.0),
        SetField("robot", "prop:new", "x"),
        SetField("conveyor", "color", None),
        Reparent("conveyor", "n1", "V"),
        RemoveNode("note"),
        Batch((SetField("st2", "visible", False), RemoveNode("st2"))),
        failing,
    ))


@pytest.mark.parametrize(
    "failing, code",
    [
        (SetField("ghost", "name", "x"), "no_such_node"),
        (SetField("robot", "opacity", 5.0), "bad_value"),
        (SetField("robot", "opacity", 10**400), "bad_value"),
        (Reparent("line", "n2", "V"), "cycle"),
        (AddNode(node("n1")), "exists"),
        (RemoveNode(ROOT_ID), "bad_id"),
        (Batch((SetField("st1", "name", "deep"), RemoveNode("ghost"))), "no_such_node"),
    ],
)
def test_failing_batch_member_leaves_document_unchanged(failing: Op, code: str) -> None:
    doc = plant()
    expect_invalid(doc, _all_kinds_then(failing), code)


def test_batch_inverse_and_changes() -> None:
    doc = plant()
    before = doc.hash()
    inverse, changes = apply(doc, _all_kinds_then(SetField("line", "name", "L")))
    assert {"n1", "n2", "robot", "conveyor", "note", "st2", "line"} <= set(changes.nodes)
    apply(doc, inverse)
    assert doc.hash() == before


def test_apply_rejects_non_ops() -> None:
    doc = plant()
    for junk in [None, "set", ["set", "robot", "name", "x"], object()]:
        expect_invalid(doc, junk, "malformed")


def test_changes_accumulate_into_a_given_changeset() -> None:
    doc = plant()
    ch = ChangeSet()
    apply(doc, SetField("robot", "name", "a"), ch)
    apply(doc, SetField("conveyor", "opacity", 0.5), ch)
    assert ch.nodes == {"robot": {"name"}, "conveyor": {"opacity"}}


# -- inverses, property-based ---------------------------------------------------------
fresh_ids = st.text(alphabet="abcdefghij0123456789", min_size=3, max_size=6).map(lambda s: "n" + s)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_inverses_in_reverse_restore_the_exact_document(data: st.DataObject) -> None:
    doc = plant()
    original_hash = doc.hash()
    original = snapshot.encode(doc)
    history: list[tuple[Op, str]] = []
    for _ in range(data.draw(st.integers(1, 25))):
        op = data.draw(ops_on(doc, fresh_ids))
        before = doc.hash()
        inverse = try_apply(doc, op)
        if inverse is None:
            assert doc.hash() == before  # a refused op changes nothing
            continue
        history.append((inverse, before))
        assert_tree_ok(doc)
    for inverse, before in reversed(history):
        apply(doc, inverse)
        assert doc.hash() == before
    assert doc.hash() == original_hash
    assert snapshot.encode(doc) == original


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_each_inverse_undoes_exactly_its_op(data: st.DataObject) -> None:
    doc = plant()
    for _ in range(data.draw(st.integers(1, 10))):
        op = data.draw(ops_on(doc, fresh_ids))
        before = doc.hash()
        inverse = try_apply(doc, op)
        if inverse is None:
            continue
        after = doc.hash()
        redo = apply(doc, inverse)[0]
        assert doc.hash() == before
        apply(doc, redo)  # the inverse of the inverse re-does the op
        assert doc.hash() == after


# -- wire form ------------------------------------------------------------------------
WIRE_SAMPLES: list[Op] = [
    SetField("robot", "name", "R2"),
    SetField("robot", "transform", (1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)),
    SetField("robot", "color", (0.1, 0.2, 0.3)),
    SetField("robot", "mesh", None),
    SetField("robot", "prop:bbox", (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)),
    SetField("robot", "prop:mass", None),
    AddNode(node("n1", "st1", "W", "sensor", name="T", mesh=MESH_A, color=(1.0, 0.0, 0.0),
                 props={"bbox": (0.0, 0.0, 0.0, 1.0, 1.0, 1.0), "rate": 10, "ok": True})),
    RemoveNode("conveyor"),
    Reparent("robot", "st2", "A"),
    Batch(()),
    Batch((SetField("robot", "name", "x"), Batch((RemoveNode("note"),)))),
]


@pytest.mark.parametrize("op", WIRE_SAMPLES, ids=lambda o: type(o).__name__)
def test_wire_round_trip(op: Op) -> None:
    wire = op_to_wire(op)
    # Through real msgpack bytes, as on the network.
    received = msgpack.unpackb(msgpack.packb(wire, use_bin_type=True), raw=False)
    parsed = op_from_wire(received)
    assert type(parsed) is type(op)
    assert op_to_wire(parsed) == wire
    # Applying the received op gives the same document as applying the original.
    a, b = plant(), plant()
    apply(a, op)
    apply(b, parsed)
    assert a.hash() == b.hash()


def test_wire_batch_limits() -> None:
    nested: Any = ["remove", "robot"]
    for _ in range(5):
        nested = ["batch", [nested]]
    with pytest.raises(InvalidOp) as info:
        op_from_wire(nested)
    assert info.value.code == "malformed"
    op_from_wire(nested[1][0])  # four levels deep is fine
    with pytest.raises(InvalidOp) as info:
        op_from_wire(["batch", [["remove", "x"]] * (MAX_BATCH + 1)])
    assert info.value.code == "too_large"


@pytest.mark.parametrize(
    "wire",
    [None, [], [5], ["set"], ["set", "a", "name"], ["set", 1, "name", "x"], ["set", "a", 2, "x"],
     ["add"], ["add", []], ["add", ["n"] * 10], ["add", [1] + [None] * 10],
     ["add", ["n", None, "V", "part", "", [], None, None, 1.0, True, []]],
     ["add", ["n", "root", 5, "part", "", [], None, None, 1.0, True, {}]],
     ["remove", 5], ["remove", "a", "b"], ["move", "a", "b"], ["move", "a", "b", 5],
     ["batch", "x"], ["batch", {}], ["frobnicate", "a"], {"op": "set"}, "set", b"set"],
)
def test_malformed_wire_ops(wire: Any) -> None:
    with pytest.raises(InvalidOp) as info:
        op_from_wire(wire)
    assert info.value.code == "malformed"


tags = st.sampled_from(["set", "add", "remove", "move", "batch"])
op_shaped = st.recursive(
    st.builds(lambda t, rest: [t, *rest], tags, st.lists(msgpack_values, max_size=4)),
    lambda inner: st.builds(lambda ops: ["batch", ops], st.lists(inner, max_size=4)),
    max_leaves=10,
)


@settings(max_examples=120, deadline=None)
@given(msgpack_values | op_shaped)
def test_garbage_wire_ops_raise_only_invalid_op(wire: Any) -> None:
    # The server's path: parse untrusted data, then apply it. Only InvalidOp may escape,
    # and a refused op leaves the document as it was.
    doc = plant()
    before = doc.hash()
    try:
        op = op_from_wire(wire)
    except InvalidOp:
        return
    try:
        apply(doc, op)
    except InvalidOp:
        assert doc.hash() == before
    assert_tree_ok(doc)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(msgpack_scalars | st.lists(msgpack_scalars, max_size=11), min_size=11, max_size=11),
    st.sampled_from(["robot", "n9"]),
)
def test_garbage_node_records_raise_only_invalid_op(fields: list[Any], nid: str) -> None:
    fields[0], fields[1], fields[2], fields[3] = nid, "st1", "W", "part"
    doc = plant()
    before = doc.hash()
    try:
        apply(doc, op_from_wire(["add", fields]))
    except InvalidOp:
        assert doc.hash() == before
