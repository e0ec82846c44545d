"""Generate the demo plant: ``twin_app/assets/demo-plant.twinroom`` (package data).

Run ``.venv/bin/python assets/make_demo_plant.py`` (``--out PATH`` writes elsewhere).

A small gearbox-assembly line in a hall of "Plant Suzhou": infeed conveyor, a machine-
tending robot cell with two CNC machining centres, a hydraulic press, a gear-insertion
robot cell, a vision inspection station and an outfeed conveyor, with pallets, safety
fences, control cabinets and sensors. About 30 m × 11 m, metres, Z up, flow along +X.

Deterministic: node ids are readable and fixed (``line1.st2.robot.link3``), sibling order
keys are generated in insertion order, randomness (serial numbers) comes from a seeded
generator, and meshes are built from plain numpy primitives (not a library whose
tessellation could change between versions), so regenerating gives a byte-identical
document hash. Each distinct shape is stored once; parts refer to it by hash (the 150-odd
conveyor rollers share one mesh).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin_app.core import fracindex, meshblob, roomfile
from twin_app.core.document import Document, Node, PropValue
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, apply

OUT = Path(__file__).resolve().parent.parent / "twin_app" / "assets" / "demo-plant.twinroom"
ROOM_NAME = "Plant Suzhou — Line 1"
SEED = 20240611

Mesh = tuple[NDArray[np.float64], NDArray[np.int64]]
Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

# -- colours ---------------------------------------------------------------------------------
SAFETY_YELLOW = (0.98, 0.78, 0.05)
MACHINE_GREY = (0.72, 0.74, 0.76)
MACHINE_BLUE = (0.13, 0.33, 0.62)
ROBOT_ORANGE = (0.96, 0.45, 0.06)
ANTHRACITE = (0.22, 0.24, 0.27)
STEEL = (0.78, 0.79, 0.81)
CABINET_GREY = (0.84, 0.85, 0.83)
GLASS = (0.35, 0.45, 0.50)
PALLET_BLUE = (0.27, 0.36, 0.47)
ALUMINIUM = (0.82, 0.83, 0.85)
SENSOR_TEAL = (0.0, 0.62, 0.58)
FLOOR = (0.58, 0.60, 0.60)
CONCRETE = (0.66, 0.66, 0.64)
BLACK = (0.08, 0.08, 0.09)
GREEN = (0.10, 0.70, 0.25)
AMBER = (1.0, 0.62, 0.0)
RED = (0.85, 0.10, 0.10)
WHITE = (0.95, 0.95, 0.93)

STEEL_DENSITY = 7850.0
ALU_DENSITY = 2700.0


# -- mesh primitives (numpy only, outward-facing counter-clockwise triangles) ------------------
def box(sx: float, sy: float, sz: float, at: Vec3 = (0.0, 0.0, 0.0)) -> Mesh:
    """An axis-aligned box of size ``sx × sy × sz`` centred on ``at``."""
    hx, hy, hz = sx / 2, sy / 2, sz / 2
    v = np.array(
        [[-hx, -hy, -hz], [hx, -hy, -hz], [hx, hy, -hz], [-hx, hy, -hz],
         [-hx, -hy, hz], [hx, -hy, hz], [hx, hy, hz], [-hx, hy, hz]]
    ) + np.asarray(at)
    quads = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    f = [(a, b, c) for a, b, c, d in quads] + [(a, c, d) for a, b, c, d in quads]
    return v, np.array(f, dtype=np.int64)


def frustum(r0: float, r1: float, h: float, n: int = 24, at: Vec3 = (0.0, 0.0, 0.0)) -> Mesh:
    """A closed cone frustum along +Z from radius ``r0`` at ``z = -h/2`` to ``r1`` at ``h/2``."""
    t = np.arange(n) * (2 * math.pi / n)
    c, s = np.cos(t), np.sin(t)
    bottom = np.stack([r0 * c, r0 * s, np.full(n, -h / 2)], axis=1)
    top = np.stack([r1 * c, r1 * s, np.full(n, h / 2)], axis=1)
    centres = np.array([[0.0, 0.0, -h / 2], [0.0, 0.0, h / 2]])
    v = np.concatenate([bottom, top, centres]) + np.asarray(at)
    i = np.arange(n)
    j = (i + 1) % n
    cb, ct = 2 * n, 2 * n + 1
    side1 = np.stack([i, j, n + j], axis=1)
    side2 = np.stack([i, n + j, n + i], axis=1)
    cap_b = np.stack([np.full(n, cb), j, i], axis=1)
    cap_t = np.stack([np.full(n, ct), n + i, n + j], axis=1)
    return v, np.concatenate([side1, side2, cap_b, cap_t]).astype(np.int64)


def cylinder(r: float, h: float, n: int = 24, at: Vec3 = (0.0, 0.0, 0.0)) -> Mesh:
    """A closed cylinder along +Z, centred on ``at``."""
    return frustum(r, r, h, n, at)


def tube(r_in: float, r_out: float, h: float, n: int = 32, at: Vec3 = (0.0, 0.0, 0.0)) -> Mesh:
    """A thick ring (annulus extruded along +Z), centred on ``at``."""
    t = np.arange(n) * (2 * math.pi / n)
    c, s = np.cos(t), np.sin(t)
    rings = [
        np.stack([r * c, r * s, np.full(n, z)], axis=1)
        for r, z in ((r_out, -h / 2), (r_out, h / 2), (r_in, -h / 2), (r_in, h / 2))
    ]
    v = np.concatenate(rings) + np.asarray(at)
    i = np.arange(n)
    j = (i + 1) % n
    ob, ot, ib, it = 0, n, 2 * n, 3 * n
    faces = [
        np.stack([ob + i, ob + j, ot + j], 1), np.stack([ob + i, ot + j, ot + i], 1),  # outer
        np.stack([ib + j, ib + i, it + i], 1), np.stack([ib + j, it + i, it + j], 1),  # inner
        np.stack([ot + i, ot + j, it + j], 1), np.stack([ot + i, it + j, it + i], 1),  # top
        np.stack([ob + j, ob + i, ib + i], 1), np.stack([ob + j, ib + i, ib + j], 1),  # bottom
    ]
    return v, np.concatenate(faces).astype(np.int64)


def rotate(mesh: Mesh, axis: str, deg: float) -> Mesh:
    """Return ``mesh`` rotated about a coordinate axis through the origin."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    m = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }[axis]
    v, f = mesh
    return v @ np.asarray(m, dtype=np.float64).T, f


def merge(*meshes: Mesh) -> Mesh:
    """Concatenate meshes into one."""
    vs, fs, offset = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + offset)
        offset += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def volume(mesh: Mesh) -> float:
    """Volume of a closed mesh (divergence theorem; merged solids add up)."""
    v, f = mesh
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


# -- transforms ------------------------------------------------------------------------------
def quat(axis: str, deg: float) -> Quat:
    """Quaternion (x, y, z, w) of a rotation about a coordinate axis."""
    h = math.radians(deg) / 2
    s = math.sin(h)
    x, y, z = {"x": (s, 0.0, 0.0), "y": (0.0, s, 0.0), "z": (0.0, 0.0, s)}[axis]
    return (x, y, z, math.cos(h))


NO_ROT: Quat = (0.0, 0.0, 0.0, 1.0)


def trs(pos: Vec3, rot: Quat = NO_ROT) -> tuple[float, ...]:
    return (*(round(float(p), 6) for p in pos), *(round(float(q), 9) for q in rot), 1.0, 1.0, 1.0)


# -- document builder ---------------------------------------------------------------------------
class Plant:
    """Builds the document through validated ops and collects the mesh blobs."""

    def __init__(self) -> None:
        self.doc = Document()
        self.assets: dict[str, bytes] = {}
        self._meshes: dict[str, tuple[str, tuple[float, ...], float]] = {}
        self._last_key: dict[str, str] = {}
        self.rng = random.Random(SEED)

    def _add(self, node: Node) -> str:
        assert node.parent is not None
        node.order = fracindex.key_between(self._last_key.get(node.parent), None)
        self._last_key[node.parent] = node.order
        apply(self.doc, AddNode(node))
        return node.id

    def mesh(self, key: str, build: Callable[[], Mesh]) -> tuple[str, tuple[float, ...], float]:
        """Return ``(hash, bbox, volume)`` of the shape ``key``, building it once."""
        if key not in self._meshes:
            v, f = build()
            blob = meshblob.encode(v, f)
            h = meshblob.digest(blob)
            self.assets[h] = blob
            bbox = tuple(round(x, 6) for x in meshblob.bounds(v.astype(np.float32)))
            self._meshes[key] = (h, bbox, volume((v, f)))
        return self._meshes[key]

    def group(self, nid: str, parent: str, name: str, pos: Vec3 = (0.0, 0.0, 0.0),
              rot: Quat = NO_ROT, **props: PropValue) -> str:
        return self._add(Node(nid, parent, "", kind="group", name=name,
                              transform=trs(pos, rot), props=dict(props)))

    def part(
        self, nid: str, parent: str, name: str, shape: str, build: Callable[[], Mesh],
        pos: Vec3, color: Vec3, part_number: str, supplier: str,
        rot: Quat = NO_ROT, density: float = STEEL_DENSITY, mass: float | None = None,
        opacity: float = 1.0, kind: str = "part", **props: PropValue,
    ) -> str:
        h, bbox, vol = self.mesh(shape, build)
        kg = mass if mass is not None else vol * density
        all_props: dict[str, PropValue] = {
            "part_number": part_number, "supplier": supplier, "mass": round(kg, 2), "bbox": bbox,
        }
        all_props.update(props)
        return self._add(Node(nid, parent, "", kind=kind, name=name, transform=trs(pos, rot),
                              mesh=h, color=color, opacity=opacity, props=all_props))

    def sensor(self, nid: str, parent: str, name: str, pos: Vec3, sensor_type: str, unit: str,
               tag: str, lo: float, hi: float, rot: Quat = NO_ROT, **extra: PropValue) -> str:
        return self.part(
            nid, parent, name, "sensor.puck", lambda: cylinder(0.025, 0.04, 16), pos,
            SENSOR_TEAL, "GBX-SEN-" + {"temperature": "0110", "vibration": "0120",
                                       "pressure": "0130", "force": "0140", "presence": "0150",
                                       "vision": "0160", "door_interlock": "0170",
                                       "current": "0180", "thermal": "0190"}[sensor_type],
            "Meridian Sensortechnik", rot=rot, mass=0.12, kind="sensor",
            sensor_type=sensor_type, unit=unit, tag=tag, range_min=lo, range_max=hi,
            **sensor_rules(sensor_type, lo, hi, extra),
        )

    def serial(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.randrange(10**5, 10**6)}"


def sensor_rules(sensor_type: str, lo: float, hi: float, extra: dict[str, PropValue]) -> dict[str, PropValue]:
    """Display and alarm rules a commissioning engineer would set for each kind of sensor."""
    span = hi - lo
    at = lambda f: round(lo + f * span, 2)  # noqa: E731
    rules: dict[str, PropValue] = {
        "temperature": {"warn_high": at(0.75), "alarm_high": at(0.88), "display": "value"},
        # ISO 10816-style zones for RMS velocity: warning from 45 %, alarm from 70 % of range.
        "vibration": {"warn_high": at(0.45), "alarm_high": at(0.70), "display": "value"},
        "current": {"warn_high": at(0.80), "alarm_high": at(0.92), "display": "value"},
        "pressure": {"warn_low": at(0.30), "alarm_low": at(0.20), "warn_high": at(0.85),
                     "alarm_high": at(0.95), "display": "value"},
        "force": {"warn_high": at(0.85), "alarm_high": at(0.95), "display": "value"},
        "vision": {"warn_low": at(0.95), "alarm_low": at(0.90), "display": "state"},
        "thermal": {"display": "heatmap", "colormap": "turbo"},
    }.get(sensor_type, {"display": "label"})
    rules.update(extra)
    return rules


# -- equipment ---------------------------------------------------------------------------------
def conveyor(p: Plant, nid: str, parent: str, name: str, length: float, pos: Vec3,
             tag: str, pallets: int = 0) -> str:
    """A powered roller conveyor along +X, ``length`` long, starting at ``pos``."""
    g = p.group(nid, parent, name, pos, manufacturer="Rollwerk GmbH", model=f"RC-{int(length * 1000)}",
                serial=p.serial("RW"), speed_m_s=0.3)
    top = 0.80
    for side, y in (("left", 0.42), ("right", -0.42)):
        p.part(f"{nid}.rail.{side}", g, f"Side rail {side}", f"conv.rail.{length}",
               lambda: box(length, 0.05, 0.16), (length / 2, y, top - 0.06), ANTHRACITE,
               f"GBX-FRM-{int(length * 100):04d}", "Rollwerk GmbH")
    legs = max(2, round(length / 1.5) + 1)
    for i in range(legs):
        x = 0.1 + i * (length - 0.2) / (legs - 1)
        for side, y in (("l", 0.42), ("r", -0.42)):
            p.part(f"{nid}.leg{i + 1}{side}", g, f"Leg {i + 1}{side.upper()}", "conv.leg",
                   lambda: merge(box(0.06, 0.06, 0.66, (0, 0, 0.33)), box(0.12, 0.12, 0.02, (0, 0, 0.01))),
                   (x, y, 0.0), ANTHRACITE, "GBX-LEG-0660", "Rollwerk GmbH")
    rollers = int(length / 0.25)
    for i in range(rollers):
        # One roller mesh along Z, turned onto the Y axis by the node transform: instances.
        p.part(f"{nid}.roller{i + 1:02d}", g, f"Roller {i + 1}", "conv.roller",
               lambda: merge(cylinder(0.03, 0.80, 16), cylinder(0.008, 0.86, 8)),
               (0.125 + i * 0.25, 0.0, top - 0.01), STEEL, "GBX-ROL-0040", "Rollwerk GmbH",
               rot=quat("x", 90), density=STEEL_DENSITY * 0.35)
    p.part(f"{nid}.motor", g, "Drive motor", "conv.motor",
           lambda: merge(cylinder(0.07, 0.22, 20, (0, 0, 0.11)), box(0.16, 0.14, 0.14, (0, 0, -0.05))),
           (length - 0.3, -0.55, 0.55), MACHINE_BLUE, "GBX-MOT-0550", "Voltmotion", rot=quat("x", 90),
           mass=14.5, rated_power_kw=0.55)
    p.sensor(f"{nid}.presence", g, "Pallet presence", (length - 0.15, 0.47, 0.86), "presence",
             "bool", f"{tag}/pallet_present", 0.0, 1.0)
    p.sensor(f"{nid}.motor.current", f"{nid}.motor", "Motor current", (0.0, 0.0, 0.24), "current",
             "A", f"{tag}/motor/current", 0.0, 4.0)
    for k in range(pallets):
        pallet(p, f"{nid}.pallet{k + 1}", g, f"Pallet P{k + 1:02d}", (0.6 + k * (length - 1.2) / max(1, pallets - 1), 0.0, top + 0.02))
    return g


def pallet(p: Plant, nid: str, parent: str, name: str, pos: Vec3) -> str:
    """A workpiece pallet carrying a gearbox housing."""
    g = p.group(nid, parent, name, pos, pallet_id=name.rsplit(maxsplit=1)[-1])
    p.part(f"{nid}.plate", g, "Pallet plate", "pallet.plate", lambda: box(0.56, 0.56, 0.04, (0, 0, 0.02)),
           (0.0, 0.0, 0.0), PALLET_BLUE, "GBX-PAL-0560", "Transfix Logistics", density=ALU_DENSITY)
    for i, (x, y) in enumerate(((-0.22, -0.22), (0.22, -0.22), (0.22, 0.22), (-0.22, 0.22))):
        p.part(f"{nid}.pin{i + 1}", g, f"Locating pin {i + 1}", "pallet.pin",
               lambda: cylinder(0.012, 0.05, 12, (0, 0, 0.025)), (x, y, 0.04), STEEL,
               "GBX-PIN-0012", "Transfix Logistics")
    p.part(f"{nid}.housing", g, "Gearbox housing (workpiece)", "workpiece.housing",
           lambda: merge(box(0.36, 0.28, 0.20, (0, 0, 0.10)), tube(0.05, 0.08, 0.04, 24, (0.08, 0, 0.22))),
           (0.0, 0.0, 0.04), ALUMINIUM, "GBX-HSG-2040", "Suzhou Die Casting Co.", density=ALU_DENSITY * 0.45)
    return g


def robot(p: Plant, nid: str, parent: str, name: str, pos: Vec3, yaw: float,
          joints: tuple[float, float, float, float, float, float], tag: str) -> str:
    """A 6-axis industrial robot as a kinematic chain of nested joint groups."""
    g = p.group(nid, parent, name, pos, quat("z", yaw), manufacturer="Axion Robotics",
                model="AX-20/1.65", serial=p.serial("AX"), payload_kg=20.0, reach_m=1.65)
    sup = "Axion Robotics"
    p.part(f"{nid}.pedestal", g, "Pedestal", "robot.pedestal",
           lambda: merge(box(0.6, 0.6, 0.05, (0, 0, 0.025)), box(0.4, 0.4, 0.45, (0, 0, 0.275))),
           (0.0, 0.0, 0.0), ANTHRACITE, "GBX-RBT-0500", "Hanse Steelworks")
    j1 = p.group(f"{nid}.j1", g, "Axis 1", (0.0, 0.0, 0.5), quat("z", joints[0]), axis="A1")
    p.part(f"{nid}.link1", j1, "Base", "robot.base",
           lambda: merge(cylinder(0.24, 0.12, 32, (0, 0, 0.06)), cylinder(0.19, 0.22, 32, (0, 0, 0.23))),
           (0.0, 0.0, 0.0), ROBOT_ORANGE, "AX20-L1-0100", sup, mass=92.0)
    j2 = p.group(f"{nid}.j2", j1, "Axis 2", (0.16, 0.0, 0.40), quat("y", joints[1]), axis="A2")
    p.part(f"{nid}.link2", j2, "Shoulder", "robot.shoulder",
           lambda: merge(rotate(cylinder(0.15, 0.34, 28), "x", 90), box(0.2, 0.16, 0.25, (0, 0.1, -0.08))),
           (0.0, 0.0, 0.0), ROBOT_ORANGE, "AX20-L2-0200", sup, mass=61.0)
    p.part(f"{nid}.link3", j2, "Upper arm", "robot.upperarm",
           lambda: merge(box(0.16, 0.14, 0.72, (0, 0, 0.38)), rotate(cylinder(0.11, 0.26, 28, (0, 0.0, 0)), "x", 90)),
           (0.0, -0.2, 0.0), ROBOT_ORANGE, "AX20-L3-0300", sup, mass=38.0)
    j3 = p.group(f"{nid}.j3", j2, "Axis 3", (0.0, 0.0, 0.76), quat("y", joints[2]), axis="A3")
    p.part(f"{nid}.link4", j3, "Forearm", "robot.forearm",
           lambda: merge(rotate(cylinder(0.12, 0.26, 28), "x", 90), rotate(cylinder(0.075, 0.62, 24, (0, 0, 0.36)), "y", 90)),
           (0.0, -0.2, 0.0), ROBOT_ORANGE, "AX20-L4-0400", sup, mass=27.0)
    j4 = p.group(f"{nid}.j4", j3, "Axis 4", (0.66, -0.2, 0.0), quat("x", joints[3]), axis="A4")
    j5 = p.group(f"{nid}.j5", j4, "Axis 5", (0.16, 0.0, 0.0), quat("y", joints[4]), axis="A5")
    p.part(f"{nid}.link5", j5, "Wrist", "robot.wrist",
           lambda: merge(rotate(cylinder(0.06, 0.14, 20), "x", 90), box(0.10, 0.09, 0.09, (0.05, 0, 0))),
           (0.0, 0.0, 0.0), ROBOT_ORANGE, "AX20-L5-0500", sup, mass=6.5)
    j6 = p.group(f"{nid}.j6", j5, "Axis 6", (0.12, 0.0, 0.0), quat("x", joints[5]), axis="A6")
    p.part(f"{nid}.link6", j6, "Flange", "robot.flange", lambda: rotate(cylinder(0.045, 0.03, 20, (0, 0, 0.015)), "y", 90),
           (0.0, 0.0, 0.0), STEEL, "AX20-L6-0600", sup, mass=1.1)
    grip = p.group(f"{nid}.gripper", j6, "Gripper", (0.03, 0.0, 0.0), manufacturer="Pneumatix",
                   model="PGX-80")
    p.part(f"{nid}.gripper.body", grip, "Gripper body", "gripper.body", lambda: box(0.08, 0.14, 0.07, (0.04, 0, 0)),
           (0.0, 0.0, 0.0), ANTHRACITE, "PNX-PGX-0080", "Pneumatix", density=ALU_DENSITY)
    for side, y in (("left", 0.04), ("right", -0.04)):
        p.part(f"{nid}.gripper.finger.{side}", grip, f"Finger {side}", "gripper.finger",
               lambda: box(0.07, 0.016, 0.03, (0.035, 0, 0)), (0.08, y, 0.0), ALUMINIUM,
               "PNX-FNG-0070", "Pneumatix", density=ALU_DENSITY)
    p.sensor(f"{nid}.a2.temp", j2, "A2 motor temperature", (0.0, 0.2, 0.1), "temperature", "°C",
             f"{tag}/a2/motor_temp", 20.0, 90.0)
    p.sensor(f"{nid}.a3.vib", j3, "A3 gearbox vibration", (0.1, 0.0, 0.12), "vibration", "mm/s",
             f"{tag}/a3/vibration", 0.0, 12.0, fault_hz="24.5,87.5")
    return g


def controller(p: Plant, nid: str, parent: str, name: str, pos: Vec3, yaw: float = 0.0) -> str:
    g = p.group(nid, parent, name, pos, quat("z", yaw), manufacturer="Axion Robotics", model="AXC-5")
    p.part(f"{nid}.cabinet", g, "Cabinet", "cabinet.body", lambda: box(0.6, 0.5, 1.4, (0, 0, 0.75)),
           (0.0, 0.0, 0.0), CABINET_GREY, "GBX-CAB-1400", "Rittal-Norm Enclosures", mass=118.0)
    p.part(f"{nid}.plinth", g, "Plinth", "cabinet.plinth", lambda: box(0.6, 0.5, 0.05, (0, 0, 0.025)),
           (0.0, 0.0, 0.0), BLACK, "GBX-CAB-0050", "Rittal-Norm Enclosures", mass=9.0)
    p.part(f"{nid}.handle", g, "Door handle", "cabinet.handle", lambda: box(0.03, 0.04, 0.18),
           (0.22, -0.27, 0.9), BLACK, "GBX-CAB-0018", "Rittal-Norm Enclosures", mass=0.3)
    p.part(f"{nid}.pendant", g, "Teach pendant", "cabinet.pendant", lambda: box(0.3, 0.06, 0.22),
           (-0.1, -0.29, 1.1), BLACK, "AXC-TP-0300", "Axion Robotics", mass=1.4)
    return g


def fence(p: Plant, nid: str, parent: str, name: str, x0: float, x1: float, y0: float, y1: float,
          openings: list[tuple[str, float, float]], door: tuple[str, float]) -> str:
    """Safety fence around a rectangle; ``openings`` are (side, centre, width) gaps."""
    g = p.group(nid, parent, name, manufacturer="Hanse Safety Systems", model="HX-2000",
                category="ISO 14120 guard")
    sides = {  # side: (start point, direction, length, yaw)
        "south": ((x0, y0), (1.0, 0.0), x1 - x0, 0.0),
        "east": ((x1, y0), (0.0, 1.0), y1 - y0, 90.0),
        "north": ((x1, y1), (-1.0, 0.0), x1 - x0, 180.0),
        "west": ((x0, y1), (0.0, -1.0), y1 - y0, 270.0),
    }
    n_panel = n_post = 0
    for side, ((sx, sy), (dx, dy), length, yaw) in sides.items():
        count = round(length)
        for i in range(count + 1):
            n_post += 1
            p.part(f"{nid}.post{n_post:02d}", g, f"Post {n_post}", "fence.post",
                   lambda: merge(box(0.06, 0.06, 2.0, (0, 0, 1.0)), box(0.14, 0.14, 0.01, (0, 0, 0.005))),
                   (sx + dx * i, sy + dy * i, 0.0), SAFETY_YELLOW, "GBX-FEN-0200", "Hanse Safety Systems")
        for i in range(count):
            centre = i + 0.5
            cx, cy = sx + dx * centre, sy + dy * centre
            along = cx if dx else cy
            if any(s == side and abs(along - c) < w / 2 for s, c, w in openings):
                continue
            is_door = door[0] == side and abs(along - door[1]) < 0.5
            n_panel += 1
            pid = f"{nid}.door" if is_door else f"{nid}.panel{n_panel:02d}"
            label = "Access door" if is_door else f"Panel {n_panel}"
            p.part(f"{pid}.frame", g, f"{label} frame", "fence.frame",
                   lambda: merge(box(0.92, 0.03, 0.03, (0, 0, 0.2)), box(0.92, 0.03, 0.03, (0, 0, 1.95)),
                                 box(0.03, 0.03, 1.78, (-0.45, 0, 1.075)), box(0.03, 0.03, 1.78, (0.45, 0, 1.075))),
                   (cx, cy, 0.0), SAFETY_YELLOW, "GBX-FEN-1000" if not is_door else "GBX-FEN-1001",
                   "Hanse Safety Systems", rot=quat("z", yaw))
            p.part(f"{pid}.mesh", g, f"{label} mesh", "fence.mesh", lambda: box(0.88, 0.006, 1.72, (0, 0, 1.075)),
                   (cx, cy, 0.0), ANTHRACITE, "GBX-FEN-1010", "Hanse Safety Systems", rot=quat("z", yaw),
                   opacity=0.45, density=STEEL_DENSITY * 0.2)
            if is_door:
                p.sensor(f"{nid}.door.interlock", g, "Door interlock", (cx + 0.4 * dx, cy + 0.4 * dy, 1.1),
                         "door_interlock", "bool", f"{nid.replace('.', '/')}/door_closed", 0.0, 1.0)
    return g


def cnc(p: Plant, nid: str, parent: str, name: str, pos: Vec3, yaw: float, tag: str) -> str:
    """A vertical machining centre; its door faces local -Y."""
    g = p.group(nid, parent, name, pos, quat("z", yaw), manufacturer="Suzhou Precision Machinery",
                model="VMC-850", serial=p.serial("SPM"), spindle_rpm_max=12000)
    sup = "Suzhou Precision Machinery"
    p.part(f"{nid}.base", g, "Machine base", "cnc.base", lambda: box(2.6, 2.0, 0.8, (0, 0, 0.4)),
           (0.0, 0.0, 0.0), MACHINE_GREY, "GBX-CNC-0100", sup, mass=3800.0)
    enc = p.group(f"{nid}.enclosure", g, "Enclosure", (0.0, 0.0, 0.8))
    walls: list[tuple[str, str, Callable[[], Mesh], Vec3]] = [
        ("roof", "Roof", lambda: box(2.6, 2.0, 0.04), (0.0, 0.0, 1.58)),
        ("back", "Back wall", lambda: box(2.6, 0.04, 1.6), (0.0, 0.98, 0.8)),
        ("left", "Left wall", lambda: box(0.04, 2.0, 1.6), (-1.28, 0.0, 0.8)),
        ("right", "Right wall", lambda: box(0.04, 2.0, 1.6), (1.28, 0.0, 0.8)),
        ("pillar_l", "Front pillar left", lambda: box(0.6, 0.04, 1.6), (-1.0, -0.98, 0.8)),
        ("pillar_r", "Front pillar right", lambda: box(0.6, 0.04, 1.6), (1.0, -0.98, 0.8)),
        ("header", "Front header", lambda: box(1.4, 0.04, 0.3), (0.0, -0.98, 1.45)),
    ]
    for key, label, build, at in walls:
        p.part(f"{nid}.enclosure.{key}", enc, label, f"cnc.wall.{key}", build, at,
               MACHINE_BLUE if key in ("pillar_l", "pillar_r", "header") else MACHINE_GREY,
               f"GBX-CNC-02{len(key):02d}", sup, density=STEEL_DENSITY * 0.1)
    door = p.group(f"{nid}.door", g, "Sliding door", (0.0, -1.03, 0.8), travel_m=0.7)
    p.part(f"{nid}.door.panel", door, "Door panel", "cnc.door",
           lambda: merge(box(1.44, 0.04, 0.12, (0, 0, 0.06)), box(1.44, 0.04, 0.2, (0, 0, 1.2)),
                         box(0.22, 0.04, 1.06, (-0.61, 0, 0.65)), box(0.22, 0.04, 1.06, (0.61, 0, 0.65))),
           (0.0, 0.0, 0.0), MACHINE_BLUE, "GBX-CNC-0300", sup, mass=48.0)
    p.part(f"{nid}.door.window", door, "Door window", "cnc.window", lambda: box(1.0, 0.015, 1.06, (0, 0, 0.65)),
           (0.0, 0.0, 0.0), GLASS, "GBX-CNC-0310", sup, opacity=0.35, mass=11.0)
    p.part(f"{nid}.door.handle", door, "Door handle", "cnc.handle", lambda: box(0.04, 0.05, 0.4),
           (0.55, -0.05, 0.7), STEEL, "GBX-CNC-0320", sup, mass=0.8)
    head = p.group(f"{nid}.head", g, "Spindle head", (0.0, 0.25, 1.55))
    p.part(f"{nid}.head.column", head, "Column", "cnc.column", lambda: box(0.7, 0.5, 0.85, (0, 0.2, 0.42)),
           (0.0, 0.0, 0.0), MACHINE_GREY, "GBX-CNC-0400", sup, mass=950.0)
    p.part(f"{nid}.head.housing", head, "Spindle housing", "cnc.head", lambda: box(0.42, 0.42, 0.55, (0, 0, 0.1)),
           (0.0, -0.25, 0.2), MACHINE_GREY, "GBX-CNC-0410", sup, mass=310.0)
    p.part(f"{nid}.head.spindle", head, "Spindle", "cnc.spindle", lambda: frustum(0.1, 0.075, 0.22, 28),
           (0.0, -0.25, -0.28), STEEL, "GBX-CNC-0420", sup, mass=42.0)
    p.part(f"{nid}.head.tool", head, "Tool (end mill D16)", "cnc.tool", lambda: cylinder(0.008, 0.12, 12),
           (0.0, -0.25, -0.45), STEEL, "GBX-TOL-0016", "Hartmann Tooling", mass=0.2)
    p.sensor(f"{nid}.spindle.temp", head, "Spindle temperature", (0.22, -0.25, 0.2), "temperature", "°C",
             f"{tag}/spindle/temp", 15.0, 80.0, rot=quat("y", 90))
    p.sensor(f"{nid}.spindle.vib", head, "Spindle vibration", (-0.22, -0.25, 0.2), "vibration", "mm/s",
             f"{tag}/spindle/vibration", 0.0, 10.0, rot=quat("y", -90), fault_hz="50,178.5")
    p.part(f"{nid}.table", g, "Table", "cnc.table", lambda: box(1.2, 0.6, 0.1),
           (0.0, -0.2, 0.95), MACHINE_GREY, "GBX-CNC-0500", sup, mass=380.0)
    p.part(f"{nid}.vise", g, "Hydraulic vise", "cnc.vise",
           lambda: merge(box(0.3, 0.18, 0.08, (0, 0, 0.04)), box(0.04, 0.18, 0.06, (-0.13, 0, 0.11)),
                         box(0.04, 0.18, 0.06, (0.13, 0, 0.11))),
           (0.0, -0.2, 1.0), ANTHRACITE, "GBX-VIS-0300", "Hartmann Tooling")
    p.part(f"{nid}.panel", g, "Control panel", "cnc.panel", lambda: box(0.5, 0.14, 0.7),
           (1.6, -0.8, 1.55), MACHINE_BLUE, "GBX-CNC-0600", sup, rot=quat("z", -20), mass=35.0)
    p.part(f"{nid}.panel.screen", g, "HMI screen", "cnc.screen", lambda: box(0.38, 0.01, 0.28),
           (1.62, -0.875, 1.7), BLACK, "GBX-HMI-0015", "Lumen Displays", rot=quat("z", -20), mass=3.2)
    p.part(f"{nid}.chips", g, "Chip conveyor", "cnc.chips", lambda: box(0.45, 1.8, 0.55, (0, 0, 0.275)),
           (-1.55, 0.1, 0.0), MACHINE_GREY, "GBX-CNC-0700", sup, mass=160.0)
    p.part(f"{nid}.coolant", g, "Coolant tank", "cnc.coolant", lambda: box(1.1, 0.6, 0.5, (0, 0, 0.25)),
           (0.5, 1.35, 0.0), MACHINE_BLUE, "GBX-CNC-0800", sup, mass=85.0, capacity_l=300.0)
    p.sensor(f"{nid}.coolant.temp", f"{nid}.coolant", "Coolant temperature", (0.0, -0.3, 0.3),
             "temperature", "°C", f"{tag}/coolant/temp", 15.0, 45.0, rot=quat("x", 90))
    stack_light(p, f"{nid}.light", g, (1.2, 0.9, 2.42))
    return g


def stack_light(p: Plant, nid: str, parent: str, pos: Vec3) -> str:
    g = p.group(nid, parent, "Stack light", pos)
    p.part(f"{nid}.pole", g, "Pole", "light.pole", lambda: cylinder(0.012, 0.3, 12, (0, 0, 0.15)),
           (0.0, 0.0, 0.0), STEEL, "GBX-SIG-0300", "Signalux", mass=0.3)
    for i, (key, label, col) in enumerate((("green", "Green", GREEN), ("amber", "Amber", AMBER), ("red", "Red", RED))):
        p.part(f"{nid}.{key}", g, f"{label} segment", "light.segment", lambda: cylinder(0.035, 0.06, 20),
               (0.0, 0.0, 0.33 + 0.065 * i), col, f"GBX-SIG-010{i + 1}", "Signalux", mass=0.15,
               opacity=0.9)
    return g


def press(p: Plant, nid: str, parent: str, name: str, pos: Vec3, tag: str) -> str:
    """A four-column hydraulic press with its power unit and two-hand control."""
    g = p.group(nid, parent, name, pos, manufacturer="Kaiser Hydraulik", model="KHP-100",
                serial=p.serial("KH"), force_kn=1000.0)
    sup = "Kaiser Hydraulik"
    p.part(f"{nid}.bed", g, "Bed", "press.bed", lambda: box(1.6, 1.2, 0.8, (0, 0, 0.4)),
           (0.0, 0.0, 0.0), MACHINE_BLUE, "GBX-PRS-0100", sup, mass=4200.0)
    for i, (x, y) in enumerate(((-0.6, -0.45), (0.6, -0.45), (0.6, 0.45), (-0.6, 0.45))):
        p.part(f"{nid}.column{i + 1}", g, f"Column {i + 1}", "press.column",
               lambda: cylinder(0.08, 2.0, 24, (0, 0, 1.0)), (x, y, 0.8), STEEL, "GBX-PRS-0200", sup)
    p.part(f"{nid}.crown", g, "Crown", "press.crown", lambda: box(1.6, 1.2, 0.5, (0, 0, 0.25)),
           (0.0, 0.0, 2.8), MACHINE_BLUE, "GBX-PRS-0300", sup, mass=3100.0)
    p.part(f"{nid}.cylinder", g, "Main cylinder", "press.cylinder", lambda: cylinder(0.24, 0.8, 32, (0, 0, 0.4)),
           (0.0, 0.0, 3.3), STEEL, "GBX-PRS-0400", sup, mass=640.0)
    ram = p.group(f"{nid}.ram", g, "Ram", (0.0, 0.0, 1.9), stroke_m=0.5)
    p.part(f"{nid}.ram.slide", ram, "Slide", "press.slide", lambda: box(1.3, 0.95, 0.3),
           (0.0, 0.0, 0.0), MACHINE_BLUE, "GBX-PRS-0500", sup, mass=1200.0)
    p.part(f"{nid}.ram.die", ram, "Upper die (bearing press-fit)", "press.die_upper", lambda: box(0.5, 0.4, 0.2),
           (0.0, 0.0, -0.25), STEEL, "GBX-DIE-0510", "Hartmann Tooling")
    p.part(f"{nid}.die_lower", g, "Lower die", "press.die_lower", lambda: box(0.6, 0.5, 0.15, (0, 0, 0.075)),
           (0.0, 0.0, 0.8), STEEL, "GBX-DIE-0520", "Hartmann Tooling")
    p.sensor(f"{nid}.force", ram, "Press force", (0.0, -0.5, 0.0), "force", "kN", f"{tag}/ram/force",
             0.0, 1000.0, rot=quat("x", 90))
    hpu = p.group(f"{nid}.hpu", g, "Hydraulic power unit", (1.5, 0.9, 0.0))
    p.part(f"{nid}.hpu.tank", hpu, "Oil tank", "hpu.tank", lambda: box(1.0, 0.7, 0.7, (0, 0, 0.35)),
           (0.0, 0.0, 0.0), MACHINE_BLUE, "GBX-HPU-0100", sup, mass=180.0, capacity_l=400.0)
    p.part(f"{nid}.hpu.motor", hpu, "Pump motor", "hpu.motor", lambda: rotate(cylinder(0.14, 0.45, 24), "y", 90),
           (0.0, 0.0, 0.86), MACHINE_GREY, "GBX-HPU-0200", "Voltmotion", mass=140.0, rated_power_kw=22.0)
    p.sensor(f"{nid}.hpu.pressure", hpu, "System pressure", (-0.5, -0.2, 0.6), "pressure", "bar",
             f"{tag}/hydraulics/pressure", 0.0, 250.0, rot=quat("y", -90))
    p.sensor(f"{nid}.hpu.oil_temp", hpu, "Oil temperature", (0.5, -0.2, 0.4), "temperature", "°C",
             f"{tag}/hydraulics/oil_temp", 20.0, 70.0, rot=quat("y", 90))
    p.sensor(f"{nid}.hpu.thermal", hpu, "HPU thermal camera", (0.0, -0.6, 1.2), "thermal", "°C",
             f"{tag}/hydraulics/thermal", 20.0, 90.0, rot=quat("x", 90))
    two = p.group(f"{nid}.twohand", g, "Two-hand control", (0.0, -1.3, 0.0))
    p.part(f"{nid}.twohand.stand", two, "Stand", "twohand.stand",
           lambda: merge(box(0.08, 0.08, 1.0, (0, 0, 0.5)), box(0.6, 0.2, 0.12, (0, 0, 1.06))),
           (0.0, 0.0, 0.0), SAFETY_YELLOW, "GBX-THC-0100", "Hanse Safety Systems")
    for side, x in (("left", -0.2), ("right", 0.2)):
        p.part(f"{nid}.twohand.{side}", two, f"Push button {side}", "twohand.button",
               lambda: cylinder(0.03, 0.03, 20), (x, 0.0, 1.13), RED, "GBX-THC-0200",
               "Hanse Safety Systems", mass=0.1)
    for side, x in (("left", -0.85), ("right", 0.85)):
        p.part(f"{nid}.curtain.{side}", g, f"Light curtain {side}", "curtain.bar",
               lambda: box(0.05, 0.05, 1.4, (0, 0, 0.7)), (x, -0.75, 0.5), BLACK,
               "GBX-LCT-1400", "Lumen Optics", mass=2.1)
    stack_light(p, f"{nid}.light", g, (0.7, 0.5, 3.3))
    return g


def inspection(p: Plant, nid: str, parent: str, name: str, pos: Vec3, tag: str) -> str:
    """A vision inspection station over a short conveyor."""
    g = p.group(nid, parent, name, pos, manufacturer="Lumen Optics", model="LV-Inspect 3D")
    conveyor(p, f"{nid}.conv", g, "Inspection conveyor", 3.0, (0.0, 0.0, 0.0), f"{tag}/conveyor", pallets=1)
    gantry = p.group(f"{nid}.gantry", g, "Camera gantry", (1.5, 0.0, 0.0))
    for side, y in (("left", 0.7), ("right", -0.7)):
        p.part(f"{nid}.gantry.post.{side}", gantry, f"Gantry post {side}", "gantry.post",
               lambda: box(0.08, 0.08, 2.0, (0, 0, 1.0)), (0.0, y, 0.0), ALUMINIUM,
               "GBX-GAN-0200", "Lumen Optics", density=ALU_DENSITY * 0.3)
    p.part(f"{nid}.gantry.beam", gantry, "Gantry beam", "gantry.beam", lambda: box(0.08, 1.48, 0.08),
           (0.0, 0.0, 2.04), ALUMINIUM, "GBX-GAN-0150", "Lumen Optics", density=ALU_DENSITY * 0.3)
    p.part(f"{nid}.camera", gantry, "Camera", "camera.body",
           lambda: merge(box(0.1, 0.1, 0.12, (0, 0, 0.06)), cylinder(0.03, 0.06, 20, (0, 0, -0.03))),
           (0.0, 0.0, 1.85), BLACK, "LUM-CAM-0500", "Lumen Optics", mass=0.9, resolution="5 MP")
    p.part(f"{nid}.ringlight", gantry, "Ring light", "camera.ring", lambda: tube(0.06, 0.11, 0.025, 32),
           (0.0, 0.0, 1.74), WHITE, "LUM-RNG-0110", "Lumen Optics", mass=0.6, opacity=0.85)
    p.sensor(f"{nid}.camera.result", gantry, "Inspection pass rate", (0.06, 0.0, 1.95), "vision", "%",
             f"{tag}/camera/pass_rate", 0.0, 100.0)
    p.sensor(f"{nid}.ringlight.temp", gantry, "Ring light temperature", (0.0, 0.12, 1.74), "temperature",
             "°C", f"{tag}/light/temp", 15.0, 60.0)
    hmi = p.group(f"{nid}.hmi", g, "Operator terminal", (1.5, -1.3, 0.0))
    p.part(f"{nid}.hmi.stand", hmi, "Stand", "hmi.stand",
           lambda: merge(box(0.4, 0.4, 0.03, (0, 0, 0.015)), cylinder(0.03, 1.2, 16, (0, 0, 0.6))),
           (0.0, 0.0, 0.0), ANTHRACITE, "GBX-HMI-0120", "Lumen Displays", mass=12.0)
    p.part(f"{nid}.hmi.screen", hmi, "Screen", "hmi.screen", lambda: box(0.55, 0.05, 0.35),
           (0.0, 0.0, 1.35), BLACK, "GBX-HMI-0022", "Lumen Displays", rot=quat("x", -15), mass=5.5)
    chute = p.group(f"{nid}.reject", g, "Reject chute", (2.3, -0.7, 0.0))
    p.part(f"{nid}.reject.chute", chute, "Chute", "reject.chute", lambda: box(0.5, 0.8, 0.03),
           (0.0, -0.35, 0.6), STEEL, "GBX-REJ-0800", "Hanse Steelworks", rot=quat("x", 25), mass=9.0)
    p.part(f"{nid}.reject.bin", chute, "Reject bin", "reject.bin", lambda: box(0.6, 0.5, 0.4, (0, 0, 0.2)),
           (0.0, -0.9, 0.0), RED, "GBX-REJ-0400", "Transfix Logistics", mass=6.0)
    return g


def parts_rack(p: Plant, nid: str, parent: str, name: str, pos: Vec3, yaw: float) -> str:
    g = p.group(nid, parent, name, pos, quat("z", yaw))
    p.part(f"{nid}.frame", g, "Rack frame", "rack.frame",
           lambda: merge(*(box(0.04, 0.04, 1.5, (x, y, 0.75)) for x in (-0.6, 0.6) for y in (-0.25, 0.25)),
                         box(1.24, 0.54, 0.02, (0, 0, 0.6)), box(1.24, 0.54, 0.02, (0, 0, 1.1))),
           (0.0, 0.0, 0.0), ANTHRACITE, "GBX-RCK-1200", "Hanse Steelworks")
    n = 0
    for z in (0.61, 1.11):
        for x in (-0.4, 0.0, 0.4):
            n += 1
            p.part(f"{nid}.bin{n}", g, f"Parts bin {n}", "rack.bin", lambda: box(0.36, 0.45, 0.2, (0, 0, 0.1)),
                   (x, 0.0, z), MACHINE_BLUE, "GBX-BIN-0360", "Transfix Logistics", mass=1.2,
                   content="gear set" if n % 2 else "bearing 6205")
    return g


# -- the plant -------------------------------------------------------------------------------------
def hall(p: Plant, parent: str) -> str:
    g = p.group("hall", parent, "Hall A", (0.0, 0.0, 0.0), area_m2=34.0 * 16.0)
    p.part("hall.floor", g, "Floor slab", "hall.floor", lambda: box(34.0, 16.0, 0.2, (0, 0, -0.1)),
           (15.5, 0.0, 0.0), FLOOR, "BLD-FLR-3416", "Suzhou Construction", mass=260000.0)
    k = 0
    for x in (-1.0, 7.5, 16.0, 24.5, 33.0):
        for y in (-8.0, 8.0):
            k += 1
            p.part(f"hall.column{k:02d}", g, f"Column {chr(64 + k)}", "hall.column",
                   lambda: merge(box(0.4, 0.4, 8.0, (0, 0, 4.0)), box(0.7, 0.7, 0.05, (0, 0, 0.025))),
                   (x, y, 0.0), CONCRETE, "BLD-COL-0800", "Suzhou Construction", mass=3200.0)
    for i, y in enumerate((-6.6, 6.6)):
        p.part(f"hall.walkway{i + 1}", g, f"Walkway marking {i + 1}", "hall.walkway",
               lambda: box(33.0, 0.1, 0.004, (0, 0, 0.002)), (15.5, y, 0.0), SAFETY_YELLOW,
               "BLD-MRK-0100", "Suzhou Construction", mass=0.1)
    for i in range(16):
        x = 0.5 + (i % 8) * 4.2
        y = -3.0 if i < 8 else 3.0
        p.part(f"hall.lamp{i + 1:02d}", g, f"High-bay lamp {i + 1}", "hall.lamp",
               lambda: merge(frustum(0.25, 0.08, 0.2, 24, (0, 0, 0.1)), cylinder(0.01, 0.8, 8, (0, 0, 0.6))),
               (x, y, 7.0), CABINET_GREY, "BLD-LMP-0150", "Signalux", mass=6.0, power_w=150)
    return g


def robot_cell(p: Plant, nid: str, parent: str, name: str, x: float, tag: str, station_no: int,
               joints: tuple[float, float, float, float, float, float],
               openings: list[tuple[str, float, float]], door: tuple[str, float], rack: bool) -> str:
    g = p.group(nid, parent, name, (x, 0.0, 0.0), station_no=station_no, takt_s=58.0)
    robot(p, f"{nid}.robot", g, "Robot", (0.0, 0.0, 0.0), 0.0, joints, f"{tag}/robot")
    controller(p, f"{nid}.controller", g, "Robot controller", (-3.1, -2.7, 0.0))
    fence(p, f"{nid}.fence", g, "Safety fence", -2.5, 2.5, -2.0, 2.0, openings, door)
    if rack:
        parts_rack(p, f"{nid}.rack", g, "Parts rack", (0.0, 1.55, 0.0), 0.0)
        p.part(f"{nid}.fixture", g, "Assembly fixture", "fixture.table",
               lambda: merge(box(0.9, 0.7, 0.05, (0, 0, 0.875)),
                             *(box(0.06, 0.06, 0.85, (sx * 0.38, sy * 0.28, 0.425)) for sx in (-1, 1) for sy in (-1, 1))),
               (1.3, 0.9, 0.0), ANTHRACITE, "GBX-FIX-0900", "Hanse Steelworks")
    return g


def build() -> tuple[Document, dict[str, bytes]]:
    """Build the demo plant document and its mesh assets."""
    p = Plant()
    site = p.group("site", ROOT_ID, "Plant Suzhou", site_code="CN-SZ-01", timezone="Asia/Shanghai")
    hall(p, site)
    line = p.group("line1", site, "Line 1 — Gearbox assembly", product="GBX-200 gearbox",
                   shifts=2, oee_target=0.85)
    st = p.group("line1.st1", line, "Station 10 — Infeed", station_no=10)
    conveyor(p, "line1.st1.conv", st, "Infeed conveyor", 7.0, (0.0, 0.0, 0.0), "line1/st1/conveyor", pallets=3)
    robot_cell(p, "line1.st2", line, "Station 20 — Robot cell: machine tending", 9.0, "line1/st2", 20,
               (25.0, -25.0, 55.0, 0.0, -30.0, 0.0),
               openings=[("west", 0.0, 2.0), ("east", 0.0, 2.0), ("south", 0.0, 3.0), ("north", 0.0, 3.0)],
               door=("south", -2.0), rack=False)
    st3 = p.group("line1.st3", line, "Station 30 — CNC machining centre 1", station_no=30)
    cnc(p, "line1.st3.cnc", st3, "CNC machining centre 1", (9.0, 3.4, 0.0), 0.0, "line1/st3")
    st4 = p.group("line1.st4", line, "Station 40 — CNC machining centre 2", station_no=40)
    cnc(p, "line1.st4.cnc", st4, "CNC machining centre 2", (9.0, -3.4, 0.0), 180.0, "line1/st4")
    transfer = p.group("line1.transfer", line, "Transfer conveyors")
    conveyor(p, "line1.transfer.a", transfer, "Transfer conveyor A", 2.0, (11.0, 0.0, 0.0), "line1/transfer/a")
    st5 = p.group("line1.st5", line, "Station 50 — Bearing press", station_no=50)
    press(p, "line1.st5.press", st5, "Hydraulic press 100 t", (14.0, 0.0, 0.0), "line1/st5")
    conveyor(p, "line1.transfer.b", transfer, "Transfer conveyor B", 3.0, (15.0, 0.0, 0.0), "line1/transfer/b")
    robot_cell(p, "line1.st6", line, "Station 60 — Robot cell: gear insertion", 19.5, "line1/st6", 60,
               (-40.0, -15.0, 40.0, 10.0, -25.0, 30.0),
               openings=[("west", 0.0, 2.0), ("east", 0.0, 2.0)], door=("south", 1.0), rack=True)
    st7 = p.group("line1.st7", line, "Station 70 — Vision inspection", station_no=70)
    inspection(p, "line1.st7.vision", st7, "Vision inspection", (22.0, 0.0, 0.0), "line1/st7")
    st8 = p.group("line1.st8", line, "Station 80 — Outfeed", station_no=80)
    conveyor(p, "line1.st8.conv", st8, "Outfeed conveyor", 6.0, (25.0, 0.0, 0.0), "line1/st8/conveyor", pallets=2)
    return p.doc, p.assets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"output file (default: {OUT})")
    args = ap.parse_args(argv)
    doc, assets = build()
    roomfile.write(args.out, doc, assets, name=ROOM_NAME)
    parts = sum(1 for n in doc.walk() if n.kind == "part")
    sensors = sum(1 for n in doc.walk() if n.kind == "sensor")
    print(f"{args.out}: {len(doc)} nodes, {parts} parts, {sensors} sensors, {len(assets)} meshes, "
          f"{args.out.stat().st_size / 1e6:.2f} MB, document hash {doc.hash()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
