"""Move/rotate handle, standard views, grid and the transform maths behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.render.conftest import line_doc
from twin_app.core.xform import matrix as matrix_from_transform
from twin_app.core.xform import to_transform as transform_from_matrix
from twin_app.render import (
    GroundGrid,
    SceneVisual,
    TransformHandle,
    ViewError,
    apply_camera_tuple,
    camera_tuple,
    set_standard_view,
    snap_delta,
)
from twin_app.render.handle import ARROW_PX, HIGHLIGHT, RING_RADIUS
from twin_app.render.transforms import rotation_about

pytestmark = pytest.mark.vtk


def display_point(plotter, xyz) -> tuple[int, int]:
    ren = plotter.renderer
    ren.SetWorldPoint(*xyz, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    return round(x), round(y)


def test_transform_matrix_round_trip():
    rng = np.random.default_rng(5)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        if q[3] < 0:
            q = -q
        tr = (*rng.uniform(-9, 9, 3), *q, *rng.uniform(0.2, 3, 3))
        assert transform_from_matrix(matrix_from_transform(tr)) == pytest.approx(tr, abs=1e-9)


def test_snap_delta_rounds_translation_and_angle():
    d = np.eye(4)
    d[:3, 3] = (0.12, -0.26, 0.031)
    assert snap_delta(d, (0, 0, 0), "move")[:3, 3] == pytest.approx((0.1, -0.25, 0.05))
    r = np.eye(4)
    r[:3, :3] = rotation_about(np.array((0.0, 0.0, 1.0)), math.radians(37))
    center = (2.0, 1.0, 0.0)
    s = snap_delta(r, center, "rotate")
    assert s[:3, :3] == pytest.approx(rotation_about(np.array((0, 0, 1.0)), math.radians(30)))
    assert s[:3, :3] @ np.array(center) + s[:3, 3] == pytest.approx(center)  # pivot fixed


@pytest.fixture
def handle_setup(plotter, source):
    doc = line_doc()
    sv = SceneVisual(plotter, source)
    sv.rebuild(doc)
    got: list[tuple] = []
    handle = TransformHandle(plotter.renderer, lambda *a: got.append(a))
    yield doc, sv, handle, got
    handle.close()
    sv.close()


def attach(handle, sv, doc, nid):
    node = doc.nodes[nid]
    handle.attach(nid, node.transform, sv.world_matrix(nid), sv.world_matrix(node.parent),
                  sv.local_bounds(nid))


def test_handle_maps_dragged_world_matrix_to_local_transform(handle_setup):
    doc, sv, handle, _got = handle_setup
    handle.set_mode("move")
    attach(handle, sv, doc, "r2")  # under "line" (x = 10); r2 at local x = 3, scale 2
    dragged = sv.world_matrix("r2")
    dragged[:3, 3] += (0.33, 0.0, 1.02)
    tr = handle.transform_for(dragged)
    assert tr[:3] == pytest.approx((3.33, 0.0, 1.02))
    assert tr[3:] == doc.nodes["r2"].transform[3:]  # move keeps rotation and scale
    handle.set_snapping(True)
    assert handle.transform_for(dragged)[:3] == pytest.approx((3.35, 0.0, 1.0))
    handle.set_mode("rotate")
    spin = np.eye(4)
    spin[:3, :3] = rotation_about(np.array((0.0, 0.0, 1.0)), math.radians(50))
    tr = handle.transform_for(spin @ sv.world_matrix("r2"))
    q = tr[3:7]
    assert 2 * math.degrees(math.atan2(q[2], q[3])) == pytest.approx(45.0)  # snapped to 15°
    assert tr[7:] == pytest.approx((2.0, 2.0, 2.0))


def arrow_tip(plotter, handle, axis: int) -> tuple[int, int]:
    tip = handle.center.copy()
    tip[axis] += 0.85 * handle.world_per_pixel(handle.center) * ARROW_PX
    return display_point(plotter, tip)


def test_arrows_keep_their_screen_size_and_highlight_on_hover(plotter, handle_setup):
    doc, sv, handle, _got = handle_setup
    set_standard_view(plotter.renderer, "front", sv.node_bounds(["cab"]))
    handle.set_mode("move")
    attach(handle, sv, doc, "cab")
    plotter.render_window.Render()
    actor = handle._actors[("axis", 0)][0]
    size = actor.GetLength()
    near = math.dist(display_point(plotter, handle.center), arrow_tip(plotter, handle, 0))
    assert near == pytest.approx(0.85 * ARROW_PX, rel=0.05)
    cam = plotter.renderer.GetActiveCamera()
    cam.Dolly(0.25)  # four times further away: the arrow stays as long on screen
    plotter.renderer.ResetCameraClippingRange()
    plotter.render_window.Render()
    assert actor.GetLength() == pytest.approx(4 * size, rel=0.02)  # rescaled in the frame
    far = math.dist(display_point(plotter, handle.center), arrow_tip(plotter, handle, 0))
    assert far == pytest.approx(near, rel=0.05)
    tip = arrow_tip(plotter, handle, 2)
    assert handle.hover(*tip)
    assert handle.hovered == ("axis", 2)
    assert handle.part_color(("axis", 2)) == pytest.approx(HIGHLIGHT)
    assert handle.part_color(("axis", 0)) != pytest.approx(HIGHLIGHT)
    assert handle.hover(5, 5) and handle.hovered is None
    handle.set_mode(None)
    assert not handle.enabled and handle.hit(*tip) is None


def test_dragging_an_arrow_moves_along_its_axis_snapped(plotter, handle_setup):
    doc, sv, handle, got = handle_setup
    set_standard_view(plotter.renderer, "iso", sv.node_bounds(["cab"]))
    handle.set_mode("move")
    handle.set_snapping(True)
    attach(handle, sv, doc, "cab")
    plotter.render_window.Render()
    start = arrow_tip(plotter, handle, 0)
    assert handle.press(*start)
    assert handle.dragging
    c = display_point(plotter, handle.center)
    direction = np.subtract(start, c) / np.linalg.norm(np.subtract(start, c))
    end = np.add(start, 150 * direction + (0, 40))  # off the axis a little: still along x
    handle.move(*np.add(start, 70 * direction))
    handle.release(*end)
    assert not handle.dragging
    assert [g[2] for g in got][-1] is True and not any(g[2] for g in got[:-1])
    final = np.array(got[-1][1])
    moved = final[:3] - np.array(doc.nodes["cab"].transform[:3])
    assert moved[0] > 0.1 and moved[1:] == pytest.approx((0.0, 0.0))
    assert moved[0] / 0.05 == pytest.approx(round(moved[0] / 0.05), abs=1e-6)  # 5 cm steps


def test_plane_drag_and_cancel(plotter, handle_setup):
    doc, sv, handle, got = handle_setup
    set_standard_view(plotter.renderer, "top", sv.node_bounds(["cab"]))
    handle.set_mode("move")
    attach(handle, sv, doc, "cab")
    plotter.render_window.Render()
    s = handle.world_per_pixel(handle.center) * ARROW_PX
    square = handle.center + np.array((0.32 * s, 0.32 * s, 0.0))  # the XY square, seen from above
    start = display_point(plotter, square)
    assert handle.hit(*start) == ("plane", 2)
    assert handle.press(*start)
    handle.move(start[0] + 60, start[1] + 30)
    moved = np.subtract(got[-1][1][:3], doc.nodes["cab"].transform[:3])
    assert moved[0] > 0 and moved[1] > 0 and moved[2] == pytest.approx(0.0)
    assert handle.cancel()
    assert got[-1] == ("cab", doc.nodes["cab"].transform, True)  # back where it started


def test_dragging_a_ring_turns_about_its_axis(plotter, handle_setup):
    doc, sv, handle, got = handle_setup
    set_standard_view(plotter.renderer, "top", sv.node_bounds(["cab"]))
    handle.set_mode("rotate")
    handle.set_snapping(True)
    attach(handle, sv, doc, "cab")
    plotter.render_window.Render()
    s = handle.world_per_pixel(handle.center) * ARROW_PX
    c = np.array(display_point(plotter, handle.center))
    on_ring = RING_RADIUS * s * math.sqrt(0.5)
    start = display_point(plotter, handle.center + np.array((on_ring, on_ring, 0.0)))  # at 45°
    assert handle.hit(*start) == ("ring", 2)
    assert handle.press(*start)
    r = np.linalg.norm(np.subtract(start, c))
    end = math.radians(45 + 50)  # sweep 50° counter-clockwise on screen
    handle.release(*(c + r * np.array((math.cos(end), math.sin(end)))))
    q = got[-1][1][3:7]
    assert abs(2 * math.degrees(math.atan2(q[2], q[3]))) == pytest.approx(45.0)


def test_standard_views_look_along_their_axes(plotter):
    ren = plotter.renderer
    bounds = (0.0, 10.0, 0.0, 4.0, 0.0, 2.0)
    for name, direction in (("top", (0, 0, 1)), ("front", (0, -1, 0)), ("right", (1, 0, 0)),
                            ("iso", (1, -1, 1))):
        set_standard_view(ren, name, bounds)
        cam = camera_tuple(ren.GetActiveCamera())
        d = np.subtract(cam[0:3], cam[3:6])
        d /= np.linalg.norm(d)
        assert d == pytest.approx(np.array(direction) / np.linalg.norm(direction), abs=1e-6)
        assert cam[3:6] == pytest.approx((5.0, 2.0, 1.0))
    with pytest.raises(ViewError):
        set_standard_view(ren, "sideways")


def test_camera_tuple_round_trip(plotter):
    ren = plotter.renderer
    cam = (10.0, -20.0, 5.0, 1.0, 2.0, 0.5, 0.0, 0.0, 1.0)
    apply_camera_tuple(ren, cam)
    got = camera_tuple(ren.GetActiveCamera())
    assert got[:6] == pytest.approx(cam[:6])
    assert got[6:] == pytest.approx(cam[6:], abs=0.2)  # view-up made orthogonal
    apply_camera_tuple(ren, (0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0))
    apply_camera_tuple(ren, got)  # what a peer sends is what a follower sees
    assert camera_tuple(ren.GetActiveCamera()) == pytest.approx(got, abs=1e-9)
    with pytest.raises(ViewError):
        apply_camera_tuple(ren, (0.0,) * 9)


def test_ground_grid_covers_the_scene(plotter):
    grid = GroundGrid(plotter.renderer)
    grid.fit((-50.0, 250.0, -10.0, 90.0, 0.0, 5.0))
    b = grid.actor.GetBounds()
    assert b[0] <= -50 and b[1] >= 250 and b[2] <= -10 and b[3] >= 90
    assert b[4] == b[5] == 0.0  # on the floor
    assert grid.step in (5.0, 10.0)
    assert not grid.actor.GetPickable()
    grid.close()
    assert plotter.renderer.GetActors().GetNumberOfItems() == 0
