"""Importing real files of every supported format: parts, triangles, transforms, colours."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from tests.io.io_kit import box_solid, mesh_object_xml, model_xml, step_text, write_3mf
from twin_app.core import meshblob
from twin_app.core.xform import matrix as trs_to_matrix
from twin_app.io import importers
from twin_app.io.benchutil import grid_triangles, write_binary_stl
from twin_app.io.importers import (
    SUPPORTED_SUFFIXES,
    ImportCancelled,
    MeshImportError,
    import_file,
)


def box(extents: tuple[float, float, float] = (1.0, 2.0, 3.0)) -> trimesh.Trimesh:
    b = trimesh.creation.box(extents)
    return trimesh.Trimesh(np.asarray(b.vertices), np.asarray(b.faces), process=False)


def world_vertices(part: importers.ImportedPart) -> np.ndarray:
    v, _ = meshblob.decode(part.blob)
    m = trs_to_matrix(part.transform)
    return (m[:3, :3] @ v.T.astype(np.float64)).T + m[:3, 3]


def test_supported_suffixes_are_the_documented_set() -> None:
    assert set(SUPPORTED_SUFFIXES) == {
        ".stl", ".obj", ".ply", ".off", ".glb", ".gltf", ".3mf", ".dae", ".step", ".stp",
    }


@pytest.mark.parametrize("fmt", ["stl", "obj", "ply"])
def test_single_mesh_formats(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"bracket.{fmt}"
    box().export(path)
    result = import_file(path, units="m")  # STL is read in millimetres unless told
    assert result.source == f"bracket.{fmt}" and result.units == "m"
    assert len(result.parts) == 1 and result.triangles == 12
    part = result.parts[0]
    assert part.name == "bracket"
    assert part.triangles == 12
    v, f = meshblob.decode(part.blob)
    assert len(v) == 8 and len(f) == 12  # STL corners are welded back into 8 vertices
    assert part.hash == meshblob.digest(part.blob)
    assert part.bbox == pytest.approx((-0.5, -1.0, -1.5, 0.5, 1.0, 1.5))
    assert part.transform == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)


def test_ascii_stl(tmp_path: Path) -> None:
    path = tmp_path / "plate.stl"
    path.write_text(trimesh.exchange.stl.export_stl_ascii(box((2.0, 1.0, 0.1))))
    result = import_file(path, units="m")
    assert result.triangles == 12
    assert result.parts[0].bbox == pytest.approx((-1.0, -0.5, -0.05, 1.0, 0.5, 0.05))


def test_binary_stl_with_a_header_starting_with_solid(tmp_path: Path) -> None:
    # Many CAD tools write "solid <name>" into the binary header: the size decides.
    path = tmp_path / "cad.stl"
    write_binary_stl(path, grid_triangles(100))
    data = bytearray(path.read_bytes())
    data[:12] = b"solid part 1"
    path.write_bytes(bytes(data))
    assert import_file(path).triangles == 100


def _two_box_scene() -> trimesh.Scene:
    red = box()
    red.visual = TextureVisuals(material=PBRMaterial(baseColorFactor=[255, 0, 0, 255]))
    scene = trimesh.Scene()
    scene.add_geometry(
        red, geom_name="crate", node_name="crate A",
        transform=trimesh.transformations.translation_matrix((1.0, 2.0, 3.0)),
    )
    # A second placement of the same glTF mesh: an instance.
    rot = trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0))
    rot[:3, 3] = (5.0, 0.0, 0.0)
    scene.graph.update(
        frame_from=scene.graph.base_frame, frame_to="crate B", geometry="crate", matrix=rot
    )
    scene.add_geometry(trimesh.creation.cylinder(0.25, 1.0, sections=12), geom_name="pin",
                       node_name="pin")
    return scene


def test_glb_instances_transforms_and_colours(tmp_path: Path) -> None:
    path = tmp_path / "crates.glb"
    _two_box_scene().export(path)
    result = import_file(path)
    names = [p.name for p in result.parts]
    assert names == ["crate A", "crate B", "pin"]
    a, b, pin = result.parts
    # Same mesh placed twice: one blob, one hash.
    assert a.hash == b.hash and a.blob is b.blob
    assert pin.hash != a.hash
    assert result.triangles == 12 + 12 + pin.triangles
    assert a.color == pytest.approx((1.0, 0.0, 0.0))
    assert pin.color is None
    # glTF is Y up, we are Z up: glTF (1, 2, 3) is our (1, -3, 2); identity stays identity.
    assert a.transform[:3] == pytest.approx((1.0, -3.0, 2.0))
    assert a.transform[3:] == pytest.approx((0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0))
    # The 2×(Y)×3 glTF box stands 2 m tall along our Z.
    assert a.bbox == pytest.approx((-0.5, -1.5, -1.0, 0.5, 1.5, 1.0))
    # The rotated instance lands where glTF puts it, expressed in Z-up coordinates.
    gltf_rot = trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0))
    v = np.asarray(box().vertices)
    expected = (gltf_rot[:3, :3] @ v.T).T + np.array([5.0, 0.0, 0.0])
    expected_zup = np.stack([expected[:, 0], -expected[:, 2], expected[:, 1]], axis=1)
    got = world_vertices(b)
    assert sorted(map(tuple, np.round(got, 5))) == sorted(map(tuple, np.round(expected_zup, 5)))


def test_gltf_with_external_buffer(tmp_path: Path) -> None:
    files = _two_box_scene().export(file_type="gltf")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    gltf = next(n for n in files if n.endswith(".gltf"))
    assert any(not n.endswith(".gltf") for n in files), "the buffer should be a side file"
    result = import_file(tmp_path / gltf)
    assert len(result.parts) == 3
    assert len({p.hash for p in result.parts}) == 2


def test_identical_meshes_under_different_names_are_deduplicated(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    for i in range(4):
        scene.add_geometry(box((0.1, 0.1, 0.1)), geom_name=f"roller {i}", node_name=f"roller {i}",
                           transform=trimesh.transformations.translation_matrix((i, 0, 0)))
    path = tmp_path / "rollers.glb"
    scene.export(path)
    result = import_file(path)
    assert len(result.parts) == 4
    assert len({p.hash for p in result.parts}) == 1
    assert len(result.blobs) == 1
    assert [p.transform[0] for p in result.parts] == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_3mf_units_components_transforms_and_colours(tmp_path: Path) -> None:
    b = box((10.0, 20.0, 30.0))  # millimetres
    resources = (
        '<basematerials id="9"><base name="Blue" displaycolor="#0000FFFF"/>'
        '<base name="Red" displaycolor="#FF0000"/></basematerials>'
        + mesh_object_xml(1, b.vertices, b.faces, 'name="housing" pid="9" pindex="1"')
        + mesh_object_xml(2, b.vertices, b.faces, 'name="cover"')
        + '<object id="3" type="model" name="assembly"><components>'
        '<component objectid="1"/>'
        '<component objectid="2" transform="1 0 0 0 1 0 0 0 1 100 0 0"/>'
        "</components></object>"
    )
    build = '<item objectid="3" transform="1 0 0 0 1 0 0 0 1 0 0 50"/><item objectid="1"/>'
    path = write_3mf(tmp_path / "gearbox.3mf", model_xml(resources, build))
    result = import_file(path)
    assert [p.name for p in result.parts] == ["housing", "cover", "housing"]
    housing, cover, housing2 = result.parts
    # Same vertices, so the three placements share one mesh even across objects.
    assert housing.hash == cover.hash == housing2.hash
    assert housing.bbox == pytest.approx((-0.005, -0.01, -0.015, 0.005, 0.01, 0.015))
    assert housing.transform[:3] == pytest.approx((0.0, 0.0, 0.05))
    assert cover.transform[:3] == pytest.approx((0.1, 0.0, 0.05))
    assert housing2.transform[:3] == pytest.approx((0.0, 0.0, 0.0))
    assert housing.color == pytest.approx((1.0, 0.0, 0.0))
    assert cover.color is None
    assert result.triangles == 36


def test_3mf_production_extension_paths(tmp_path: Path) -> None:
    b = box((1.0, 1.0, 1.0))
    part = model_xml(mesh_object_xml(7, b.vertices, b.faces, 'name="bolt"'), "", unit="meter")
    prod = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
    root = (
        f'<?xml version="1.0"?><model unit="meter" xmlns="http://schemas.microsoft.com/'
        f'3dmanufacturing/core/2015/02" xmlns:p="{prod}"><resources>'
        '<object id="1" type="model"><components>'
        '<component p:path="/3D/Objects/bolt.model" objectid="7" '
        'transform="1 0 0 0 1 0 0 0 1 2 0 0"/></components></object></resources>'
        '<build><item objectid="1"/></build></model>'
    )
    path = write_3mf(tmp_path / "bolt.3mf", root, {"3D/Objects/bolt.model": part.encode()})
    result = import_file(path)
    assert [p.name for p in result.parts] == ["bolt"]
    assert result.parts[0].transform[:3] == pytest.approx((2.0, 0.0, 0.0))


def test_mirror_and_shear_placements_keep_the_geometry(tmp_path: Path) -> None:
    b = box((1.0, 2.0, 3.0))
    resources = mesh_object_xml(1, b.vertices, b.faces, 'name="bracket"')
    # A mirror (negative x scale) stays a transform; a shear is baked into the vertices.
    build = (
        '<item objectid="1" transform="-1 0 0 0 1 0 0 0 1 5 0 0"/>'
        '<item objectid="1" transform="1 0 0 0.5 1 0 0 0 1 0 7 0"/>'
    )
    result = import_file(write_3mf(tmp_path / "m.3mf", model_xml(resources, build, "meter")))
    mirrored, sheared = result.parts
    assert mirrored.transform[7] == pytest.approx(-1.0)
    assert mirrored.hash != sheared.hash
    assert sheared.transform[3:] == (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0)
    v = np.asarray(b.vertices)
    shear = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    expected = (shear @ v.T).T + np.array([0.0, 7.0, 0.0])
    got = world_vertices(sheared)
    assert sorted(map(tuple, np.round(got, 5))) == sorted(map(tuple, np.round(expected, 5)))


@pytest.mark.parametrize("suffix", [".step", ".stp"])
def test_step_through_cascadio(tmp_path: Path, suffix: str) -> None:
    text = step_text([box_solid((0, 0, 0), (100, 200, 300)), box_solid((500, 0, 0), (600, 100, 100))])
    path = tmp_path / f"housing{suffix}"
    path.write_text(text)
    stages: list[str] = []
    result = import_file(path, progress=lambda f, s: stages.append(s))
    assert any("STEP" in s for s in stages)
    assert result.triangles == 24  # two boxes, 12 triangles each, one STEP part
    (part,) = result.parts
    assert part.name == "bracket"  # the STEP product name
    # Millimetres become metres and Z stays up.
    assert part.bbox == pytest.approx((0.0, 0.0, 0.0, 0.6, 0.2, 0.3), abs=1e-6)


def test_progress_rises_to_one(tmp_path: Path) -> None:
    path = tmp_path / "crates.glb"
    _two_box_scene().export(path)
    seen: list[tuple[float, str]] = []
    import_file(path, progress=lambda f, s: seen.append((f, s)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(isinstance(s, str) and s for _, s in seen)


def test_cancel_between_stages(tmp_path: Path) -> None:
    path = tmp_path / "big.stl"
    write_binary_stl(path, grid_triangles(20_000))
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2  # let it start, then cancel

    with pytest.raises(ImportCancelled):
        import_file(path, cancel=cancel)


def test_cancel_stops_a_running_step_conversion(tmp_path: Path) -> None:
    path = tmp_path / "part.step"
    path.write_text(step_text([box_solid((0, 0, 0), (10, 10, 10))]))
    converting = threading.Event()

    def progress(fraction: float, stage: str) -> None:
        if "STEP" in stage:
            converting.set()

    with pytest.raises(ImportCancelled):
        import_file(path, progress=progress, cancel=converting.is_set)


def test_import_runs_in_a_worker_thread(tmp_path: Path) -> None:
    path = tmp_path / "rollers.stl"
    write_binary_stl(path, grid_triangles(5_000))
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(import_file(path)))
    worker.start()
    worker.join(30)
    assert isinstance(out[0], importers.ImportResult)
    assert out[0].triangles == 5_000


def test_unsupported_suffix_lists_what_is_supported(tmp_path: Path) -> None:
    path = tmp_path / "model.fbx"
    path.write_bytes(b"Kaydara FBX Binary")
    with pytest.raises(MeshImportError, match=r"model\.fbx: unsupported file type \.fbx.*STL"):
        import_file(path)
