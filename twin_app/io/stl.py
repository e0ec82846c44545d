"""Binary STL, read with numpy alone, and exact vertex welding.

Binary STL is by far the most common large file users bring (CAD exports of whole
machines), so it gets a dedicated path: one ``numpy.frombuffer`` over the 50-byte records
instead of a general loader. ASCII STL goes through trimesh (see ``importers``).

STL stores every triangle with its own three corners. ``weld`` merges corners with
bit-identical coordinates so the mesh blob holds each vertex once (about 6× fewer vertex
bytes for a closed CAD mesh). It sorts the raw 32-bit patterns with one ``lexsort`` rather
than ``numpy.unique(axis=0)``, which is several times slower on millions of rows.
"""

from __future__ import annotations

import numpy as np

from twin_app.io.typed import Float32Array, UInt32Array

HEADER = 80
RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])


class StlFormatError(ValueError):
    """A file that is not a well-formed binary STL."""


def binary_triangle_count(data: bytes) -> int | None:
    """Return the triangle count if ``data`` is laid out as a binary STL, else ``None``.

    A binary STL is an 80-byte header, a uint32 count and ``count`` 50-byte records. Files
    with a few stray bytes after the last record (some exporters pad) are accepted.
    """
    if len(data) < HEADER + 4:
        return None
    count = int.from_bytes(data[HEADER : HEADER + 4], "little")
    expected = HEADER + 4 + RECORD.itemsize * count
    if expected == len(data):
        return count
    if expected < len(data) <= expected + RECORD.itemsize and not _looks_ascii(data):
        return count
    return None


def _looks_ascii(data: bytes) -> bool:
    return data[:512].lstrip().lower().startswith(b"solid") and b"facet" in data[:4096]


def declared_count(data: bytes) -> int:
    """Return the triangle count a binary header declares (0 if the file is too short)."""
    if len(data) < HEADER + 4:
        return 0
    return int.from_bytes(data[HEADER : HEADER + 4], "little")


def read_binary(data: bytes, count: int) -> Float32Array:
    """Return the triangle corners ``(count, 3, 3)`` of a binary STL (a copy)."""
    end = HEADER + 4 + RECORD.itemsize * count
    if end > len(data):
        raise StlFormatError("the file is shorter than its triangle count says")
    records = np.frombuffer(data, dtype=RECORD, count=count, offset=HEADER + 4)
    return np.ascontiguousarray(records["corners"])


def weld(corners: Float32Array) -> tuple[Float32Array, UInt32Array]:
    """Merge bit-identical corners of ``(n, 3, 3)`` triangles into ``(vertices, faces)``.

    ``-0.0`` and ``0.0`` are treated as the same coordinate. Vertices come out sorted by
    their coordinates, which is deterministic for a given input.
    """
    flat = corners.reshape(-1, 3) + np.float32(0.0)  # adding +0.0 turns -0.0 into 0.0
    if len(flat) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32)
    bits = flat.view(np.uint32)
    xy = (bits[:, 0].astype(np.uint64) << np.uint64(32)) | bits[:, 1].astype(np.uint64)
    order = np.lexsort((bits[:, 2], xy))
    sxy, sz = xy[order], bits[order, 2]
    first = np.empty(len(order), dtype=bool)
    first[0] = True
    np.not_equal(sxy[1:], sxy[:-1], out=first[1:])
    first[1:] |= sz[1:] != sz[:-1]
    ids = np.cumsum(first, dtype=np.int64) - 1
    inverse = np.empty(len(order), dtype=np.uint32)
    inverse[order] = ids
    vertices = flat[order[first]]
    return vertices, inverse.reshape(-1, 3)
