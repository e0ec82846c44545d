"""COLLADA (.dae) reader through pycollada: node tree, names, units, up axis, colours.

trimesh's COLLADA loader flattens the node tree, names parts after geometry ids and
ignores the ``<unit>`` of the file; COLLADA files from CAD and DCC tools rely on all three.
pycollada (the library trimesh itself uses underneath) gives the document; this module
walks its visual scene into a ``RawScene``: each ``<node>`` a group, a node with one
geometry becomes that part, a geometry with several materials one part with a block per
material. COLLADA colours are display colours (sRGB) and are kept as they are.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from twin_app.io.raw import RawBlock, RawMesh, RawNode, RawScene


def read_dae(data: bytes, check_triangles: Callable[[int], None], check: Callable[[], None],
             max_nodes: int) -> RawScene:
    """Return the meshes and node tree of a COLLADA document.

    Raises ``ValueError`` (and whatever pycollada raises on a broken document) when the
    file cannot be read; ``check_triangles(n)`` raises on a mesh over the limit.
    """
    import collada  # type: ignore[import-untyped]

    doc = collada.Collada(
        io.BytesIO(data),
        ignore=[collada.common.DaeUnsupportedError, collada.common.DaeBrokenRefError],
    )
    check()
    raw = RawScene()
    info = doc.assetInfo
    unit = getattr(info, "unitmeter", None)
    if isinstance(unit, int | float) and unit > 0:
        raw.unit = float(unit)
    raw.declared = True  # COLLADA's default unit is the metre
    if str(getattr(info, "upaxis", "Z_UP")).upper().startswith("Y"):
        raw.up = "y"
    scene = doc.scene
    if scene is None:
        raise ValueError("it has no scene")
    meshes: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    def mesh_of(gnode: Any) -> int | None:
        geom = gnode.geometry
        binding = tuple(sorted((m.symbol, str(getattr(m.target, "id", ""))) for m in gnode.materials))
        key = (str(geom.id), binding)
        if key in meshes:
            return meshes[key]
        colors = {m.symbol: _color(m.target) for m in gnode.materials}
        names = {m.symbol: str(getattr(m.target, "name", "") or getattr(m.target, "id", ""))
                 for m in gnode.materials}
        vs: list[Any] = []
        fs: list[Any] = []
        blocks: list[RawBlock] = []
        offset = faces_so_far = 0
        for prim in geom.primitives:
            tris = prim.triangleset() if hasattr(prim, "triangleset") else prim
            if not hasattr(tris, "vertex_index") or tris.vertex is None or len(tris) == 0:
                continue
            v = np.asarray(tris.vertex, dtype=np.float64)
            f = np.asarray(tris.vertex_index, dtype=np.int64).reshape(-1, 3)
            check_triangles(faces_so_far + len(f))
            vs.append(v)
            fs.append(f + offset)
            sym = str(tris.material)
            blocks.append(RawBlock(names.get(sym, sym),
                                   np.arange(faces_so_far, faces_so_far + len(f)),
                                   colors.get(sym)))
            offset += len(v)
            faces_so_far += len(f)
        if not fs:
            meshes[key] = -1
            return None
        merged = _merge_blocks(blocks)
        mesh = RawMesh(str(geom.name or geom.id or ""), np.concatenate(vs), np.concatenate(fs),
                       merged[0].color if merged else None, merged if len(merged) > 1 else [])
        raw.meshes.append(mesh)
        meshes[key] = len(raw.meshes) - 1
        return meshes[key]

    def walk(node: Any, parent: int | None, depth: int) -> None:
        if depth > 64:
            raise ValueError("its node tree is nested too deeply (or refers to itself)")
        if len(raw.nodes) >= max_nodes:
            raise ValueError(f"more than {max_nodes} nodes")
        check()
        kind = type(node).__name__
        if kind == "NodeNode":
            walk(node.node, parent, depth + 1)
            return
        if kind != "Node":
            return
        matrix = np.asarray(getattr(node, "matrix", np.eye(4)), dtype=np.float64)
        name = str(getattr(node, "name", "") or getattr(node, "id", "") or "")
        geoms = [c for c in node.children if type(c).__name__ == "GeometryNode"]
        others = [c for c in node.children if type(c).__name__ != "GeometryNode"]
        own = mesh_of(geoms[0]) if len(geoms) == 1 else None
        raw.nodes.append(RawNode(name, parent, matrix, own))
        me = len(raw.nodes) - 1
        if len(geoms) > 1:
            for g in geoms:
                m = mesh_of(g)
                if m is not None:
                    raw.nodes.append(RawNode(str(g.geometry.name or ""), me, np.eye(4), m))
        for child in others:
            walk(child, me, depth + 1)

    for top in scene.nodes:
        walk(top, None, 0)
    return raw


def _merge_blocks(blocks: list[RawBlock]) -> list[RawBlock]:
    """Join the blocks that use the same material (several primitives, one material)."""
    out: dict[tuple[str, Any], RawBlock] = {}
    for b in blocks:
        key = (b.name, b.color)
        if key in out:
            out[key].faces = np.concatenate([out[key].faces, b.faces])
        else:
            out[key] = RawBlock(b.name, b.faces, b.color)
    return list(out.values())


def _color(material: Any) -> tuple[float, float, float] | None:
    effect = getattr(material, "effect", None)
    diffuse = getattr(effect, "diffuse", None)
    if isinstance(diffuse, tuple | list) and len(diffuse) >= 3:
        rgb = np.clip(np.asarray(diffuse[:3], dtype=np.float64), 0.0, 1.0)
        if np.isfinite(rgb).all():
            return (float(rgb[0]), float(rgb[1]), float(rgb[2]))
    return None
