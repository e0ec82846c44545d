"""Rigid transforms between the frames the AR module uses, as 4×4 float64 matrices.

Frames: ``world`` (the document's, Z up, metres), ``board`` (the printed ChArUco board:
origin at its top-left chessboard corner, x to the right along the first row, y down the
columns, z into the board — OpenCV's object-point convention) and ``camera`` (OpenCV's:
x right, y down, z forward along the optical axis). ``T_ab`` maps coordinates in frame
``b`` to frame ``a``: ``X_a = T_ab @ X_b``.
"""

from __future__ import annotations

from typing import TypeAlias

import cv2
import numpy as np
from numpy.typing import NDArray

Mat4: TypeAlias = NDArray[np.float64]
"""A 4×4 rigid transform."""
Vec: TypeAlias = NDArray[np.float64]
"""A float64 vector or point array (n×2, n×3)."""


def from_rvec_tvec(rvec: NDArray[np.floating], tvec: NDArray[np.floating]) -> Mat4:
    """Return the 4×4 transform of an OpenCV rotation vector and translation."""
    rot, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = np.asarray(tvec, dtype=np.float64).reshape(3)
    return out


def to_rvec_tvec(t: Mat4) -> tuple[Vec, Vec]:
    """Return ``(rvec, tvec)`` (each 3×1 float64) of a 4×4 rigid transform."""
    rvec, _ = cv2.Rodrigues(np.ascontiguousarray(t[:3, :3], dtype=np.float64))
    return np.asarray(rvec, dtype=np.float64).reshape(3, 1), t[:3, 3].reshape(3, 1).copy()


def invert(t: Mat4) -> Mat4:
    """Return the inverse of a rigid transform (no general matrix inverse)."""
    out = np.eye(4)
    rt = t[:3, :3].T
    out[:3, :3] = rt
    out[:3, 3] = -rt @ t[:3, 3]
    return out


def rotation_angle(a: Mat4, b: Mat4) -> float:
    """Return the angle in radians of the rotation taking ``a``'s rotation to ``b``'s."""
    r = a[:3, :3].T @ b[:3, :3]
    c = (float(np.trace(r)) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def rotation(axis: tuple[float, float, float], degrees: float) -> Mat4:
    """Return the 4×4 rotation by ``degrees`` about ``axis`` (any length but zero)."""
    v = np.asarray(axis, dtype=np.float64)
    v = v / np.linalg.norm(v) * np.radians(degrees)
    rot, _ = cv2.Rodrigues(v.reshape(3, 1))
    out = np.eye(4)
    out[:3, :3] = rot
    return out


def translation(x: float, y: float, z: float) -> Mat4:
    """Return the 4×4 translation by ``(x, y, z)``."""
    out = np.eye(4)
    out[:3, 3] = (x, y, z)
    return out


def look_at(eye: tuple[float, float, float], target: tuple[float, float, float],
            up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> Mat4:
    """Return ``T_cam_world`` of an OpenCV camera at ``eye`` looking at ``target``.

    The image's "up" (−y) is as close to ``up`` as the viewing direction allows. Raises
    ``ValueError`` if ``eye`` equals ``target`` or the view is parallel to ``up``.
    """
    e = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - e
    if np.linalg.norm(z) < 1e-12:
        raise ValueError("eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("viewing direction is parallel to up")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r_wc = np.stack([x, y, z], axis=1)  # camera axes in world coordinates
    t_wc = np.eye(4)
    t_wc[:3, :3] = r_wc
    t_wc[:3, 3] = e
    return invert(t_wc)


def apply(t: Mat4, points: NDArray[np.floating]) -> Vec:
    """Return ``points`` (n×3) mapped by ``t``."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    out: Vec = p @ t[:3, :3].T + t[:3, 3]
    return out
