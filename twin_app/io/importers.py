"""Import CAD and mesh files (STEP, STL, OBJ, PLY, OFF, glTF/GLB, 3MF, COLLADA) as the
designer drew them: units, names, assembly tree and colours.

Design notes
------------
* Two phases, both pure Python, numpy and trimesh (no Qt, no document access), safe in a
  worker thread. ``read_file`` parses the file into a ``LoadedFile`` (a ``RawScene`` plus
  its size in file units); ``build`` turns it into an immutable ``ImportResult`` at a chosen
  unit (mesh blobs encoded and hashed). ``import_file`` does both. The desktop app reads
  first, asks the person for the unit of a unitless file while showing the resulting size,
  then builds; the GUI thread turns the result into one undoable ``Batch`` (``import_ops``).
* Units: STL, OBJ, PLY and OFF carry none (see ``units``: millimetres by default for STL,
  metres otherwise); STEP, 3MF, glTF and COLLADA declare theirs. The unit used is stored on
  the imported group. Up axis: glTF is +Y up, everything else +Z (ours).
* Tree: every reader produces nodes with matrices local to their parent (``raw``); the
  STEP assembly tree and glTF node tree become nested groups. Transforms stay at the level
  the file puts them: units and the up-axis turn are applied by conjugating each local
  matrix (so an identity placement stays an identity transform) and vertices are turned
  and scaled once. A matrix that is not translation·rotation·scale keeps its translation
  on the node and its linear part is baked into the vertices below it.
* Names: the file's own; for STEP, the product's name (instance name kept as the property
  ``instance`` when it differs); where a file names nothing, "<file stem> <n>".
* A mesh with several materials stays one part: the part node draws nothing itself and
  holds one ``material`` block per material (picking a block selects its part).
* Identical meshes share one blob and hash (instances, and ASCII vs binary STL of a part).
* Untrusted input: size limits are checked before parsing (file size, declared counts in
  STL/PLY/glTF headers, unpacked bytes of a 3MF zip), parsed arrays are checked for NaN and
  out-of-range indices, and any exception from a parser becomes ``MeshImportError`` with a
  one-line message in plain words and the parser's own words in ``details``. Nothing else
  escapes except ``ImportCancelled``.
* STEP is converted to GLB by cascadio in a child process (``step``) that a cancel kills.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from twin_app.core import fracindex, meshblob
from twin_app.core import xform as core_xform
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID, new_id
from twin_app.core.ops import MAX_BATCH, MAX_NAME, AddNode, Batch
from twin_app.core.xform import Matrix
from twin_app.io import glb, stl, units, xform
from twin_app.io.dae import read_dae
from twin_app.io.raw import RawInstance, RawMesh, RawNode, RawScene
from twin_app.io.scenegraph import is_placeholder, merge_obj_objects, read_scene
from twin_app.io.step import StepConversionError, length_unit, product_names, step_to_glb
from twin_app.io.threemf import ThreeMFError, ThreeMFLimitError, read_3mf
from twin_app.io.typed import FloatArray

if TYPE_CHECKING:
    from trimesh.resolvers import FilePathResolver

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".stl", ".obj", ".ply", ".off", ".glb", ".gltf", ".3mf", ".dae", ".step", ".stp",
)
FORMAT_NAMES = {
    ".stl": "STL", ".obj": "OBJ", ".ply": "PLY", ".off": "OFF", ".glb": "GLB", ".gltf": "glTF",
    ".3mf": "3MF", ".dae": "COLLADA", ".step": "STEP", ".stp": "STEP",
}

# Guard limits (module constants so a deployment or a test can tighten them).
MAX_FILE_BYTES = 2 * 1024**3
MAX_TRIANGLES = 20_000_000  # distinct triangles encoded, summed over the file's meshes
MAX_VERTICES = meshblob.MAX_VERTICES
MAX_INSTANCED_TRIANGLES = 200_000_000  # triangles after instancing, i.e. what is drawn
MAX_UNPACKED_BYTES = 2 * 1024**3  # 3MF: bytes read out of the zip
MAX_PARTS = MAX_BATCH - 1  # one Batch adds the group and every node below it
_MAX_GLTF_JSON = 64 * 1024**2
_IDENTITY: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)


class MeshImportError(Exception):
    """A file that cannot be imported.

    ``str(err)`` is a one-line message in plain words for the person ("bracket.stl: …");
    ``details`` is the technical reason (a parser's own words), for a "Details" section.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class ImportCancelled(Exception):
    """The import was cancelled through its ``cancel`` callback."""


@dataclass(frozen=True)
class ImportedNode:
    """One node of an imported file's tree.

    ``kind`` is ``"group"``, ``"part"`` (a placed mesh, or a multi-material part whose
    ``material`` children draw it) or ``"material"``. ``parent`` indexes
    ``ImportResult.nodes`` (None: directly under the file's group). ``transform`` is the
    ten-float transform local to the parent (metres, Z up); ``bbox`` the mesh's local
    bounds; nodes with equal ``hash`` share ``blob``. ``props`` are extra properties.
    """

    name: str
    kind: str
    parent: int | None
    transform: tuple[float, ...]
    blob: bytes | None = None
    hash: str | None = None
    color: tuple[float, float, float] | None = None
    bbox: tuple[float, ...] | None = None
    triangles: int = 0
    props: dict[str, str] = field(default_factory=dict)


ImportedPart = ImportedNode


@dataclass(frozen=True)
class ImportResult:
    """Everything imported from one file.

    ``units`` is the unit the file was read in (short name, see ``units.UNITS``);
    ``triangles`` counts every placed mesh.
    """

    source: str
    nodes: list[ImportedNode]
    triangles: int
    format: str = ""
    units: str = "m"

    @property
    def parts(self) -> list[ImportedNode]:
        """The nodes that carry a mesh, in tree order."""
        return [n for n in self.nodes if n.hash is not None]

    @property
    def part_count(self) -> int:
        """The number of parts a person sees (a multi-material part counts once)."""
        return sum(1 for n in self.nodes if n.kind == "part")

    @property
    def blobs(self) -> dict[str, bytes]:
        """Return the distinct mesh blobs by hash."""
        return {n.hash: n.blob for n in self.nodes if n.hash is not None and n.blob is not None}

    def world_matrices(self) -> list[Matrix]:
        """Each node's matrix in the frame of the file's group (parents come first)."""
        out: list[Matrix] = []
        for n in self.nodes:
            m = core_xform.matrix(n.transform)
            out.append(m if n.parent is None else out[n.parent] @ m)
        return out

    def bounds(self, index: int | None = None) -> tuple[Any, Any] | None:
        """World ``(lo, hi)`` corners (metres, the group's frame) of every mesh, or of the
        meshes in the subtree of ``nodes[index]``; None when there is none."""
        worlds = self.world_matrices()
        inside = _subtree(self.nodes, index)
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for k, n in enumerate(self.nodes):
            if n.bbox is None or k not in inside:
                continue
            b = n.bbox
            corners = np.array([[x, y, z, 1.0] for x in (b[0], b[3]) for y in (b[1], b[4])
                                for z in (b[2], b[5])])
            world = corners @ worlds[k].T
            lo, hi = np.minimum(lo, world[:, :3].min(0)), np.maximum(hi, world[:, :3].max(0))
        if not np.all(np.isfinite(lo)):
            return None
        return lo, hi

    def size_m(self, index: int | None = None) -> tuple[float, float, float]:
        """``(dx, dy, dz)`` in metres of the whole import (or of one node's subtree)."""
        found = self.bounds(index)
        if found is None:
            return (0.0, 0.0, 0.0)
        lo, hi = found
        d = hi - lo
        return (float(d[0]), float(d[1]), float(d[2]))


def _subtree(nodes: list[ImportedNode], index: int | None) -> set[int]:
    if index is None:
        return set(range(len(nodes)))
    inside = {index}
    for k in range(index + 1, len(nodes)):
        p = nodes[k].parent
        if p is not None and p in inside:
            inside.add(k)
    return inside


@dataclass
class LoadedFile:
    """A parsed file, before units are chosen (the first phase of an import).

    ``declared`` says whether the file states its unit (then ``file_unit`` is it, as a
    short name); ``native_size`` is the size ``(dx, dy, dz)`` in file units, Z up.
    """

    path: Path
    source: str
    stem: str
    format: str
    raw: RawScene
    names: dict[str, str]
    native_size: tuple[float, float, float]

    @property
    def declared(self) -> bool:
        """True if the file (or its format) says which unit it is in."""
        return self.raw.declared

    @property
    def file_unit(self) -> str:
        """The unit the file declares, or the format's default for unitless files."""
        if self.raw.unit_label is not None:
            return self.raw.unit_label
        if self.raw.declared:
            return units.unit_name(self.raw.unit)
        return units.UNITLESS_FORMATS.get(self.format, "m")

    def unit_factor(self, unit: str) -> float:
        """Metres per file unit when read as ``unit`` ("auto": the file's own)."""
        if unit == "auto":
            return self.raw.unit if self.raw.declared else units.UNITS[self.file_unit]
        label = self.raw.unit_label
        if label is not None and label in units.UNITS:
            # The reader already converted the file's numbers to metres (STEP): undo the
            # file's unit and apply the chosen one.
            return self.raw.unit * units.UNITS[unit] / units.UNITS[label]
        return units.UNITS[unit]

    def size_m(self, unit: str = "auto") -> tuple[float, float, float]:
        """The import's size in metres when read as ``unit``."""
        f = self.unit_factor(unit)
        dx, dy, dz = self.native_size
        return (dx * f, dy * f, dz * f)


class _Progress:
    """Forwards progress (throttled to 1 % steps) and turns a cancel request into a raise."""

    def __init__(
        self,
        progress: Callable[[float, str], None] | None,
        cancel: Callable[[], bool] | None,
        scale: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self._progress = progress
        self._cancel = cancel
        self._last = -1.0
        self._stage = ""
        self._lo, self._hi = scale

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
        fraction = self._lo + (self._hi - self._lo) * min(max(fraction, 0.0), 1.0)
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
    units: str = "auto",
) -> ImportResult:
    """Read a mesh file into a tree of groups and parts with encoded, hashed mesh blobs.

    ``units`` is the unit the file's numbers are in: ``"auto"`` uses the file's own, or
    for unitless formats the default (``units.UNITLESS_FORMATS``); a unit name
    (``"mm"``, ``"cm"``, ``"m"``, ``"in"``) overrides. ``progress(fraction, stage)`` is
    called with fractions rising from 0 to 1.0 and a short stage text; ``cancel()`` is
    polled between stages and meshes. Safe to call from a worker thread. Raises
    ``MeshImportError`` (message names the file and the reason) for anything that cannot
    be imported, ``ImportCancelled`` if ``cancel`` returned True, ``ValueError`` for an
    unknown unit name.
    """
    loaded = read_file(path, _scaled(progress, 0.0, 0.6), cancel)
    return build(loaded, units, _scaled(progress, 0.6, 1.0), cancel)


def _scaled(progress: Callable[[float, str], None] | None, lo: float, hi: float
            ) -> Callable[[float, str], None] | None:
    if progress is None:
        return None
    return lambda f, s: progress(lo + (hi - lo) * f, s)


def read_file(
    path: Path,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> LoadedFile:
    """Parse a file (the first phase of ``import_file``); raises as ``import_file`` does."""
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
    with _plain_errors(name, fmt, path):
        data = _read_bytes(path, name)
        names: dict[str, str] = {}
        if suffix in (".step", ".stp"):
            names = _step_names(data)
        raw = _LOADERS[suffix](path, data, ctx)
        del data
        tree = raw.tree()
        if not any(n.mesh is not None for n in tree):
            raise MeshImportError(f"{name}: no triangle mesh found in this {fmt} file")
        _check_counts(raw, tree)
        ctx(1.0, "Read")
        return LoadedFile(path, name, path.stem, fmt, raw, names, _native_size(raw, tree))


def build(
    loaded: LoadedFile,
    units_: str = "auto",
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ImportResult:
    """Turn a parsed file into an ``ImportResult`` read in ``units_`` (see ``import_file``).

    Raises ``MeshImportError``, ``ImportCancelled``, or ``ValueError`` for an unknown unit.
    """
    if units_ != "auto" and units_ not in units.UNITS:
        raise ValueError(f"unknown unit {units_!r} (use one of {', '.join(units.UNITS)} or auto)")
    ctx = _Progress(progress, cancel)
    with _plain_errors(loaded.source, loaded.format, loaded.path):
        factor = loaded.unit_factor(units_)
        used = loaded.file_unit if units_ == "auto" else units_
        return _build(loaded, factor, used, ctx)


def import_ops(
    result: ImportResult,
    doc: Document,
    parent: str = ROOT_ID,
    at: tuple[float, float, float] | None = None,
) -> Batch:
    """Return the ops that add ``result`` under ``parent``: one group named after the file
    holding the file's tree of groups and parts.

    The group is placed after ``parent``'s last child; ``at`` is a world position for the
    group's origin (converted into ``parent``'s frame), else the group sits at the parent's
    origin. The group carries the properties ``source`` and ``units`` (the unit the file
    was read in); parts carry name, mesh hash, transform, colour and the properties
    ``bbox``, ``source`` and ``triangles`` (plus any the file gave, e.g. ``instance``).
    Raises ``KeyError`` if ``parent`` is not in ``doc``.
    """
    if parent not in doc:
        raise KeyError(parent)
    keys = doc.child_keys(parent)
    group_order = fracindex.key_between(keys[-1][0] if keys else None, None)
    transform: tuple[float, ...] = _IDENTITY
    if at is not None:
        # ``at`` is a world point: express it in the parent's frame. The group keeps the
        # parent's orientation, so the file's axes line up with its new parent's.
        local = np.linalg.inv(core_xform.world_matrix(doc, parent)) @ np.array([*at, 1.0])
        transform = (*(float(c) for c in local[:3]), *transform[3:])
    group_id = new_id()
    source = _clip(result.source)
    ops: list[AddNode] = [
        AddNode(
            Node(
                group_id, parent, group_order, kind="group", name=source,
                transform=transform, props={"source": source, "units": result.units},
            )
        )
    ]
    ids = [new_id() for _ in result.nodes]
    siblings: dict[int | None, list[int]] = {}
    for k, n in enumerate(result.nodes):
        siblings.setdefault(n.parent, []).append(k)
    orders: dict[int, str] = {}
    for kids in siblings.values():
        for k, order in zip(kids, fracindex.keys_between(None, None, len(kids)), strict=True):
            orders[k] = order
    for k, n in enumerate(result.nodes):
        props: dict[str, Any] = dict(n.props)
        if n.hash is not None:
            props.update(bbox=n.bbox, source=source, triangles=n.triangles)
        elif n.kind == "part":
            props.update(source=source, triangles=n.triangles)
        ops.append(
            AddNode(
                Node(
                    ids[k], group_id if n.parent is None else ids[n.parent], orders[k],
                    kind=n.kind, name=_clip(n.name), transform=n.transform, mesh=n.hash,
                    color=n.color, props=props,
                )
            )
        )
    return Batch(tuple(ops))


# -- errors in plain words ---------------------------------------------------------------
class _plain_errors:
    """Turn whatever a parser raises into ``MeshImportError`` with a message in plain words."""

    def __init__(self, name: str, fmt: str, path: Path) -> None:
        self.name, self.fmt, self.path = name, fmt, path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        if exc is None or isinstance(exc, MeshImportError | ImportCancelled):
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit
        raise _explain(exc, self.name, self.fmt, self.path) from exc


def _explain(exc: Exception, name: str, fmt: str, path: Path) -> MeshImportError:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError):
        return MeshImportError(f"{name}: too large to import (the computer ran out of memory)", detail)
    if isinstance(exc, _LimitExceeded | ThreeMFLimitError):
        return MeshImportError(f"{name}: too large to import ({exc})", detail)
    if isinstance(exc, zipfile.BadZipFile):
        return MeshImportError(
            f"{name}: not a valid {fmt} file (its zip package is damaged or cut short)", detail)
    if isinstance(exc, StepConversionError):
        return MeshImportError(f"{name}: not a valid {fmt} file ({exc})", exc.details or detail)
    if isinstance(exc, ThreeMFError | stl.StlFormatError | meshblob.MeshBlobError):
        return MeshImportError(f"{name}: not a valid {fmt} file ({exc})", detail)
    if isinstance(exc, FileNotFoundError):
        missing = exc.filename or (exc.args[0] if exc.args else "?")
        return MeshImportError(f"{name}: a file it refers to is missing ({missing})", detail)
    log.debug("import of %s failed", path, exc_info=True)
    if isinstance(exc, UnicodeDecodeError):
        why = "it holds binary data where text should be; it is damaged or not really a " + fmt
    elif isinstance(exc, json.JSONDecodeError | glb.GlbError):
        why = "its scene description (JSON) is broken"
    elif isinstance(exc, struct.error | EOFError | BufferError):
        why = "it ends too early: the file is cut short"
    elif isinstance(exc, KeyError | IndexError):
        why = "it refers to data that is not in the file"
    elif "remote file" in str(exc) or "outside its folder" in str(exc):
        why = str(exc).splitlines()[0][:160]
    elif isinstance(exc, ImportError):
        why = f"a part of Twinroom that reads {fmt} is not installed ({exc.name or exc})"
        return MeshImportError(f"{name}: cannot read {fmt} files here ({why})", detail)
    else:
        why = f"its content does not make sense as {fmt}; it is damaged or another kind of file"
    return MeshImportError(f"{name}: not a valid {fmt} file ({why})", detail)


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
        raise MeshImportError(f"{name}: cannot read the file ({exc.strerror or exc})", str(exc)) from exc


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
        raise MeshImportError(f"{name}: cannot read the file ({exc.strerror or exc})", str(exc)) from exc


def _load_stl(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    count = stl.binary_triangle_count(data)
    if count is None:
        head = data[:512].lstrip().lower()
        if head.startswith(b"solid"):
            return _load_ascii_stl(path, data, ctx)
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
    return _welded(path.stem, [("", corners)], ctx)


def _load_ascii_stl(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    ctx(0.1, "Reading text triangles")
    solids = stl.read_ascii(data)
    _check_triangles(sum(len(c) for _, c in solids))
    return _welded(path.stem, solids, ctx)


def _welded(stem: str, solids: list[tuple[str, FloatArray]], ctx: _Progress) -> RawScene:
    raw = RawScene()
    for name, corners in solids:
        if not np.isfinite(corners).all():
            raise stl.StlFormatError("it has non-finite coordinates (NaN or infinity)")
        if len(corners) == 0:
            continue
        ctx(0.25, "Merging vertices")
        vertices, faces = stl.weld(corners.astype(np.float32, copy=False))
        raw.meshes.append(RawMesh(name or stem, vertices, faces))
        raw.instances.append(RawInstance(name, len(raw.meshes) - 1, np.eye(4)))
    return raw


def _load_3mf(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    del data  # the zip is read member by member, through the byte budget
    raw = read_3mf(
        path,
        max_unpacked=MAX_UNPACKED_BYTES,
        max_vertices=MAX_VERTICES,
        max_triangles=MAX_TRIANGLES,
        max_instances=MAX_PARTS,
        check=ctx.check,
    )
    raw.declared = True
    return raw


def _step_names(data: bytes) -> dict[str, str]:
    head = data[:64].lstrip()
    if not head.startswith(b"ISO-10303-21"):
        raise StepConversionError("it does not start with the ISO-10303-21 STEP header")
    return product_names(data)


def _load_step(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    unit = length_unit(data)
    del data
    ctx(0.05, "Converting STEP (OpenCASCADE)")
    converted = step_to_glb(path, ctx.cancelled)
    ctx.check()
    ctx(0.7, "Reading converted model")
    raw = _load_gltf_bytes(path, converted, "glb", ctx)
    raw.up = "z"  # cascadio keeps the STEP frame (Z up) and converts to metres
    raw.declared = True
    raw.unit_label = units.unit_name(unit) if unit is not None else None
    return raw


def _load_gltf(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    return _load_gltf_bytes(path, data, path.suffix.lower().lstrip("."), ctx)


def _load_gltf_bytes(path: Path, data: bytes, file_type: str, ctx: _Progress) -> RawScene:
    binary = file_type == "glb"
    tree, rest = _check_gltf(data, binary)
    materials = glb.tag_materials(tree)
    tagged = glb.join(tree, rest) if binary else json.dumps(tree).encode()
    ctx(0.75, "Parsing")
    return read_scene(path, tagged, file_type, _check_triangles, ctx.check, 10 * MAX_PARTS,
                      _resolver(path), gltf_json=tree, materials=materials)


def _load_generic(path: Path, data: bytes, ctx: _Progress) -> RawScene:
    suffix = path.suffix.lower()
    if suffix == ".ply":
        _check_ply_header(data)
    ctx(0.1, "Parsing")
    if suffix == ".dae":
        return read_dae(data, _check_triangles, ctx.check, 10 * MAX_PARTS)
    if suffix == ".obj":
        # One part per OBJ object, its materials as blocks (trimesh splits by material).
        def names(keyword: bytes) -> list[str]:
            found = re.findall(rb"^[ \t]*" + keyword + rb"[ \t]+([^\r\n]+)", data, re.MULTILINE)
            return [m.decode("utf-8", "replace").strip() for m in found]

        raw = read_scene(path, data, "obj", _check_triangles, ctx.check, 10 * MAX_PARTS,
                         _resolver(path), loader_kwargs={"split_objects": True})
        return merge_obj_objects(raw, names(b"o"), names(b"usemtl"))
    return read_scene(path, data, suffix.lstrip("."), _check_triangles, ctx.check,
                      10 * MAX_PARTS, _resolver(path))


_LOADERS: dict[str, Callable[[Path, bytes, _Progress], RawScene]] = {
    ".stl": _load_stl,
    ".obj": _load_generic,
    ".ply": _load_generic,
    ".off": _load_generic,
    ".dae": _load_generic,
    ".glb": _load_gltf,
    ".gltf": _load_gltf,
    ".3mf": _load_3mf,
    ".step": _load_step,
    ".stp": _load_step,
}


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


def _check_gltf(data: bytes, binary: bool) -> tuple[dict[str, Any], bytes]:
    """Check a glTF's declared sizes before trimesh allocates them; return its parsed JSON
    and, for a GLB, the bytes of the chunks after the JSON."""
    rest = b""
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
        rest = data[20 + length :]
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
    return tree, rest


# -- the common back half ---------------------------------------------------------------
def _check_counts(raw: RawScene, tree: list[RawNode]) -> None:
    blocks = sum(len(raw.meshes[n.mesh].blocks) for n in tree if n.mesh is not None)
    if len(tree) + blocks > MAX_PARTS:
        raise _LimitExceeded(f"more than {MAX_PARTS} parts")
    _check_triangles(sum(len(m.faces) for m in raw.meshes))
    drawn = sum(len(raw.meshes[n.mesh].faces) for n in tree if n.mesh is not None)
    if drawn > MAX_INSTANCED_TRIANGLES:
        raise _LimitExceeded(f"{drawn:,} placed triangles; the limit is {MAX_INSTANCED_TRIANGLES:,}")


def _file_matrices(raw: RawScene, tree: list[RawNode]) -> list[Matrix]:
    """Each node's local matrix turned into our frame (Z up), still in file units."""
    out: list[Matrix] = []
    for node in tree:
        m = np.array(node.matrix, dtype=np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise MeshImportError(f"part {node.name!r} has an invalid transform")
        if raw.up == "y":
            # Rotate the frame, not the parts: vertices are turned once (exactly, by
            # swapping axes) and each matrix is conjugated, so an identity placement in
            # the file stays an identity transform here.
            m = xform.Y_UP_TO_Z_UP @ m @ xform.Z_UP_TO_Y_UP
        out.append(m)
    return out


def _native_size(raw: RawScene, tree: list[RawNode]) -> tuple[float, float, float]:
    local = _file_matrices(raw, tree)
    world: list[Matrix] = []
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    boxes: dict[int, tuple[Any, Any]] = {}
    for k, node in enumerate(tree):
        w = local[k] if node.parent is None else world[node.parent] @ local[k]
        world.append(w)
        if node.mesh is None:
            continue
        if node.mesh not in boxes:
            v = np.asarray(raw.meshes[node.mesh].vertices, dtype=np.float64)
            if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0 or not np.isfinite(v).all():
                continue  # reported by _validate when built
            if raw.up == "y":
                v = xform.y_up_to_z_up(v)
            boxes[node.mesh] = (v.min(0), v.max(0))
        a, b = boxes[node.mesh]
        corners = np.array([[x, y, z, 1.0] for x in (a[0], b[0]) for y in (a[1], b[1])
                            for z in (a[2], b[2])])
        pts = corners @ w.T
        lo, hi = np.minimum(lo, pts[:, :3].min(0)), np.maximum(hi, pts[:, :3].max(0))
    if not np.all(np.isfinite(lo)):
        return (0.0, 0.0, 0.0)
    d = hi - lo
    return (float(d[0]), float(d[1]), float(d[2]))


def _build(loaded: LoadedFile, factor: float, used: str, ctx: _Progress) -> ImportResult:
    raw, source = loaded.raw, loaded.source
    tree = raw.tree()
    local = _file_matrices(raw, tree)
    names = _node_names(loaded, tree)
    y_up = raw.up == "y"
    checked: set[int] = set()
    encoded: dict[tuple[int, int, bytes | None], tuple[bytes, str, tuple[float, ...]]] = {}
    by_hash: dict[str, bytes] = {}
    nodes: list[ImportedNode] = []
    index: dict[int, int] = {}  # tree index → nodes index
    carry: dict[int, Matrix] = {}  # linear parts baked below a node (shear, zero scale)
    total = len(tree)

    def encode(mesh_i: int, block: int, faces: Any, bake: Matrix | None
               ) -> tuple[bytes, str, tuple[float, ...]]:
        key = (mesh_i, block, None if bake is None else bake.tobytes())
        if key not in encoded:
            mesh = raw.meshes[mesh_i]
            vertices: FloatArray = np.asarray(mesh.vertices, dtype=np.float64)
            if block >= 0:
                used_v, faces = np.unique(faces, return_inverse=True)
                vertices = vertices[used_v]
                faces = faces.reshape(-1, 3)
            if y_up:
                vertices = xform.y_up_to_z_up(vertices)
            if factor != 1.0:
                vertices = vertices * factor
            if bake is not None:
                vertices = vertices @ bake.T
            blob = meshblob.encode(vertices, faces)
            digest = meshblob.digest(blob)
            blob = by_hash.setdefault(digest, blob)  # identical meshes share one blob
            encoded[key] = (blob, digest, meshblob.bounds(vertices.astype(np.float32)))
        return encoded[key]

    for k, node in enumerate(tree):
        ctx(0.98 * k / max(total, 1), "Preparing meshes")
        m = local[k].copy()
        m[:3, 3] *= factor
        if node.parent is not None and node.parent in carry:
            m = carry[node.parent] @ m
        transform, bake = core_xform.decompose(m)
        if bake is not None:
            lin = np.eye(4)
            lin[:3, :3] = bake
            carry[k] = lin
        parent = None if node.parent is None else index[node.parent]
        if node.mesh is None:
            index[k] = len(nodes)
            kind = "part" if node.kind == "part" else "group"
            nodes.append(ImportedNode(names[k], kind, parent, transform, props=node.props))
            continue
        mesh = raw.meshes[node.mesh]
        if node.mesh not in checked:
            _validate(mesh, source)
            checked.add(node.mesh)
        index[k] = len(nodes)
        if not mesh.blocks:
            blob, digest, bbox = encode(node.mesh, -1, mesh.faces, bake)
            kind = "material" if node.kind == "material" else "part"
            nodes.append(ImportedNode(names[k], kind, parent, transform, blob, digest,
                                      mesh.color, bbox, len(mesh.faces), dict(node.props)))
            continue
        # One part, drawn by one block per material.
        nodes.append(ImportedNode(names[k], "part", parent, transform,
                                  triangles=len(mesh.faces), props=dict(node.props)))
        me = len(nodes) - 1
        for b, block in enumerate(mesh.blocks):
            faces = np.asarray(mesh.faces)[block.faces]
            blob, digest, bbox = encode(node.mesh, b, faces, bake)
            label = block.name if not is_placeholder(block.name) else f"material {b + 1}"
            nodes.append(ImportedNode(_clip(label), "material", me, _IDENTITY, blob, digest,
                                      block.color, bbox, len(faces)))
    # A multi-material part counts the triangles of its blocks.
    for k, n in enumerate(nodes):
        if n.kind == "part" and n.hash is None:
            tri = sum(c.triangles for c in nodes if c.parent == k and c.kind == "material")
            nodes[k] = ImportedNode(n.name, n.kind, n.parent, n.transform, triangles=tri,
                                    props=n.props)
    # Unnamed empty leaves (cameras, lights, helpers) are left out.
    keep = _prune(nodes)
    ctx(1.0, "Done")
    triangles = sum(n.triangles for n in keep if n.hash is not None)
    return ImportResult(source, keep, triangles, loaded.format, used)


def _prune(nodes: list[ImportedNode]) -> list[ImportedNode]:
    has_kids = {n.parent for n in nodes if n.parent is not None}
    drop = {k for k, n in enumerate(nodes)
            if n.kind == "group" and k not in has_kids and n.name.startswith("\0")}
    if not drop and not any(n.name.startswith("\0") for n in nodes):
        return nodes
    remap: dict[int, int] = {}
    out: list[ImportedNode] = []
    for k, n in enumerate(nodes):
        if k in drop:
            continue
        remap[k] = len(out)
        parent = None if n.parent is None else remap[n.parent]
        name = n.name.lstrip("\0")
        out.append(ImportedNode(name, n.kind, parent, n.transform, n.blob, n.hash, n.color,
                                n.bbox, n.triangles, n.props))
    return out


def _validate(mesh: RawMesh, source: str) -> None:
    faces = np.asarray(mesh.faces)
    vertices = np.asarray(mesh.vertices)
    auto = is_placeholder(mesh.name) or mesh.name == source
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


def _node_names(loaded: LoadedFile, tree: list[RawNode]) -> list[str]:
    """Return a readable name per node (see the module docstring).

    Unnamed empty groups get a name starting with NUL, so ``_prune`` can drop them when they
    hold nothing; the NUL is removed from names that are kept.
    """
    raw, source, stem = loaded.raw, loaded.source, loaded.stem
    products = loaded.names
    out: list[str] = []
    unnamed = [k for k, n in enumerate(tree) if not _own_name(n, raw, source)]
    single = len(unnamed) == 1 and sum(1 for n in tree if n.mesh is not None) == 1
    counter = 0
    for node in tree:
        name = _own_name(node, raw, source)
        if products:
            product = products.get(node.name.strip())
            if product:
                if node.name.strip() != product:
                    node.props = {**node.props, "instance": node.name.strip()}
                name = product
        if not name:
            counter += 1
            name = stem if single else f"{stem} {counter}"
            if node.mesh is None:
                name = "\0" + name
        out.append(name if name.startswith("\0") else _clip(name))
    return out


def _own_name(node: RawNode, raw: RawScene, source: str) -> str:
    name = node.name.strip()
    if name.lower() == source.lower() or is_placeholder(name):
        name = ""  # trimesh names single-mesh files after the file, or invents a name
    if not name and node.mesh is not None:
        mesh_name = raw.meshes[node.mesh].name.strip()
        if mesh_name.lower() != source.lower() and not is_placeholder(mesh_name):
            name = mesh_name
    return name


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"
