"""Roles: who may apply which op (the server enforces it; clients grey out the same)."""

from __future__ import annotations

import pytest

from tests.core.core_kit import plant
from twin_app.core.document import Document, Node
from twin_app.core.ops import AddNode, Batch, Op, RemoveNode, Reparent, SetField, apply
from twin_app.core.permissions import ANNOTATION_KINDS, ROLES, SERVER_KINDS, refusal


def _doc() -> Document:
    doc = plant()  # has a comment "note" at the top level
    apply(doc, AddNode(Node("mk", "robot", "V", "markup", name="Arrow")))
    apply(doc, AddNode(Node("step1", "st1", "X", "step", name="Step 1")))
    return doc


PLANT_OPS: list[Op] = [
    AddNode(Node("p", "st1", "X", "part")),
    AddNode(Node("g", "root", "X", "group")),
    AddNode(Node("s", "st1", "X", "sensor")),
    SetField("robot", "transform", (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)),
    SetField("robot", "prop:mass", 1.0),
    SetField("line", "name", "x"),
    RemoveNode("conveyor"),
    Reparent("robot", "st2", "A"),
    Batch((SetField("note", "name", "ok"), SetField("robot", "name", "not ok"))),
    Batch((Batch((SetField("robot", "visible", False),)),)),
]
ANNOTATION_OPS: list[Op] = [
    *(AddNode(Node(f"a-{k}", "robot", "X", k)) for k in sorted(ANNOTATION_KINDS - SERVER_KINDS)),
    SetField("note", "name", "Checked"),
    SetField("mk", "color", (1.0, 0.0, 0.0)),
    SetField("step1", "prop:done", True),
    RemoveNode("note"),
    RemoveNode("mk"),
    Reparent("mk", "conveyor", "V"),  # pin the arrow to another part
    Reparent("note", "line", "V"),
    Batch((AddNode(Node("c2", "note", "X", "comment")), SetField("c2", "name", "reply"))),
    Batch(()),
]


@pytest.mark.parametrize("role", ["owner", "designer"])
@pytest.mark.parametrize("op", PLANT_OPS + ANNOTATION_OPS, ids=repr)
def test_owners_and_designers_may_do_everything(role: str, op: Op) -> None:
    assert refusal(role, op, _doc()) is None


@pytest.mark.parametrize("role", ["instructor", "operator"])
@pytest.mark.parametrize("op", ANNOTATION_OPS, ids=repr)
def test_instructors_and_operators_may_mark_up(role: str, op: Op) -> None:
    doc = _doc()
    assert refusal(role, op, doc) is None
    apply(doc, op)  # and these are real, valid edits


@pytest.mark.parametrize("role", ["instructor", "operator"])
@pytest.mark.parametrize("op", PLANT_OPS, ids=repr)
def test_instructors_and_operators_may_not_change_the_plant(role: str, op: Op) -> None:
    why = refusal(role, op, _doc())
    assert why is not None and "comments" in why


@pytest.mark.parametrize("role", ["instructor", "operator"])
def test_removing_or_moving_a_comment_may_not_carry_plant_parts(role: str) -> None:
    doc = _doc()
    # A designer parked a part under the comment.
    apply(doc, Reparent("conveyor", "note", "V"))
    assert refusal(role, RemoveNode("note"), doc) is not None
    assert refusal(role, Reparent("note", "st1", "V"), doc) is not None
    assert refusal(role, SetField("note", "name", "still fine"), doc) is None


@pytest.mark.parametrize("role", ["viewer", "guest", "", "Owner"])
@pytest.mark.parametrize("op", [ANNOTATION_OPS[0], PLANT_OPS[0], Batch(())], ids=repr)
def test_viewers_and_unknown_roles_may_not_edit(role: str, op: Op) -> None:
    why = refusal(role, op, _doc())
    assert why is not None and "cannot edit" in why


def test_documented_roles() -> None:
    assert set(ROLES) == {"owner", "designer", "instructor", "operator", "viewer", "source"}
    assert {"annotation", "comment", "markup", "step", "alarm"} == set(ANNOTATION_KINDS)


@pytest.mark.parametrize("role", ["owner", "designer", "instructor", "operator"])
def test_alarms_are_the_servers_people_only_acknowledge_them(role: str) -> None:
    doc = _doc()
    apply(doc, AddNode(Node("al", "root", "Z", "alarm", props={"sensor": "s", "level": 2})))
    for k in ("ack_by", "ack_t", "ack_comment"):
        assert refusal(role, SetField("al", f"prop:{k}", "x"), doc) is None
    for op in (AddNode(Node("al2", "root", "Y", "alarm")), RemoveNode("al"), Reparent("al", "robot", "V"),
               SetField("al", "prop:level", 0), SetField("al", "name", "fine"),
               Batch((SetField("al", "prop:ack_by", "x"), SetField("al", "prop:state", "cleared")))):
        why = refusal(role, op, doc)
        assert why is not None and "server" in why, op


def test_sources_push_samples_but_never_edit() -> None:
    assert "cannot edit" in (refusal("source", SetField("note", "name", "x"), _doc()) or "")


def test_missing_nodes_are_left_to_validation() -> None:
    assert refusal("operator", SetField("ghost", "name", "x"), _doc()) is None
