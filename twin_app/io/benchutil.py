"""Benchmark helpers for mesh import (used by the benchmark suite and the tests).

``bench_import_1m`` writes a binary STL of a 1,000,000-triangle wavy surface (shared
corners, as a CAD export has) and times ``import_file`` on it: read, weld, encode, hash.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from twin_app.io.importers import import_file
from twin_app.io.typed import Float32Array


def grid_triangles(n_triangles: int) -> Float32Array:
    """Return ``(n_triangles, 3, 3)`` corners of a wavy square surface."""
    cells = (n_triangles + 1) // 2
    k = int(np.ceil(np.sqrt(cells))) + 1
    xs, ys = np.meshgrid(np.linspace(0.0, 10.0, k), np.linspace(0.0, 10.0, k))
    zs = 0.2 * np.sin(xs) * np.cos(ys)
    verts = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1).astype(np.float32)
    ii, jj = np.meshgrid(np.arange(k - 1), np.arange(k - 1))
    a = (jj * k + ii).ravel()
    b, c = a + 1, a + k
    d = c + 1
    faces = np.empty((2 * len(a), 3), dtype=np.int64)
    faces[0::2] = np.stack([a, b, d], axis=1)
    faces[1::2] = np.stack([a, d, c], axis=1)
    return verts[faces[:n_triangles]]


def write_binary_stl(path: Path, corners: Float32Array) -> None:
    """Write ``(n, 3, 3)`` triangle corners as a binary STL (normals left zero)."""
    record = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(corners), dtype=record)
    data["corners"] = corners
    with path.open("wb") as fh:
        fh.write(b"Twinroom benchmark surface".ljust(80, b" "))
        fh.write(np.uint32(len(corners)).tobytes())
        fh.write(data.tobytes())


def bench_import_1m(tmpdir: Path | str, triangles: int = 1_000_000) -> float:
    """Write a ``triangles``-triangle binary STL into ``tmpdir`` and return the seconds one
    ``import_file`` call takes on it (file already in the page cache). Raises
    ``AssertionError`` if the import lost triangles."""
    path = Path(tmpdir) / f"bench-{triangles}.stl"
    write_binary_stl(path, grid_triangles(triangles))
    path.read_bytes()  # warm the page cache: measure parsing, not the disk
    t0 = time.perf_counter()
    result = import_file(path)
    elapsed = time.perf_counter() - t0
    if result.triangles != triangles:
        raise AssertionError(f"imported {result.triangles} triangles, expected {triangles}")
    return elapsed
