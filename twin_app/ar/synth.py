"""Synthetic camera frames of the board at a known pose, for tests, benchmarks and demos.

The board image is mapped into the camera image by the plane homography
``H = K [r1 r2 t] A⁻¹`` (``A``: board metres → board-image pixels), so every pixel of the
result is where a pinhole camera with intrinsics ``K`` at pose ``T_cam_board`` would see
it; the ground truth is exact up to interpolation. The board image is drawn at about 1.5×
the density it has in the frame (no aliasing), over a smooth random background; optional
blur and Gaussian sensor noise follow. Lens distortion is not simulated.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.board import BoardSpec
from twin_app.ar.camera import CameraModel
from twin_app.ar.geometry import Mat4, apply


@lru_cache(maxsize=8)
def _board_image(spec: BoardSpec, square_px: int) -> tuple[NDArray[np.uint8], float, float]:
    px_per_m = square_px / spec.square_m
    margin = spec.square_m / 2
    return spec.image(px_per_m, margin), px_per_m, margin


@lru_cache(maxsize=4)
def _background(width: int, height: int, seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    small = rng.uniform(70, 180, size=(max(2, height // 60), max(2, width // 60)))
    big = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0, 255).astype(np.uint8)


def render_view(spec: BoardSpec, camera: CameraModel, T_cam_board: Mat4, *,
                noise_sigma: float = 0.0, blur_sigma: float = 0.0, seed: int = 0,
                color: bool = True) -> NDArray[np.uint8]:
    """Return a ``camera.height``×``camera.width`` frame (BGR, or grey if not ``color``)
    showing the board at ``T_cam_board``.

    ``noise_sigma``: std. dev. of additive Gaussian noise in grey levels; ``blur_sigma``:
    Gaussian blur in pixels, applied before the noise; ``seed`` fixes background and noise.
    Raises ``ValueError`` if the board is behind the camera.
    """
    corners_c = apply(T_cam_board, spec.outline())
    if np.any(corners_c[:, 2] <= 1e-6):
        raise ValueError("the board is (partly) behind the camera")
    depth = float(np.mean(corners_c[:, 2]))
    density = max(camera.fx, camera.fy) / depth  # pixels per metre on the board, roughly
    square_px = int(np.clip(round(1.5 * density * spec.square_m), 8, 400))
    img, px_per_m, margin = _board_image(spec, square_px)
    # board-image pixel centre (u, v) ↔ board point ((u + .5)/s − m, (v + .5)/s − m)
    a_inv = np.array([[1 / px_per_m, 0, 0.5 / px_per_m - margin],
                      [0, 1 / px_per_m, 0.5 / px_per_m - margin],
                      [0, 0, 1]])
    rt = np.stack([T_cam_board[:3, 0], T_cam_board[:3, 1], T_cam_board[:3, 3]], axis=1)
    h = camera.K @ rt @ a_inv
    size = (camera.width, camera.height)
    warped = cv2.warpPerspective(img, h, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.full(img.shape, 255, np.uint8), h, size,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
    bg = _background(camera.width, camera.height, seed)
    alpha = mask.astype(np.float32) / 255.0
    out = warped.astype(np.float32) * alpha + bg.astype(np.float32) * (1.0 - alpha)
    if blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur_sigma)
    if noise_sigma > 0:
        rng = np.random.default_rng(seed + 1)
        out = out + rng.normal(0.0, noise_sigma, out.shape).astype(np.float32)
    grey = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if not color:
        return grey
    return np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
