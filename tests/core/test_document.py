"""Document hash and snapshots: order-independent identity, exact round trips, typed errors."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.core_kit import (
    add,
    assert_tree_ok,
    msgpack_scalars,
    msgpack_values,
    node,
    ops_on,
    plant,
    try_apply,
)
from twin_app.core import snapshot
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, RemoveNode, Reparent, SetField, apply
from twin_app.core.snapshot import SnapshotError

field_garbage = msgpack_scalars | st.lists(msgpack_scalars, max_size=10) | st.dictionaries(
    st.text(max_size=4), msgpack_scalars, max_size=3
)
fresh_ids = st.text(alphabet="klmnopqrst", min_size=3, max_size=6).map(lambda s: "x" + s)


def _records(doc: Document) -> list[Node]:
    return [n.copy() for n in doc.walk()]


def _build(records: list[Node], order: list[int]) -> Document:
    """Insert the non-root records in the given order (parents before children)."""
    doc = Document()
    pending = [records[i] for i in order if records[i].id != ROOT_ID]
    while pending:
        rest = []
        for n in pending:
            if n.parent in doc:
                apply(doc, AddNode(n.copy()))
            else:
                rest.append(n)
        assert len(rest) < len(pending)
        pending = rest
    return doc


def test_hash_is_32_hex_and_stable() -> None:
    doc = plant()
    h = doc.hash()
    assert len(h) == 32 and int(h, 16) >= 0
    assert doc.hash() == h == plant().hash()


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_hash_independent_of_insertion_order(rng: random.Random) -> None:
    records = _records(plant())
    order = list(range(len(records)))
    rng.shuffle(order)
    assert _build(records, order).hash() == plant().hash()


def test_hash_independent_of_property_history() -> None:
    # The same properties reached by different edit histories: one hash.
    a, b = plant(), plant()
    for k, v in [("a", 1), ("b", 2), ("c", 3)]:
        apply(a, SetField("conveyor", f"prop:{k}", v))
    for k, v in [("c", 3), ("a", 0), ("b", 2), ("a", 1)]:
        apply(b, SetField("conveyor", f"prop:{k}", v))
    apply(b, SetField("conveyor", "prop:a", None))
    apply(b, SetField("conveyor", "prop:a", 1))
    assert a.get("conveyor") == b.get("conveyor")
    assert a.hash() == b.hash()


def test_hash_follows_state_not_history() -> None:
    doc = plant()
    h = doc.hash()
    apply(doc, SetField("robot", "name", "Other"))
    assert doc.hash() != h
    apply(doc, SetField("robot", "name", "Robot"))
    assert doc.hash() == h
    apply(doc, Reparent("robot", "st2", "A"))
    assert doc.hash() != h
    apply(doc, Reparent("robot", "st1", "V"))
    assert doc.hash() == h
    inverse, _ = apply(doc, RemoveNode("line"))
    assert doc.hash() != h
    apply(doc, inverse)
    assert doc.hash() == h


@pytest.mark.parametrize(
    "op",
    [
        SetField("robot", "name", "Robot "),
        SetField("robot", "opacity", 0.999),
        SetField("robot", "visible", False),
        SetField("robot", "mesh", None),
        SetField("robot", "color", (0.75, 0.75, 0.78)),  # the default colour, but explicit
        SetField("robot", "prop:mass", 250),  # int, not float
        SetField("robot", "prop:extra", ""),
        SetField("robot", "transform", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.001)),
        SetField(ROOT_ID, "name", "Plant"),
        Reparent("robot", "st1", "W"),  # same parent, other position
        Reparent("robot", "st2", "V"),  # same key, other parent
        AddNode(Node("extra", ROOT_ID, "A")),
        RemoveNode("note"),
    ],
    ids=repr,
)
def test_any_difference_changes_the_hash(op: Any) -> None:
    doc = plant()
    h = doc.hash()
    apply(doc, op)
    assert doc.hash() != h


def test_hash_is_incremental_and_matches_a_fresh_computation() -> None:
    doc = plant()
    doc.hash()
    apply(doc, SetField("robot", "name", "A"))
    apply(doc, Reparent("conveyor", "st1", "A"))
    apply(doc, RemoveNode("note"))
    assert doc.hash() == snapshot.decode(snapshot.encode(doc)).hash()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(min_value=1, max_value=5))
def test_snapshot_round_trip_preserves_hash_and_nodes(data: st.DataObject, chunk: int) -> None:
    doc = plant()
    for _ in range(data.draw(st.integers(0, 15))):
        try_apply(doc, data.draw(ops_on(doc, fresh_ids)))
    chunks = snapshot.encode(doc, chunk_nodes=chunk)
    assert all(isinstance(c, bytes) for c in chunks)
    assert len(chunks) == -(-len(doc) // chunk)
    copy = snapshot.decode(chunks)
    assert copy.hash() == doc.hash()
    assert copy.nodes == doc.nodes
    for nid in doc.nodes:
        assert copy.children(nid) == doc.children(nid)
    assert_tree_ok(copy)
    # The copy is independent of the original.
    apply(copy, SetField(ROOT_ID, "name", "copy"))
    assert copy.hash() != doc.hash()


def test_copy_document_is_equal_and_independent() -> None:
    doc = plant()
    copy = snapshot.copy_document(doc)
    assert copy.hash() == doc.hash()
    apply(copy, RemoveNode("line"))
    assert "line" in doc


def test_snapshot_of_large_document_is_chunked() -> None:
    doc = Document()
    for i in range(5000):
        apply(doc, AddNode(node(f"n{i}", order="V")))
    chunks = snapshot.encode(doc)
    assert len(chunks) == 3  # 5,001 nodes in chunks of 2,000
    assert snapshot.decode(chunks).hash() == doc.hash()


# -- corrupt snapshots ----------------------------------------------------------------
def _raises_snapshot_error(chunks: Any) -> None:
    with pytest.raises(SnapshotError):
        snapshot.decode(chunks)


def _pack(records: Any) -> bytes:
    return msgpack.packb(records, use_bin_type=True)


def test_truncated_and_corrupt_chunks() -> None:
    chunks = snapshot.encode(plant())
    data = chunks[0]
    for cut in [1, 2, len(data) // 2, len(data) - 1]:
        _raises_snapshot_error([data[:cut]])
    _raises_snapshot_error([data + b"\x00"])  # trailing garbage
    _raises_snapshot_error([b""])
    _raises_snapshot_error([b"\xc1"])  # never-used msgpack byte


def test_empty_snapshot_is_an_error() -> None:
    _raises_snapshot_error([])
    _raises_snapshot_error([_pack([])])


ROOT = Node(ROOT_ID, None, "V", kind="root", name="Scene").to_wire()
CHILD = Node("a", ROOT_ID, "V").to_wire()


@pytest.mark.parametrize(
    "records",
    [
        {"not": "a list"},
        5,
        [5],
        [ROOT[:10]],
        [[*ROOT, None]],
        [CHILD],  # does not start with the root
        [[ROOT_ID, "ghost", *ROOT[2:]]],  # the root has a parent
        [[ROOT_ID, ROOT_ID, *ROOT[2:]]],  # the root is its own parent
        [ROOT, ["a", "ghost", *CHILD[2:]]],  # parent missing
        [ROOT, CHILD, CHILD],  # duplicate
        [ROOT, [ROOT_ID, None, *ROOT[2:]]],  # second root
        [ROOT, ["b", "b", *CHILD[2:]]],  # own parent
        [ROOT, [*CHILD[:10], []]],  # props not a map
        [ROOT, [*CHILD[:10], {1: 2}]],  # props with a non-text key
        [ROOT, [*CHILD[:5], 7, *CHILD[6:]]],  # transform not a sequence
        [ROOT, [*CHILD[:7], 7, *CHILD[8:]]],  # colour not a sequence
        [ROOT, [["x"], *CHILD[1:]]],  # unhashable id
        [ROOT, ["a", ROOT_ID, 1, *CHILD[3:]], ["b", ROOT_ID, "V", *CHILD[3:]]],  # orders of mixed types
    ],
)
def test_structurally_broken_snapshots(records: Any) -> None:
    _raises_snapshot_error([_pack(records)])


def test_non_bytes_chunks() -> None:
    _raises_snapshot_error([5])
    _raises_snapshot_error(["text"])
    _raises_snapshot_error([None])


@settings(max_examples=100, deadline=None)
@given(st.lists(msgpack_values, max_size=4))
def test_garbage_records_raise_only_snapshot_error(records: list[Any]) -> None:
    try:
        doc = snapshot.decode([_pack([ROOT, *records])])
    except SnapshotError:
        return
    assert_tree_ok(doc)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=3))
def test_garbage_bytes_raise_only_snapshot_error(chunks: list[bytes]) -> None:
    try:
        doc = snapshot.decode(chunks)
    except SnapshotError:
        return
    assert_tree_ok(doc)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_bit_flips_raise_only_snapshot_error(data: st.DataObject) -> None:
    chunks = snapshot.encode(plant(), chunk_nodes=3)
    i = data.draw(st.integers(0, len(chunks) - 1))
    blob = bytearray(chunks[i])
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    chunks[i] = bytes(blob)
    try:
        doc = snapshot.decode(chunks)
    except SnapshotError:
        return
    assert_tree_ok(doc)
    doc.hash()


def test_add_helper_appends() -> None:
    doc = Document()
    add(doc, "a")
    add(doc, "b")
    assert doc.children(ROOT_ID) == ["a", "b"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(field_garbage, min_size=9, max_size=9), min_size=1, max_size=3))
def test_garbage_field_values_raise_only_snapshot_error(fields: list[list[Any]]) -> None:
    # Well-formed tree, garbage values: decode trusts values, but must never raise anything
    # else, and what it returns must still be a walkable, hashable tree.
    records = [ROOT] + [[f"n{i}", ROOT_ID, *f] for i, f in enumerate(fields)]
    try:
        doc = snapshot.decode([_pack(records)])
    except SnapshotError:
        return
    assert len(list(doc.walk())) == len(doc.nodes) == len(records)
    doc.hash()
