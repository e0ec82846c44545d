"""Axis conventions at the file-format boundary (the transform arithmetic is core.xform).

glTF is +Y up; Twinroom is +Z up. These convert points and matrices at import and export.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from twin_app.core.xform import Matrix
from twin_app.io.typed import FloatT

# Rotation taking glTF's +Y-up frame to our +Z-up frame (+90° about X), and back.
Y_UP_TO_Z_UP: Matrix = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
Z_UP_TO_Y_UP: Matrix = Y_UP_TO_Z_UP.T.copy()


def y_up_to_z_up(points: NDArray[FloatT]) -> NDArray[FloatT]:
    """Return ``(x, y, z)`` rows of a +Y-up frame as ``(x, -z, y)``: exact, signed zeros kept."""
    out = points[:, [0, 2, 1]]
    out[:, 1] *= -1
    return out


def z_up_to_y_up(points: NDArray[FloatT]) -> NDArray[FloatT]:
    """Inverse of ``y_up_to_z_up``: ``(x, y, z)`` → ``(x, z, -y)``."""
    out = points[:, [0, 2, 1]]
    out[:, 2] *= -1
    return out
