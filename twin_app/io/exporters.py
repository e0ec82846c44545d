"""Export the scene to GLB (binary glTF 2.0) through trimesh.

Design notes
------------
* The node tree is kept: every visible part and each group above one becomes a glTF node
  with its local transform, so other tools see the same hierarchy. Hidden nodes (and
  everything under a hidden group) and nodes without geometry below them are left out.
* Our frame is +Z up, glTF's is +Y up. Vertices are turned exactly (axis swap, see
  ``xform.z_up_to_y_up``) and each local matrix is conjugated by the same rotation, so
  identity transforms stay identity and ``import_file`` restores the original meshes bit
  for bit (same hashes) and the original transforms.
* Instances stay instances: parts sharing a mesh hash and look (colour, opacity) refer to
  one glTF mesh; a different colour needs its own glTF mesh because glTF binds materials
  to mesh primitives.
* What trimesh cannot write is written into the JSON afterwards (``glb``): node names as
  they are (trimesh keys its graph by unique name, so frames are named by node id),
  colours converted from our sRGB to glTF's linear light as exact floats (trimesh would
  round them to 8 bits), and the kind of nodes that are not plain groups or parts
  (``extras.twinroom.kind``: a multi-material part and its ``material`` blocks), so
  importing the export gives the same tree, names, colours and bounds. Units are metres.
* Runs in a worker thread: it reads ``doc`` only, so hand it a document that the GUI
  thread does not mutate meanwhile (e.g. ``snapshot.copy_document``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin_app.core import meshblob
from twin_app.core import xform as core_xform
from twin_app.core.document import DEFAULT_COLOR, Document
from twin_app.core.ids import ROOT_ID
from twin_app.io import glb, xform
from twin_app.io.color import to_linear
from twin_app.io.typed import Float32Array, Int64Array

# A glTF mesh per distinct look: mesh hash, colour, opacity.
_Look = tuple[str, tuple[float, float, float], float]

log = logging.getLogger(__name__)


class MeshExportError(Exception):
    """The scene could not be exported (message is user-facing)."""


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_glb`` wrote: parts and triangles, and parts left out for want of a mesh."""

    parts: int
    triangles: int
    missing: int


def export_glb(doc: Document, get_blob: Callable[[str], bytes | None], path: Path
               ) -> ExportSummary:
    """Write the visible scene to ``path`` as GLB and return what was written.

    ``get_blob(hash)`` returns a mesh blob or None (such parts are skipped with a warning
    and counted in ``missing``).
    World placement, colours and opacity are kept; hidden parts are skipped. The file is
    written atomically. Raises ``MeshExportError`` if writing fails.
    """
    import trimesh
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    path = Path(path)
    exported = _visible_mesh_nodes(doc)
    meshes: dict[str, tuple[Float32Array, Int64Array] | None] = {}
    for nid in exported:
        h = doc.nodes[nid].mesh
        assert h is not None
        if h not in meshes:
            meshes[h] = _decode(h, get_blob(h))
    visible = len(exported)
    exported = [nid for nid in exported if meshes[doc.nodes[nid].mesh or ""] is not None]
    keep: set[str] = set()
    for nid in exported:
        cur: str | None = nid
        while cur is not None and cur != ROOT_ID and cur not in keep:
            keep.add(cur)
            cur = doc.nodes[cur].parent

    scene = trimesh.Scene(base_frame="world")
    frames: dict[str, str] = {ROOT_ID: "world"}
    node_names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    geometry: dict[_Look, str] = {}
    looks: dict[str, _Look] = {}
    triangles = 0
    wanted = set(exported)
    for node in doc.walk():
        if node.id not in keep:
            continue
        assert node.parent is not None
        frame = f"twin-{node.id}"
        frames[node.id] = frame
        node_names[frame] = node.name or node.id
        if node.kind not in ("group", "part") or (node.kind == "part" and node.mesh is None):
            kinds[frame] = node.kind
        local = xform.Z_UP_TO_Y_UP @ core_xform.matrix(node.transform) @ xform.Y_UP_TO_Z_UP
        kwargs: dict[str, str] = {}
        if node.id in wanted and node.mesh is not None:
            vf = meshes[node.mesh]
            assert vf is not None
            color = node.color if node.color is not None else DEFAULT_COLOR
            look: _Look = (node.mesh, color, node.opacity)
            if look not in geometry:
                name = f"{node.mesh[:12]}-{len(geometry)}"
                rgba = [*(round(c * 255) for c in color), round(node.opacity * 255)]
                material = PBRMaterial(
                    name=f"twin-look-{len(geometry)}",
                    baseColorFactor=rgba,
                    metallicFactor=0.1,
                    roughnessFactor=0.6,
                    alphaMode="BLEND" if node.opacity < 1.0 else "OPAQUE",
                    doubleSided=True,
                )
                mesh = trimesh.Trimesh(vertices=vf[0], faces=vf[1], process=False)
                mesh.visual = TextureVisuals(material=material)
                scene.geometry[name] = mesh
                geometry[look] = name
                looks[f"twin-look-{len(geometry) - 1}"] = look
            kwargs["geometry"] = geometry[look]
            triangles += len(vf[1])
        scene.graph.update(frame_from=frames[node.parent], frame_to=frame, matrix=local, **kwargs)

    try:
        data: bytes = scene.export(file_type="glb") if scene.geometry else _empty_glb()
        data = _amend(data, node_names, kinds, looks)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise MeshExportError(f"{path.name}: cannot write ({exc.strerror or exc})") from exc
    log.info("exported %d parts, %d triangles to %s", len(exported), triangles, path)
    return ExportSummary(len(exported), triangles, visible - len(exported))


def _visible_mesh_nodes(doc: Document) -> list[str]:
    """Ids of nodes with a mesh whose whole ancestor chain is visible, in tree order."""
    hidden: set[str] = set()
    out: list[str] = []
    for node in doc.walk():
        if not node.visible or (node.parent is not None and node.parent in hidden):
            hidden.add(node.id)
        elif node.mesh is not None:
            out.append(node.id)
    return out


def _decode(h: str, blob: bytes | None) -> tuple[Float32Array, Int64Array] | None:
    if blob is None:
        log.warning("mesh %s is not available locally; its parts are not exported", h[:12])
        return None
    try:
        v, f = meshblob.decode(blob)
    except meshblob.MeshBlobError as exc:
        log.warning("mesh %s is unreadable (%s); its parts are not exported", h[:12], exc)
        return None
    return xform.z_up_to_y_up(v.astype(np.float32)), f.astype(np.int64)


def _amend(data: bytes, names: dict[str, str], kinds: dict[str, str],
           looks: dict[str, _Look]) -> bytes:
    """Write exact names, linear colours and node kinds into an exported GLB's JSON."""
    tree, rest = glb.split(data)
    for node in tree.get("nodes", []):
        frame = node.get("name")
        if frame in kinds:
            node.setdefault("extras", {})["twinroom"] = {"kind": kinds[frame]}
        if frame in names:
            node["name"] = names[frame]
    for mat in tree.get("materials", []):
        look = looks.get(mat.get("name", ""))
        if look is None:
            continue
        _, color, opacity = look
        pbr = mat.setdefault("pbrMetallicRoughness", {})
        pbr["baseColorFactor"] = [*to_linear(color), float(opacity)]
        mat["name"] = "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in color))
    return glb.join(tree, rest)


def _empty_glb() -> bytes:
    """A valid GLB with an empty scene (trimesh cannot export a scene with no geometry)."""
    body = b'{"asset":{"version":"2.0","generator":"Twinroom"},"scene":0,"scenes":[{"nodes":[]}]}'
    body += b" " * (-len(body) % 4)
    header = b"glTF" + (2).to_bytes(4, "little") + (12 + 8 + len(body)).to_bytes(4, "little")
    return header + len(body).to_bytes(4, "little") + b"JSON" + body
