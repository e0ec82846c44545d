"""What a person sees of the window and the 3D view, on windows joined to a real server:
the title, Fit Selection's framing, hover over the floor, names that fit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QTreeView, QTreeWidget

from tests.qt.test_viewport import widget_pos
from twin_app.core.document import Node
from twin_app.core.ops import AddNode

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def hover(vp, pos: QPoint) -> None:
    event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(pos),
                        QPointF(vp.plotter.mapToGlobal(pos)), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp.plotter, event)


def test_title_names_the_room_and_the_person(join):
    _ada, a = join("Ada Lin")
    assert a.windowTitle() == "plant — Ada Lin"
    # The window manager shows Qt's full title: no doubled application name.
    QApplication.setApplicationDisplayName("Twinroom")
    try:
        title = a.windowHandle().title()
    finally:
        QApplication.setApplicationDisplayName("")
    assert title.count("Twinroom") <= 1 and "plant" in title and "Ada Lin" in title


def screen_box(vp, nid: str) -> tuple[float, float]:
    """Fraction of the view's width and height the part's box covers on screen."""
    b = vp.visual.node_bounds([nid])
    pts = [widget_pos(vp, (x, y, z)) for x in b[0:2] for y in b[2:4] for z in b[4:6]]
    xs, ys = [p.x() for p in pts], [p.y() for p in pts]
    return ((max(xs) - min(xs)) / vp.plotter.width(), (max(ys) - min(ys)) / vp.plotter.height())


def test_fit_selection_leaves_room_around_the_part(join, qtbot):
    _ada, a = join("Ada")
    qtbot.mouseClick(a.outline.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=a.outline.view.visualRect(
                         a.outline.proxy.mapFromSource(a.scene_model.index_of("cab"))).center())
    assert a.selection == ["cab"]
    a.act_fit_sel.trigger()
    qtbot.wait(50)
    w, h = screen_box(a.viewport, "cab")
    assert 0.15 < max(w, h) < 0.6  # framed, with room around it, not filling the view


def test_hovering_the_floor_does_not_light_up_the_hall(join, qtbot):
    ada, a = join("Ada")
    blob_hash = ada.store.doc.nodes["r1"].mesh
    floor = Node("floor", "root", "A", kind="part", name="Floor slab", mesh=blob_hash,
                 transform=(-6, -4, -0.2, 0, 0, 0, 1, 14, 12, 0.2), props={})
    a.dispatch(AddNode(floor), "Add floor")
    n = a.viewport.render_count
    a.view_actions[1].trigger()  # Top
    qtbot.waitUntil(lambda: a.viewport.render_count > n)
    vp = a.viewport
    hover(vp, widget_pos(vp, (6.0, -3.0, 0.0)))  # the bare floor
    qtbot.waitUntil(lambda: "Floor slab" in a.statusBar().currentMessage(), timeout=3000)
    assert vp.visual.hover is None  # the floor is not tinted, nor outlined
    hover(vp, widget_pos(vp, (3.5, 0.5, 1.0)))  # Robot 2 does light up
    qtbot.waitUntil(lambda: vp.visual.hover == "r2", timeout=3000)


def elided(view: QTreeView, column: int = 0, edge: bool = True) -> list[str]:
    """Texts in ``column`` of the visible rows that do not fit their cell (or, with
    ``edge``, that run past the right edge of the panel)."""
    fm = view.fontMetrics()
    out = []
    model = view.model()

    def walk(parent):
        for row in range(model.rowCount(parent)):
            idx = model.index(row, column, parent)
            text = str(idx.data() or "")
            rect = view.visualRect(idx)
            icon = view.iconSize().width() + 8 if idx.data(Qt.ItemDataRole.DecorationRole) else 0
            need = fm.horizontalAdvance(text) + icon + 8
            if rect.isValid() and (need > rect.width()
                                   or (edge and rect.left() + need > view.viewport().width())):
                out.append(text)  # cut off by its cell, or by the edge of the panel
            if view.isExpanded(model.index(row, 0, parent)):
                walk(model.index(row, 0, parent))

    from PySide6.QtCore import QModelIndex

    walk(QModelIndex())
    return out


def test_names_fit_in_the_tree_and_people_list_at_the_default_size(join, demo_server, qtbot):
    _ada, a = join("Ada Lin", "owner-token", endpoint=demo_server.endpoint, room="demo")
    _bo, _b = join("Bo Chen (Site B)", "designer-token", (0.2, 0.6, 0.9),
                   endpoint=demo_server.endpoint, room="demo")
    qtbot.waitUntil(lambda: len(a.people.names()) == 2, timeout=10000)
    assert a.size().width() == 1400
    view, proxy = a.outline.view, a.outline.proxy
    assert view.header().visualIndex(1) == 0  # the Show box first, also after loading
    assert elided(view) == []  # as the tree opens: the site, its hall and its line
    site = proxy.index(0, 0)
    for i in range(proxy.rowCount(site)):  # open the hall and the line: stations show
        view.expand(proxy.index(i, 0, site))
    qtbot.wait(50)
    assert elided(view, edge=False) == []  # long station names: never "…", scroll to read
    line = next(proxy.index(i, 0, site) for i in range(proxy.rowCount(site))
                if "Line 1" in proxy.index(i, 0, site).data())
    station = proxy.index(1, 0, line)
    box = view.visualRect(station.siblingAtColumn(1))
    assert box.left() >= 0 and box.right() <= view.viewport().width()  # its Show box too
    people: QTreeWidget = a.people.tree
    assert elided(people) == []
    assert np.all([people.topLevelItem(i).text(0) for i in range(people.topLevelItemCount())])


def drag_empty(qtbot, vp, start: QPoint, end: QPoint, steps: int = 10) -> None:
    """Left-drag on the view with real mouse events."""
    w = vp.plotter
    QApplication.sendEvent(w, QMouseEvent(QMouseEvent.Type.MouseButtonPress, QPointF(start),
                                          QPointF(w.mapToGlobal(start)), Qt.MouseButton.LeftButton,
                                          Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        QApplication.sendEvent(w, QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(p),
                                              QPointF(w.mapToGlobal(p)), Qt.MouseButton.NoButton,
                                              Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))
        qtbot.wait(10)
    QApplication.sendEvent(w, QMouseEvent(QMouseEvent.Type.MouseButtonRelease, QPointF(end),
                                          QPointF(w.mapToGlobal(end)), Qt.MouseButton.LeftButton,
                                          Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def test_orbit_is_a_z_up_turntable_with_trackball_as_a_setting(join, qtbot):
    _ada, a = join("Ada")
    vp = a.viewport
    assert a.orbit_actions["turntable"].isChecked()
    a.view_actions[0].trigger()  # Isometric
    qtbot.wait(20)
    before = np.array(vp.camera())
    height = before[2] - before[5]
    mid = QPoint(vp.plotter.width() // 2, vp.plotter.height() - 40)
    for _ in range(3):  # a long horizontal drag, more than a full turn
        drag_empty(qtbot, vp, mid - QPoint(250, 0), mid + QPoint(250, 0))
    after = np.array(vp.camera())
    assert after[2] - after[5] == pytest.approx(height, rel=1e-6)  # still as high above
    assert after[8] > 0.5  # Z is still up on screen
    assert not np.allclose(after[:3], before[:3])  # it did turn
    assert a.selection == []  # a drag is not a click
    # A long drag down tilts up to straight above, and no further: never upside down.
    top = QPoint(mid.x(), 40)
    drag_empty(qtbot, vp, top, top + QPoint(0, 600), steps=20)
    cam = np.array(vp.camera())
    offset = cam[:3] - cam[3:6]
    assert offset[2] == pytest.approx(np.linalg.norm(offset))  # looking straight down
    drag_empty(qtbot, vp, top + QPoint(0, 100), top + QPoint(200, 100))  # spins about Z
    cam = np.array(vp.camera())
    assert (cam[:3] - cam[3:6])[2] == pytest.approx(np.linalg.norm(offset))
    # Trackball is a setting, remembered; it tumbles freely.
    a.orbit_actions["trackball"].trigger()
    assert vp.orbit == "trackball" and a.settings.value("view/orbit") == "trackball"
    a.view_actions[0].trigger()
    qtbot.wait(20)
    drag_empty(qtbot, vp, mid - QPoint(250, 0), mid + QPoint(250, 0))
    tumbled = np.array(vp.camera())
    assert tumbled[2] - tumbled[5] != pytest.approx(height, rel=1e-3)
