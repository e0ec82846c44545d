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
    iren = plotter.iren.interactor
    iren.Initialize()
    iren.Enable()
    got: list[tuple] = []
    handle = TransformHandle(plotter.renderer, iren, lambda *a: got.append(a))
    yield doc, sv, handle, got, iren
    handle.close()
    sv.close()


def attach(handle, sv, doc, nid):
    node = doc.nodes[nid]
    handle.attach(nid, node.transform, sv.world_matrix(nid), sv.world_matrix(node.parent),
                  sv.local_bounds(nid))


def test_handle_maps_dragged_world_matrix_to_local_transform(handle_setup):
    doc, sv, handle, got, _ = handle_setup
    handle.set_mode("move")
    attach(handle, sv, doc, "r2")  # under "line" (x = 10); r2 at local x = 3, scale 2
    dragged = sv.world_matrix("r2")
    dragged[:3, 3] += (0.33, 0.0, 1.02)
    tr = handle.drag_to(dragged, finished=True)
    assert tr[:3] == pytest.approx((3.33, 0.0, 1.02))
    assert tr[3:] == doc.nodes["r2"].transform[3:]  # move keeps rotation and scale
    assert got[-1] == ("r2", tr, True)
    handle.set_snapping(True)
    assert handle.transform_for(dragged)[:3] == pytest.approx((3.35, 0.0, 1.0))
    handle.set_mode("rotate")
    spin = np.eye(4)
    spin[:3, :3] = rotation_about(np.array((0.0, 0.0, 1.0)), math.radians(50))
    tr = handle.transform_for(spin @ sv.world_matrix("r2"))
    q = tr[3:7]
    assert 2 * math.degrees(math.atan2(q[2], q[3])) == pytest.approx(45.0)  # snapped to 15°
    assert tr[7:] == pytest.approx((2.0, 2.0, 2.0))


def test_dragging_the_widget_reports_transforms(plotter, handle_setup):
    doc, sv, handle, got, iren = handle_setup
    set_standard_view(plotter.renderer, "iso", sv.node_bounds(["cab"]))
    handle.set_mode("move")
    handle.set_snapping(True)
    attach(handle, sv, doc, "cab")
    assert handle.enabled
    plotter.render()
    start = display_point(plotter, (-2.5, 0.5, 0.5))  # the box centre: the move grip
    end = (start[0] + 120, start[1] - 60)
    for event, pos in (("MouseMoveEvent", start), ("LeftButtonPressEvent", start),
                       ("MouseMoveEvent", ((start[0] + end[0]) // 2, start[1])),
                       ("MouseMoveEvent", end), ("LeftButtonReleaseEvent", end)):
        iren.SetEventInformation(pos[0], pos[1], 0, 0, "\0", 0, None)
        iren.InvokeEvent(event)
    assert got, "the drag produced no transform"
    assert [g[2] for g in got][-1] is True and not any(g[2] for g in got[:-1])
    final = got[-1][1]
    assert final[:3] != pytest.approx(doc.nodes["cab"].transform[:3])
    offset = np.subtract(final[:3], doc.nodes["cab"].transform[:3]) / 0.05
    assert offset == pytest.approx(np.round(offset), abs=1e-6)  # snapped to 5 cm
    handle.set_mode(None)
    assert not handle.enabled


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
