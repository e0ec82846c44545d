"""Transform arithmetic for the UI: quaternions ↔ Euler degrees, 4×4 matrices, reparenting.

A node's ``transform`` is local to its parent: ``(px, py, pz, qx, qy, qz, qw, sx, sy, sz)``,
applied as scale, then rotation, then translation. Euler angles shown to users are XYZ in
the fixed (extrinsic) frame — rotate about X, then Y, then Z — i.e. ``R = Rz · Ry · Rx``,
the convention of Blender's default "XYZ Euler" mode.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from twin_app.core.document import IDENTITY, Document

Transform = tuple[float, ...]


def quat_to_euler(q: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """Return XYZ Euler angles in degrees for the unit quaternion ``(x, y, z, w)``."""
    x, y, z, w = _normalised(q)
    sinr = 2.0 * (w * x + y * z)
    cosr = 1.0 - 2.0 * (x * x + y * y)
    rx = math.atan2(sinr, cosr)
    sinp = max(-1.0, min(1.0, 2.0 * (w * y - z * x)))
    ry = math.asin(sinp)
    siny = 2.0 * (w * z + x * y)
    cosy = 1.0 - 2.0 * (y * y + z * z)
    rz = math.atan2(siny, cosy)
    return (math.degrees(rx), math.degrees(ry), math.degrees(rz))


def euler_to_quat(rx: float, ry: float, rz: float) -> tuple[float, float, float, float]:
    """Return the quaternion ``(x, y, z, w)`` for XYZ Euler angles in degrees."""
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


def _normalised(q: tuple[float, ...]) -> tuple[float, float, float, float]:
    n = math.sqrt(sum(c * c for c in q)) or 1.0
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


def matrix(t: Transform) -> NDArray[np.float64]:
    """Return the 4×4 matrix of a 10-float transform."""
    x, y, z, w = _normalised(t[3:7])
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    m = np.eye(4)
    m[:3, :3] = rot * np.asarray(t[7:10], dtype=float)
    m[:3, 3] = t[0:3]
    return m


def decompose(m: NDArray[np.float64]) -> Transform:
    """Return the 10-float transform of a 4×4 matrix (shear, if any, is dropped)."""
    cols = m[:3, :3]
    scale = np.linalg.norm(cols, axis=0)
    scale[scale < 1e-12] = 1e-12
    rot = cols / scale
    if np.linalg.det(rot) < 0:  # a mirror: carry it in one scale component
        scale[0] = -scale[0]
        rot[:, 0] = -rot[:, 0]
    q = _rot_to_quat(rot)
    return (*(float(v) for v in m[:3, 3]), *q, *(float(s) for s in scale))


def _rot_to_quat(r: NDArray[np.float64]) -> tuple[float, float, float, float]:
    tr = r[0, 0] + r[1, 1] + r[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = ((r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s)
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = (0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s)
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = ((r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s)
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = ((r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s)
    x, y, z, w = _normalised(tuple(float(c) for c in q))
    if w < 0:  # one canonical sign, so equal rotations compare equal
        x, y, z, w = -x, -y, -z, -w
    return (x, y, z, w)


def world_matrix(doc: Document, node_id: str | None) -> NDArray[np.float64]:
    """Return the world matrix of ``node_id`` (identity for the root or ``None``)."""
    m = np.eye(4)
    node = doc.get(node_id) if node_id else None
    while node is not None and node.parent is not None:
        m = matrix(node.transform) @ m
        node = doc.get(node.parent)
    return m


def reparented(doc: Document, node_id: str, new_parent: str) -> Transform:
    """Return the local transform that keeps ``node_id`` where it is under ``new_parent``."""
    world = world_matrix(doc, node_id)
    return decompose(np.linalg.inv(world_matrix(doc, new_parent)) @ world)


def close(a: Transform, b: Transform, tol: float = 1e-6) -> bool:
    """True if two transforms are equal within ``tol`` (quaternion sign ignored)."""
    if any(abs(x - y) > tol for x, y in zip(a[:3] + a[7:], b[:3] + b[7:], strict=True)):
        return False
    dot = abs(sum(x * y for x, y in zip(_normalised(a[3:7]), _normalised(b[3:7]), strict=True)))
    return dot > 1 - tol


__all__ = ["IDENTITY", "close", "decompose", "euler_to_quat", "matrix", "quat_to_euler",
           "reparented", "world_matrix"]
