"""Read a trimesh scene (glTF/GLB, STEP via GLB, OBJ, PLY, OFF, COLLADA) into a ``RawScene``
tree.

Design notes
------------
* The scene graph is walked from trimesh's base frame, so nested groups, named empty nodes
  and each node's local matrix are kept as the file has them. For glTF the node order,
  names and "no name" are taken from the file's JSON (trimesh invents names for unnamed
  nodes and walks children with a stack, which reverses them); trimesh's frame names are
  rebuilt with the same ``unique_name`` rule it uses, and if that ever disagrees with the
  graph the walker falls back to trimesh's own names and order.
* glTF meshes with several primitives are read with ``merge_primitives`` so one mesh stays
  one part; its materials become ``RawBlock`` face subsets with their own colours.
* glTF colours are linear: they are converted to sRGB here (see ``color``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin_app.io.color import to_srgb
from twin_app.io.glb import MATERIAL_TAG
from twin_app.io.raw import RawBlock, RawMesh, RawNode, RawScene
from twin_app.io.typed import Float64Array

if TYPE_CHECKING:
    import trimesh
    from trimesh.resolvers import FilePathResolver

_UNITS = {
    "meters": 1.0, "meter": 1.0, "m": 1.0, "millimeters": 1e-3, "millimeter": 1e-3,
    "mm": 1e-3, "centimeters": 1e-2, "cm": 1e-2, "inches": 0.0254, "inch": 0.0254,
    "feet": 0.3048, "foot": 0.3048,
}
# trimesh's placeholder names for things a file leaves unnamed.
_PLACEHOLDER = re.compile(r"(geometry|gltf|mesh|node|object|world|part|shape)?[_ ]?\d*",
                          re.IGNORECASE)


def is_placeholder(name: str) -> bool:
    """True for names a loader invents (``GLTF_1``, ``geometry_0``, ``12``) or none."""
    return not name.strip() or _PLACEHOLDER.fullmatch(name.strip()) is not None


def read_scene(
    path: Path,
    data: bytes,
    file_type: str,
    check_triangles: Callable[[int], None],
    check: Callable[[], None],
    max_nodes: int,
    resolver: FilePathResolver | None = None,
    gltf_json: dict[str, Any] | None = None,
    materials: list[tuple[str, list[float] | None]] | None = None,
    loader_kwargs: dict[str, Any] | None = None,
) -> RawScene:
    """Load ``data`` with trimesh and return its meshes and node tree.

    ``gltf_json`` is the file's parsed glTF JSON (for node order and names) when the file is
    glTF/GLB, and ``materials`` the original (name, linear base colour) of each material that
    ``glb.tag_materials`` renamed. ``check_triangles(n)`` raises on a mesh over the limit; ``check()`` raises on
    cancel; more than ``max_nodes`` nodes raise ``ValueError``.
    """
    import trimesh

    gltf = file_type in ("glb", "gltf")
    kwargs: dict[str, Any] = {"merge_primitives": True} if gltf else {}
    kwargs.update(loader_kwargs or {})
    scene = trimesh.load_scene(
        io.BytesIO(data), file_type=file_type, resolver=resolver, process=False, **kwargs
    )
    check()
    raw = RawScene(up="y" if gltf else "z")
    if gltf:
        raw.declared = True  # glTF is metres by definition
    units = getattr(scene, "units", None)
    if isinstance(units, str) and units.lower() in _UNITS:
        raw.unit = _UNITS[units.lower()]
        raw.declared = True
    index: dict[str, int] = {}
    for gname, geom in scene.geometry.items():
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue  # point clouds, paths, empty meshes: nothing to draw as a part
        check_triangles(len(geom.faces))
        index[gname] = len(raw.meshes)
        raw.meshes.append(_raw_mesh(str(gname), geom, _Colors(gltf, materials or [])))

    graph = scene.graph
    tf = graph.transforms
    children: dict[str, list[str]] = {k: list(v) for k, v in tf.children.items()}
    names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    if gltf_json is not None:
        ordered = _gltf_frames(gltf_json, set(tf.nodes), str(graph.base_frame))
        if ordered is not None:
            children, names, kinds = ordered

    def add(frame: str, parent: int | None) -> None:
        if len(raw.nodes) >= max_nodes:
            raise ValueError(f"more than {max_nodes} nodes")
        data_ = tf.edge_data.get((graph.transforms.parents.get(frame), frame), {})
        matrix = np.asarray(data_.get("matrix", np.eye(4)), dtype=np.float64)
        gname = data_.get("geometry")
        name = names.get(frame, frame)
        kids = children.get(frame, [])
        mesh = index.get(gname) if gname is not None else None
        if gname is not None and mesh is None and not kids:
            return  # a point cloud or a path: nothing to show
        node = RawNode(name, parent, matrix, mesh, kind=kinds.get(frame))
        raw.nodes.append(node)
        me = len(raw.nodes) - 1
        for kid in kids:
            add(kid, me)

    base = graph.base_frame
    for top in children.get(str(base), []):
        add(top, None)
    return raw


def _gltf_frames(tree: dict[str, Any], frames: set[str], base: str
                 ) -> tuple[dict[str, list[str]], dict[str, str], dict[str, str]] | None:
    """Return (children in file order, original names, Twinroom node kinds) keyed by
    trimesh frame names."""
    from trimesh.util import unique_name

    nodes = tree.get("nodes") or []
    seen: dict[str, int] = {}
    counts: dict[str | None, int] = {}
    frame_of: dict[int, str] = {}
    for i, n in enumerate(nodes):
        if not isinstance(n, dict):
            return None
        raw_name = n.get("name", str(i))
        fname = unique_name(raw_name if isinstance(raw_name, str) else str(i), seen, counts=counts)
        seen[fname] = i
        frame_of[i] = fname
    for i, fname in list(frame_of.items()):
        if fname == base:  # trimesh renames a node that collides with its base frame
            frame_of[i] = unique_name(base, set(frame_of.values()))
    names = {
        frame_of[i]: (n["name"] if isinstance(n.get("name"), str) else "")
        for i, n in enumerate(nodes)
    }
    kinds: dict[str, str] = {}
    for i, n in enumerate(nodes):
        extras = n.get("extras")
        ours = extras.get("twinroom") if isinstance(extras, dict) else None
        if isinstance(ours, dict) and ours.get("kind") in ("part", "material"):
            kinds[frame_of[i]] = str(ours["kind"])
    children: dict[str, list[str]] = {}
    try:
        scene_index = int(tree.get("scene", 0))
        roots = tree["scenes"][scene_index].get("nodes", [])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    children[base] = [frame_of[r] for r in roots if r in frame_of]
    for i, n in enumerate(nodes):
        kids = n.get("children") or []
        if not isinstance(kids, list):
            return None
        children[frame_of[i]] = [frame_of[k] for k in kids if isinstance(k, int) and k in frame_of]
    wanted = {f for kids in children.values() for f in kids}
    if not wanted <= frames | _cameras(tree, frame_of):
        return None
    for kids in children.values():
        kids[:] = [k for k in kids if k in frames]
    return children, names, kinds


def _cameras(tree: dict[str, Any], frame_of: dict[int, str]) -> set[str]:
    return {frame_of[i] for i, n in enumerate(tree.get("nodes") or [])
            if isinstance(n, dict) and "camera" in n}


class _Colors:
    """How a file stores colours: linear or not, and the exact glTF material factors."""

    def __init__(self, linear: bool, materials: list[tuple[str, list[float] | None]]) -> None:
        self.linear = linear
        self.materials = materials

    def original(self, material: Any) -> tuple[str, list[float] | None] | None:
        name = str(getattr(material, "name", "") or "")
        if name.startswith(MATERIAL_TAG):
            try:
                return self.materials[int(name[len(MATERIAL_TAG):])]
            except (ValueError, IndexError):
                return None
        return None

    def name(self, material: Any) -> str:
        found = self.original(material)
        return found[0] if found is not None else str(getattr(material, "name", "") or "")


def _raw_mesh(name: str, geom: trimesh.Trimesh, colors: _Colors) -> RawMesh:
    vertices = np.asarray(geom.vertices, dtype=np.float64)
    faces = np.asarray(geom.faces)
    visual = geom.visual
    material = getattr(visual, "material", None)
    face_materials = getattr(visual, "face_materials", None)
    subs = getattr(material, "materials", None)
    if subs is not None and face_materials is not None and len(subs) > 1:
        fm = np.asarray(face_materials)
        blocks = []
        for k, sub in enumerate(subs):
            idx = np.flatnonzero(fm == k)
            if len(idx):
                blocks.append(RawBlock(colors.name(sub), idx, _material_color(sub, colors)))
        if len(blocks) > 1:
            return RawMesh(name, vertices, faces, blocks[0].color, blocks)
        if blocks:
            return RawMesh(name, vertices, faces, blocks[0].color)
    return RawMesh(name, vertices, faces, trimesh_color(geom, colors))


def _material_color(material: Any, colors: _Colors) -> tuple[float, float, float] | None:
    found = colors.original(material)
    if found is not None and found[1] is not None:
        return _rgb(np.asarray(found[1], dtype=np.float64), colors.linear)
    base = getattr(material, "baseColorFactor", None)
    if base is None:
        base = getattr(material, "diffuse", None)
    if base is None:
        return None
    arr = np.asarray(base)
    rgba = arr.astype(np.float64).reshape(-1)
    if arr.dtype.kind in "ui":
        rgba = rgba / 255.0
    return _rgb(rgba, colors.linear)


def _rgb(rgba: Float64Array, linear: bool) -> tuple[float, float, float] | None:
    if rgba.size < 3 or not np.isfinite(rgba[:3]).all():
        return None
    scale = 255.0 if rgba[:3].max() > 1.0 else 1.0
    r, g, b = (float(min(max(c / scale, 0.0), 1.0)) for c in rgba[:3])
    return to_srgb((r, g, b)) if linear else (r, g, b)


def trimesh_color(geom: trimesh.Trimesh, colors: _Colors | None = None
                  ) -> tuple[float, float, float] | None:
    """Return the mesh's main colour in sRGB, or None when the file gives it none."""
    from trimesh.visual.color import ColorVisuals

    colors = colors or _Colors(False, [])
    try:
        visual = geom.visual
        material = getattr(visual, "material", None)
        if material is not None:
            return _material_color(material, colors)
        rgba: Float64Array | None = None
        if isinstance(visual, ColorVisuals) and visual.kind == "face":
            rgba = np.asarray(visual.face_colors, dtype=np.float64).mean(axis=0) / 255.0
        elif isinstance(visual, ColorVisuals) and visual.kind == "vertex":
            rgba = np.asarray(visual.vertex_colors, dtype=np.float64).mean(axis=0) / 255.0
        if rgba is None:
            return None
        return _rgb(rgba, False)  # colours per face or vertex are sRGB bytes
    except (AttributeError, ValueError, TypeError, IndexError):
        return None


def merge_obj_objects(raw: RawScene, objects: list[str], materials: list[str]) -> RawScene:
    """Join an OBJ's per-material meshes back into one part per object.

    trimesh splits an OBJ by object and material and names each piece
    ``"<object>_<material>"`` (just ``"<material>"`` when the file has no ``o`` lines);
    ``objects`` and ``materials`` are the file's object and material names in file order.
    Pieces of one object become one mesh whose materials are blocks, in file order.
    Returns ``raw`` unchanged when the pieces cannot be matched to objects.
    """
    from twin_app.io.raw import RawNode

    if any(n.parent is not None or n.mesh is None for n in raw.nodes) or len(raw.nodes) < 2:
        return raw
    if not objects:
        objects = [""]  # one unnamed object: the file's fallback name
    if any(not np.array_equal(n.matrix, np.eye(4)) for n in raw.nodes):
        return raw
    by_object: dict[str, list[int]] = {}
    for n in raw.nodes:
        assert n.mesh is not None
        name = raw.meshes[n.mesh].name
        owner = max((o for o in objects if name == o or not o or name.startswith(o + "_")),
                    key=len, default=None)
        if owner is None:
            return raw
        by_object.setdefault(owner, []).append(n.mesh)
    out = RawScene(unit=raw.unit, declared=raw.declared, up=raw.up)
    for obj in dict.fromkeys(objects):
        pieces = by_object.get(obj)
        if not pieces:
            continue
        if len(pieces) == 1:
            mesh = raw.meshes[pieces[0]]
            mesh.name = obj
        else:
            vs, fs, blocks = [], [], []
            offset = start = 0

            def label_of(k: int, obj: str = obj) -> str:
                name = raw.meshes[k].name
                return name[len(obj) + 1 :] if obj and name != obj else ("" if obj else name)

            order = {m: i for i, m in enumerate(dict.fromkeys(materials))}
            for k in sorted(pieces, key=lambda k: (order.get(label_of(k), len(order)), k)):
                piece = raw.meshes[k]
                label = label_of(k)
                vs.append(np.asarray(piece.vertices, dtype=np.float64))
                fs.append(np.asarray(piece.faces, dtype=np.int64) + offset)
                blocks.append(RawBlock(label, np.arange(start, start + len(piece.faces)),
                                       piece.color))
                offset += len(piece.vertices)
                start += len(piece.faces)
            mesh = RawMesh(obj, np.concatenate(vs), np.concatenate(fs), blocks[0].color, blocks)
        out.meshes.append(mesh)
        out.nodes.append(RawNode(obj, None, np.eye(4), len(out.meshes) - 1))
    return out
