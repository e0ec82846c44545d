"""Small real files for the mesh I/O tests: STEP B-reps written by hand, 3MF packages."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from twin_app.io.benchutil import Point, StepAssembly, box_solid
from twin_app.io.benchutil import solid_brep as _solid

__all__ = ["StepAssembly", "box_solid", "frame_assembly", "step_text"]


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
    return asm.text("frame")
