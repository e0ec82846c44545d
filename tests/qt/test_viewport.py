"""The 3D viewport widget: shows the document, picks by click, coalesces renders."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from twin_app.core.ops import SetField, apply
from twin_app.qt.viewport import Viewport

pytestmark = [pytest.mark.qt, pytest.mark.vtk]


@pytest.fixture
def view(qtbot, plant):
    doc, blobs = plant
    vp = Viewport(mesh_source=blobs.get)
    qtbot.addWidget(vp)
    vp.resize(640, 480)
    vp.show()
    qtbot.waitExposed(vp)
    vp.set_document(doc)
    vp.set_standard_view("top")
    qtbot.waitUntil(lambda: vp.render_count >= 1)
    yield doc, vp
    vp.close()


def widget_pos(vp: Viewport, xyz) -> QPoint:
    """Where a world point appears in the interactor widget (Qt coordinates)."""
    ren = vp.plotter.renderer
    ren.SetWorldPoint(*xyz, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = vp.plotter.devicePixelRatioF()
    return QPoint(round(x / ratio), round(vp.plotter.height() - 1 - y / ratio))


def test_viewport_shows_the_document(view, tmp_path):
    _doc, vp = view
    assert vp.visual.block_count() == 4
    shot = tmp_path / "view.png"
    vp.screenshot(shot)
    img = QImage(str(shot))
    assert not img.isNull() and img.width() > 100
    # The cabinet is blue (0.2, 0.4, 0.8): its pixels show in the top view.
    p = widget_pos(vp, (-2.5, 0.5, 2.0))
    scale = img.width() / vp.plotter.width()
    c = img.pixelColor(round(p.x() * scale), round(p.y() * scale))
    assert c.blue() > c.red() + 40
    corner = img.pixelColor(2, 2)
    assert (corner.red(), corner.green(), corner.blue()) != (c.red(), c.green(), c.blue())


def test_click_on_a_part_emits_its_id(view, qtbot):
    _doc, vp = view
    with qtbot.waitSignal(vp.sig_picked, timeout=3000) as sig:
        qtbot.mouseClick(vp.plotter, Qt.MouseButton.LeftButton,
                         pos=widget_pos(vp, (-2.5, 0.5, 2.0)))
    assert sig.args == ["cab", False]
    with qtbot.waitSignal(vp.sig_picked, timeout=3000) as sig:
        qtbot.mouseClick(vp.plotter, Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.ControlModifier,
                         pos=widget_pos(vp, (3.5, 0.5, 1.0)))
    assert sig.args == ["r2", True]
    with qtbot.waitSignal(vp.sig_picked, timeout=3000) as sig:
        qtbot.mouseClick(vp.plotter, Qt.MouseButton.LeftButton,
                         pos=widget_pos(vp, (0.0, -6.0, 0.0)))
    assert sig.args == [None, False]


def test_hover_reports_the_part_under_the_mouse(view, qtbot):
    _doc, vp = view
    with qtbot.waitSignal(vp.sig_hovered, timeout=3000) as sig:
        qtbot.mouseMove(vp.plotter, widget_pos(vp, (0.5, 0.5, 1.0)))
    assert sig.args == ["r1"]
    assert vp.visual.hover == "r1"


def test_standard_views_change_the_camera(view, qtbot):
    _doc, vp = view
    top = vp.camera()
    d = np.subtract(top[0:3], top[3:6])
    assert d / np.linalg.norm(d) == pytest.approx((0, 0, 1), abs=1e-6)
    with qtbot.waitSignal(vp.sig_camera_changed, timeout=3000) as sig:
        vp.set_standard_view("front")
    front = vp.camera()
    d = np.subtract(front[0:3], front[3:6])
    assert d / np.linalg.norm(d) == pytest.approx((0, -1, 0), abs=1e-6)
    assert tuple(sig.args[0]) == pytest.approx(front)


def test_set_camera_applies_without_echo(view, qtbot):
    _doc, vp = view
    cam = (5.0, -15.0, 8.0, 0.0, 1.0, 0.5, 0.0, 0.0, 1.0)
    echoed: list[tuple] = []
    vp.sig_camera_changed.connect(echoed.append)
    n = vp.render_count
    vp.set_camera(cam)
    qtbot.waitUntil(lambda: vp.render_count > n)
    qtbot.wait(30)
    assert vp.camera()[:6] == pytest.approx(cam[:6])
    assert echoed == []


def test_many_changes_in_one_turn_render_once(view, qtbot):
    doc, vp = view
    qtbot.wait(50)  # let start-up paints settle
    vtk_renders = []
    tag = vp.plotter.renderer.AddObserver("StartEvent", lambda *_: vtk_renders.append(1))
    n = vp.render_count
    for i in range(40):
        _, ch = apply(doc, SetField("r1", "color", (i / 40, 0.5, 0.5)))
        vp.on_changes(doc, ch)
    assert vp.render_count == n  # nothing rendered synchronously
    qtbot.waitUntil(lambda: vp.render_count > n)
    qtbot.wait(50)
    vp.plotter.renderer.RemoveObserver(tag)
    assert vp.render_count == n + 1
    assert 1 <= len(vtk_renders) <= 2  # one frame (a stray expose may add one), not 40
    assert vp.visual.block_state("r1")["color"] == pytest.approx((39 / 40, 0.5, 0.5))


def test_move_handle_follows_a_single_selection(view, qtbot):
    _doc, vp = view
    vp.visual.set_selection(["r2"])
    vp.set_handle_mode("move")
    qtbot.waitUntil(lambda: vp.handle.enabled)
    assert vp.handle.node_id == "r2"
    vp.visual.set_selection(["r1", "r2"])
    vp.request_render()
    qtbot.waitUntil(lambda: not vp.handle.enabled)
    vp.visual.set_selection(["r1"])
    vp.set_handle_mode(None)
    qtbot.waitUntil(lambda: vp.render_count > 0 and not vp.handle.enabled)


def test_orbit_drag_renders_once_per_step_and_reports_the_camera(view, qtbot):
    _doc, vp = view
    w = vp.plotter
    qtbot.wait(50)
    renders = []
    tag = w.renderer.AddObserver("StartEvent", lambda *_: renders.append(1))
    cams: list[tuple] = []
    vp.sig_camera_changed.connect(cams.append)
    before = vp.camera()
    picked: list[object] = []
    vp.sig_picked.connect(lambda *a: picked.append(a))
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=QPoint(300, 200))
    for i in range(1, 9):
        qtbot.mouseMove(w, QPoint(300 + 8 * i, 200))
        qtbot.waitUntil(lambda n=i: len(renders) >= n, timeout=3000)
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=QPoint(364, 200))
    qtbot.wait(50)
    w.renderer.RemoveObserver(tag)
    assert vp.camera() != pytest.approx(before)  # the drag orbited
    assert 8 <= len(renders) <= 10  # one frame per step, not two
    assert cams and tuple(cams[-1]) == pytest.approx(vp.camera())
    assert picked == []  # a drag is not a click
