"""The scene tree dispatches the right ops and follows edits incrementally."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester

from twin_app.core.document import Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, RemoveNode, Reparent, SetField
from twin_app.qt.scenetree import OutlinePanel, SceneModel
from twin_app.session.local import LocalClient

pytestmark = pytest.mark.qt


@pytest.fixture
def setup(qtbot, plant):
    doc, blobs = plant
    client = LocalClient(doc, blobs)
    model = SceneModel(lambda: client.store.doc, client.submit)
    client.store.subscribe(model.apply_changes)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    panel = OutlinePanel(model)
    qtbot.addWidget(panel)
    return client, model, panel, tester


def names_under(model: SceneModel, parent: QModelIndex | None = None) -> list[str]:
    parent = parent if parent is not None else QModelIndex()
    return [model.index(r, 0, parent).data() for r in range(model.rowCount(parent))]


def test_tree_mirrors_document(setup):
    _client, model, _, _ = setup
    assert names_under(model) == ["Line A", "Cabinet"]
    assert names_under(model, model.index_of("line")) == ["Robot 1", "Robot 2", "Conveyor"]


def test_rename_in_place_dispatches_setfield(setup):
    client, model, _, _ = setup
    idx = model.index_of("r1")
    assert model.setData(idx, "Welder 1", Qt.ItemDataRole.EditRole)
    assert client.submitted[-1] == (SetField("r1", "name", "Welder 1"), "Rename Robot 1")
    assert client.store.doc.nodes["r1"].name == "Welder 1"
    assert model.index_of("r1").data() == "Welder 1"
    assert client.store.history.undo_label() == "Rename Robot 1"



def test_drop_reparents_with_fractional_order(setup):
    client, model, _, _ = setup
    md = model.mimeData([model.index_of("cab")])
    # Drop the cabinet into the line between Robot 1 and Robot 2 (view row 1).
    model.dropMimeData(md, Qt.DropAction.MoveAction, 1, 0, model.index_of("line"))
    doc = client.store.doc
    assert doc.nodes["cab"].parent == "line"
    assert doc.children("line") == ["r1", "cab", "r2", "conv"]
    assert doc.nodes["r1"].order < doc.nodes["cab"].order < doc.nodes["r2"].order
    op = client.submitted[-1][0]
    assert isinstance(op, Reparent) or (isinstance(op, Batch) and isinstance(op.ops[0], Reparent))
    assert names_under(model, model.index_of("line")) == ["Robot 1", "Cabinet", "Robot 2", "Conveyor"]
    assert names_under(model) == ["Line A"]


def test_drop_refuses_cycles(setup):
    client, model, _, _ = setup
    md = model.mimeData([model.index_of("line")])
    assert not model.canDropMimeData(md, Qt.DropAction.MoveAction, -1, 0, model.index_of("r1"))
    n = len(client.submitted)
    model.dropMimeData(md, Qt.DropAction.MoveAction, -1, 0, model.index_of("r1"))
    assert len(client.submitted) == n


def test_remote_edits_update_rows_without_reset(setup):
    client, model, _, _ = setup
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda p, a, b: inserted.append((a, b)))
    model.rowsRemoved.connect(lambda p, a, b: removed.append((a, b)))
    client.remote(AddNode(Node("r3", "line", "Wk", kind="part", name="Robot 3")))
    assert names_under(model, model.index_of("line")) == ["Robot 1", "Robot 2", "Robot 3", "Conveyor"]
    client.remote(RemoveNode("line"))
    assert names_under(model) == ["Cabinet"]
    client.remote(Batch((AddNode(Node("g", ROOT_ID, "A", name="Cell")),
                         AddNode(Node("g1", "g", "V", kind="part", name="Fixture")),
                         Reparent("cab", "g", "W"))))
    assert names_under(model) == ["Cell"]
    assert names_under(model, model.index_of("g")) == ["Fixture", "Cabinet"]
    assert resets == []
    assert inserted and removed


def test_filter_shows_matching_parts_with_ancestors(setup, qtbot):
    _, _, panel, _ = setup
    panel.search.setText("robot 2")
    proxy = panel.proxy
    assert proxy.rowCount() == 1
    line = proxy.index(0, 0)
    assert line.data() == "Line A"
    assert [proxy.index(r, 0, line).data() for r in range(proxy.rowCount(line))] == ["Robot 2"]


def test_selection_roundtrip(setup, qtbot):
    _, _model, panel, _ = setup
    got: list[list[str]] = []
    panel.sig_selection.connect(got.append)
    panel.set_selection(["r2", "cab"])
    assert got == []  # no echo
    assert sorted(panel.selected_ids()) == ["cab", "r2"]
    panel.view.selectionModel().clearSelection()
    assert got[-1] == []
