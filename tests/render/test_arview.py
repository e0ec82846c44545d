"""The AR camera: a VTK camera built from OpenCV intrinsics/extrinsics draws parts where
OpenCV projects them, over the frame, unmirrored."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from vtkmodules.vtkFiltersSources import vtkCubeSource

from twin_app.ar import geometry as g
from twin_app.render.arview import ARView, cv_camera_parameters

pytest.importorskip("pyvista")


def _project(K, T, pts):
    rvec, _ = cv2.Rodrigues(np.ascontiguousarray(T[:3, :3]))
    out, _ = cv2.projectPoints(np.asarray(pts, float), rvec, T[:3, 3].copy(), K, None)
    return out.reshape(-1, 2)


def _cube(centre, size):
    src = vtkCubeSource()
    src.SetCenter(*centre)
    src.SetXLength(size)
    src.SetYLength(size)
    src.SetZLength(size)
    src.Update()
    return src.GetOutput()


K = np.array([[820.0, 0.0, 350.0], [0.0, 800.0, 230.0], [0.0, 0.0, 1.0]])  # off-centre, fx≠fy
SIZE = (640, 480)
T = g.look_at((1.2, -1.5, 1.1), (0.1, 0.05, 0.0))  # world Z up, like the plant


def test_parameters_of_a_centred_camera():
    k = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    angle, centre, aspect = cv_camera_parameters(k, (640, 480))
    assert angle == pytest.approx(np.degrees(2 * np.arctan(240 / 500)))
    assert centre == pytest.approx((0.0, 0.0))
    assert aspect == pytest.approx(640 / 480)


def test_vtk_projects_world_points_where_opencv_does():
    view = ARView()
    try:
        view.render(np.zeros((SIZE[1], SIZE[0], 3), np.uint8), K, T)
        pts = np.array([[0, 0, 0], [0.3, 0, 0], [0, 0.3, 0], [0, 0, 0.3], [0.25, -0.2, 0.1]])
        expected = _project(K, T, pts)
        got = np.array([view.world_to_pixel(p) for p in pts])
        assert np.max(np.abs(got - expected)) < 0.05, (got, expected)
    finally:
        view.close()


def test_parts_are_drawn_over_the_frame_at_their_projection_unmirrored():
    frame = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    frame[:40, :40] = (255, 0, 0)  # a red mark in the frame's top-left corner
    view = ARView()
    try:
        for centre in ((0.3, 0.0, 0.0), (0.0, 0.3, 0.1)):
            view.set_highlight([_cube(centre, 0.08)], color=(0.0, 1.0, 0.0), opacity=1.0)
            img = view.render(frame, K, T)
            assert img.shape == (480, 640, 3)
            assert tuple(img[5, 5]) == (255, 0, 0)  # background: upright, not mirrored
            ys, xs = np.nonzero((img[:, :, 1] > 100) & (img[:, :, 0] < 80))
            assert len(xs) > 100
            expected = _project(K, T, [centre])[0]
            assert abs(xs.mean() - expected[0]) < 2.0 and abs(ys.mean() - expected[1]) < 2.0
        assert view.highlight_count == 1
        bare = view.render(frame, None, None)  # no pose: the frame alone
        assert not np.any((bare[:, :, 1] > 100) & (bare[:, :, 0] < 80))
    finally:
        view.close()


def test_large_frames_render_scaled_with_the_intrinsics():
    big_k = K * np.array([[2.0], [2.0], [1.0]])
    big_k[0, 2] = (K[0, 2] + 0.5) * 2 - 0.5
    big_k[1, 2] = (K[1, 2] + 0.5) * 2 - 0.5
    view = ARView(max_width=640)
    try:
        view.set_highlight([_cube((0.3, 0.0, 0.0), 0.08)], color=(0.0, 1.0, 0.0), opacity=1.0)
        img = view.render(np.zeros((960, 1280, 3), np.uint8), big_k, T)
        assert img.shape == (480, 640, 3) and view.size == (640, 480)
        ys, xs = np.nonzero(img[:, :, 1] > 100)
        expected = _project(K, T, [(0.3, 0.0, 0.0)])[0]
        assert abs(xs.mean() - expected[0]) < 2.0 and abs(ys.mean() - expected[1]) < 2.0
    finally:
        view.close()
