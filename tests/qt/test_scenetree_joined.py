"""The scene tree filter as a person uses it, on a window joined to a real server."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt

from twin_app.core.ops import SetField

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def shown(w) -> list[str]:
    """Names of the rows a person can see (expanded branches only)."""
    view, proxy = w.outline.view, w.outline.proxy
    out: list[str] = []

    def walk(parent):
        for row in range(proxy.rowCount(parent)):
            idx = proxy.index(row, 0, parent)
            out.append(idx.data())
            if view.isExpanded(idx):
                walk(idx)

    walk(QModelIndex())
    return out


def type_filter(qtbot, w, text: str) -> None:
    search = w.outline.search
    search.setFocus()
    qtbot.keyClick(search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(search, Qt.Key.Key_Backspace)
    if text:
        qtbot.keyClicks(search, text)


def test_filter_matches_properties_keeps_selection_and_layout(join, qtbot):
    ada, a = join("Ada")
    bo, _b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    bo.submit(SetField("cab", "prop:supplier", "Rittal GmbH"), "Set supplier")
    qtbot.waitUntil(lambda: ada.store.doc.nodes["cab"].props.get("supplier") == "Rittal GmbH",
                    timeout=10000)
    view = a.outline.view
    idx = a.outline.proxy.mapFromSource(a.scene_model.index_of("r2"))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(idx).center())
    assert a.selection == ["r2"]
    layout = shown(a)

    type_filter(qtbot, a, "rb-100")  # a part number
    assert shown(a) == ["Line A", "Robot 1", "Robot 2"]
    assert a.selection == ["r2"] and a.outline.selected_ids() == ["r2"]
    type_filter(qtbot, a, "rittal")  # a supplier
    assert shown(a) == ["Cabinet"]
    assert a.selection == ["r2"]
    assert not a.outline.no_match.isVisible()
    type_filter(qtbot, a, "zzz")
    assert shown(a) == []
    assert a.outline.no_match.isVisible()
    assert a.outline.no_match.text() == "No parts match “zzz”."
    assert a.selection == ["r2"]
    type_filter(qtbot, a, "")  # cleared: the tree is back as it was, selection shown
    assert shown(a) == layout
    assert not a.outline.no_match.isVisible()
    assert a.selection == ["r2"] and a.outline.selected_ids() == ["r2"]
    assert a.inspector.title.text() == "Robot 2"

    def bo_sees_it_selected():
        bo.process_events()
        return ada.session in bo.peers and bo.peers[ada.session].selection == ["r2"]

    qtbot.waitUntil(bo_sees_it_selected, timeout=10000)
