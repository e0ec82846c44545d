"""Geometry helpers of the renderer and the handle (numpy only, no VTK).

Transform arithmetic itself (matrix ↔ ten floats, quaternions) is ``twin_app.core.xform``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from twin_app.core.xform import Matrix, matrix_to_quat, quat_to_matrix
from twin_app.io.typed import Float64Array, FloatArray

IDENTITY4: Matrix = np.eye(4)
IDENTITY4.setflags(write=False)


def axis_angle(r: FloatArray) -> tuple[Float64Array, float]:
    """Return ``(unit axis, angle in radians)`` of a 3×3 rotation (axis z for no rotation)."""
    x, y, z, w = matrix_to_quat(r)
    s = math.sqrt(x * x + y * y + z * z)
    if s < 1e-12:
        return np.array((0.0, 0.0, 1.0)), 0.0
    return np.array((x / s, y / s, z / s)), 2.0 * math.atan2(s, w)


def rotation_about(axis: FloatArray, angle: float) -> Matrix:
    """Return the 3×3 rotation by ``angle`` radians about the unit ``axis``."""
    h = angle / 2.0
    s = math.sin(h)
    return quat_to_matrix((axis[0] * s, axis[1] * s, axis[2] * s, math.cos(h)))


def box_corners(bounds: Sequence[float] | FloatArray) -> Float64Array:
    """Return the 8 corners (8×3) of ``(xmin, ymin, zmin, xmax, ymax, zmax)``."""
    x0, y0, z0, x1, y1, z1 = bounds
    return np.array(
        [[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
         [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]],
        dtype=np.float64,
    )


def apply_matrix(m: FloatArray, pts: FloatArray) -> Float64Array:
    """Return ``pts`` (n×3) transformed by the 4×4 matrix ``m``."""
    mm = np.asarray(m, dtype=np.float64)
    return np.asarray(pts, dtype=np.float64) @ mm[:3, :3].T + mm[:3, 3]
