"""Inspector edits as a person makes them, on a window joined to a real server."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication, QColorDialog

from tests.qt.person import key

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def click_row(qtbot, w, nid: str) -> None:
    view = w.outline.view
    idx = w.outline.proxy.mapFromSource(w.scene_model.index_of(nid))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(idx).center())


def test_colouring_a_group_colours_its_parts_as_one_undo(join, qtbot, monkeypatch):
    ada, a = join("Ada")
    bo, _b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    # Robot 1 already has its own colour: a group colour must still show.
    a.set_selection(["r1"])
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a: QColor(0, 200, 0)))
    qtbot.mouseClick(a.inspector.color, Qt.MouseButton.LeftButton)
    assert ada.store.doc.nodes["r1"].color == pytest.approx((0.0, 0.7843, 0.0), abs=1e-4)
    click_row(qtbot, a, "line")
    assert a.selection == ["line"]
    assert "—" in a.inspector.color.text()  # the parts differ: shown as mixed
    undo_before = len(ada.store.history.undo_entries)
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a: QColor(255, 0, 0)))
    qtbot.mouseClick(a.inspector.color, Qt.MouseButton.LeftButton)
    red = (1.0, 0.0, 0.0)
    for nid in ("r1", "r2", "conv"):
        assert ada.store.doc.nodes[nid].color == red
        assert a.viewport.visual.block_state(nid)["color"] != pytest.approx((0.0, 0.7843, 0.0))
    assert ada.store.doc.nodes["cab"].color != red
    assert len(ada.store.history.undo_entries) == undo_before + 1
    assert a.act_undo.text() == "&Undo Colour Line A (3 parts)"
    assert "—" not in a.inspector.color.text()

    def bo_has(color_r1):
        bo.process_events()
        return bo.store.doc.nodes["r1"].color == color_r1 and bo.store.doc.nodes["conv"].color \
            == (red if color_r1 == red else None)

    qtbot.waitUntil(lambda: bo_has(red), timeout=10000)
    a.act_undo.trigger()
    assert ada.store.doc.nodes["r1"].color == pytest.approx((0.0, 0.7843, 0.0), abs=1e-4)
    assert ada.store.doc.nodes["conv"].color is None


def test_f2_in_the_properties_table_edits_the_cell_not_the_name(join, qtbot):
    ada, a = join("Ada")
    bo, _b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    click_row(qtbot, a, "r1")
    table = a.inspector.props
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "mass")
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=table.visualRect(table.model().index(row, 1)).center())
    key(table, "F2")
    qtbot.waitUntil(lambda: table.state() == QAbstractItemView.State.EditingState)
    # F2 again while the cell is being edited: still the cell, never the part's name.
    key(QApplication.focusWidget(), "F2")
    assert table.state() == QAbstractItemView.State.EditingState
    assert a.outline.view.state() != QAbstractItemView.State.EditingState
    editor = QApplication.focusWidget()
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(editor, "130.5")
    QTest.keyClick(editor, Qt.Key.Key_Return)

    def bo_sees() -> bool:
        bo.process_events()
        return bo.store.doc.nodes["r1"].props["mass"] == 130.5

    qtbot.waitUntil(bo_sees, timeout=10000)
    assert ada.store.doc.nodes["r1"].name == "Robot 1"
    assert a.outline.view.state() != QAbstractItemView.State.EditingState

