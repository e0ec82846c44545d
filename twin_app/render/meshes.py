"""Decoded mesh geometry, shared between the instances of one mesh.

Design notes
------------
* A mesh blob is decoded once per content hash. The entry keeps the local-space vertices
  (float32, read-only) and one ``vtkCellArray`` with the triangles; every block drawing that
  mesh refers to that same cell array, so 200 instances of a bolt cost one connectivity
  array. Only the world-space points differ per block (the transform is baked into them
  because composite mappers have no per-block matrix).
* Entries are reference-counted by the blocks that use them and dropped when the last
  block goes, so memory follows the scene, not its history.
* ``mesh_source(hash)`` returns the blob bytes or ``None`` when the blob has not arrived;
  ``None`` is not cached (the caller draws a placeholder and asks again later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin_app.core import meshblob
from twin_app.io.typed import Float32Array, IntArray
from twin_app.render._vtk import numpy_to_vtkIdTypeArray, vtkCellArray

log = logging.getLogger(__name__)

MeshSource = Callable[[str], "bytes | None"]

# Triangles of a box, as indices into ``transforms.box_corners`` order, outward facing.
BOX_FACES = np.array(
    [[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
     [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]],
    dtype=np.int64,
)
DEFAULT_PLACEHOLDER_SIZE = 0.2  # metres: the cube drawn for a part without a "bbox"


@dataclass(slots=True)
class MeshEntry:
    """One decoded mesh: local vertices, shared triangle cells and local bounds."""

    vertices: Float32Array
    cells: vtkCellArray
    triangles: int
    bounds: tuple[float, ...]
    users: int = 0


def make_cells(faces: IntArray) -> vtkCellArray:
    """Return a ``vtkCellArray`` of triangles from an (m, 3) index array."""
    f = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1)
    offsets = np.arange(0, len(f) + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_to_vtkIdTypeArray(f, deep=True))
    return cells


def box_vertices(bounds: Sequence[float]) -> Float32Array:
    """Return the 8 corners of ``bounds`` as float32 (8, 3), in ``BOX_FACES`` order."""
    x0, y0, z0, x1, y1, z1 = (float(b) for b in bounds)
    return np.array(
        [[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
         [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]],
        dtype=np.float32,
    )


def placeholder_bounds(bbox: object) -> tuple[float, ...]:
    """Return the placeholder box for a part: its ``bbox`` property, else a small cube."""
    if isinstance(bbox, tuple) and len(bbox) == 6:
        lo, hi = bbox[:3], bbox[3:]
        if all(h >= lo_ for lo_, h in zip(lo, hi, strict=True)):
            return tuple(float(v) for v in bbox)
    h = DEFAULT_PLACEHOLDER_SIZE / 2
    return (-h, -h, -h, h, h, h)


class MeshCache:
    """Decoded meshes by content hash, fed by a ``mesh_source`` callable."""

    def __init__(self, source: MeshSource) -> None:
        self._source = source
        self._entries: dict[str, MeshEntry] = {}
        self._box_cells = make_cells(BOX_FACES)
        self.decodes = 0  # how many blobs were decoded (for tests and profiling)

    @property
    def box_cells(self) -> vtkCellArray:
        """The triangle cells shared by every placeholder box."""
        return self._box_cells

    def acquire(self, mesh_hash: str) -> MeshEntry | None:
        """Return the entry for ``mesh_hash`` (decoding it if needed) and count one user.

        Returns ``None`` if the blob is not available yet or is not a valid mesh (logged).
        """
        entry = self._entries.get(mesh_hash)
        if entry is None:
            entry = self._load(mesh_hash)
            if entry is None:
                return None
            self._entries[mesh_hash] = entry
        entry.users += 1
        return entry

    def release(self, mesh_hash: str) -> None:
        """Drop one user of ``mesh_hash``; the entry is freed with its last user."""
        entry = self._entries.get(mesh_hash)
        if entry is None:
            return
        entry.users -= 1
        if entry.users <= 0:
            del self._entries[mesh_hash]

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __contains__(self, mesh_hash: object) -> bool:
        return mesh_hash in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self, mesh_hash: str) -> MeshEntry | None:
        blob = self._source(mesh_hash)
        if blob is None:
            return None
        try:
            vertices, faces = meshblob.decode(blob)
        except meshblob.MeshBlobError as exc:
            log.warning("mesh %s cannot be drawn: %s", mesh_hash[:12], exc)
            return None
        self.decodes += 1
        verts = np.array(vertices, dtype=np.float32)  # native-endian copy we own
        verts.setflags(write=False)
        return MeshEntry(verts, make_cells(faces), len(faces), meshblob.bounds(verts))
