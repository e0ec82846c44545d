"""A small real plant document for tests of every tier (no Qt, no VTK)."""

from __future__ import annotations

import numpy as np

from twin_app.core import meshblob
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, apply


def box_blob(size: float = 1.0) -> bytes:
    """Return the mesh blob of an axis-aligned cube with edge ``size`` (min corner at 0)."""
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], "f4")
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], "u4")
    return meshblob.encode(v, f)


def small_plant() -> tuple[Document, dict[str, bytes]]:
    """A line with two robots and a conveyor, plus a loose cabinet (4 parts, 1 group)."""
    blob = box_blob()
    h = meshblob.digest(blob)
    bbox = (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
    doc = Document()
    ops = [
        AddNode(Node("line", ROOT_ID, "V", kind="group", name="Line A")),
        AddNode(Node("r1", "line", "V", kind="part", name="Robot 1", mesh=h,
                     transform=(0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
                     props={"bbox": bbox, "part_number": "RB-100", "mass": 120.0})),
        AddNode(Node("r2", "line", "W", kind="part", name="Robot 2", mesh=h,
                     transform=(3, 0, 0, 0, 0, 0, 1, 1, 1, 1),
                     props={"bbox": bbox, "part_number": "RB-100", "mass": 125.0})),
        AddNode(Node("conv", "line", "X", kind="part", name="Conveyor", mesh=h,
                     transform=(0, 2, 0, 0, 0, 0, 1, 4, 1, 0.5), props={"bbox": bbox})),
        AddNode(Node("cab", ROOT_ID, "W", kind="part", name="Cabinet", mesh=h,
                     transform=(-3, 0, 0, 0, 0, 0, 1, 1, 1, 2), color=(0.2, 0.4, 0.8),
                     props={"bbox": bbox})),
    ]
    apply(doc, Batch(tuple(ops)))
    return doc, {h: blob}
