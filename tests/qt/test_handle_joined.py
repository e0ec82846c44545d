"""The move/rotate handle used with the mouse on a window joined to a real server: hover
lights an arrow up, dragging it moves the part along that axis for everyone without orbiting
the camera, Esc puts the part back, and the drag is one undo entry."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.qt.test_viewport import widget_pos
from twin_app.render.handle import ARROW_PX, HIGHLIGHT

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def mouse(widget, kind, pos: QPoint, buttons=Qt.MouseButton.LeftButton,
          button=Qt.MouseButton.NoButton) -> None:
    """Send one real mouse event to ``widget`` (a move carries the buttons held)."""
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def arrow_point(vp, axis: int, along: float = 0.85) -> QPoint:
    h = vp.handle
    p = h.center.copy()
    p[axis] += along * h.world_per_pixel(h.center) * ARROW_PX
    return widget_pos(vp, p)


@pytest.fixture
def moving(join, qtbot):
    """Ada has Robot 2 selected in Move mode (W) from the top-left-front; Bo watches."""
    ada, a = join("Ada")
    bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    n = a.viewport.render_count
    a.view_actions[0].trigger()  # Isometric
    qtbot.waitUntil(lambda: a.viewport.render_count > n)
    qtbot.mouseClick(a.viewport.plotter, Qt.MouseButton.LeftButton,
                     pos=widget_pos(a.viewport, (3.5, 0.5, 1.0)))
    assert a.selection == ["r2"]
    a.act_mode_move.trigger()  # the W key in an active window
    qtbot.waitUntil(lambda: a.viewport.handle.enabled and a.viewport.handle.node_id == "r2")
    return ada, a, bo, b


def drag(qtbot, vp, start: QPoint, end: QPoint, steps: int = 6, release: bool = True) -> None:
    w = vp.plotter
    mouse(w, QMouseEvent.Type.MouseMove, start, buttons=Qt.MouseButton.NoButton)
    mouse(w, QMouseEvent.Type.MouseButtonPress, start, button=Qt.MouseButton.LeftButton)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        mouse(w, QMouseEvent.Type.MouseMove, p)
        qtbot.wait(25)
    if release:
        mouse(w, QMouseEvent.Type.MouseButtonRelease, end, buttons=Qt.MouseButton.NoButton,
              button=Qt.MouseButton.LeftButton)


def test_hovering_an_arrow_highlights_it(moving, qtbot):
    _ada, a, _bo, _b = moving
    vp = a.viewport
    tip = arrow_point(vp, 1)
    mouse(vp.plotter, QMouseEvent.Type.MouseMove, tip, buttons=Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: vp.handle.hovered == ("axis", 1))
    assert vp.handle.part_color(("axis", 1)) == pytest.approx(HIGHLIGHT)
    assert vp.visual.hover is None  # the part under the arrow is not hover-tinted


def test_dragging_the_x_arrow_moves_the_part_for_everyone(moving, qtbot):
    ada, a, bo, _b = moving
    vp = a.viewport
    camera = vp.camera()
    undo_before = len(ada.store.history.undo_entries)
    start = arrow_point(vp, 0)
    far = arrow_point(vp, 0, along=2.5)
    drag(qtbot, vp, start, far + QPoint(0, 25))  # a little off the axis: still only x
    moved = np.subtract(ada.store.doc.nodes["r2"].transform[:3], (3.0, 0.0, 0.0))
    assert moved[0] > 0.2 and moved[1:] == pytest.approx((0.0, 0.0), abs=1e-9)
    assert vp.camera() == pytest.approx(camera)  # the drag did not orbit
    assert a.selection == ["r2"]
    x = ada.store.doc.nodes["r2"].transform[0]

    def bo_sees_it():
        bo.process_events()
        return bo.store.doc.nodes["r2"].transform[:3] == pytest.approx((x, 0.0, 0.0))

    qtbot.waitUntil(bo_sees_it, timeout=10000)
    assert len(ada.store.history.undo_entries) == undo_before + 1
    assert a.act_undo.text() == "&Undo Move Robot 2"
    a.act_undo.trigger()
    assert ada.store.doc.nodes["r2"].transform[0] == 3.0


def test_snapping_holds_during_a_drag(moving, qtbot):
    ada, a, _bo, _b = moving
    a.act_snap.trigger()
    a.snap_move.setValue(0.25)
    vp = a.viewport
    drag(qtbot, vp, arrow_point(vp, 1), arrow_point(vp, 1, along=3.0))
    y = ada.store.doc.nodes["r2"].transform[1]
    assert y > 0.2 and y / 0.25 == pytest.approx(round(y / 0.25), abs=1e-9)


def test_escape_during_a_drag_puts_the_part_back(moving, qtbot):
    ada, a, bo, _b = moving
    vp = a.viewport
    camera = vp.camera()
    undo_before = len(ada.store.history.undo_entries)
    start, end = arrow_point(vp, 0), arrow_point(vp, 0, along=2.5)
    drag(qtbot, vp, start, end, release=False)
    assert ada.store.doc.nodes["r2"].transform[0] > 3.2  # others see it move live
    qtbot.keyClick(vp.plotter, Qt.Key.Key_Escape)
    assert ada.store.doc.nodes["r2"].transform[:3] == (3.0, 0.0, 0.0)
    assert a.selection == ["r2"]  # Esc cancelled the drag; it did not clear the selection
    # The mouse is still down: moving it further neither drags nor orbits.
    mouse(vp.plotter, QMouseEvent.Type.MouseMove, end + QPoint(80, 40))
    mouse(vp.plotter, QMouseEvent.Type.MouseButtonRelease, end + QPoint(80, 40),
          buttons=Qt.MouseButton.NoButton, button=Qt.MouseButton.LeftButton)
    assert ada.store.doc.nodes["r2"].transform[:3] == (3.0, 0.0, 0.0)
    assert vp.camera() == pytest.approx(camera)
    assert len(ada.store.history.undo_entries) == undo_before

    def bo_sees_it_back():
        bo.process_events()
        return not ada.store.pending and bo.store.doc.nodes["r2"].transform[0] == 3.0

    qtbot.waitUntil(bo_sees_it_back, timeout=10000)


def test_dragging_a_ring_rotates_about_z(moving, qtbot):
    ada, a, _bo, _b = moving
    a.act_mode_rotate.trigger()
    vp = a.viewport
    a.view_actions[1].trigger()  # Top
    qtbot.waitUntil(lambda: vp.handle.enabled and vp.handle.parts()[0][0] == "ring")
    qtbot.wait(50)
    h = vp.handle
    r = 0.8 * h.world_per_pixel(h.center) * ARROW_PX
    start = widget_pos(vp, h.center + np.array((r * 0.7071, r * 0.7071, 0.0)))
    end = widget_pos(vp, h.center + np.array((-r * 0.7071, r * 0.7071, 0.0)))  # a quarter turn
    drag(qtbot, vp, start, end, steps=8)
    q = ada.store.doc.nodes["r2"].transform[3:7]
    assert abs(q[2]) > 0.3 and q[0] == pytest.approx(0.0, abs=1e-9)
