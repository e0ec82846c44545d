"""Synthetic plants for benchmarks and tests: believable hierarchy, instanced meshes.

``synthetic_plant`` builds halls → lines → stations → parts, with about 50 unique meshes
(ellipsoids, tubes, tori, rounded boxes) reused as instances, random placement, yaw and
colours, and the conventional part properties (``bbox``, ``part_number``, ``mass``). The
triangle count of each unique mesh is chosen so the instanced total is close to the
requested number of triangles. Deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from twin_app.core import fracindex, meshblob
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, apply

_Fn = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]
PALETTE = [
    (0.85, 0.33, 0.10), (0.00, 0.45, 0.74), (0.93, 0.69, 0.13), (0.47, 0.67, 0.19),
    (0.49, 0.18, 0.56), (0.30, 0.75, 0.93), (0.64, 0.08, 0.18), (0.60, 0.60, 0.62),
    (0.20, 0.20, 0.22), (0.95, 0.95, 0.92),
]


def _grid_mesh(nu: int, nv: int, fn: _Fn) -> tuple[NDArray[np.float32], NDArray[np.uint32]]:
    """Triangulate the parametric surface ``fn(u, v)`` over a (nu × nv) quad grid."""
    u, v = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    pts = fn(u.ravel(), v.ravel())
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return pts.astype(np.float32), faces.astype(np.uint32)


def _ellipsoid(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    th, ph = u * 2 * math.pi, v * math.pi
    return np.stack([np.cos(th) * np.sin(ph) * 0.5, np.sin(th) * np.sin(ph) * 0.4,
                     np.cos(ph) * 0.3 + 0.3], 1)


def _tube(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    th = u * 2 * math.pi
    return np.stack([np.cos(th) * 0.25, np.sin(th) * 0.25, v * 1.0], 1)


def _torus(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    th, ph = u * 2 * math.pi, v * 2 * math.pi
    r = 0.4 + 0.12 * np.cos(ph)
    return np.stack([np.cos(th) * r, np.sin(th) * r, 0.12 * np.sin(ph) + 0.12], 1)


def _rounded_box(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    th, ph = u * 2 * math.pi, v * math.pi
    e = 0.25  # superellipsoid exponent: boxy
    def sp(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.sign(x) * np.abs(x) ** e
    return np.stack([sp(np.cos(th)) * sp(np.sin(ph)) * 0.6, sp(np.sin(th)) * sp(np.sin(ph)) * 0.4,
                     sp(np.cos(ph)) * 0.35 + 0.35], 1)


SHAPES: list[_Fn] = [_ellipsoid, _tube, _torus, _rounded_box]


def make_mesh(shape: int, triangles: int) -> tuple[NDArray[np.float32], NDArray[np.uint32]]:
    """Return a mesh of kind ``shape`` (index into ``SHAPES``) with about ``triangles``."""
    quads = max(triangles // 2, 4)
    nv = max(2, int(math.sqrt(quads / 2)))
    nu = max(2, quads // nv)
    return _grid_mesh(nu, nv, SHAPES[shape % len(SHAPES)])


def synthetic_plant(parts: int = 5000, triangles: int = 2_000_000,
                    seed: int = 0) -> tuple[Document, dict[str, bytes]]:
    """Return ``(document, blobs by hash)`` of a plant with ``parts`` part nodes.

    About 50 unique meshes are shared as instances; their sizes are set so the instanced
    total is about ``triangles`` (each mesh has at least 8 triangles).
    """
    rng = np.random.default_rng(seed)
    n_meshes = max(1, min(50, parts))
    usage = rng.integers(0, n_meshes, size=parts)
    counts = np.bincount(usage, minlength=n_meshes).astype(np.float64)
    weights = np.exp(rng.uniform(math.log(1), math.log(30), size=n_meshes))
    per_mesh = triangles * weights / max(float((counts * weights).sum()), 1e-9)
    blobs: dict[str, bytes] = {}
    hashes: list[str] = []
    bboxes: list[tuple[float, ...]] = []
    for i in range(n_meshes):
        v, f = make_mesh(i, max(8, round(per_mesh[i])))
        blob = meshblob.encode(v, f)
        h = meshblob.digest(blob)
        blobs[h] = blob
        hashes.append(h)
        bboxes.append(meshblob.bounds(v))

    doc = Document("Synthetic plant")
    n_halls, n_lines = 4, 5
    n_stations = max(1, math.ceil(parts / (n_halls * n_lines * 25)))
    stations: list[str] = []

    def add(parent: str, name: str, order: str, **kw: object) -> str:
        nid = f"n{len(doc.nodes):05d}"
        apply(doc, AddNode(Node(nid, parent, order, name=name, **kw)))  # type: ignore[arg-type]
        return nid

    hall_keys = fracindex.keys_between(None, None, n_halls)
    for h in range(n_halls):
        yaw = 0.0 if h % 2 == 0 else math.pi / 2
        hall = add(ROOT_ID, f"Hall {h + 1}", hall_keys[h],
                   transform=(h * 90.0, 0.0, 0.0, 0.0, 0.0, math.sin(yaw / 2),
                              math.cos(yaw / 2), 1.0, 1.0, 1.0))
        line_keys = fracindex.keys_between(None, None, n_lines)
        for ln in range(n_lines):
            line = add(hall, f"Line {ln + 1}", line_keys[ln],
                       transform=(0.0, ln * 12.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0))
            st_keys = fracindex.keys_between(None, None, n_stations)
            for s in range(n_stations):
                stations.append(add(line, f"Station {s + 1}", st_keys[s],
                                    transform=(s * 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
                                               1.0, 1.0, 1.0)))
    per_station: dict[str, int] = {}
    part_keys = fracindex.keys_between(None, None, parts)
    for p in range(parts):
        st = stations[p % len(stations)]
        k = per_station.get(st, 0)
        per_station[st] = k + 1
        m = int(usage[p])
        yaw = float(rng.uniform(0, 2 * math.pi))
        sc = float(rng.uniform(0.3, 1.2))
        color = PALETTE[int(rng.integers(len(PALETTE)))]
        add(st, f"Part {p + 1}", part_keys[p], kind="part", mesh=hashes[m], color=color,
            transform=(float(rng.uniform(0, 4.5)), float(rng.uniform(-2, 2)),
                       float(rng.uniform(0, 1.5)), 0.0, 0.0, math.sin(yaw / 2),
                       math.cos(yaw / 2), sc, sc, sc),
            props={"bbox": bboxes[m], "part_number": f"PN-{m:03d}-{k:03d}",
                   "mass": round(float(rng.uniform(0.5, 250.0)), 1)})
    return doc, blobs


def part_ids(doc: Document) -> list[str]:
    """Return the ids of the part nodes of ``doc`` in document order."""
    return [n.id for n in doc.walk() if n.kind == "part"]
