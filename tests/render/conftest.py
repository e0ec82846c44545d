"""Fixtures for the render tier: a real offscreen VTK plotter and small documents."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from twin_app.core import meshblob
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, apply

pv = pytest.importorskip("pyvista")

WINDOW = (400, 300)


@pytest.fixture
def plotter() -> Iterator[object]:
    pl = pv.Plotter(off_screen=True, window_size=WINDOW)
    yield pl
    pl.close()


def cube_blob(size: float = 1.0) -> bytes:
    """A cube with its minimum corner at the origin."""
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], "f4")
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], "u4")
    return meshblob.encode(v, f)


def tetra_blob() -> bytes:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], "f4")
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], "u4")
    return meshblob.encode(v, f)


CUBE = cube_blob()
CUBE_HASH = meshblob.digest(CUBE)
TETRA = tetra_blob()
TETRA_HASH = meshblob.digest(TETRA)
BBOX = (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)


def t(x: float = 0.0, y: float = 0.0, z: float = 0.0, yaw_deg: float = 0.0,
      s: float = 1.0) -> tuple[float, ...]:
    """A transform: position, rotation about Z, uniform scale."""
    h = np.radians(yaw_deg) / 2
    return (x, y, z, 0.0, 0.0, float(np.sin(h)), float(np.cos(h)), s, s, s)


def line_doc() -> Document:
    """root → line (group at x=10) → r1, r2 (cubes), plus cab (cube, blue) and a sensor."""
    doc = Document()
    apply(doc, Batch((
        AddNode(Node("line", ROOT_ID, "V", kind="group", name="Line", transform=t(10.0))),
        AddNode(Node("r1", "line", "V", kind="part", name="R1", mesh=CUBE_HASH,
                     transform=t(0.0, 0.0, 0.0, 90.0), props={"bbox": BBOX})),
        AddNode(Node("r2", "line", "W", kind="part", name="R2", mesh=CUBE_HASH,
                     transform=t(3.0, 0.0, 0.0, s=2.0), props={"bbox": BBOX})),
        AddNode(Node("cab", ROOT_ID, "W", kind="part", name="Cabinet", mesh=TETRA_HASH,
                     transform=t(-3.0), color=(0.1, 0.2, 0.9), props={"bbox": BBOX})),
        AddNode(Node("sensor", "line", "X", kind="sensor", name="Temp")),
    )))
    return doc


class Source:
    """A mesh source over a dict that counts requests per hash."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = dict(blobs)
        self.calls: dict[str, int] = {}

    def __call__(self, h: str) -> bytes | None:
        self.calls[h] = self.calls.get(h, 0) + 1
        return self.blobs.get(h)


@pytest.fixture
def source() -> Source:
    return Source({CUBE_HASH: CUBE, TETRA_HASH: TETRA})
