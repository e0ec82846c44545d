"""3MF reader: zip package + 3D model XML, streamed through expat.

Why our own reader: trimesh's 3MF support needs lxml and networkx, and a 3MF file is a
zip — the classic place for decompression bombs. Here every member is read through a hard
byte budget (``fh.read(budget + 1)``, so a lying header cannot inflate past it), the XML
is parsed with expat handlers (no element tree, so a million-vertex mesh does not become
a million Python objects), documents with a DTD or entity declarations are refused (3MF
forbids them; this also shuts out entity-expansion attacks), and component references are
expanded with a depth and instance bound.

Supported: core spec meshes, components with transforms, build items, ``basematerials``
and ``m:colorgroup`` colours (object-level, else the first triangle's), the model
``unit``, and the production extension's ``p:path`` (objects in other model parts, as
Bambu Studio and PrusaSlicer write them).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.parsers import expat

import numpy as np

from twin_app.core.xform import Matrix
from twin_app.io.raw import RawInstance, RawMesh, RawScene

UNITS = {
    "micron": 1e-6,
    "millimeter": 1e-3,
    "centimeter": 1e-2,
    "inch": 0.0254,
    "foot": 0.3048,
    "meter": 1.0,
}
MAX_MEMBERS = 10_000
MAX_DEPTH = 32
_CHECK_EVERY = 50_000


class ThreeMFError(ValueError):
    """A package that is not a readable 3MF file (message is user-facing)."""


class ThreeMFLimitError(ThreeMFError):
    """A package over one of the reader's size limits."""


@dataclass
class _Object:
    name: str
    pid: str | None = None
    pindex: int = 0
    tri_color: tuple[str, int] | None = None
    xs: list[str] = field(default_factory=list)
    ys: list[str] = field(default_factory=list)
    zs: list[str] = field(default_factory=list)
    tris: list[str] = field(default_factory=list)
    components: list[tuple[str, str, str | None]] = field(default_factory=list)


class _ModelPart:
    """Parses one model XML part with expat callbacks."""

    def __init__(self, part: str, budget: _Budget, check: Callable[[], None]) -> None:
        self.part = part
        self.budget = budget
        self.check = check
        self.unit = 1e-3
        self.objects: dict[str, _Object] = {}
        self.colors: dict[str, list[tuple[float, float, float]]] = {}
        self.items: list[tuple[str, str, str | None]] = []
        self._obj: _Object | None = None
        self._group: list[tuple[float, float, float]] | None = None
        self._count = 0

    def parse(self, data: bytes) -> None:
        parser = expat.ParserCreate(namespace_separator="}")
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_entity
        try:
            parser.Parse(data, True)
        except expat.ExpatError as exc:
            raise ThreeMFError(f"broken XML in {self.part}: {exc}") from exc
        except ThreeMFError:
            raise
        except KeyError as exc:
            raise ThreeMFError(f"an element in {self.part} lacks the attribute {exc}") from exc
        except ValueError as exc:
            raise ThreeMFError(f"a bad number in {self.part} ({exc})") from exc

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        name = tag.rsplit("}", 1)[-1]
        self._count += 1
        if self._count % _CHECK_EVERY == 0:
            self.check()
        obj = self._obj
        if name == "vertex" and obj is not None:
            self.budget.vertex()
            obj.xs.append(attrs["x"])
            obj.ys.append(attrs["y"])
            obj.zs.append(attrs["z"])
        elif name == "triangle" and obj is not None:
            self.budget.triangle()
            obj.tris += (attrs["v1"], attrs["v2"], attrs["v3"])
            if obj.tri_color is None and obj.pid is None and "pid" in attrs:
                obj.tri_color = (attrs["pid"], int(attrs.get("p1", "0")))
        elif name == "object":
            self._obj = _Object(
                attrs.get("name") or f"object {attrs.get('id', '?')}",
                attrs.get("pid"),
                int(attrs.get("pindex", "0")),
            )
            self.objects[attrs["id"]] = self._obj
        elif name == "component" and obj is not None:
            obj.components.append((attrs["objectid"], attrs.get("transform", ""), _path(attrs)))
        elif name == "item":
            self.items.append((attrs["objectid"], attrs.get("transform", ""), _path(attrs)))
        elif name in ("basematerials", "colorgroup"):
            self._group = self.colors.setdefault(attrs["id"], [])
        elif name in ("base", "color") and self._group is not None:
            self._group.append(_hex_color(attrs.get("displaycolor") or attrs.get("color", "")))
        elif name == "model":
            unit = attrs.get("unit", "millimeter")
            if unit not in UNITS:
                raise ThreeMFError(f"unknown unit {unit!r}")
            self.unit = UNITS[unit]

    def _end(self, tag: str) -> None:
        name = tag.rsplit("}", 1)[-1]
        if name == "object":
            self._obj = None
        elif name in ("basematerials", "colorgroup"):
            self._group = None


def _refuse_dtd(*_args: object) -> None:
    raise ThreeMFError("the model XML declares a DTD, which 3MF does not allow")


def _refuse_entity(*_args: object) -> None:
    raise ThreeMFError("the model XML declares entities, which 3MF does not allow")


def _path(attrs: dict[str, str]) -> str | None:
    for key, value in attrs.items():
        if key.endswith("}path"):
            return value.lstrip("/")
    return None


def _hex_color(text: str) -> tuple[float, float, float]:
    h = text.strip().lstrip("#")
    if len(h) not in (6, 8):
        raise ThreeMFError(f"bad colour {text!r}")
    return (int(h[0:2], 16) / 255.0, int(h[2:4], 16) / 255.0, int(h[4:6], 16) / 255.0)


def _matrix(text: str) -> Matrix:
    m = np.eye(4)
    if text.strip():
        values = np.array(text.split(), dtype=np.float64)
        if values.shape != (12,):
            raise ThreeMFError(f"a transform needs 12 numbers, got {values.size}")
        # 3MF writes row vectors (p' = p · M, last row = translation): transpose.
        m[:3, :4] = values.reshape(4, 3).T
    return m


class _Budget:
    def __init__(self, max_bytes: int, max_vertices: int, max_triangles: int) -> None:
        self.bytes = max_bytes
        self.vertices = self.max_vertices = max_vertices
        self.triangles = self.max_triangles = max_triangles

    def take_bytes(self, n: int) -> None:
        self.bytes -= n
        if self.bytes < 0:
            raise ThreeMFLimitError("it unpacks to more than the allowed size; a zip bomb?")

    def vertex(self) -> None:
        self.vertices -= 1
        if self.vertices < 0:
            raise ThreeMFLimitError(f"more than {self.max_vertices:,} vertices")

    def triangle(self) -> None:
        self.triangles -= 1
        if self.triangles < 0:
            raise ThreeMFLimitError(f"more than {self.max_triangles:,} triangles")


def read_3mf(
    path: Path,
    *,
    max_unpacked: int,
    max_vertices: int,
    max_triangles: int,
    max_instances: int,
    check: Callable[[], None] = lambda: None,
) -> RawScene:
    """Read a 3MF package into a ``RawScene`` (units: the model's; up axis: Z).

    ``check`` is called now and then (it may raise to cancel). Raises ``ThreeMFError``
    for anything malformed or over a limit, ``zipfile.BadZipFile`` if it is not a zip.
    """
    budget = _Budget(max_unpacked, max_vertices, max_triangles)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ThreeMFLimitError(f"the package has {len(infos)} entries")
        by_name = {i.filename.lstrip("/"): i for i in infos}
        by_lower = {k.lower(): v for k, v in by_name.items()}

        def read_member(name: str) -> bytes:
            info = by_name.get(name) or by_lower.get(name.lower())
            if info is None:
                raise ThreeMFError(f"the package has no part {name!r}")
            if info.file_size > budget.bytes:
                raise ThreeMFLimitError("it unpacks to more than the allowed size; a zip bomb?")
            with zf.open(info) as fh:
                data = fh.read(budget.bytes + 1)
            budget.take_bytes(len(data))
            return data

        root = _root_model_name(read_member, by_name)
        parts: dict[str, _ModelPart] = {}

        def part(name: str) -> _ModelPart:
            if name not in parts:
                mp = _ModelPart(name, budget, check)
                mp.parse(read_member(name))
                parts[name] = mp
            return parts[name]

        main = part(root)
        scene = RawScene(unit=main.unit, up="z")
        mesh_index: dict[tuple[str, str], int] = {}

        def expand(pname: str, oid: str, m: Matrix, depth: int) -> None:
            if depth > MAX_DEPTH:
                raise ThreeMFError("components nest too deep (or refer to themselves)")
            mp = part(pname)
            obj = mp.objects.get(oid)
            if obj is None:
                raise ThreeMFError(f"object {oid!r} is referenced but not defined in {pname}")
            key = (pname, oid)
            if key not in mesh_index and obj.tris:
                mesh_index[key] = len(scene.meshes)
                scene.meshes.append(_to_mesh(obj, mp))
                obj.xs, obj.ys, obj.zs, obj.tris = [], [], [], []  # free the strings
            if key in mesh_index:
                if len(scene.instances) >= max_instances:
                    raise ThreeMFLimitError(f"more than {max_instances} placed parts")
                scene.instances.append(RawInstance(obj.name, mesh_index[key], m))
            for cid, ctext, cpath in obj.components:
                expand(cpath or pname, cid, m @ _matrix(ctext), depth + 1)

        for oid, text, ipath in main.items:
            check()
            expand(ipath or root, oid, _matrix(text), 0)
    return scene


def _root_model_name(read_member: Callable[[str], bytes], members: dict[str, zipfile.ZipInfo]) -> str:
    if "_rels/.rels" in members:
        targets: list[str] = []

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag.rsplit("}", 1)[-1] == "Relationship" and attrs.get("Type", "").endswith("/3dmodel"):
                targets.append(attrs.get("Target", "").lstrip("/"))

        parser = expat.ParserCreate(namespace_separator="}")
        parser.StartElementHandler = start
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_entity
        try:
            parser.Parse(read_member("_rels/.rels"), True)
        except expat.ExpatError as exc:
            raise ThreeMFError(f"broken XML in _rels/.rels: {exc}") from exc
        if targets:
            return str(PurePosixPath(targets[0]))
    return "3D/3dmodel.model"


def _to_mesh(obj: _Object, mp: _ModelPart) -> RawMesh:
    vertices = np.empty((len(obj.xs), 3), dtype=np.float64)
    vertices[:, 0] = np.asarray(obj.xs, dtype=np.float64)
    vertices[:, 1] = np.asarray(obj.ys, dtype=np.float64)
    vertices[:, 2] = np.asarray(obj.zs, dtype=np.float64)
    faces = np.asarray(obj.tris, dtype=np.int64).reshape(-1, 3)
    color = None
    ref = (obj.pid, obj.pindex) if obj.pid is not None else obj.tri_color
    if ref is not None:
        group = mp.colors.get(ref[0])
        if group and 0 <= ref[1] < len(group):
            color = group[ref[1]]
    return RawMesh(obj.name, vertices, faces, color)
