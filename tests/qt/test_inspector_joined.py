"""Inspector edits as a person makes them, on a window joined to a real server."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog

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
