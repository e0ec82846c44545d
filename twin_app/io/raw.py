"""The neutral form every reader produces before meshes become blobs and parts.

Readers (trimesh for most formats, our own for STL and 3MF) fill a ``RawScene``: unique
meshes, and either a node tree (``nodes``: groups and placed meshes, each matrix local to
its parent, as glTF, STEP and COLLADA files hold them) or a flat list of ``instances``
(each matrix in the file's frame). ``importers`` then converts units and up-axis,
validates, deduplicates and encodes.

A mesh with several materials keeps them as ``blocks``: face subsets with a name and a
colour, imported as one part whose blocks are drawn in their own colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from twin_app.core.xform import Matrix
from twin_app.io.typed import FloatArray, IntArray


@dataclass
class RawBlock:
    """The faces of a mesh that use one material."""

    name: str
    faces: IntArray  # indices into the mesh's faces
    color: tuple[float, float, float] | None = None


@dataclass
class RawMesh:
    """One triangle mesh as the file stores it (colours already in sRGB)."""

    name: str
    vertices: FloatArray
    faces: IntArray
    color: tuple[float, float, float] | None = None
    blocks: list[RawBlock] = field(default_factory=list)


@dataclass
class RawInstance:
    """A placement of ``meshes[mesh]`` with ``matrix`` (4×4, file units, file frame)."""

    name: str
    mesh: int
    matrix: Matrix


@dataclass
class RawNode:
    """A node of the file's tree: a group (``mesh`` None) or a placed mesh.

    ``parent`` indexes ``RawScene.nodes`` (None: a top-level node) and comes before the
    node; ``matrix`` is local to the parent (file units, file frame). ``name`` is the
    file's own name ("" when it has none); ``props`` are extra text properties (e.g. a
    STEP instance name).
    """

    name: str
    parent: int | None
    matrix: Matrix
    mesh: int | None = None
    props: dict[str, str] = field(default_factory=dict)
    kind: str | None = None
    """Twinroom's node kind when the file records it (a GLB Twinroom exported)."""


@dataclass
class RawScene:
    """What one file holds.

    ``unit`` is metres per file unit and ``declared`` says whether the file states it (or
    the format fixes it, as glTF does); ``up`` is the file's up axis.
    """

    meshes: list[RawMesh] = field(default_factory=list)
    instances: list[RawInstance] = field(default_factory=list)
    nodes: list[RawNode] = field(default_factory=list)
    unit: float = 1.0
    declared: bool = False
    up: Literal["y", "z"] = "z"
    unit_label: str | None = None
    """The unit the file was drawn in when the reader already converted to ``unit``."""

    def tree(self) -> list[RawNode]:
        """Return ``nodes``, or the flat ``instances`` as top-level nodes when no tree."""
        if self.nodes:
            return self.nodes
        return [RawNode(i.name, None, i.matrix, i.mesh) for i in self.instances]
