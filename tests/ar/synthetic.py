"""Ground-truth camera views of the board, shared by the AR tests and the Qt AR test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from twin_app.ar import geometry as g
from twin_app.ar.board import BoardSpec
from twin_app.ar.camera import CameraModel
from twin_app.ar.geometry import Mat4

CAM_1080 = CameraModel(1400.0, 1400.0, 959.5, 539.5, 1920, 1080, name="synthetic 1080p")
CAM_720 = CameraModel(1010.0, 1000.0, 650.0, 355.0, 1280, 720, name="synthetic 720p")


def board_centre(spec: BoardSpec) -> Mat4:
    """T_board_centred: a frame at the board's centre (so poses aim at the middle)."""
    w, h = spec.size_m
    return g.translation(-w / 2, -h / 2, 0.0)


def view(spec: BoardSpec, distance: float, tilt_deg: float, tilt_axis: tuple[float, float],
         spin_deg: float = 0.0, shift: tuple[float, float] = (0.0, 0.0)) -> Mat4:
    """T_cam_board: the board centre ``distance`` ahead, tilted about an in-plane axis and
    spun about the optical axis."""
    return (g.translation(shift[0], shift[1], distance)
            @ g.rotation((tilt_axis[0], tilt_axis[1], 0.0), tilt_deg)
            @ g.rotation((0.0, 0.0, 1.0), spin_deg) @ board_centre(spec))


def varied_views(spec: BoardSpec, n: int, distance: float, seed: int = 0,
                 tilt: tuple[float, float] = (15.0, 45.0),
                 spread: tuple[float, float] = (0.03, 0.02)) -> list[Mat4]:
    """``n`` random views at ``distance`` with tilts in ``tilt`` (degrees), the board's
    centre shifted up to ``spread`` metres sideways and up/down."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = rng.uniform(0, 2 * np.pi)
        out.append(view(spec, distance * rng.uniform(0.95, 1.05), rng.uniform(*tilt),
                        (float(np.cos(a)), float(np.sin(a))), rng.uniform(-30, 30),
                        (rng.uniform(-spread[0], spread[0]),
                         rng.uniform(-spread[1], spread[1]))))
    return out


def calibration_views(spec: BoardSpec, camera: CameraModel, n: int = 14, seed: int = 7
                      ) -> list[np.ndarray]:
    """Frames of the board spread over the whole image and tilted 20–45°, as a person is
    told to take them (distortion needs the image corners)."""
    from twin_app.ar.synth import render_view

    poses = varied_views(spec, n, 0.6, seed=seed, tilt=(20.0, 45.0), spread=(0.16, 0.09))
    return [render_view(spec, camera, t, noise_sigma=2.0, blur_sigma=0.6, seed=i)
            for i, t in enumerate(poses)]


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write ``frames`` (BGR, one size) as a Motion-JPEG AVI, as a phone or webcam would."""
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert out.isOpened()
    for f in frames:
        out.write(f)
    out.release()
    return path
