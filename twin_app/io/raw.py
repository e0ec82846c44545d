"""The neutral form every reader produces before meshes become blobs and parts.

Readers (trimesh for most formats, our own for binary STL and 3MF) fill a ``RawScene``:
unique meshes, and instances that place a mesh with a 4×4 matrix in the file's frame.
``importers`` then converts units and up-axis, validates, deduplicates and encodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from twin_app.core.xform import Matrix
from twin_app.io.typed import FloatArray, IntArray


@dataclass
class RawMesh:
    """One triangle mesh as the file stores it."""

    name: str
    vertices: FloatArray
    faces: IntArray
    color: tuple[float, float, float] | None = None


@dataclass
class RawInstance:
    """A placement of ``meshes[mesh]`` with ``matrix`` (4×4, file units, file frame)."""

    name: str
    mesh: int
    matrix: Matrix


@dataclass
class RawScene:
    """What one file holds. ``unit`` is metres per file unit; ``up`` the file's up axis."""

    meshes: list[RawMesh] = field(default_factory=list)
    instances: list[RawInstance] = field(default_factory=list)
    unit: float = 1.0
    up: Literal["y", "z"] = "z"
