"""The committed demo plant: loads, is a believable plant, and regenerates identically."""

from __future__ import annotations

import itertools
import re
import runpy
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from twin_app.core import meshblob
from twin_app.core.document import Document
from twin_app.core.ids import ROOT_ID
from twin_app.core.xform import world_matrices
from twin_app.demo import DEMO_PLANT, load_demo

GENERATOR = Path(__file__).resolve().parents[2] / "assets" / "make_demo_plant.py"


@pytest.fixture(scope="module")
def plant() -> tuple[Document, dict[str, bytes]]:
    return load_demo()


def depth(doc: Document, nid: str) -> int:
    d = 0
    while (node := doc.nodes[nid]).parent is not None:
        nid = node.parent
        d += 1
    return d


def test_file_is_in_assets_and_small() -> None:
    assert DEMO_PLANT.name == "demo-plant.twinroom"
    assert DEMO_PLANT.parent.name == "assets"
    assert DEMO_PLANT.stat().st_size < 5_000_000


def test_loading_needs_neither_trimesh_nor_qt() -> None:
    code = (
        "import sys\nfrom twin_app.demo import load_demo\ndoc, assets = load_demo()\n"
        "heavy = [m for m in ('trimesh', 'PySide6', 'vtk', 'pyvista') if m in sys.modules]\n"
        "assert not heavy, heavy\nprint(len(doc))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 300


def test_hierarchy_site_line_stations_equipment_parts(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, _ = plant
    site = doc.nodes["site"]
    assert site.parent == ROOT_ID and site.name == "Plant Suzhou"
    line = doc.nodes["line1"]
    assert line.parent == "site" and "Gearbox" in line.name
    stations = [doc.nodes[c] for c in doc.children("line1") if re.fullmatch(r"line1\.st\d", c)]
    assert 4 <= len(stations) <= 8
    assert all(s.name.startswith("Station ") for s in stations)
    assert max(depth(doc, n) for n in doc.nodes) >= 4
    # The robot is a kinematic chain: each axis is nested in the previous one.
    chain = [f"line1.st2.robot.j{i}" for i in range(1, 7)]
    for parent, child in itertools.pairwise(chain):
        assert doc.nodes[child].parent == parent
    assert doc.nodes["line1.st2.robot.link3"].kind == "part"
    assert doc.is_ancestor("line1.st2.robot.j2", "line1.st2.robot.link3")


def test_parts_have_meshes_numbers_suppliers_and_mass(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, assets = plant
    parts = [n for n in doc.walk() if n.kind == "part"]
    assert 300 <= len(parts) <= 600
    for p in parts:
        assert p.mesh in assets, p.id
        assert re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+-\d{4}", str(p.props["part_number"])), p.id
        assert p.props["supplier"] and float(p.props["mass"]) > 0
        assert p.name and p.color is not None
    # Every referenced mesh exists, decodes, and the stored bbox matches it.
    referenced = {n.mesh for n in doc.walk() if n.mesh is not None}
    assert referenced <= set(assets)
    for n in doc.walk():
        if n.mesh is None:
            continue
        v, _ = meshblob.decode(assets[n.mesh])
        assert n.props["bbox"] == pytest.approx(meshblob.bounds(v), abs=1e-5), n.id
    assert set(assets) == referenced  # no orphan blobs either


def test_repeated_parts_are_instances(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, assets = plant
    uses = Counter(n.mesh for n in doc.walk() if n.mesh is not None)
    rollers = [n for n in doc.walk() if n.props.get("part_number") == "GBX-ROL-0040"]
    assert len(rollers) >= 60
    assert len({r.mesh for r in rollers}) == 1
    assert uses.most_common(1)[0][1] >= 60
    assert 4 * len(assets) < sum(uses.values())  # far fewer blobs than placed meshes


def test_sensors_under_equipment(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, _ = plant
    sensors = [n for n in doc.walk() if n.kind == "sensor"]
    assert len(sensors) >= 5
    types = {s.props["sensor_type"] for s in sensors}
    assert {"temperature", "vibration"} <= types
    tags = [s.props["tag"] for s in sensors]
    assert len(set(tags)) == len(tags)
    assert "line1/st3/spindle/temp" in tags
    for s in sensors:
        assert s.props["unit"] and depth(doc, s.id) >= 4
        assert doc.nodes[s.parent or ""].kind in ("group", "part")


def test_colours_per_equipment_type(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, _ = plant

    def colours(prefix: str) -> set[tuple[float, float, float] | None]:
        return {n.color for n in doc.walk() if str(n.props.get("part_number", "")).startswith(prefix)}

    fence = colours("GBX-FEN-100")  # fence frames and the access door
    robot = colours("AX20-L")
    assert len(fence) == 1 and len(robot) >= 2
    (yellow,) = fence
    assert yellow is not None and yellow[0] > 0.9 and yellow[1] > 0.6 and yellow[2] < 0.2
    orange = doc.nodes["line1.st2.robot.link3"].color
    assert orange is not None and orange[0] > 0.9 and 0.3 < orange[1] < 0.6
    assert orange != yellow


def test_line_is_about_thirty_by_ten_metres_z_up(plant: tuple[Document, dict[str, bytes]]) -> None:
    doc, assets = plant
    worlds = world_matrices(doc)
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for nid in doc.subtree("line1"):
        node = doc.nodes[nid]
        if node.mesh is None:
            continue
        v, _ = meshblob.decode(assets[node.mesh])
        m = worlds[nid]
        w = (m[:3, :3] @ v.T.astype(np.float64)).T + m[:3, 3]
        lo, hi = np.minimum(lo, w.min(axis=0)), np.maximum(hi, w.max(axis=0))
    size = hi - lo
    assert 25 < size[0] < 36 and 8 < size[1] < 14 and 2 < size[2] < 6
    assert lo[2] > -0.01  # everything stands on the floor (Z up)


def test_regenerating_gives_the_same_file(tmp_path: Path) -> None:
    module = runpy.run_path(str(GENERATOR))
    out = tmp_path / "demo.twinroom"
    assert module["main"](["--out", str(out)]) == 0
    doc, assets = load_demo()
    regenerated_doc, regenerated_assets = module["build"]()
    assert regenerated_doc.hash() == doc.hash()
    assert set(regenerated_assets) == set(assets)
    assert out.read_bytes() == DEMO_PLANT.read_bytes()
