"""Small real files for the mesh I/O tests: STEP B-reps written by hand, 3MF packages."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Point = tuple[float, float, float]


def box_solid(lo: Point, hi: Point) -> tuple[list[Point], list[tuple[int, ...]]]:
    """Corners and outward, counter-clockwise quad faces of an axis-aligned box."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    corners = [
        (x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0),
        (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1),
    ]
    faces = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    return corners, faces


def step_text(
    solids: Sequence[tuple[list[Point], list[tuple[int, ...]]]],
    name: str = "bracket",
    millimetres: bool = True,
) -> str:
    """Return an AP214 STEP file holding polyhedral solids as planar-faced B-reps."""
    lines: list[str] = []

    def e(text: str) -> int:
        lines.append(f"#{len(lines) + 1}={text};")
        return len(lines)

    app = e("APPLICATION_CONTEXT('automotive design')")
    e(f"APPLICATION_PROTOCOL_DEFINITION('international standard','automotive_design',2000,#{app})")
    pc = e(f"PRODUCT_CONTEXT('',#{app},'mechanical')")
    prod = e(f"PRODUCT('{name}','{name}','',(#{pc}))")
    pdf = e(f"PRODUCT_DEFINITION_FORMATION('','',#{prod})")
    pdc = e(f"PRODUCT_DEFINITION_CONTEXT('part definition',#{app},'design')")
    pd = e(f"PRODUCT_DEFINITION('design','',#{pdf},#{pdc})")
    pds = e(f"PRODUCT_DEFINITION_SHAPE('','',#{pd})")
    prefix = ".MILLI." if millimetres else "$"
    lu = e(f"( LENGTH_UNIT() NAMED_UNIT(*) SI_UNIT({prefix},.METRE.) )")
    au = e("( NAMED_UNIT(*) PLANE_ANGLE_UNIT() SI_UNIT($,.RADIAN.) )")
    su = e("( NAMED_UNIT(*) SI_UNIT($,.STERADIAN.) SOLID_ANGLE_UNIT() )")
    unc = e(f"UNCERTAINTY_MEASURE_WITH_UNIT(LENGTH_MEASURE(1.E-07),#{lu},'distance_accuracy_value','')")
    ctx = e(
        f"( GEOMETRIC_REPRESENTATION_CONTEXT(3) GLOBAL_UNCERTAINTY_ASSIGNED_CONTEXT((#{unc})) "
        f"GLOBAL_UNIT_ASSIGNED_CONTEXT((#{lu},#{au},#{su})) REPRESENTATION_CONTEXT('',''))"
    )

    def pt(p: Sequence[float]) -> int:
        return e("CARTESIAN_POINT('',({:.6f},{:.6f},{:.6f}))".format(*p))

    def direction(d: Sequence[float]) -> int:
        return e("DIRECTION('',({:.9f},{:.9f},{:.9f}))".format(*d))

    origin = e(f"AXIS2_PLACEMENT_3D('',#{pt((0, 0, 0))},#{direction((0, 0, 1))},#{direction((1, 0, 0))})")
    breps = [_solid(e, pt, direction, corners, faces) for corners, faces in solids]
    items = ",".join(f"#{x}" for x in [*breps, origin])
    rep = e(f"ADVANCED_BREP_SHAPE_REPRESENTATION('',({items}),#{ctx})")
    e(f"SHAPE_DEFINITION_REPRESENTATION(#{pds},#{rep})")
    head = (
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('test part'),'2;1');\n"
        f"FILE_NAME('{name}.step','2024-01-01T00:00:00',(''),(''),'','','');\n"
        "FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }'));\nENDSEC;\nDATA;\n"
    )
    return head + "\n".join(lines) + "\nENDSEC;\nEND-ISO-10303-21;\n"


def _solid(
    e: Callable[[str], int],
    pt: Callable[[Sequence[float]], int],
    direction: Callable[[Sequence[float]], int],
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


# -- 3MF ------------------------------------------------------------------------------------
CORE_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
    "</Types>"
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
)


def mesh_object_xml(oid: int, vertices: np.ndarray, faces: np.ndarray, attrs: str = "") -> str:
    """Return a 3MF ``<object>`` element holding one mesh."""
    vs = "".join(f'<vertex x="{x:.6f}" y="{y:.6f}" z="{z:.6f}"/>' for x, y, z in vertices)
    ts = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in faces)
    return (
        f'<object id="{oid}" type="model" {attrs}><mesh><vertices>{vs}</vertices>'
        f"<triangles>{ts}</triangles></mesh></object>"
    )


def model_xml(resources: str, build: str, unit: str = "millimeter", prolog: str = "") -> str:
    """Return a 3MF model document."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<model unit="{unit}" xml:lang="en-US" xmlns="{CORE_NS}">'
        f"<resources>{resources}</resources><build>{build}</build></model>"
    )


def write_3mf(path: Path, model: str | bytes, extra: dict[str, bytes] | None = None) -> Path:
    """Write a 3MF package with ``model`` as its root model part."""
    body = model.encode() if isinstance(model, str) else model
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("3D/3dmodel.model", body)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


# -- STEP assemblies ------------------------------------------------------------------------
Solid = tuple[list[Point], list[tuple[int, ...]]]


class StepAssembly:
    """Writes an AP214 STEP file with an assembly tree: named products, placed occurrences.

    ``part(name, solids, color)`` and ``assembly(name)`` declare products;
    ``place(parent, child, origin, x_axis, instance)`` adds an occurrence of ``child`` in
    ``parent`` (the NAUO's id is ``NAUO<n>``, its name ``instance``). ``text(root)`` returns
    the file; lengths are millimetres unless ``millimetres=False``.
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
        self.products: dict[str, dict[str, int | list[int]]] = {}
        self.nauo = 0

    def e(self, text: str) -> int:
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
        pd, pds = self._product(name)
        origin = self.axis()
        breps = [_solid(self.e, self.pt, self.direction, c, f) for c, f in solids]
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
        self.products[name] = {"pd": pd, "rep": rep, "origin": origin, "placements": []}

    def assembly(self, name: str) -> None:
        pd, pds = self._product(name)
        origin = self.axis()
        self.products[name] = {"pd": pd, "pds": pds, "origin": origin, "placements": []}

    def place(self, parent: str, child: str, origin: Sequence[float] = (0, 0, 0),
              x_axis: Sequence[float] = (1, 0, 0), instance: str = "") -> None:
        placement = self.axis(origin, (0, 0, 1), x_axis)
        p = self.products[parent]
        assert isinstance(p["placements"], list)
        p["placements"].append(placement)
        p.setdefault("occurrences", [])  # type: ignore[call-overload]
        self.nauo += 1
        occ = (child, placement, self.nauo, instance)
        p.setdefault("occ", []).append(occ)  # type: ignore[union-attr, attr-defined]

    def text(self, root: str, file_name: str = "assembly") -> str:
        e = self.e
        # Assembly representations hold their origin and every placement of a child.
        for _name, p in self.products.items():
            if "pds" in p:
                items = ",".join(f"#{x}" for x in [p["origin"], *p["placements"]])  # type: ignore[misc]
                p["rep"] = e(f"SHAPE_REPRESENTATION('',({items}),#{self.ctx})")
                e(f"SHAPE_DEFINITION_REPRESENTATION(#{p['pds']},#{p['rep']})")
        for _name, p in self.products.items():
            for child, placement, n, instance in p.get("occ", []):  # type: ignore[union-attr, attr-defined]
                c = self.products[child]
                nauo = e(f"NEXT_ASSEMBLY_USAGE_OCCURRENCE('NAUO{n}','{instance}','',#{p['pd']},#{c['pd']},$)")
                pds = e(f"PRODUCT_DEFINITION_SHAPE('','',#{nauo})")
                idt = e(f"ITEM_DEFINED_TRANSFORMATION('','',#{c['origin']},#{placement})")
                rr = e(
                    f"( REPRESENTATION_RELATIONSHIP('','',#{c['rep']},#{p['rep']}) "
                    f"REPRESENTATION_RELATIONSHIP_WITH_TRANSFORMATION(#{idt}) "
                    "SHAPE_REPRESENTATION_RELATIONSHIP() )"
                )
                e(f"CONTEXT_DEPENDENT_SHAPE_REPRESENTATION(#{rr},#{pds})")
        del root
        head = (
            "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('assembly'),'2;1');\n"
            f"FILE_NAME('{file_name}.step','2024-01-01T00:00:00',(''),(''),'','','');\n"
            "FILE_SCHEMA(('AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }'));\nENDSEC;\nDATA;\n"
        )
        return head + "\n".join(self.lines) + "\nENDSEC;\nEND-ISO-10303-21;\n"


def frame_assembly(millimetres: bool = True) -> str:
    """A welded frame: base plate, two sides, a top and a sub-assembly "gusset kit" of two
    gussets (product names base, side, top, gusset; instances named only by their ids)."""
    asm = StepAssembly(millimetres)
    asm.part("base", [box_solid((0, 0, 0), (400, 300, 20))], (0.8, 0.2, 0.2))
    asm.part("side", [box_solid((0, 0, 0), (20, 300, 200))], (0.2, 0.4, 0.8))
    asm.part("top", [box_solid((0, 0, 0), (400, 300, 10))], (0.9, 0.9, 0.9))
    asm.part("gusset", [box_solid((0, 0, 0), (60, 10, 60))], (0.1, 0.6, 0.2))
    asm.assembly("frame")
    asm.assembly("gusset kit")
    asm.place("frame", "base")
    asm.place("frame", "side", (0, 0, 20))
    asm.place("frame", "side", (380, 0, 20), instance="right side")
    asm.place("frame", "top", (0, 0, 220))
    asm.place("gusset kit", "gusset", (20, 0, 0))
    asm.place("gusset kit", "gusset", (320, 0, 0))
    asm.place("frame", "gusset kit", (0, 0, 20))
    asm.place("frame", "gusset kit", (0, 290, 20))
    return asm.text("frame", "frame")
