"""Imported files become one undoable batch in the document; GLB export round-trips."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from twin_app.core import meshblob
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, SetField, apply
from twin_app.core.xform import world_matrices
from twin_app.io.benchutil import bench_import_1m
from twin_app.io.exporters import export_glb
from twin_app.io.importers import import_file, import_ops


def crates_glb(path: Path) -> Path:
    scene = trimesh.Scene()
    red = trimesh.creation.box((1.0, 1.0, 1.0))
    red = trimesh.Trimesh(np.asarray(red.vertices), np.asarray(red.faces), process=False)
    red.visual = TextureVisuals(material=PBRMaterial(baseColorFactor=[200, 40, 20, 255]))
    for i in range(3):
        scene.add_geometry(red, geom_name="crate", node_name=f"crate {i}",
                           transform=trimesh.transformations.translation_matrix((2.0 * i, 0, 0)))
    scene.add_geometry(trimesh.creation.cylinder(0.2, 2.0, sections=10), node_name="post")
    scene.export(path)
    return path


def test_import_ops_builds_a_group_of_parts(tmp_path: Path) -> None:
    doc = Document()
    apply(doc, AddNode(Node("existing", ROOT_ID, "a", name="Existing line")))
    result = import_file(crates_glb(tmp_path / "crates.glb"))
    batch = import_ops(result, doc)
    assert isinstance(batch, Batch)
    apply(doc, batch)
    kids = doc.children(ROOT_ID)
    assert kids[0] == "existing"  # the import goes after the last child
    group = doc.nodes[kids[-1]]
    assert group.kind == "group" and group.name == "crates.glb"
    assert group.props["source"] == "crates.glb"
    parts = [doc.nodes[c] for c in doc.children(group.id)]
    assert [p.name for p in parts] == ["crate 0", "crate 1", "crate 2", "post"]
    for node, part in zip(parts, result.parts, strict=True):
        assert node.kind == "part"
        assert node.mesh == part.hash
        assert node.transform == pytest.approx(part.transform)
        assert node.color == (pytest.approx(part.color) if part.color else None)
        assert node.props["bbox"] == pytest.approx(part.bbox)
        assert node.props["source"] == "crates.glb"
        assert node.props["triangles"] == part.triangles
    assert len({p.mesh for p in parts}) == 2  # three crates share one mesh
    # Ids are fresh random ids, different on a second import of the same file.
    again = import_ops(result, doc)
    first_ids = {group.id, *(p.id for p in parts)}
    assert not first_ids & {op.node.id for op in again.ops if isinstance(op, AddNode)}


def test_import_ops_is_one_undoable_step(tmp_path: Path) -> None:
    doc = Document()
    before = doc.hash()
    inverse, changes = apply(doc, import_ops(import_file(crates_glb(tmp_path / "c.glb")), doc))
    assert len(doc) == 1 + 1 + 4 and changes.structural()
    apply(doc, inverse)
    assert doc.hash() == before


def test_import_at_a_world_point_under_a_moved_parent(tmp_path: Path) -> None:
    doc = Document()
    # A station rotated 90° about Z and moved to (10, 0, 0).
    q = (0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    apply(doc, AddNode(Node("station", ROOT_ID, "V", transform=(10.0, 0.0, 0.0, *q, 1.0, 1.0, 1.0))))
    result = import_file(crates_glb(tmp_path / "c.glb"))
    apply(doc, import_ops(result, doc, parent="station", at=(10.0, 5.0, 1.0)))
    group_id = doc.children("station")[0]
    world = world_matrices(doc)[group_id]
    assert world[:3, 3] == pytest.approx((10.0, 5.0, 1.0))


def test_export_glb_round_trip(tmp_path: Path) -> None:
    doc = Document()
    blobs: dict[str, bytes] = {}
    for name in ("a.glb", "b.glb"):
        result = import_file(crates_glb(tmp_path / name))
        blobs.update(result.blobs)
        apply(doc, import_ops(result, doc, at=(5.0, 0.0, 0.0) if name == "b.glb" else None))
    # Hide one part and one whole group's worth of parts: hidden parts are not exported.
    groups = doc.children(ROOT_ID)
    hidden_part = doc.children(groups[0])[1]
    apply(doc, SetField(hidden_part, "visible", False))
    apply(doc, SetField(doc.children(groups[1])[3], "visible", False))
    # Give one instance its own colour and transparency.
    apply(doc, SetField(doc.children(groups[0])[0], "color", (0.1, 0.2, 0.9)))
    apply(doc, SetField(doc.children(groups[0])[0], "opacity", 0.5))
    visible = [
        n for n in doc.walk() if n.mesh is not None and n.visible
    ]
    expected_triangles = sum(len(meshblob.decode(blobs[n.mesh])[1]) for n in visible)

    out = tmp_path / "plant.glb"
    written = export_glb(doc, blobs.get, out)
    assert (written.parts, written.triangles, written.missing) == (6, expected_triangles, 0)

    back = import_file(out)
    assert len(back.parts) == len(visible) == 6
    assert back.triangles == written.triangles
    # Meshes come back bit for bit (same hashes) and where they were in the world.
    worlds = world_matrices(doc)
    want = sorted((n.mesh, tuple(np.round(worlds[n.id][:3, 3], 6))) for n in visible)
    back_worlds = back.world_matrices()
    got = sorted((n.hash, tuple(np.round(back_worlds[k][:3, 3], 6)))
                 for k, n in enumerate(back.nodes) if n.hash is not None)
    assert got == want
    colours = {p.color for p in back.parts}
    assert pytest.approx((0.1, 0.2, 0.9), abs=0.003) in [c for c in colours if c]
    # Glb is Y up: the exported JSON has the tree (two groups) and the instancing.
    data = out.read_bytes()
    length = struct.unpack("<I", data[12:16])[0]
    tree = json.loads(data[20 : 20 + length])
    assert {n["name"] for n in tree["nodes"]} >= {"a.glb", "b.glb"}
    assert len(tree["meshes"]) < len(visible)


def test_export_skips_missing_meshes_and_writes_empty_scenes(tmp_path: Path) -> None:
    doc = Document()
    apply(doc, AddNode(Node("p", ROOT_ID, "V", kind="part", mesh="ab" * 32)))
    out = tmp_path / "empty.glb"
    summary = export_glb(doc, lambda h: None, out)
    assert (summary.parts, summary.triangles, summary.missing) == (0, 0, 1)
    assert out.read_bytes()[:4] == b"glTF"
    tree = json.loads(out.read_bytes()[20:])
    assert tree["asset"]["version"] == "2.0"


def test_one_million_triangle_stl_imports_in_under_two_seconds() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seconds = min(bench_import_1m(tmp) for _ in range(2))
    assert seconds < 2.0, f"1 M-triangle STL import took {seconds:.2f} s"
