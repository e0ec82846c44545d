"""Node transforms as 4×4 matrices (numpy only, no VTK).

A node's transform is 10 floats: position (3), rotation quaternion x, y, z, w (4) and
scale (3). Its local matrix is ``T · R · S``; a node's world matrix is its parent's world
matrix times its local matrix. The inverse direction (``transform_from_matrix``) is used by
the move/rotate handle to turn a dragged world matrix back into a node transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
IDENTITY4: Matrix = np.eye(4)
IDENTITY4.setflags(write=False)


def rotation_from_quat(qx: float, qy: float, qz: float, qw: float) -> Matrix:
    """Return the 3×3 rotation matrix of a quaternion (normalised here; zero → identity)."""
    n = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if n < 1e-12:
        return np.eye(3)
    x, y, z, w = qx / n, qy / n, qz / n, qw / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_from_rotation(r: NDArray[np.floating]) -> tuple[float, float, float, float]:
    """Return the unit quaternion ``(x, y, z, w)`` of a 3×3 rotation matrix (w ≥ 0)."""
    m = np.asarray(r, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        w, x = 0.25 * s, (m[2, 1] - m[1, 2]) / s
        y, z = (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x = (m[2, 1] - m[1, 2]) / s, 0.25 * s
        y, z = (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s
        y, z = 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s
        y, z = (m[1, 2] + m[2, 1]) / s, 0.25 * s
    n = math.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    if w < 0:  # one canonical sign, so equal rotations give equal transforms
        x, y, z, w = -x, -y, -z, -w
    return (float(x), float(y), float(z), float(w))


def matrix_from_transform(t: Sequence[float]) -> Matrix:
    """Return the 4×4 local matrix ``T·R·S`` of a 10-float node transform."""
    m = np.eye(4)
    m[:3, :3] = rotation_from_quat(t[3], t[4], t[5], t[6]) * np.array((t[7], t[8], t[9]))
    m[0, 3], m[1, 3], m[2, 3] = t[0], t[1], t[2]
    return m


def transform_from_matrix(m: NDArray[np.floating]) -> tuple[float, ...]:
    """Return the 10-float transform of a 4×4 matrix made of translation, rotation, scale.

    Scale is the length of each basis column (negated on one axis if the matrix mirrors);
    shear, which a chain of non-uniform scales and rotations can produce, is dropped.
    Raises ``ValueError`` for a singular matrix.
    """
    a = np.asarray(m, dtype=np.float64)[:3, :3]
    scale = np.linalg.norm(a, axis=0)
    if np.any(scale < 1e-12):
        raise ValueError("singular transform matrix")
    r = a / scale
    if np.linalg.det(r) < 0:
        scale[2] = -scale[2]
        r[:, 2] = -r[:, 2]
    # Re-orthonormalise (drops shear and numeric drift) with an SVD.
    u, _, vt = np.linalg.svd(r)
    r = u @ vt
    q = quat_from_rotation(r)
    p = np.asarray(m, dtype=np.float64)[:3, 3]
    return (float(p[0]), float(p[1]), float(p[2]), *q, float(scale[0]), float(scale[1]),
            float(scale[2]))


def axis_angle(r: NDArray[np.floating]) -> tuple[NDArray[np.float64], float]:
    """Return ``(unit axis, angle in radians)`` of a 3×3 rotation (axis z for no rotation)."""
    x, y, z, w = quat_from_rotation(r)
    s = math.sqrt(x * x + y * y + z * z)
    if s < 1e-12:
        return np.array((0.0, 0.0, 1.0)), 0.0
    return np.array((x / s, y / s, z / s)), 2.0 * math.atan2(s, w)


def rotation_about(axis: NDArray[np.floating], angle: float) -> Matrix:
    """Return the 3×3 rotation by ``angle`` radians about the unit ``axis``."""
    h = angle / 2.0
    s = math.sin(h)
    return rotation_from_quat(axis[0] * s, axis[1] * s, axis[2] * s, math.cos(h))


def box_corners(bounds: Sequence[float]) -> NDArray[np.float64]:
    """Return the 8 corners (8×3) of ``(xmin, ymin, zmin, xmax, ymax, zmax)``."""
    x0, y0, z0, x1, y1, z1 = bounds
    return np.array(
        [[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
         [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]],
        dtype=np.float64,
    )


def apply_matrix(m: NDArray[np.floating], pts: NDArray[np.floating]) -> NDArray[np.float64]:
    """Return ``pts`` (n×3) transformed by the 4×4 matrix ``m``."""
    mm = np.asarray(m, dtype=np.float64)
    return np.asarray(pts, dtype=np.float64) @ mm[:3, :3].T + mm[:3, 3]
