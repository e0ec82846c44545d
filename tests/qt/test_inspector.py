"""Inspector edits dispatch SetField ops; multiple selection shows and edits common values."""

from __future__ import annotations

import math

import pytest

from twin_app.core import xform as tf
from twin_app.core.ops import Batch, SetField
from twin_app.qt.inspector import MIXED, InspectorPanel, parse_value
from twin_app.session.local import LocalClient

pytestmark = pytest.mark.qt


@pytest.fixture
def insp(qtbot, plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    panel = InspectorPanel(lambda: client.store.doc, client.submit)
    client.store.subscribe(panel.on_changes)
    qtbot.addWidget(panel)
    return client, panel


def test_shows_single_node(insp):
    _, panel = insp
    panel.set_ids(["r2"])
    assert panel.title.text() == "Robot 2"
    assert "RB-100" in panel.subtitle.text()
    assert panel.spins["position"][0].value() == pytest.approx(3.0)
    keys = [panel.props.item(r, 0).text() for r in range(panel.props.rowCount())]
    assert "mass" in keys


def test_position_edit_dispatches_setfield(insp):
    client, panel = insp
    panel.set_ids(["r1"])
    panel.set_transform_component("position", 2, 1.5)
    op, label = client.submitted[-1]
    assert op == SetField("r1", "transform", (0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0))
    assert label == "Move Robot 1"
    assert client.store.doc.nodes["r1"].transform[2] == 1.5
    assert client.store.history.undo_label() == "Move Robot 1"


def test_rotation_in_euler_degrees(insp):
    client, panel = insp
    panel.set_ids(["r1"])
    panel.set_transform_component("rotation", 2, 90.0)
    q = client.store.doc.nodes["r1"].transform[3:7]
    assert q[2] == pytest.approx(math.sqrt(0.5)) and q[3] == pytest.approx(math.sqrt(0.5))
    assert client.submitted[-1][1] == "Rotate Robot 1"
    assert panel.spins["rotation"][2].value() == pytest.approx(90.0)


def test_multi_selection_common_and_mixed_values(insp):
    client, panel = insp
    panel.set_ids(["r1", "r2"])
    assert panel.title.text() == "2 selected"
    assert panel.spins["position"][0].text() == MIXED  # x differs: 0 and 3
    assert panel.spins["position"][1].value() == pytest.approx(0.0)  # y agrees
    panel.set_transform_component("position", 1, 5.0)
    op, label = client.submitted[-1]
    assert isinstance(op, Batch) and len(op.ops) == 2
    assert label == "Move 2 parts"
    doc = client.store.doc
    assert doc.nodes["r1"].transform[:3] == (0.0, 5.0, 0.0)
    assert doc.nodes["r2"].transform[:3] == (3.0, 5.0, 0.0)  # x kept per node
    mass = next(r for r in range(panel.props.rowCount()) if panel.props.item(r, 0).text() == "mass")
    assert panel.props.item(mass, 1).text() == MIXED




def test_remote_edit_refreshes_without_echo(insp):
    client, panel = insp
    panel.set_ids(["r1"])
    n = len(client.submitted)
    client.remote(SetField("r1", "transform", (7, 0, 0, 0, 0, 0, 1, 1, 1, 1)))
    assert panel.spins["position"][0].value() == pytest.approx(7.0)
    assert len(client.submitted) == n


def test_parse_value_keeps_types():
    assert parse_value("12", 3) == 12
    assert parse_value("12.5", 3) == 12.5
    assert parse_value("12", "x") == "12"
    assert parse_value("1, 2, 3") == (1.0, 2.0, 3.0)
    assert parse_value("yes", False) is True
    assert parse_value("ACME") == "ACME"
    with pytest.raises(ValueError):
        parse_value("heavy", 1.0)


def test_euler_roundtrip():
    for angles in [(10, 20, 30), (-45, 80, 170), (0, 0, -90)]:
        q = tf.euler_to_quat(*angles)
        assert tf.quat_to_euler(q) == pytest.approx(angles, abs=1e-6)
