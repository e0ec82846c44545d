"""Mesh blobs: the content-addressed binary form of a triangle mesh.

A mesh travels and is stored as one blob, addressed by the SHA-256 of its bytes:
``b"TWM1"`` + a msgpack map ``{"v": <float32 xyz bytes>, "f": <uint32 triangle bytes>}``.
Raw little-endian arrays load with ``numpy.frombuffer`` — no parsing per vertex. Nodes
refer to a mesh by this hash (``Node.mesh``), so repeated parts (instances) share one blob.
"""

from __future__ import annotations

import msgpack
import numpy as np
from numpy.typing import NDArray

from twin_app.core.ids import content_hash

MAGIC = b"TWM1"
MAX_VERTICES = 20_000_000
MAX_TRIANGLES = 40_000_000


class MeshBlobError(ValueError):
    """A blob that is not a valid mesh."""


def digest(blob: bytes) -> str:
    """Return the content hash (lowercase hex SHA-256) that names ``blob``."""
    return content_hash(blob)


def encode(vertices: NDArray[np.floating], faces: NDArray[np.integer]) -> bytes:
    """Encode vertices ``(n, 3)`` and triangles ``(m, 3)`` into a blob."""
    v = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    f = np.ascontiguousarray(faces, dtype="<u4").reshape(-1, 3)
    if len(f) and int(f.max()) >= len(v):
        raise MeshBlobError("a face refers to a vertex that does not exist")
    return MAGIC + msgpack.packb({"v": v.tobytes(), "f": f.tobytes()}, use_bin_type=True)


def decode(blob: bytes) -> tuple[NDArray[np.float32], NDArray[np.uint32]]:
    """Return ``(vertices, faces)`` from a blob. Raises ``MeshBlobError``."""
    if not blob.startswith(MAGIC):
        raise MeshBlobError("not a Twinroom mesh blob")
    try:
        body = msgpack.unpackb(blob[len(MAGIC):], raw=False)
        vb, fb = body["v"], body["f"]
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise MeshBlobError(f"corrupt mesh blob: {exc}") from exc
    if not isinstance(vb, bytes) or not isinstance(fb, bytes) or len(vb) % 12 or len(fb) % 12:
        raise MeshBlobError("corrupt mesh blob: array sizes")
    v = np.frombuffer(vb, dtype="<f4").reshape(-1, 3)
    f = np.frombuffer(fb, dtype="<u4").reshape(-1, 3)
    if len(v) > MAX_VERTICES or len(f) > MAX_TRIANGLES:
        raise MeshBlobError("mesh too large")
    if len(f) and int(f.max()) >= len(v):
        raise MeshBlobError("a face refers to a vertex that does not exist")
    if not np.isfinite(v).all():
        raise MeshBlobError("mesh has non-finite coordinates")
    return v, f


def bounds(vertices: NDArray[np.floating]) -> tuple[float, ...]:
    """Return ``(xmin, ymin, zmin, xmax, ymax, zmax)`` of a vertex array (zeros if empty)."""
    if len(vertices) == 0:
        return (0.0,) * 6
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return tuple(float(x) for x in (*lo, *hi))
