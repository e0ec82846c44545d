"""CAD files come in as the designer drew them: units, names, assembly tree, colours.

The files are under tests/data (written by tests/data/make_data.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.data import make_data
from twin_app.core import meshblob
from twin_app.core.document import Document
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import apply
from twin_app.core.xform import world_matrices
from twin_app.io import units
from twin_app.io.color import linear_to_srgb, srgb_to_linear
from twin_app.io.exporters import export_glb
from twin_app.io.importers import (
    ImportResult,
    MeshImportError,
    build,
    import_file,
    import_ops,
    read_file,
)

DATA = Path(__file__).resolve().parent.parent / "data"


def tree(result: ImportResult) -> list[tuple[int, str, str]]:
    """(depth, kind, name) of every node in tree order."""
    depth: list[int] = []
    out = []
    for n in result.nodes:
        d = 0 if n.parent is None else depth[n.parent] + 1
        depth.append(d)
        out.append((d, n.kind, n.name))
    return out


def test_data_files_are_what_the_script_writes() -> None:
    for name, data in make_data.files().items():
        assert (DATA / name).read_bytes() == data, f"{name}: run python -m tests.data.make_data"


# ------------------------------------------------------------------------------ units ==
def test_stl_is_millimetres_unless_told_and_the_unit_is_kept_on_the_group() -> None:
    loaded = read_file(DATA / "bracket_mm.stl")
    assert not loaded.declared and loaded.file_unit == "mm"
    assert loaded.native_size == pytest.approx((120.0, 80.0, 60.0))
    assert loaded.size_m() == pytest.approx((0.12, 0.08, 0.06))
    assert loaded.size_m("m") == pytest.approx((120.0, 80.0, 60.0))
    assert loaded.size_m("in") == pytest.approx((3.048, 2.032, 1.524))
    mm = build(loaded)
    assert mm.units == "mm" and mm.size_m() == pytest.approx((0.12, 0.08, 0.06))
    inch = build(loaded, "in")
    assert inch.units == "in" and inch.size_m() == pytest.approx((3.048, 2.032, 1.524))
    doc = Document()
    apply(doc, import_ops(mm, doc))
    (gid,) = doc.children(ROOT_ID)
    assert doc.nodes[gid].props["units"] == "mm"
    with pytest.raises(ValueError, match="unknown unit"):
        build(loaded, "furlong")


def test_formats_with_units_use_them() -> None:
    step = read_file(DATA / "frame.step")
    assert step.declared and step.file_unit == "mm"
    assert step.size_m() == pytest.approx((0.4, 0.3, 0.23), abs=1e-6)
    dae = read_file(DATA / "valve.dae")
    assert dae.declared and dae.file_unit == "cm"
    assert dae.size_m() == pytest.approx((0.3, 0.3, 0.33))
    gltf = read_file(DATA / "line.gltf")
    assert gltf.declared and gltf.file_unit == "m"
    # A unit given explicitly overrides even a declared one (a STEP mislabelled as mm).
    assert build(step, "in").size_m() == pytest.approx((0.4 * 25.4, 0.3 * 25.4, 0.23 * 25.4), rel=1e-6)


def test_the_same_part_from_step_and_from_stl_lines_up() -> None:
    step = import_file(DATA / "frame.step")
    base = next(n for n in step.nodes if n.name == "base")
    # base.stl would be 400 × 300 × 20 in millimetres: check the STEP part has that size.
    k = step.nodes.index(base)
    assert step.size_m(k) == pytest.approx((0.4, 0.3, 0.02), abs=1e-6)
    assert import_file(DATA / "bracket_mm.stl").size_m() == pytest.approx((0.12, 0.08, 0.06))


@pytest.mark.parametrize(("size", "unit", "expected"), [
    ((304.0, 20.0, 10.0), "m", "304 m wide — was it millimetres?"),
    ((0.0003, 0.0002, 0.0001), "mm", "0.3 mm wide — was it metres?"),
    ((1.2, 0.8, 0.5), "m", None),
    ((30.0, 12.0, 4.0), "m", None),  # a production line
])
def test_implausible_sizes_are_worded_with_a_guess(size, unit, expected) -> None:
    assert units.size_warning(size, unit) == expected


# ---------------------------------------------------------------------- names and tree ==
def test_step_assembly_product_names_sub_assemblies_and_shared_meshes() -> None:
    result = import_file(DATA / "frame.step")
    assert result.format == "STEP" and result.units == "mm"
    assert tree(result) == [
        (0, "group", "frame"),
        (1, "part", "base"), (1, "part", "side"), (1, "part", "side"), (1, "part", "top"),
        (1, "group", "gusset kit"), (2, "part", "gusset"), (2, "part", "gusset"),
        (1, "group", "gusset kit"), (2, "part", "gusset"), (2, "part", "gusset"),
    ]
    nodes = result.nodes
    # Instance names kept as a property where they differ from the product's.
    assert nodes[3].props == {"instance": "right side"}
    assert nodes[1].props == {"instance": "NAUO1"}
    # Transforms at the right level: the kits carry their own placement, gussets theirs.
    kit2 = nodes[8]
    assert kit2.transform[:3] == pytest.approx((0.0, 0.29, 0.02), abs=1e-7)
    assert nodes[9].transform[:3] == pytest.approx((0.02, 0.0, 0.0), abs=1e-7)
    # Instances share one mesh: two sides, four gussets.
    assert len({n.hash for n in nodes if n.name == "side"}) == 1
    assert len({n.hash for n in nodes if n.name == "gusset"}) == 1
    assert len(result.blobs) == 4 and result.part_count == 8 and result.triangles == 96


def test_gltf_node_tree_named_empty_nodes_and_readable_fallback_names() -> None:
    result = import_file(DATA / "line.gltf")
    assert tree(result) == [
        (0, "group", "Line 1"),
        (1, "group", "Station A"), (2, "part", "Conveyor"), (2, "part", "Robot"),
        (1, "group", "Station B"), (2, "part", "line 1"), (2, "part", "line 2"),
    ]
    line, a, _conveyor, robot, b, t1, t2 = result.nodes
    # glTF is Y up: translations (x, y, z) become (x, -z, y), each at its own level.
    assert line.transform[:3] == pytest.approx((2.0, 0.0, 0.0))
    assert a.transform[:3] == pytest.approx((0.0, 1.5, 0.0))
    assert robot.transform[:3] == pytest.approx((0.0, 0.0, 0.8))
    assert b.transform[3:7] == pytest.approx((0.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)))
    assert t2.transform[:3] == pytest.approx((1.5, 0.0, 0.0))
    assert t1.hash == t2.hash
    worlds = result.world_matrices()
    # Station B sits at (6, 1.5) turned 90° about Z: its second table 1.5 m along its x.
    assert worlds[6][:3, 3] == pytest.approx((6.0, 3.0, 0.0))
    assert all(n.name not in ("GLTF", "GLTF_1", "geometry_0") for n in result.nodes)


# -------------------------------------------------------------------------- colours ==
def test_srgb_and_linear_are_inverse_and_match_the_standard() -> None:
    assert srgb_to_linear(0.5) == pytest.approx(0.21404, abs=1e-5)
    for c in np.linspace(0, 1, 101):
        assert linear_to_srgb(srgb_to_linear(c)) == pytest.approx(c, abs=1e-12)


def test_gltf_and_step_colours_come_in_as_drawn() -> None:
    line = import_file(DATA / "line.gltf")
    by_name = {n.name: n.color for n in line.nodes}
    for name, rgb in (("Conveyor", "conveyor"), ("Robot", "robot"), ("line 1", "table")):
        assert by_name[name] == pytest.approx(make_data.LINE_COLORS[rgb], abs=1e-5)
    step = import_file(DATA / "frame.step")
    colors = {n.name: n.color for n in step.nodes if n.kind == "part"}
    assert colors["base"] == pytest.approx((0.8, 0.2, 0.2), abs=1e-5)
    assert colors["gusset"] == pytest.approx((0.1, 0.6, 0.2), abs=1e-5)


def test_a_mesh_with_three_materials_is_one_part() -> None:
    result = import_file(DATA / "truck_3mat.glb")
    assert tree(result) == [(0, "part", "Truck"), (1, "material", "body"),
                            (1, "material", "cab"), (1, "material", "wheels")]
    assert result.part_count == 1 and result.triangles == 48
    truck = result.nodes[0]
    assert truck.hash is None and truck.triangles == 48
    for n in result.nodes[1:]:
        assert n.color == pytest.approx(make_data.TRUCK_COLORS[n.name], abs=1e-5)
    assert result.size_m() == pytest.approx((4.5, 2.2, 2.5))
    doc = Document()
    apply(doc, import_ops(result, doc))
    (gid,) = doc.children(ROOT_ID)
    (part,) = doc.children(gid)
    assert doc.nodes[part].kind == "part" and doc.nodes[part].props["triangles"] == 48
    assert [doc.nodes[c].kind for c in doc.children(part)] == ["material"] * 3


# ---------------------------------------------------------------- welding and formats ==
def test_ascii_and_binary_copies_of_one_stl_give_the_same_mesh() -> None:
    ascii_ = import_file(DATA / "block_ascii.stl")
    binary = import_file(DATA / "block_binary.stl")
    (a,), (b,) = ascii_.parts, binary.parts
    assert a.hash == b.hash
    v, f = meshblob.decode(a.blob)
    assert len(f) == 24 and len(v) == 14  # welded: 14 distinct corners, not 72
    assert a.name == "block"  # the ASCII solid's name


def test_ascii_stl_with_several_solids_and_broken_ones(tmp_path: Path) -> None:
    v, f = make_data.box((0, 0, 0), (10, 10, 10))
    two = make_data.ascii_stl(v, f, "lid") + make_data.ascii_stl(v + 20, f, "base")
    (tmp_path / "pair.stl").write_bytes(two)
    result = import_file(tmp_path / "pair.stl")
    assert [n.name for n in result.nodes] == ["lid", "base"]
    assert result.size_m() == pytest.approx((0.03, 0.03, 0.03))
    text = make_data.ascii_stl(v, f, "lid").decode()
    (tmp_path / "bad.stl").write_text(text.replace("vertex 10 0 0", "vertex 10 zero 0", 1))
    with pytest.raises(MeshImportError, match="solid 1 has facets with missing or extra numbers"):
        import_file(tmp_path / "bad.stl")
    (tmp_path / "bad.stl").write_text(text.replace("vertex 10 0 0", "vertex 10 0..5 0", 1))
    with pytest.raises(MeshImportError, match="solid 1 holds words or numbers that are not STL"):
        import_file(tmp_path / "bad.stl")
    (tmp_path / "short.stl").write_text(text.replace("      vertex 0 0 0\n", "", 1))
    with pytest.raises(MeshImportError, match="missing or extra numbers"):
        import_file(tmp_path / "short.stl")


def test_collada_tree_names_colours_and_unit() -> None:
    result = import_file(DATA / "valve.dae")
    assert result.format == "COLLADA" and result.units == "cm"
    assert tree(result) == [(0, "part", "Valve body"), (1, "part", "Hand wheel")]
    body, wheel = result.nodes
    assert wheel.transform[:3] == pytest.approx((0.0, 0.0, 0.3))
    assert body.color == pytest.approx((0.8, 0.1, 0.1))
    assert wheel.color == pytest.approx((0.1, 0.1, 0.8))


def test_off_is_read_and_unitless() -> None:
    loaded = read_file(DATA / "plate.off")
    assert loaded.format == "OFF" and not loaded.declared
    result = build(loaded, "mm")
    assert result.nodes[0].name == "plate" and result.triangles == 12
    assert result.size_m() == pytest.approx((0.1, 0.05, 0.005))


# ------------------------------------------------------------------- errors in words ==
@pytest.mark.parametrize(("name", "data", "words"), [
    ("pump.obj", b"v 0 0 0\nv 1 0 0\nf 1 2 \xff\xfe\x00\x81\n" * 3, "not a valid OBJ file"),
    ("pump.gltf", b'{"asset": {"version": "2.0"}, "nodes": [', "JSON"),
    ("pump.dae", b"<COLLADA><library_geometries>", "not a valid COLLADA file"),
])
def test_errors_say_what_is_wrong_in_words_with_details_apart(tmp_path, name, data, words) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MeshImportError) as info:
        import_file(path)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and words in message
    assert "codec" not in message and "Traceback" not in message and "\n" not in message


def test_a_broken_step_file_keeps_opencascade_for_the_details(tmp_path: Path) -> None:
    text = (DATA / "frame.step").read_text()
    path = tmp_path / "cut.step"
    path.write_text(text[: len(text) // 3])
    with pytest.raises(MeshImportError) as info:
        import_file(path)
    assert str(info.value).startswith("cut.step: not a valid STEP file (")
    assert "ERR" not in str(info.value)


# ------------------------------------------------------------------------ round trip ==
def _import_into(doc: Document, blobs: dict[str, bytes], path: Path) -> str:
    result = import_file(path)
    blobs.update(result.blobs)
    apply(doc, import_ops(result, doc))
    return doc.children(ROOT_ID)[-1]


@pytest.mark.parametrize("name", ["frame.step", "line.gltf", "truck_3mat.glb", "valve.dae"])
def test_glb_export_round_trip_keeps_tree_names_colours_and_metres(tmp_path, name) -> None:
    doc = Document()
    blobs: dict[str, bytes] = {}
    gid = _import_into(doc, blobs, DATA / name)
    out = tmp_path / "export.glb"
    export_glb(doc, blobs.get, out)
    again = Document()
    back_gid = _import_into(again, blobs, out)

    def shape(d: Document, root: str) -> list[tuple]:
        worlds = world_matrices(d)
        rows = []
        for nid in d.subtree(root):
            n = d.nodes[nid]
            if nid == root:
                continue
            rows.append((len(d.path(nid)) - len(d.path(root)), n.kind, n.name, n.mesh,
                         None if n.color is None else tuple(round(c, 5) for c in n.color),
                         tuple(np.round(worlds[nid][:3, 3], 5))))
        return rows

    # The export holds the file's group itself: compare below it.
    (exported_group,) = again.children(back_gid)
    assert again.nodes[exported_group].name == name
    assert shape(again, exported_group) == shape(doc, gid)
    data = out.read_bytes()
    length = struct.unpack("<I", data[12:16])[0]
    gltf = json.loads(data[20 : 20 + length])
    assert gltf["asset"]["version"] == "2.0"


def test_obj_objects_stay_parts_with_their_materials_as_blocks(tmp_path: Path) -> None:
    (tmp_path / "cart.mtl").write_text(
        "newmtl red\nKd 0.8 0.1 0.1\nnewmtl blue\nKd 0.1 0.1 0.8\nnewmtl grey\nKd 0.5 0.5 0.5\n")
    (tmp_path / "cart.obj").write_text(
        "mtllib cart.mtl\no truck\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
        "usemtl red\nf 1 2 3\nusemtl blue\nf 1 3 4\n"
        "o trailer\nv 5 0 0\nv 6 0 0\nv 6 1 0\nusemtl grey\nf 5 6 7\n")
    result = import_file(tmp_path / "cart.obj", units="m")
    assert tree(result) == [(0, "part", "truck"), (1, "material", "red"),
                            (1, "material", "blue"), (0, "part", "trailer")]
    assert result.nodes[1].color == pytest.approx((0.8, 0.1, 0.1), abs=0.003)
    assert result.nodes[3].color == pytest.approx((0.5, 0.5, 0.5), abs=0.003)
    assert result.part_count == 2 and result.triangles == 3
