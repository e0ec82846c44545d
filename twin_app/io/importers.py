"""Import mesh files (STL, OBJ, PLY, glTF/GLB, 3MF, STEP) as parts of the document.

Design notes
------------
* ``import_file`` runs in a worker thread: pure Python, numpy and trimesh, no Qt, no
  document access. It returns an immutable ``ImportResult`` (mesh blobs already encoded and
  hashed); the GUI thread turns it into one undoable ``Batch`` with ``import_ops``.
* Every reader produces a ``RawScene`` (meshes + placed instances, see ``raw``). The common
  back half converts units to metres and the up axis to +Z (glTF is +Y up; STEP through
  cascadio and 3MF are +Z up; STL/OBJ/PLY carry no units and are taken as metres, Z up),
  validates, bakes shear into vertices when a matrix is not translation·rotation·scale,
  and encodes each distinct mesh once: identical meshes share one blob and hash.
* Untrusted input: size limits are checked before parsing (file size, declared counts in
  STL/PLY/glTF headers, unpacked bytes of a 3MF zip), parsed arrays are checked for NaN and
  out-of-range indices, and any exception from a parser becomes ``MeshImportError`` with a
  one-line, user-facing message. Nothing else escapes except ``ImportCancelled``.
* Binary STL has its own numpy reader (``stl``): a 1 M-triangle file imports, welded,
  encoded and hashed, in well under the 2 s budget (see ``benchutil``).
* STEP is converted to GLB by cascadio in a child process (``step``) that a cancel kills.
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin_app.core import fracindex, meshblob
from twin_app.core import xform as core_xform
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID, new_id
from twin_app.core.ops import MAX_BATCH, MAX_NAME, AddNode, Batch
from twin_app.io import stl, xform
from twin_app.io.raw import RawInstance, RawMesh, RawScene
from twin_app.io.step import StepConversionError, step_to_glb
from twin_app.io.threemf import ThreeMFError, ThreeMFLimitError, read_3mf
from twin_app.io.typed import Float64Array, FloatArray

if TYPE_CHECKING:
    import trimesh
    from trimesh.resolvers import FilePathResolver

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".stl", ".obj", ".ply", ".glb", ".gltf", ".3mf", ".step", ".stp",
)
FORMAT_NAMES = {
    ".stl": "STL", ".obj": "OBJ", ".ply": "PLY", ".glb": "GLB", ".gltf": "glTF",
    ".3mf": "3MF", ".step": "STEP", ".stp": "STEP",
}

# Guard limits (module constants so a deployment or a test can tighten them).
MAX_FILE_BYTES = 2 * 1024**3
MAX_TRIANGLES = 20_000_000  # distinct triangles encoded, summed over the file's meshes
MAX_VERTICES = meshblob.MAX_VERTICES
MAX_INSTANCED_TRIANGLES = 200_000_000  # triangles after instancing, i.e. what is drawn
MAX_UNPACKED_BYTES = 2 * 1024**3  # 3MF: bytes read out of the zip
MAX_PARTS = MAX_BATCH - 1  # one Batch adds the group and every part
_MAX_GLTF_JSON = 64 * 1024**2

_AUTO_NAME = re.compile(r"(geometry|mesh|node|object|world|part)?[_ ]?\d*", re.IGNORECASE)
_UNITS = {
    "meters": 1.0, "meter": 1.0, "m": 1.0, "millimeters": 1e-3, "millimeter": 1e-3,
    "mm": 1e-3, "centimeters": 1e-2, "cm": 1e-2, "inches": 0.0254, "inch": 0.0254,
    "feet": 0.3048, "foot": 0.3048,
}


class MeshImportError(Exception):
    """A file that cannot be imported. ``str(err)`` is a one-line message for the user."""


class ImportCancelled(Exception):
    """The import was cancelled through its ``cancel`` callback."""


@dataclass(frozen=True)
class ImportedPart:
    """One placed mesh of an imported file.

    ``transform`` is the ten-float node transform in the file's frame (metres, Z up);
    ``bbox`` is the mesh's local-space bounds; parts with equal ``hash`` share ``blob``.
    """

    name: str
    blob: bytes
    hash: str
    transform: tuple[float, ...]
    color: tuple[float, float, float] | None
    bbox: tuple[float, ...]
    triangles: int


@dataclass(frozen=True)
class ImportResult:
    """Everything imported from one file; ``triangles`` counts every placed part."""

    source: str
    parts: list[ImportedPart]
    triangles: int

    @property
    def blobs(self) -> dict[str, bytes]:
        """Return the distinct mesh blobs by hash."""
        return {p.hash: p.blob for p in self.parts}


class _Progress:
    """Forwards progress (throttled to 1 % steps) and turns a cancel request into a raise."""

    def __init__(
        self,
        progress: Callable[[float, str], None] | None,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self._progress = progress
        self._cancel = cancel
        self._last = -1.0
        self._stage = ""

    @property
    def last(self) -> float:
        """The highest fraction reported so far (0 before the first report)."""
        return max(self._last, 0.0)

    def cancelled(self) -> bool:
        return bool(self._cancel is not None and self._cancel())

    def check(self) -> None:
        if self.cancelled():
            raise ImportCancelled("import cancelled")

    def __call__(self, fraction: float, stage: str) -> None:
        self.check()
        fraction = min(max(fraction, self._last, 0.0), 1.0)  # never move backwards
        if self._progress is None:
            return
        if stage != self._stage or fraction >= 1.0 or fraction - self._last >= 0.01:
            self._last, self._stage = fraction, stage
            self._progress(fraction, stage)


# -- public API ------------------------------------------------------------------------
def import_file(
    path: Path,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ImportResult:
    """Read a mesh file into parts with encoded, hashed mesh blobs.

    ``progress(fraction, stage)`` is called with fractions rising from 0 to 1.0 and a short
    stage text; ``cancel()`` is polled between stages and meshes. Safe to call from a
    worker thread. Raises ``MeshImportError`` (message names the file and the reason) for
    anything that cannot be imported, ``ImportCancelled`` if ``cancel`` returned True.
    """
    path = Path(path)
    name = path.name or str(path)
    ctx = _Progress(progress, cancel)
    suffix = path.suffix.lower()
    ctx(0.0, "Reading file")
    _check_path(path, name)
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(s.lstrip(".").upper() for s in SUPPORTED_SUFFIXES if s != ".stp")
        shown = suffix or "(none)"
        raise MeshImportError(f"{name}: unsupported file type {shown} (supported: {kinds})")
    fmt = FORMAT_NAMES[suffix]
    try:
        data = _read_bytes(path, name)
        raw = _LOADERS[suffix](path, data, ctx)
        del data
        return _build(raw, name, path.stem, fmt, ctx)
    except (MeshImportError, ImportCancelled):
        raise
    except MemoryError as exc:
        raise MeshImportError(f"{name}: too large to import (out of memory)") from exc
    except (_LimitExceeded, ThreeMFLimitError) as exc:
        raise MeshImportError(f"{name}: too large to import ({exc})") from exc
    except zipfile.BadZipFile as exc:
        raise MeshImportError(f"{name}: not a valid {fmt} file (broken zip package: {exc})") from exc
    except (ThreeMFError, StepConversionError, stl.StlFormatError, meshblob.MeshBlobError) as exc:
        raise MeshImportError(f"{name}: not a valid {fmt} file ({exc})") from exc
    except FileNotFoundError as exc:
        missing = exc.filename or (exc.args[0] if exc.args else "?")
        raise MeshImportError(f"{name}: a file it refers to is missing ({missing})") from exc
    except Exception as exc:  # trimesh and numpy raise many types on malformed input
        log.debug("import of %s failed", path, exc_info=True)
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise MeshImportError(f"{name}: not a valid {fmt} file ({detail})") from exc


def import_ops(
    result: ImportResult,
    doc: Document,
    parent: str = ROOT_ID,
    at: tuple[float, float, float] | None = None,
) -> Batch:
    """Return the ops that add ``result`` under ``parent``: one group, one part per mesh.

    The group is named after the file and placed after ``parent``'s last child; ``at`` is
    a world position for the group's origin (converted into ``parent``'s frame), else the
    group sits at the parent's origin. Parts carry name, mesh hash, transform, colour and
    the properties ``bbox``, ``source`` and ``triangles``. Raises ``KeyError`` if
    ``parent`` is not in ``doc``.
    """
    if parent not in doc:
        raise KeyError(parent)
    keys = doc.child_keys(parent)
    group_order = fracindex.key_between(keys[-1][0] if keys else None, None)
    transform: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)
    if at is not None:
        # ``at`` is a world point: express it in the parent's frame. The group keeps the
        # parent's orientation, so the file's axes line up with its new parent's.
        local = np.linalg.inv(core_xform.world_matrix(doc, parent)) @ np.array([*at, 1.0])
        transform = (*(float(c) for c in local[:3]), *transform[3:])
    group_id = new_id()
    ops: list[AddNode] = [
        AddNode(
            Node(
                group_id, parent, group_order, kind="group", name=_clip(result.source),
                transform=transform, props={"source": _clip(result.source)},
            )
        )
    ]
    orders = fracindex.keys_between(None, None, len(result.parts))
    for part, order in zip(result.parts, orders, strict=True):
        ops.append(
            AddNode(
                Node(
                    new_id(), group_id, order, kind="part", name=_clip(part.name),
                    transform=part.transform, mesh=part.hash, color=part.color,
                    props={
                        "bbox": part.bbox,
                        "source": _clip(result.source),
                        "triangles": part.triangles,
                    },
                )
            )
        )
    return Batch(tuple(ops))


# -- reading ---------------------------------------------------------------------------
def _check_path(path: Path, name: str) -> None:
    try:
        if path.is_dir():
            raise MeshImportError(f"{name}: is a folder, not a file")
        if not path.exists():
            raise MeshImportError(f"{name}: file not found")
        if not path.is_file():
            raise MeshImportError(f"{name}: not a regular file")
    except OSError as exc:
        raise MeshImportError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
        if size == 0:
            raise MeshImportError(f"{name}: the file is empty")
        if size > MAX_FILE_BYTES:
            raise MeshImportError(
                f"{name}: too large to import ({_size(size)}; the limit is {_size(MAX_FILE_BYTES)})"
            )
        with path.open("rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise MeshImportError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc


def _load_stl(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    count = stl.binary_triangle_count(data)
    if count is None:
        head = data[:512].lstrip().lower()
        if head.startswith(b"solid"):
            return _load_trimesh(path, data, "stl", ctx)
        if len(data) < stl.HEADER + 4:
            raise stl.StlFormatError("too short to be an STL file")
        declared = stl.declared_count(data)
        raise stl.StlFormatError(
            f"the header declares {declared:,} triangles ({stl.HEADER + 4 + 50 * declared:,} "
            f"bytes) but the file has {len(data):,} bytes; it is truncated or not an STL"
        )
    if count == 0:
        return RawScene()
    _check_triangles(count)
    ctx(0.15, "Reading triangles")
    corners = stl.read_binary(data, count)
    if not np.isfinite(corners).all():
        raise stl.StlFormatError("it has non-finite coordinates (NaN or infinity)")
    ctx(0.25, "Merging vertices")
    vertices, faces = stl.weld(corners)
    del corners
    stem = path.stem
    return RawScene([RawMesh(stem, vertices, faces)], [RawInstance(stem, 0, np.eye(4))])


def _load_3mf(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    del data  # the zip is read member by member, through the byte budget
    return read_3mf(
        path,
        max_unpacked=MAX_UNPACKED_BYTES,
        max_vertices=MAX_VERTICES,
        max_triangles=MAX_TRIANGLES,
        max_instances=MAX_PARTS,
        check=ctx.check,
    )


def _load_step(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    head = data[:64].lstrip()
    if not head.startswith(b"ISO-10303-21"):
        raise StepConversionError("it does not start with the ISO-10303-21 STEP header")
    del data
    ctx(0.05, "Converting STEP (OpenCASCADE)")
    glb = step_to_glb(path, ctx.cancelled)
    ctx(0.5, "Reading converted model")
    raw = _load_trimesh(path, glb, "glb", ctx)
    raw.up = "z"  # cascadio keeps the STEP frame (Z up) and converts to metres
    return raw


def _load_generic(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    suffix = path.suffix.lower()
    if suffix == ".ply":
        _check_ply_header(data)
    elif suffix in (".glb", ".gltf"):
        _check_gltf(data, binary=suffix == ".glb")
    return _load_trimesh(path, data, suffix.lstrip("."), ctx)


_LOADERS: dict[str, Callable[[Path, bytes, _Progress], RawScene]] = {
    ".stl": _load_stl,
    ".obj": _load_generic,
    ".ply": _load_generic,
    ".glb": _load_generic,
    ".gltf": _load_generic,
    ".3mf": _load_3mf,
    ".step": _load_step,
    ".stp": _load_step,
}


def _load_trimesh(path: Path, data: bytes, file_type: str, ctx: _Progress) -> RawScene:
    import trimesh

    ctx(0.1, "Parsing")
    scene = trimesh.load_scene(
        io.BytesIO(data),
        file_type=file_type,
        resolver=_resolver(path),
        process=False,
    )
    ctx.check()
    raw = RawScene(up="y" if file_type in ("glb", "gltf") else "z")
    units = getattr(scene, "units", None)
    if isinstance(units, str) and units.lower() in _UNITS:
        raw.unit = _UNITS[units.lower()]
    index: dict[str, int] = {}
    for gname, geom in scene.geometry.items():
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # point clouds, paths, empty meshes: nothing to draw as a part
        _check_triangles(len(geom.faces))
        index[gname] = len(raw.meshes)
        raw.meshes.append(
            RawMesh(
                str(gname),
                np.asarray(geom.vertices, dtype=np.float64),
                np.asarray(geom.faces),
                _trimesh_color(geom),
            )
        )
    graph = scene.graph
    parents = graph.transforms.parents
    for node in _geometry_nodes_in_file_order(scene, reverse=file_type in ("glb", "gltf")):
        matrix, gname = graph[node]
        if gname in index:
            if len(raw.instances) >= MAX_PARTS:
                raise _LimitExceeded(f"more than {MAX_PARTS} parts")
            raw.instances.append(RawInstance(_node_name(node, parents), index[gname], np.array(matrix)))
    return raw


def _geometry_nodes_in_file_order(scene: trimesh.Scene, reverse: bool) -> list[str]:
    # ``nodes_geometry`` comes from a set. The graph's node dict keeps the order in which
    # the loader added edges: file order for OBJ/PLY/STL, and for glTF the reverse (its
    # loader walks the node tree with a stack), which puts parts back in file order.
    with_geometry = set(scene.graph.nodes_geometry)
    ordered = [n for n in scene.graph.transforms.node_data if n in with_geometry]
    if reverse:
        ordered.reverse()
    return ordered + sorted(with_geometry - set(ordered))


def _node_name(node: str, parents: dict[str, str]) -> str:
    # trimesh splits a glTF mesh with several primitives into child frames named
    # "<node>_<6 random characters>": name those parts after the node itself.
    parent = parents.get(node)
    if parent and len(node) == len(parent) + 7 and node.startswith(parent + "_"):
        return str(parent)
    return str(node)


def _resolver(path: Path) -> FilePathResolver:
    from trimesh import resolvers

    class SizeLimitedResolver(resolvers.FilePathResolver):
        """Reads side files (``.bin``, ``.mtl``, textures) only inside the file's folder."""

        def get(self, name: str) -> bytes:
            if "://" in name:
                raise ValueError(f"it refers to the remote file {name[:80]!r}; only local files are read")
            try:
                target = self.absolute(name)
            except ValueError:
                raise ValueError(f"it refers to {name[:80]!r}, outside its folder") from None
            if target.is_file() and target.stat().st_size > MAX_FILE_BYTES:
                raise _LimitExceeded(f"{name[:80]!r} is larger than {_size(MAX_FILE_BYTES)}")
            data: bytes = super().get(name)
            return data

    return SizeLimitedResolver(str(path.resolve()))


def _trimesh_color(geom: trimesh.Trimesh) -> tuple[float, float, float] | None:
    """Return the mesh's main colour, or None when the file gives it none."""
    from trimesh.visual.color import ColorVisuals

    try:
        visual = geom.visual
        rgba: Float64Array | None = None
        material = getattr(visual, "material", None)
        if material is not None:
            base = getattr(material, "baseColorFactor", None)
            if base is None:
                base = getattr(material, "diffuse", None)
            if base is not None:
                rgba = np.asarray(base, dtype=np.float64).reshape(-1)
        elif isinstance(visual, ColorVisuals) and visual.kind == "face":
            rgba = np.asarray(visual.face_colors, dtype=np.float64).mean(axis=0)
        elif isinstance(visual, ColorVisuals) and visual.kind == "vertex":
            rgba = np.asarray(visual.vertex_colors, dtype=np.float64).mean(axis=0)
        if rgba is None or rgba.size < 3 or not np.isfinite(rgba[:3]).all():
            return None
        scale = 255.0 if rgba.dtype.kind in "ui" or rgba[:3].max() > 1.0 else 1.0
        r, g, b = (float(min(max(c / scale, 0.0), 1.0)) for c in rgba[:3])
        return (r, g, b)
    except (AttributeError, ValueError, TypeError, IndexError):
        return None


# -- header checks (before a parser allocates what a header declares) -----------------------
class _LimitExceeded(ValueError):
    """A guard limit hit inside a loader; ``import_file`` words it for the user."""


def _check_triangles(n: int) -> None:
    if n > MAX_TRIANGLES:
        raise _LimitExceeded(f"{n:,} triangles; the limit is {MAX_TRIANGLES:,}")


def _check_ply_header(data: bytes) -> None:
    end = data.find(b"end_header", 0, 65536)
    if not data.startswith(b"ply") or end < 0:
        raise ValueError("no PLY header")
    for line in data[:end].decode("ascii", "replace").splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "element":
            count = int(words[2])
            limit = MAX_VERTICES if words[1] == "vertex" else MAX_TRIANGLES
            if count < 0 or count > limit:
                raise _LimitExceeded(
                    f"the header declares {count:,} {words[1]} elements; the limit is {limit:,}"
                )


def _check_gltf(data: bytes, binary: bool) -> None:
    if binary:
        if len(data) < 20 or data[:4] != b"glTF":
            raise ValueError("no GLB header")
        version = int.from_bytes(data[4:8], "little")
        if version != 2:
            raise ValueError(f"GLB version {version} (only 2 is supported)")
        length = int.from_bytes(data[12:16], "little")
        if data[16:20] != b"JSON" or length > min(len(data) - 20, _MAX_GLTF_JSON):
            raise ValueError("the GLB's JSON chunk is missing or truncated")
        text = data[20 : 20 + length]
    else:
        text = data
    tree = json.loads(text)
    if not isinstance(tree, dict):
        raise ValueError("the glTF JSON is not an object")
    accessors = tree.get("accessors") or []
    if not isinstance(accessors, list):
        raise ValueError("glTF accessors must be a list")
    for acc in accessors:
        count = acc.get("count", 0) if isinstance(acc, dict) else 0
        if not isinstance(count, int) or count < 0 or count > 3 * MAX_TRIANGLES:
            raise _LimitExceeded(
                f"an accessor declares {count} elements; the limit is {3 * MAX_TRIANGLES:,}"
            )
    nodes = tree.get("nodes") or []
    if not isinstance(nodes, list) or len(nodes) > 10 * MAX_PARTS:
        raise _LimitExceeded(f"more than {10 * MAX_PARTS} nodes")


# -- the common back half ---------------------------------------------------------------
def _build(raw: RawScene, source: str, stem: str, fmt: str, ctx: _Progress) -> ImportResult:
    if not raw.instances:
        raise MeshImportError(f"{source}: no triangle mesh found in this {fmt} file")
    if len(raw.instances) > MAX_PARTS:
        raise _LimitExceeded(f"more than {MAX_PARTS} parts")
    _check_triangles(sum(len(m.faces) for m in raw.meshes))
    drawn = sum(len(raw.meshes[i.mesh].faces) for i in raw.instances)
    if drawn > MAX_INSTANCED_TRIANGLES:
        raise _LimitExceeded(f"{drawn:,} placed triangles; the limit is {MAX_INSTANCED_TRIANGLES:,}")
    y_up = raw.up == "y"
    checked: set[int] = set()
    encoded: dict[tuple[int, bytes | None], tuple[bytes, str, tuple[float, ...]]] = {}
    by_hash: dict[str, bytes] = {}
    parts: list[ImportedPart] = []
    names = _part_names(raw, source, stem)
    n = len(raw.instances)
    start = max(ctx.last, 0.4)
    for k, inst in enumerate(raw.instances):
        ctx(start + (0.98 - start) * k / n, "Preparing meshes")
        mesh = raw.meshes[inst.mesh]
        if inst.mesh not in checked:
            _validate(mesh, source)
            checked.add(inst.mesh)
        m = np.asarray(inst.matrix, dtype=np.float64)
        if y_up:
            # Rotate the frame, not the parts: vertices are turned once (exactly, by
            # swapping axes) and each matrix is conjugated, so an identity placement in
            # the file stays an identity transform here.
            m = xform.Y_UP_TO_Z_UP @ m @ xform.Z_UP_TO_Y_UP
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise MeshImportError(f"{source}: part {inst.name!r} has an invalid transform")
        m[:3, 3] *= raw.unit
        transform, bake = core_xform.decompose(m)
        key = (inst.mesh, None if bake is None else bake.tobytes())
        if key not in encoded:
            vertices: FloatArray = np.asarray(mesh.vertices, dtype=np.float64)
            if y_up:
                vertices = xform.y_up_to_z_up(vertices)
            if raw.unit != 1.0:
                vertices = vertices * raw.unit
            if bake is not None:
                vertices = vertices @ bake.T
            blob = meshblob.encode(vertices, mesh.faces)
            digest = meshblob.digest(blob)
            blob = by_hash.setdefault(digest, blob)  # identical meshes share one blob
            encoded[key] = (blob, digest, meshblob.bounds(vertices.astype(np.float32)))
        blob, digest, bbox = encoded[key]
        parts.append(
            ImportedPart(
                name=names[k],
                blob=blob,
                hash=digest,
                transform=transform,
                color=mesh.color,
                bbox=bbox,
                triangles=len(mesh.faces),
            )
        )
    ctx(1.0, "Done")
    return ImportResult(source=source, parts=parts, triangles=sum(p.triangles for p in parts))


def _validate(mesh: RawMesh, source: str) -> None:
    faces = np.asarray(mesh.faces)
    vertices = np.asarray(mesh.vertices)
    auto = not mesh.name or _AUTO_NAME.fullmatch(mesh.name) or mesh.name == source
    where = f"{source}: a mesh" if auto else f"{source}: mesh {mesh.name!r}"
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
        raise MeshImportError(f"{where} has faces that are not triangles")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise MeshImportError(f"{where} has malformed vertices")
    if len(vertices) > MAX_VERTICES:
        raise MeshImportError(f"{where} has more than {MAX_VERTICES:,} vertices")
    if len(faces) and (int(faces.min()) < 0 or int(faces.max()) >= len(vertices)):
        raise MeshImportError(f"{where} has faces that refer to vertices that do not exist")
    if not np.isfinite(vertices).all():
        raise MeshImportError(f"{where} has non-finite coordinates (NaN or infinity)")


def _part_names(raw: RawScene, source: str, stem: str) -> list[str]:
    """Return a readable name per instance: the file's own, or the file stem when generic."""
    out: list[str] = []
    generic = 0
    for inst in raw.instances:
        name = inst.name.strip()
        mesh_name = raw.meshes[inst.mesh].name.strip()
        if name.lower() == source.lower():
            name = ""  # trimesh names single-mesh files after the file: use the stem
        if not name or _AUTO_NAME.fullmatch(name):
            auto = not mesh_name or mesh_name.lower() == source.lower() or _AUTO_NAME.fullmatch(mesh_name)
            name = "" if auto else mesh_name
        if not name:
            generic += 1
            name = stem if len(raw.instances) == 1 else f"{stem} {generic}"
        out.append(_clip(name))
    return out


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"
