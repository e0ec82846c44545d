"""Node transforms as 4×4 matrices and back, world matrices, Euler angles (numpy only).

A node's transform is ten floats ``(px, py, pz, qx, qy, qz, qw, sx, sy, sz)``, local to its
parent and applied as scale, then rotation (unit quaternion x y z w), then translation —
the glTF convention, so its matrix is ``T · R · S`` for column vectors, and a node's world
matrix is its parent's world matrix times its own. The one copy of this arithmetic, used
by the importers, the renderer, the move/rotate handle and the inspector.

Going back from a matrix: a mirror becomes a negative x scale, the quaternion's sign is
fixed (``w >= 0``) so equal rotations give equal transforms. A matrix with shear has no
exact ten-float form: ``decompose`` says so (the importer bakes it into vertices),
``to_transform`` drops it (the handle and the inspector).

Euler angles shown to users are XYZ in the fixed frame (``R = Rz · Ry · Rx``), degrees —
Blender's default "XYZ Euler".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from twin_app.core.document import Document

Matrix = NDArray[np.float64]
Transform = tuple[float, ...]
_ORTHO_TOL = 1e-5


def quat_to_matrix(q: Sequence[float]) -> Matrix:
    """Return the 3×3 rotation of quaternion ``(x, y, z, w)`` (normalised; zero → identity)."""
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
    """Return the unit quaternion ``(x, y, z, w)``, ``w >= 0``, of a proper 3×3 rotation."""
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


def matrix(t: Sequence[float]) -> Matrix:
    """Return the 4×4 matrix ``T · R · S`` of a ten-float node transform."""
    m = np.eye(4)
    m[:3, :3] = quat_to_matrix(t[3:7]) * np.asarray(t[7:10], dtype=np.float64)
    m[:3, 3] = t[0:3]
    return m


def _split(lin: Matrix) -> tuple[NDArray[np.float64], Matrix] | None:
    """Per-axis scale and the rest of a 3×3 linear part (a mirror on x), or None if singular."""
    scale = np.linalg.norm(lin, axis=0)
    if not np.all(scale > 1e-12):
        return None
    rot = lin / scale
    if np.linalg.det(rot) < 0:  # a mirror: carry it as a negative x scale
        scale[0] = -scale[0]
        rot[:, 0] = -rot[:, 0]
    return scale, rot


def decompose(m: NDArray[np.floating]) -> tuple[Transform, Matrix | None]:
    """Split a 4×4 affine matrix exactly into a ten-float transform.

    Returns ``(transform, bake)``: ``bake`` is ``None`` when ``m`` is exactly translation ·
    rotation · scale; otherwise (shear, or a zero scale) ``transform`` carries only the
    translation and ``bake`` is the 3×3 linear part to apply to the vertices instead.
    """
    mat: Matrix = np.asarray(m, dtype=np.float64)
    lin = mat[:3, :3]
    pos = tuple(float(c) for c in mat[:3, 3])
    parts = _split(lin.copy())
    if parts is not None:
        scale, rot = parts
        if np.abs(rot.T @ rot - np.eye(3)).max() < _ORTHO_TOL:
            return (*pos, *matrix_to_quat(rot), *(float(s) for s in scale)), None
    return (*pos, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0), lin.copy()


def to_transform(m: NDArray[np.floating]) -> Transform:
    """Return the ten-float transform closest to a 4×4 matrix (shear dropped).

    Raises ``ValueError`` for a singular matrix.
    """
    mat: Matrix = np.asarray(m, dtype=np.float64)
    parts = _split(mat[:3, :3].copy())
    if parts is None:
        raise ValueError("singular transform matrix")
    scale, rot = parts
    u, _, vt = np.linalg.svd(rot)  # nearest rotation: drops shear and numeric drift
    q = matrix_to_quat(u @ vt)
    return (*(float(c) for c in mat[:3, 3]), *q, *(float(s) for s in scale))


def world_matrix(doc: Document, node_id: str | None) -> Matrix:
    """Return the world matrix of one node (identity for ``None`` or an unknown id)."""
    m = np.eye(4)
    node = doc.get(node_id) if node_id else None
    while node is not None:
        m = matrix(node.transform) @ m
        node = doc.get(node.parent) if node.parent is not None else None
    return m


def world_matrices(doc: Document) -> dict[str, Matrix]:
    """Return every node's world matrix (``parent ∘ child`` down from the root)."""
    out: dict[str, Matrix] = {}
    for node in doc.walk():
        local = matrix(node.transform)
        parent = out.get(node.parent) if node.parent is not None else None
        out[node.id] = local if parent is None else parent @ local
    return out


def reparented(doc: Document, node_id: str, new_parent: str) -> Transform:
    """Return the local transform that keeps ``node_id`` where it is under ``new_parent``."""
    world = world_matrix(doc, node_id)
    return to_transform(np.linalg.inv(world_matrix(doc, new_parent)) @ world)


def close(a: Transform, b: Transform, tol: float = 1e-6) -> bool:
    """True if two transforms are equal within ``tol`` (quaternion sign ignored)."""
    if any(abs(x - y) > tol for x, y in zip(a[:3] + a[7:], b[:3] + b[7:], strict=True)):
        return False
    qa, qb = np.asarray(a[3:7], dtype=float), np.asarray(b[3:7], dtype=float)
    dot = abs(float(qa @ qb)) / max(float(np.linalg.norm(qa) * np.linalg.norm(qb)), 1e-12)
    return dot > 1 - tol


def quat_to_euler(q: Sequence[float]) -> tuple[float, float, float]:
    """Return XYZ Euler angles in degrees of quaternion ``(x, y, z, w)``."""
    n = math.sqrt(sum(c * c for c in q)) or 1.0
    x, y, z, w = (c / n for c in q)
    rx = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    ry = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
    rz = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return (math.degrees(rx), math.degrees(ry), math.degrees(rz))


def euler_to_quat(rx: float, ry: float, rz: float) -> tuple[float, float, float, float]:
    """Return the quaternion ``(x, y, z, w)`` of XYZ Euler angles in degrees."""
    hx, hy, hz = (math.radians(a) / 2.0 for a in (rx, ry, rz))
    cx, sx = math.cos(hx), math.sin(hx)
    cy, sy = math.cos(hy), math.sin(hy)
    cz, sz = math.cos(hz), math.sin(hz)
    return (
        sx * cy * cz - cx * sy * sz,
        cx * sy * cz + sx * cy * sz,
        cx * cy * sz - sx * sy * cz,
        cx * cy * cz + sx * sy * sz,
    )
