"""Per-user undo and redo on the client store: forward ops, conflicts, labels."""

from __future__ import annotations

import pytest

from tests.core.core_kit import assert_tree_ok, plant
from tests.core.sim_kit import Replica, Simulation, local, pair, wire_round_trip
from twin_app.core.document import Node
from twin_app.core.errors import UndoConflict
from twin_app.core.ops import AddNode, Batch, RemoveNode, Reparent, SetField
from twin_app.core.store import ClientStore
from twin_app.core.undo import MAX_DEPTH


def _undo(r: Replica, redo: bool = False) -> None:
    """Undo (or redo) on ``r`` and queue the resulting forward op for the server."""
    p = r.store.redo() if redo else r.store.undo()
    assert p is not None
    r.outbox.append((p.cseq, wire_round_trip(p.op)))


def _store() -> ClientStore:
    return ClientStore("me", plant())


@pytest.mark.parametrize(
    "op",
    [
        SetField("robot", "name", "Arm"),
        SetField("robot", "prop:mass", None),
        SetField("robot", "prop:new", (1.0, 2.0)),
        SetField("conveyor", "color", None),
        AddNode(Node("new", "st1", "W", "sensor", name="T1")),
        RemoveNode("line"),
        Reparent("robot", "st2", "A"),
        Batch((
            AddNode(Node("g", "line", "Z", "group")),
            Reparent("st1", "g", "V"),
            SetField("robot", "visible", False),
            RemoveNode("note"),
        )),
    ],
    ids=lambda o: type(o).__name__,
)
def test_undo_restores_and_redo_reapplies(op: object) -> None:
    store = _store()
    before = store.doc.hash()
    store.local(op, "Edit")  # type: ignore[arg-type]
    after = store.doc.hash()
    assert after != before
    undone = store.undo()
    assert undone is not None
    assert store.doc.hash() == before
    assert_tree_ok(store.doc)
    redone = store.redo()
    assert redone is not None
    assert store.doc.hash() == after
    assert store.undo() is not None  # and undo again
    assert store.doc.hash() == before
    # Each step is a new op queued for the server, with its own client sequence number.
    assert [p.cseq for p in store.pending] == [1, 2, 3, 4]


def test_undo_and_redo_walk_the_history() -> None:
    store = _store()
    hashes = [store.doc.hash()]
    for i, name in enumerate(["A", "B", "C"]):
        store.local(SetField("robot", "name", name), f"Rename {i}")
        hashes.append(store.doc.hash())
    for i in (3, 2, 1):
        assert store.history.undo_label() == f"Rename {i - 1}"
        store.undo()
        assert store.doc.hash() == hashes[i - 1]
    assert store.undo() is None and store.history.undo_label() is None
    for i in (1, 2, 3):
        assert store.history.redo_label() == f"Rename {i - 1}"
        store.redo()
        assert store.doc.hash() == hashes[i]
    assert store.redo() is None and store.history.redo_label() is None


def test_new_edit_clears_redo() -> None:
    store = _store()
    store.local(SetField("robot", "name", "A"), "Rename")
    store.undo()
    assert store.history.redo_label() == "Rename"
    store.local(SetField("robot", "opacity", 0.5), "Fade")
    assert store.history.redo_label() is None
    assert store.redo() is None
    assert store.history.undo_label() == "Fade"


def test_not_undoable_edits_are_not_recorded() -> None:
    store = _store()
    store.local(SetField("robot", "name", "A"), "Rename")
    store.local(SetField("robot", "prop:mass", 1.0), "Sensor sync", undoable=False)
    assert store.history.undo_label() == "Rename"


def test_history_is_bounded() -> None:
    store = _store()
    for i in range(MAX_DEPTH + 20):
        store.local(SetField("robot", "name", str(i)), f"Rename {i}")
    assert len(store.history.undo_entries) == MAX_DEPTH
    for _ in range(MAX_DEPTH):
        store.undo()
    assert store.doc.nodes["robot"].name == "19"
    assert store.undo() is None


# -- conflicts with other users -------------------------------------------------------
def test_undo_refused_when_someone_changed_the_property_since() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "color", (1.0, 0.0, 0.0)), "Paint robot")
    local(a, SetField("conveyor", "name", "Belt"), "Rename conveyor")
    sim.quiesce()
    local(b, SetField("conveyor", "name", "Their belt"))
    sim.quiesce()
    before = a.store.doc.hash()
    with pytest.raises(UndoConflict) as info:
        a.store.undo()
    message = str(info.value)
    assert "Rename conveyor" in message and "name" in message and "Their belt" in message
    assert a.store.doc.hash() == before and a.store.pending == []
    # The refused entry is dropped; the edit before it can still be undone.
    assert a.store.history.undo_label() == "Paint robot"
    _undo(a)
    sim.quiesce()
    assert b.store.doc.nodes["robot"].color == (0.2, 0.3, 0.4) or b.store.doc.nodes["robot"].color is None
    assert b.store.doc.nodes["robot"].color == plant().nodes["robot"].color


def test_undo_conflict_names_a_user_property() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "prop:mass", 300.0), "Set mass")
    sim.quiesce()
    local(b, SetField("robot", "prop:mass", 310.0))
    sim.quiesce()
    with pytest.raises(UndoConflict, match="mass"):
        a.store.undo()


def test_undo_refused_when_someone_deleted_the_node() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "name", "Arm"), "Rename")
    sim.quiesce()
    local(b, RemoveNode("st1"))
    sim.quiesce()
    with pytest.raises(UndoConflict, match="deleted"):
        a.store.undo()
    assert "robot" not in a.store.doc


def test_undo_of_add_refused_when_someone_added_children_under_it() -> None:
    sim, a, b = pair()
    local(a, AddNode(Node("cell", "line", "Z", "group", name="Cell 3")), "Add cell")
    sim.quiesce()
    local(b, AddNode(Node("arm2", "cell", "V", "part", name="Arm 2")))
    sim.quiesce()
    with pytest.raises(UndoConflict) as info:
        a.store.undo()
    assert "Cell 3" in str(info.value)
    assert "arm2" in a.store.doc  # their part survives


def test_undo_of_add_with_own_children_in_the_same_edit() -> None:
    store = _store()
    store.local(Batch((AddNode(Node("cell", "line", "Z", "group")),
                       AddNode(Node("arm", "cell", "V")))), "Add cell")
    store.undo()
    assert "cell" not in store.doc and "arm" not in store.doc


def test_undo_of_group_command() -> None:
    # "Group": add a group and move the selection (with its children) into it.
    sim, a, b = pair()
    local(a, Batch((AddNode(Node("g", "line", "Z", "group", name="Group")),
                    Reparent("st1", "g", "V"), Reparent("st2", "g", "W"))), "Group")
    sim.quiesce()
    before_b = plant().hash()
    # Someone adds a part inside one of the grouped stations: it moves back out with it.
    local(b, AddNode(Node("arm2", "st1", "X", name="Arm 2")))
    sim.quiesce()
    _undo(a)
    sim.quiesce()
    for r in (a, b):
        assert "g" not in r.store.doc
        assert r.store.doc.nodes["st1"].parent == "line"
        assert r.store.doc.nodes["arm2"].parent == "st1"
    local(b, RemoveNode("arm2"))
    sim.quiesce()
    assert a.store.doc.hash() == before_b


def test_undo_of_group_refused_when_someone_put_a_part_directly_in_it() -> None:
    sim, a, b = pair()
    local(a, Batch((AddNode(Node("g", "line", "Z", "group", name="Group")),
                    Reparent("st1", "g", "V"))), "Group")
    sim.quiesce()
    local(b, AddNode(Node("arm2", "g", "X", name="Arm 2")))
    sim.quiesce()
    with pytest.raises(UndoConflict, match="under Group"):
        a.store.undo()


def test_undo_of_remove_refused_when_the_parent_is_gone() -> None:
    sim, a, b = pair()
    local(a, RemoveNode("robot"), "Delete robot")
    sim.quiesce()
    local(b, RemoveNode("st1"))
    sim.quiesce()
    with pytest.raises(UndoConflict, match="Delete robot"):
        a.store.undo()


def test_undo_of_move_refused_when_someone_moved_it_again() -> None:
    sim, a, b = pair()
    local(a, Reparent("robot", "st2", "A"), "Move robot")
    sim.quiesce()
    local(b, Reparent("robot", "line", "A"))
    sim.quiesce()
    with pytest.raises(UndoConflict):
        a.store.undo()
    assert a.store.doc.nodes["robot"].parent == "line"


def test_undo_of_other_fields_is_allowed_and_converges() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "name", "Arm"), "Rename")
    sim.quiesce()
    local(b, SetField("robot", "opacity", 0.5))  # a different property
    sim.quiesce()
    _undo(a)
    sim.quiesce()
    for r in (a, b):
        assert r.store.doc.nodes["robot"].name == "Robot"
        assert r.store.doc.nodes["robot"].opacity == 0.5


def test_redo_refused_when_someone_changed_it_after_the_undo() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "name", "Arm"), "Rename")
    _undo(a)
    sim.quiesce()
    local(b, SetField("robot", "name", "Theirs"))
    sim.quiesce()
    with pytest.raises(UndoConflict, match="redo"):
        a.store.redo()
    assert a.store.doc.nodes["robot"].name == "Theirs"


def test_nacked_edit_leaves_the_history() -> None:
    sim, a, b = pair()
    local(a, SetField("robot", "name", "Arm"), "Rename")
    local(b, RemoveNode("st2"))
    sim.send(b)
    local(a, SetField("conveyor", "name", "Belt"), "Rename conveyor")
    sim.quiesce()  # the conveyor rename is refused
    assert a.store.history.undo_label() == "Rename"


def test_undo_restores_the_value_beneath_in_server_order() -> None:
    # b's write is sequenced *before* a's; a never sees it (no flicker). When a undoes its
    # own edit, the value beneath it in the shared history is b's, not the one a started
    # from.
    sim, a, b = pair()
    local(b, SetField("robot", "name", "B's name"))
    sim.send(b)
    local(a, SetField("robot", "name", "A's name"), "Rename")
    sim.quiesce()
    assert b.store.doc.nodes["robot"].name == "A's name"
    _undo(a)
    sim.quiesce()
    assert sim.server.doc.nodes["robot"].name == "B's name"


def test_undo_through_the_server_converges() -> None:
    sim = Simulation(3)
    a = sim.replicas[0]
    local(a, RemoveNode("line"), "Delete line")
    local(a, AddNode(Node("x", "note", "V", "comment")), "Comment")
    sim.quiesce()
    _undo(a)
    _undo(a)
    sim.quiesce()
    assert all(r.store.doc.hash() == plant().hash() for r in sim.replicas)
    _undo(a, redo=True)
    sim.quiesce()
    assert all("line" not in r.store.doc for r in sim.replicas)
