"""Edit commands build the right ops and labels (pure: no widgets)."""

from __future__ import annotations

import pytest

from twin_app.core import xform as tf
from twin_app.core.ops import Batch, RemoveNode, apply
from twin_app.session import commands


def test_delete_skips_nested(plant):
    doc, _ = plant
    op, label = commands.delete(doc, ["line", "r1", "cab"])
    assert op == Batch((RemoveNode("line"), RemoveNode("cab")))
    assert label == "Delete 2 parts"


def test_duplicate_places_copy_after_original(plant):
    doc, _ = plant
    op, label, new = commands.duplicate(doc, ["r1"])
    apply(doc, op)
    assert label == "Duplicate Robot 1"
    assert doc.children("line")[:2] == ["r1", new[0]]
    copy = doc.nodes[new[0]]
    assert copy.name == "Robot 2" or copy.name.startswith("Robot ")
    assert copy.mesh == doc.nodes["r1"].mesh and copy.transform[0] > 0


def test_group_and_reparent_keep_world_position(plant):
    doc, _ = plant
    op, label, gid = commands.group(doc, ["r2", "cab"])
    apply(doc, op)
    assert label == "Group 2 parts"
    assert doc.nodes["r2"].parent == gid and doc.nodes["cab"].parent == gid
    assert tf.world_matrix(doc, "r2")[0, 3] == pytest.approx(3.0)
    # Move the conveyor (under the scaled-free line group) under a translated group.
    apply(doc, commands.set_transforms(doc, {gid: (5, 0, 0, 0, 0, 0, 1, 1, 1, 1)})[0])
    before = tf.world_matrix(doc, "conv")
    op, label = commands.reparent(doc, ["conv"], gid)
    apply(doc, op)
    assert label == f"Move Conveyor to {doc.nodes[gid].name}"
    assert tf.world_matrix(doc, "conv") == pytest.approx(before)


def test_rotation_component_edit_keeps_others(plant):
    doc, _ = plant
    op, label = commands.edit_transform_component(doc, ["r1"], "rotation", 0, 30.0)
    apply(doc, op)
    op, _ = commands.edit_transform_component(doc, ["r1"], "rotation", 2, 45.0)
    apply(doc, op)
    assert tf.quat_to_euler(doc.nodes["r1"].transform[3:7]) == pytest.approx((30, 0, 45))
    assert label == "Rotate Robot 1"
