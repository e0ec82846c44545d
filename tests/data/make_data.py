"""Write the small CAD and mesh files under tests/data (run from the repository root:
``python -m tests.data.make_data``). Every file is generated here, so they are ours to
license with the project (Apache-2.0) and can be rebuilt and reviewed as code.

* ``bracket_mm.stl`` — binary STL of an L-bracket drawn in millimetres (120 × 80 × 60).
* ``block_ascii.stl`` / ``block_binary.stl`` — one part (a stepped block, 40 × 30 × 20 mm,
  coordinates exact in float32) as ASCII and as binary STL: both import to the same hash.
* ``frame.step`` — AP214 assembly: products base, side (twice, one instance named
  "right side"), top and a sub-assembly "gusset kit" (placed twice) of two gussets;
  millimetres, colours per part.
* ``line.gltf`` — glTF (embedded buffer) with a three-level node tree: "Line 1" → "Station A"
  / "Station B" (named empty nodes with transforms) → parts, plus unnamed nodes and meshes
  (readable fallback names), sRGB colours stored linear as glTF requires.
* ``truck_3mat.glb`` — one mesh with three primitives and materials (body, cab, wheels).
* ``valve.dae`` — COLLADA (two named nodes, one nested, with colours), centimetres.
* ``plate.off`` — OFF, a 100 × 50 × 5 unit plate.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(HERE.parent.parent))

from tests.io.io_kit import frame_assembly  # noqa: E402

# sRGB colours of the glTF parts, and their linear values (what glTF stores).
LINE_COLORS = {"conveyor": (0.2, 0.5, 0.8), "robot": (0.9, 0.55, 0.1), "table": (0.5, 0.5, 0.5)}
TRUCK_COLORS = {"body": (0.8, 0.1, 0.1), "cab": (0.1, 0.3, 0.7), "wheels": (0.1, 0.1, 0.1)}


def srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]
        ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (8) and outward triangles (12) of an axis-aligned box."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0),
                  (x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)], dtype=np.float64)
    quads = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    f = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], dtype=np.int64)
    return v, f


def merge(*meshes: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    vs, fs, off = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + off)
        off += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def binary_stl(v: np.ndarray, f: np.ndarray, header: bytes = b"Twinroom test part") -> bytes:
    rec = np.zeros(len(f), [("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["v"] = v[f]
    return header.ljust(80, b" ") + struct.pack("<I", len(f)) + rec.tobytes()


def ascii_stl(v: np.ndarray, f: np.ndarray, name: str) -> bytes:
    lines = [f"solid {name}"]
    for tri in v[f].astype(np.float32):
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x:.9g} {y:.9g} {z:.9g}" for x, y, z in tri]
        lines += ["    endloop", "  endfacet"]
    lines.append(f"endsolid {name}")
    return ("\n".join(lines) + "\n").encode()


def stepped_block() -> tuple[np.ndarray, np.ndarray]:
    return merge(box((0, 0, 0), (40, 30, 10)), box((0, 0, 10), (20, 30, 20)))


# -- glTF -------------------------------------------------------------------------------------
class Gltf:
    """A tiny glTF writer: one buffer, float32 positions, uint32 indices."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.tree: dict = {"asset": {"version": "2.0", "generator": "Twinroom test data"},
                           "scene": 0, "scenes": [{"nodes": []}], "nodes": [], "meshes": [],
                           "materials": [], "accessors": [], "bufferViews": []}

    def _view(self, data: bytes, target: int) -> int:
        while len(self.buf) % 4:
            self.buf.append(0)
        self.tree["bufferViews"].append({"buffer": 0, "byteOffset": len(self.buf),
                                         "byteLength": len(data), "target": target})
        self.buf += data
        return len(self.tree["bufferViews"]) - 1

    def primitive(self, v: np.ndarray, f: np.ndarray, material: int) -> dict:
        pos = v.astype("<f4")
        view = self._view(pos.tobytes(), 34962)
        self.tree["accessors"].append({"bufferView": view, "componentType": 5126,
                                       "count": len(pos), "type": "VEC3",
                                       "min": pos.min(0).tolist(), "max": pos.max(0).tolist()})
        acc_v = len(self.tree["accessors"]) - 1
        view = self._view(f.astype("<u4").tobytes(), 34963)
        self.tree["accessors"].append({"bufferView": view, "componentType": 5125,
                                       "count": f.size, "type": "SCALAR"})
        return {"attributes": {"POSITION": acc_v}, "indices": len(self.tree["accessors"]) - 1,
                "material": material, "mode": 4}

    def material(self, name: str | None, srgb: tuple[float, float, float]) -> int:
        mat: dict = {"pbrMetallicRoughness": {
            "baseColorFactor": [*(round(srgb_to_linear(c), 6) for c in srgb), 1.0],
            "metallicFactor": 0.0}}
        if name:
            mat["name"] = name
        self.tree["materials"].append(mat)
        return len(self.tree["materials"]) - 1

    def mesh(self, name: str | None, prims: list[dict]) -> int:
        m: dict = {"primitives": prims}
        if name:
            m["name"] = name
        self.tree["meshes"].append(m)
        return len(self.tree["meshes"]) - 1

    def node(self, name: str | None, parent: int | None = None, mesh: int | None = None,
             translation: tuple[float, float, float] | None = None,
             rotation: tuple[float, float, float, float] | None = None) -> int:
        n: dict = {}
        if name:
            n["name"] = name
        if mesh is not None:
            n["mesh"] = mesh
        if translation is not None:
            n["translation"] = list(translation)
        if rotation is not None:
            n["rotation"] = list(rotation)
        self.tree["nodes"].append(n)
        k = len(self.tree["nodes"]) - 1
        if parent is None:
            self.tree["scenes"][0]["nodes"].append(k)
        else:
            self.tree["nodes"][parent].setdefault("children", []).append(k)
        return k

    def gltf(self) -> bytes:
        uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.buf)).decode()
        tree = dict(self.tree, buffers=[{"byteLength": len(self.buf), "uri": uri}])
        return json.dumps(tree, indent=1).encode()

    def glb(self) -> bytes:
        tree = dict(self.tree, buffers=[{"byteLength": len(self.buf)}])
        body = json.dumps(tree, separators=(",", ":")).encode()
        body += b" " * (-len(body) % 4)
        binary = bytes(self.buf) + b"\0" * (-len(self.buf) % 4)
        total = 12 + 8 + len(body) + 8 + len(binary)
        return (b"glTF" + struct.pack("<II", 2, total) + struct.pack("<II", len(body), 0x4E4F534A)
                + body + struct.pack("<II", len(binary), 0x004E4942) + binary)


def line_gltf() -> bytes:
    """Line 1 → Station A (conveyor, robot) and Station B (table, an unnamed part)."""
    g = Gltf()
    mats = {k: g.material(k, c) for k, c in LINE_COLORS.items()}
    conveyor = g.mesh("conveyor", [g.primitive(*box((-1.0, -0.3, 0.0), (1.0, 0.3, 0.8)), mats["conveyor"])])
    robot = g.mesh("robot", [g.primitive(*box((-0.3, 0.0, -0.3), (0.3, 1.5, 0.3)), mats["robot"])])
    table = g.mesh(None, [g.primitive(*box((-0.5, 0.0, -0.4), (0.5, 0.9, 0.4)), mats["table"])])
    # glTF is Y up: translations along X and Z lay the stations out on the floor.
    line = g.node("Line 1", translation=(2.0, 0.0, 0.0))
    a = g.node("Station A", line, translation=(0.0, 0.0, -1.5))
    b = g.node("Station B", line, translation=(4.0, 0.0, -1.5),
               rotation=(0.0, 0.7071067811865476, 0.0, 0.7071067811865476))
    g.node("Conveyor", a, conveyor)
    g.node("Robot", a, robot, translation=(0.0, 0.8, 0.0))
    g.node(None, b, table)  # unnamed node, unnamed mesh: a readable fallback name
    g.node(None, b, table, translation=(1.5, 0.0, 0.0))
    return g.gltf()


def truck_glb() -> bytes:
    """One node, one mesh, three primitives with three materials."""
    g = Gltf()
    prims = [
        g.primitive(*box((-2.0, 0.5, -1.0), (1.0, 2.0, 1.0)), g.material("body", TRUCK_COLORS["body"])),
        g.primitive(*box((1.0, 0.5, -1.0), (2.5, 2.5, 1.0)), g.material("cab", TRUCK_COLORS["cab"])),
        g.primitive(*merge(box((-1.8, 0.0, -1.1), (-1.0, 0.8, 1.1)), box((1.2, 0.0, -1.1), (2.0, 0.8, 1.1))),
                    g.material("wheels", TRUCK_COLORS["wheels"])),
    ]
    g.node("Truck", mesh=g.mesh("truck", prims))
    return g.glb()


def valve_dae() -> bytes:
    """COLLADA 1.4.1 written out: unit centimetre, Z up, "Valve body" with a nested
    "Hand wheel" 30 cm above it, a red and a blue material."""
    parts = {
        "body": (box((-10, -10, 0), (10, 10, 30)), (0.8, 0.1, 0.1)),
        "wheel": (box((-15, -15, 0), (15, 15, 3)), (0.1, 0.1, 0.8)),
    }
    effects, materials, geometries = [], [], []
    for key, ((v, f), rgb) in parts.items():
        r, g, b = rgb
        effects.append(
            f'<effect id="{key}-fx"><profile_COMMON><technique sid="common"><phong>'
            f'<diffuse><color>{r} {g} {b} 1</color></diffuse></phong></technique>'
            "</profile_COMMON></effect>")
        materials.append(f'<material id="{key}-mat" name="{key}"><instance_effect url="#{key}-fx"/></material>')
        floats = " ".join(f"{c:g}" for c in v.ravel())
        tris = " ".join(str(i) for i in f.ravel())
        geometries.append(
            f'<geometry id="{key}-geo" name="{key}"><mesh>'
            f'<source id="{key}-pos"><float_array id="{key}-arr" count="{v.size}">{floats}</float_array>'
            f'<technique_common><accessor source="#{key}-arr" count="{len(v)}" stride="3">'
            '<param name="X" type="float"/><param name="Y" type="float"/><param name="Z" type="float"/>'
            "</accessor></technique_common></source>"
            f'<vertices id="{key}-vtx"><input semantic="POSITION" source="#{key}-pos"/></vertices>'
            f'<triangles material="m" count="{len(f)}"><input semantic="VERTEX" source="#{key}-vtx" offset="0"/>'
            f"<p>{tris}</p></triangles></mesh></geometry>")

    def inst(key: str) -> str:
        return (f'<instance_geometry url="#{key}-geo"><bind_material><technique_common>'
                f'<instance_material symbol="m" target="#{key}-mat"/></technique_common>'
                "</bind_material></instance_geometry>")

    scene = (
        '<visual_scene id="scene"><node id="valve" name="Valve body">'
        '<matrix>1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1</matrix>' + inst("body")
        + '<node id="wheel" name="Hand wheel"><matrix>1 0 0 0 0 1 0 0 0 0 1 30 0 0 0 1</matrix>'
        + inst("wheel") + "</node></node></visual_scene>")
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">'
        "<asset><created>2024-01-01T00:00:00</created><modified>2024-01-01T00:00:00</modified>"
        '<unit name="centimeter" meter="0.01"/><up_axis>Z_UP</up_axis></asset>'
        f"<library_effects>{''.join(effects)}</library_effects>"
        f"<library_materials>{''.join(materials)}</library_materials>"
        f"<library_geometries>{''.join(geometries)}</library_geometries>"
        f"<library_visual_scenes>{scene}</library_visual_scenes>"
        '<scene><instance_visual_scene url="#scene"/></scene></COLLADA>\n')
    return text.encode()


def plate_off() -> bytes:
    v, f = box((0, 0, 0), (100, 50, 5))
    lines = ["OFF", f"{len(v)} {len(f)} 0"]
    lines += [f"{x:g} {y:g} {z:g}" for x, y, z in v]
    lines += [f"3 {a} {b} {c}" for a, b, c in f]
    return ("\n".join(lines) + "\n").encode()


def bracket_stl() -> bytes:
    return binary_stl(*merge(box((0, 0, 0), (120, 80, 8)), box((0, 0, 8), (8, 80, 60))))


def files() -> dict[str, bytes]:
    """Every test data file by name."""
    block = stepped_block()
    return {
        "bracket_mm.stl": bracket_stl(),
        "block_ascii.stl": ascii_stl(*block, "block"),
        "block_binary.stl": binary_stl(*block),
        "frame.step": frame_assembly().encode(),
        "line.gltf": line_gltf(),
        "truck_3mat.glb": truck_glb(),
        "valve.dae": valve_dae(),
        "plate.off": plate_off(),
    }


def main() -> None:
    for name, data in files().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
