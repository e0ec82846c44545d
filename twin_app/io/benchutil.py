"""Benchmark helpers for mesh import (used by the benchmark suite and the tests).

``bench_import_1m`` writes a binary STL of a 1,000,000-triangle wavy surface (shared
corners, as a CAD export has) and times ``import_file`` on it: read, weld, encode, hash.
``bench_imports`` also times an ASCII copy of it and a STEP assembly (``StepAssembly``, a
small AP214 writer: named products, sub-assemblies, placed occurrences) against trimesh
loading the same files in the same process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin_app.io.importers import import_file
from twin_app.io.typed import Float32Array

Point = tuple[float, float, float]
Solid = tuple[list[Point], list[tuple[int, ...]]]


def grid_triangles(n_triangles: int) -> Float32Array:
    """Return ``(n_triangles, 3, 3)`` corners of a wavy square surface."""
    cells = (n_triangles + 1) // 2
    k = int(np.ceil(np.sqrt(cells))) + 1
    xs, ys = np.meshgrid(np.linspace(0.0, 10.0, k), np.linspace(0.0, 10.0, k))
    zs = 0.2 * np.sin(xs) * np.cos(ys)
    verts = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1).astype(np.float32)
    ii, jj = np.meshgrid(np.arange(k - 1), np.arange(k - 1))
    a = (jj * k + ii).ravel()
    b, c = a + 1, a + k
    d = c + 1
    faces = np.empty((2 * len(a), 3), dtype=np.int64)
    faces[0::2] = np.stack([a, b, d], axis=1)
    faces[1::2] = np.stack([a, d, c], axis=1)
    return verts[faces[:n_triangles]]


def write_binary_stl(path: Path, corners: Float32Array) -> None:
    """Write ``(n, 3, 3)`` triangle corners as a binary STL (normals left zero)."""
    record = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(corners), dtype=record)
    data["corners"] = corners
    with path.open("wb") as fh:
        fh.write(b"Twinroom benchmark surface".ljust(80, b" "))
        fh.write(np.uint32(len(corners)).tobytes())
        fh.write(data.tobytes())


def bench_import_1m(tmpdir: Path | str, triangles: int = 1_000_000) -> float:
    """Write a ``triangles``-triangle binary STL into ``tmpdir`` and return the seconds one
    ``import_file`` call takes on it (file already in the page cache). Raises
    ``AssertionError`` if the import lost triangles."""
    path = Path(tmpdir) / f"bench-{triangles}.stl"
    write_binary_stl(path, grid_triangles(triangles))
    path.read_bytes()  # warm the page cache: measure parsing, not the disk
    t0 = time.perf_counter()
    result = import_file(path)
    elapsed = time.perf_counter() - t0
    if result.triangles != triangles:
        raise AssertionError(f"imported {result.triangles} triangles, expected {triangles}")
    return elapsed


def write_ascii_stl(path: Path, corners: Float32Array, name: str = "surface") -> None:
    """Write ``(n, 3, 3)`` triangle corners as an ASCII STL (the same float32 values a
    binary STL of them holds, with enough digits to read them back exactly)."""
    facet = ("facet normal 0 0 0\n outer loop\n" + "  vertex %.9g %.9g %.9g\n" * 3
             + " endloop\nendfacet\n")
    with path.open("w", encoding="ascii") as fh:
        fh.write(f"solid {name}\n")
        step = 20_000
        for start in range(0, len(corners), step):
            chunk = corners[start : start + step].astype(np.float64).ravel().tolist()
            fh.write((facet * (len(chunk) // 9)) % tuple(chunk))
        fh.write(f"endsolid {name}\n")


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def bench_imports(tmpdir: Path | str, triangles: int = 1_000_000, stations: int = 4,
                  repeat: int = 1) -> dict[str, Any]:
    """Time ``import_file`` against trimesh on the same files, in this process.

    Files: a ``triangles``-triangle binary STL, an ASCII copy of it, and a STEP assembly
    of ``stations`` stations (5 parts each). Each is read once first (page cache, and
    trimesh's lazy imports), then the best of ``repeat`` runs of each side is kept. trimesh
    loads STL with its defaults (which merge vertices, as ours does) and STEP through the
    same converter (cascadio). Returns seconds and ``*_vs_trimesh`` ratios (ours ÷
    trimesh). Raises ``AssertionError`` if an import lost triangles or the ASCII copy did
    not weld to the binary's mesh.
    """
    import trimesh

    tmp = Path(tmpdir)
    corners = grid_triangles(triangles)
    binary, ascii_ = tmp / f"bench-{triangles}.stl", tmp / f"bench-{triangles}-ascii.stl"
    write_binary_stl(binary, corners)
    write_ascii_stl(ascii_, corners)
    step = tmp / "line.step"
    step.write_text(plant_assembly(stations))
    del corners
    out: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    for key, path in (("import_1m_tri", binary), ("import_1m_tri_ascii", ascii_),
                      ("import_step_assembly", step)):
        path.read_bytes()  # warm the page cache: measure parsing, not the disk
        if key == "import_step_assembly":
            def theirs(p: Path = path) -> Any:
                return trimesh.load_scene(str(p))
        else:
            def theirs(p: Path = path) -> Any:
                return trimesh.load_mesh(str(p))
        ours_s, result = _best(lambda p=path: import_file(p), repeat)  # type: ignore[misc]
        theirs_s, _ = _best(theirs, repeat)
        if key != "import_step_assembly":
            if result.triangles != triangles:
                raise AssertionError(f"imported {result.triangles} triangles, expected {triangles}")
            hashes[key] = result.parts[0].hash
        else:
            out["step_assembly_parts"] = result.part_count
        out[f"{key}_s"] = round(ours_s, 3)
        out[f"{key}_trimesh_s"] = round(theirs_s, 3)
        out[f"{key}_vs_trimesh"] = round(ours_s / theirs_s, 3)
    if len(set(hashes.values())) != 1:
        raise AssertionError("the ASCII STL did not weld to the binary STL's mesh")
    out["ascii_stl_mb"] = round(ascii_.stat().st_size / 1e6, 1)
    return out


def box_solid(lo: Point, hi: Point) -> Solid:
    """Corners and outward, counter-clockwise quad faces of an axis-aligned box."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    corners = [
        (x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0),
        (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1),
    ]
    faces: list[tuple[int, ...]] = [
        (0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    return corners, faces


def solid_brep(
    e: Callable[[str], int],
    pt: Callable[[Any], int],
    direction: Callable[[Any], int],
    corners: list[Point],
    faces: list[tuple[int, ...]],
) -> int:
    """Emit one MANIFOLD_SOLID_BREP with straight edges and planar faces; return its id."""
    v = np.asarray(corners, dtype=float)
    vertex = [e(f"VERTEX_POINT('',#{pt(p)})") for p in v]
    edges: dict[tuple[int, int], int] = {}

    def edge(a: int, b: int) -> tuple[int, bool]:
        if (b, a) in edges:
            return edges[(b, a)], False
        d = v[b] - v[a]
        length = float(np.linalg.norm(d))
        vec = e(f"VECTOR('',#{direction(d / length)},{length:.6f})")
        line = e(f"LINE('',#{pt(v[a])},#{vec})")
        edges[(a, b)] = e(f"EDGE_CURVE('',#{vertex[a]},#{vertex[b]},#{line},.T.)")
        return edges[(a, b)], True

    face_ids = []
    for f in faces:
        oriented = []
        for i in range(len(f)):
            ec, same = edge(f[i], f[(i + 1) % len(f)])
            oriented.append(e(f"ORIENTED_EDGE('',*,*,#{ec},{'.T.' if same else '.F.'})"))
        loop = e("EDGE_LOOP('',({}))".format(",".join(f"#{x}" for x in oriented)))
        bound = e(f"FACE_OUTER_BOUND('',#{loop},.T.)")
        p = v[list(f)]
        normal = np.cross(p[1] - p[0], p[2] - p[0])
        normal /= np.linalg.norm(normal)
        xdir = (p[1] - p[0]) / np.linalg.norm(p[1] - p[0])
        place = e(f"AXIS2_PLACEMENT_3D('',#{pt(p[0])},#{direction(normal)},#{direction(xdir)})")
        plane = e(f"PLANE('',#{place})")
        face_ids.append(e(f"ADVANCED_FACE('',(#{bound}),#{plane},.T.)"))
    shell = e("CLOSED_SHELL('',({}))".format(",".join(f"#{x}" for x in face_ids)))
    return e(f"MANIFOLD_SOLID_BREP('',#{shell})")


@dataclass
class _Product:
    pd: int
    origin: int
    rep: int = 0
    pds: int | None = None  # set for assemblies
    placements: list[int] = field(default_factory=list)
    occurrences: list[tuple[str, int, int, str]] = field(default_factory=list)


class StepAssembly:
    """Writes an AP214 STEP file with an assembly tree: named products, placed occurrences.

    ``part(name, solids, color)`` and ``assembly(name)`` declare products;
    ``place(parent, child, origin, x_axis, instance)`` adds an occurrence of ``child`` in
    ``parent`` (the occurrence's id is ``NAUO<n>``, its name ``instance``). ``text()``
    returns the file; lengths are millimetres unless ``millimetres=False``.
    """

    def __init__(self, millimetres: bool = True) -> None:
        self.lines: list[str] = []
        e = self.e
        self.app = e("APPLICATION_CONTEXT('automotive design')")
        e(f"APPLICATION_PROTOCOL_DEFINITION('international standard','automotive_design',2000,#{self.app})")
        self.pc = e(f"PRODUCT_CONTEXT('',#{self.app},'mechanical')")
        self.pdc = e(f"PRODUCT_DEFINITION_CONTEXT('part definition',#{self.app},'design')")
        prefix = ".MILLI." if millimetres else "$"
        lu = e(f"( LENGTH_UNIT() NAMED_UNIT(*) SI_UNIT({prefix},.METRE.) )")
        au = e("( NAMED_UNIT(*) PLANE_ANGLE_UNIT() SI_UNIT($,.RADIAN.) )")
        su = e("( NAMED_UNIT(*) SI_UNIT($,.STERADIAN.) SOLID_ANGLE_UNIT() )")
        unc = e(f"UNCERTAINTY_MEASURE_WITH_UNIT(LENGTH_MEASURE(1.E-07),#{lu},'distance_accuracy_value','')")
        self.ctx = e(
            f"( GEOMETRIC_REPRESENTATION_CONTEXT(3) GLOBAL_UNCERTAINTY_ASSIGNED_CONTEXT((#{unc})) "
            f"GLOBAL_UNIT_ASSIGNED_CONTEXT((#{lu},#{au},#{su})) REPRESENTATION_CONTEXT('',''))"
        )
        self.products: dict[str, _Product] = {}
        self.nauo = 0

    def e(self, text: str) -> int:
        """Append entity ``text`` and return its instance number."""
        self.lines.append(f"#{len(self.lines) + 1}={text};")
        return len(self.lines)

    def pt(self, p: Sequence[float]) -> int:
        return self.e("CARTESIAN_POINT('',({:.6f},{:.6f},{:.6f}))".format(*p))

    def direction(self, d: Sequence[float]) -> int:
        return self.e("DIRECTION('',({:.9f},{:.9f},{:.9f}))".format(*d))

    def axis(self, origin: Sequence[float] = (0, 0, 0), z: Sequence[float] = (0, 0, 1),
             x: Sequence[float] = (1, 0, 0)) -> int:
        return self.e(f"AXIS2_PLACEMENT_3D('',#{self.pt(origin)},#{self.direction(z)},#{self.direction(x)})")

    def _product(self, name: str) -> tuple[int, int]:
        e = self.e
        prod = e(f"PRODUCT('{name}','{name}','',(#{self.pc}))")
        pdf = e(f"PRODUCT_DEFINITION_FORMATION('','',#{prod})")
        pd = e(f"PRODUCT_DEFINITION('design','',#{pdf},#{self.pdc})")
        pds = e(f"PRODUCT_DEFINITION_SHAPE('','',#{pd})")
        return pd, pds

    def part(self, name: str, solids: Sequence[Solid],
             color: tuple[float, float, float] | None = None) -> None:
        """Declare a part made of planar-faced ``solids`` (corners, faces), in ``color``."""
        pd, pds = self._product(name)
        origin = self.axis()
        breps = [solid_brep(self.e, self.pt, self.direction, c, f) for c, f in solids]
        items = ",".join(f"#{x}" for x in [*breps, origin])
        rep = self.e(f"ADVANCED_BREP_SHAPE_REPRESENTATION('{name}',({items}),#{self.ctx})")
        self.e(f"SHAPE_DEFINITION_REPRESENTATION(#{pds},#{rep})")
        if color is not None:
            e = self.e
            rgb = e("COLOUR_RGB('',{:.6f},{:.6f},{:.6f})".format(*color))
            fill = e(f"FILL_AREA_STYLE_COLOUR('',#{rgb})")
            area = e(f"FILL_AREA_STYLE('',(#{fill}))")
            ssa = e(f"SURFACE_STYLE_FILL_AREA(#{area})")
            side = e(f"SURFACE_SIDE_STYLE('',(#{ssa}))")
            usage = e(f"SURFACE_STYLE_USAGE(.BOTH.,#{side})")
            psa = e(f"PRESENTATION_STYLE_ASSIGNMENT((#{usage}))")
            styled = [e(f"STYLED_ITEM('color',(#{psa}),#{b})") for b in breps]
            e("MECHANICAL_DESIGN_GEOMETRIC_PRESENTATION_REPRESENTATION('',({}),#{})".format(
                ",".join(f"#{s}" for s in styled), self.ctx))
        self.products[name] = _Product(pd, origin, rep)

    def assembly(self, name: str) -> None:
        """Declare an assembly (its children are added with ``place``)."""
        pd, pds = self._product(name)
        self.products[name] = _Product(pd, self.axis(), pds=pds)

    def place(self, parent: str, child: str, origin: Sequence[float] = (0, 0, 0),
              x_axis: Sequence[float] = (1, 0, 0), instance: str = "") -> None:
        """Place ``child`` in assembly ``parent`` at ``origin`` (its x axis along ``x_axis``)."""
        placement = self.axis(origin, (0, 0, 1), x_axis)
        p = self.products[parent]
        p.placements.append(placement)
        self.nauo += 1
        p.occurrences.append((child, placement, self.nauo, instance))

    def text(self, file_name: str = "assembly") -> str:
        """Return the STEP file."""
        e = self.e
        for p in self.products.values():
            if p.pds is not None:  # an assembly holds its origin and its children's placements
                items = ",".join(f"#{x}" for x in [p.origin, *p.placements])
                p.rep = e(f"SHAPE_REPRESENTATION('',({items}),#{self.ctx})")
                e(f"SHAPE_DEFINITION_REPRESENTATION(#{p.pds},#{p.rep})")
        for p in self.products.values():
            for child, placement, n, instance in p.occurrences:
                c = self.products[child]
                nauo = e(f"NEXT_ASSEMBLY_USAGE_OCCURRENCE('NAUO{n}','{instance}','',#{p.pd},#{c.pd},$)")
                pds = e(f"PRODUCT_DEFINITION_SHAPE('','',#{nauo})")
                idt = e(f"ITEM_DEFINED_TRANSFORMATION('','',#{c.origin},#{placement})")
                rr = e(
                    f"( REPRESENTATION_RELATIONSHIP('','',#{c.rep},#{p.rep}) "
                    f"REPRESENTATION_RELATIONSHIP_WITH_TRANSFORMATION(#{idt}) "
                    "SHAPE_REPRESENTATION_RELATIONSHIP() )"
                )
                e(f"CONTEXT_DEPENDENT_SHAPE_REPRESENTATION(#{rr},#{pds})")
        head = (
            "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('assembly'),'2;1');\n"
            f"FILE_NAME('{file_name}.step','2024-01-01T00:00:00',(''),(''),'','','');\n"
            "FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }'));\nENDSEC;\nDATA;\n"
        )
        return head + "\n".join(self.lines) + "\nENDSEC;\nEND-ISO-10303-21;\n"


def plant_assembly(stations: int = 4) -> str:
    """A STEP line of ``stations`` station sub-assemblies (frame, two posts, a drive, a
    guard: 5 parts each, posts shared) in millimetres; ``5 * stations`` parts in all."""
    asm = StepAssembly()
    asm.part("frame", [box_solid((0, 0, 0), (2000, 800, 60))], (0.3, 0.3, 0.35))
    asm.part("post", [box_solid((0, 0, 0), (80, 80, 900))], (0.6, 0.6, 0.6))
    asm.part("drive", [box_solid((0, 0, 0), (300, 250, 250)),
                       box_solid((300, 50, 50), (420, 200, 200))], (0.1, 0.4, 0.8))
    asm.part("guard", [box_solid((0, 0, 0), (1800, 20, 700))], (0.95, 0.75, 0.1))
    asm.assembly("line")
    asm.assembly("station")
    asm.place("station", "frame", (0, 0, 900))
    asm.place("station", "post", (0, 0, 0))
    asm.place("station", "post", (1920, 0, 0))
    asm.place("station", "drive", (1600, 300, 960))
    asm.place("station", "guard", (100, 780, 960))
    for k in range(stations):
        asm.place("line", "station", (k * 2200.0, 0, 0), instance=f"station {k + 1}")
    return asm.text("line")
