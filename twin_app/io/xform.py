"""Node transforms as 4×4 matrices, and back.

A node's transform is ten floats ``(px, py, pz, qx, qy, qz, qw, sx, sy, sz)``: scale first,
then rotation (unit quaternion, x y z w), then translation — the glTF convention, so a
matrix is ``T @ R @ S`` for column vectors. A child's world matrix is its parent's world
matrix times its own (``world = parent ∘ child``).

Going back from a matrix to ten floats is exact for any rotation, translation and per-axis
scale (a mirror becomes a negative x scale). A matrix with shear has no such form:
``decompose`` then keeps only the translation and hands back the linear part, which the
caller bakes into the mesh vertices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from twin_app.core.document import Document

Matrix = NDArray[np.float64]

# Rotation taking glTF's +Y-up frame to our +Z-up frame (+90° about X), and back.
Y_UP_TO_Z_UP: Matrix = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
Z_UP_TO_Y_UP: Matrix = Y_UP_TO_Z_UP.T.copy()

_ORTHO_TOL = 1e-5


def y_up_to_z_up(points: NDArray[np.floating]) -> NDArray[np.floating]:
    """Return ``(x, y, z)`` rows of a +Y-up frame as ``(x, -z, y)``: exact, signed zeros kept."""
    out = points[:, [0, 2, 1]]
    out[:, 1] *= -1
    return out


def z_up_to_y_up(points: NDArray[np.floating]) -> NDArray[np.floating]:
    """Inverse of ``y_up_to_z_up``: ``(x, y, z)`` → ``(x, z, -y)``."""
    out = points[:, [0, 2, 1]]
    out[:, 2] *= -1
    return out


def quat_to_matrix(q: Sequence[float]) -> Matrix:
    """Return the 3×3 rotation matrix of quaternion ``(x, y, z, w)`` (normalised first)."""
    x, y, z, w = (float(c) for c in q)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if n < 1e-12:
        return np.eye(3)
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(r: NDArray[np.floating]) -> tuple[float, float, float, float]:
    """Return the unit quaternion ``(x, y, z, w)`` of a proper rotation matrix, ``w >= 0``."""
    m = np.asarray(r, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    n = math.sqrt(x * x + y * y + z * z + w * w)
    sign = -1.0 if w < 0 else 1.0  # q and -q are the same rotation: pick one, deterministically
    return (float(sign * x / n), float(sign * y / n), float(sign * z / n), float(sign * w / n))


def trs_to_matrix(t: Sequence[float]) -> Matrix:
    """Return the 4×4 matrix ``T @ R @ S`` of a ten-float node transform."""
    m = np.eye(4)
    m[:3, :3] = quat_to_matrix(t[3:7]) * np.asarray(t[7:10], dtype=np.float64)
    m[:3, 3] = t[0:3]
    return m


def decompose(m: NDArray[np.floating]) -> tuple[tuple[float, ...], Matrix | None]:
    """Split a 4×4 affine matrix into a ten-float transform.

    Returns ``(transform, bake)``: ``bake`` is ``None`` when ``m`` is exactly translation ·
    rotation · scale; otherwise (shear, or a zero scale) ``transform`` carries only the
    translation and ``bake`` is the 3×3 linear part to apply to the vertices instead.
    """
    mat: Matrix = np.asarray(m, dtype=np.float64)
    lin = mat[:3, :3]
    pos = tuple(float(c) for c in mat[:3, 3])
    scale = np.linalg.norm(lin, axis=0)
    if np.all(scale > 1e-12):
        rot = lin / scale
        if np.linalg.det(rot) < 0:  # a mirror: carry it as a negative x scale
            scale[0] = -scale[0]
            rot[:, 0] = -rot[:, 0]
        if np.abs(rot.T @ rot - np.eye(3)).max() < _ORTHO_TOL:
            q = matrix_to_quat(rot)
            return (*pos, *q, *(float(s) for s in scale)), None
    return (*pos, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0), lin.copy()


def world_matrices(doc: Document) -> dict[str, Matrix]:
    """Return every node's world matrix (``parent ∘ child`` down from the root)."""
    out: dict[str, Matrix] = {}
    for node in doc.walk():
        local = trs_to_matrix(node.transform)
        parent = out.get(node.parent) if node.parent is not None else None
        out[node.id] = local if parent is None else parent @ local
    return out


def world_matrix(doc: Document, node_id: str) -> Matrix:
    """Return the world matrix of one node (identity for an unknown id)."""
    chain: list[Matrix] = []
    node = doc.get(node_id)
    while node is not None:
        chain.append(trs_to_matrix(node.transform))
        node = doc.get(node.parent) if node.parent is not None else None
    m = np.eye(4)
    for local in reversed(chain):
        m = m @ local
    return m
