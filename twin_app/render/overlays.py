"""Line overlays drawn on top of the parts: selection and hover outlines, peers' cameras.

Each overlay is one ordinary (non-composite) actor holding every line of its kind, so a
selection of 500 parts is still one actor. Overlays are never pickable: a click goes to
the part under the cursor, not to an outline in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twin_app.io.typed import Float64Array, FloatArray, Int64Array, IntArray
from twin_app.render._vtk import (
    numpy_to_vtk,
    numpy_to_vtkIdTypeArray,
    vtkActor,
    vtkBillboardTextActor3D,
    vtkCellArray,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkRenderer,
)

# The 12 edges of a box whose corners are in ``transforms.box_corners`` order.
BOX_EDGES = np.array(
    [[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
     [0, 4], [1, 5], [2, 6], [3, 7]],
    dtype=np.int64,
)
FRUSTUM_SIZE = 0.8  # metres from the eye to the drawn image plane


def line_polydata(points: FloatArray, edges: IntArray) -> vtkPolyData:
    """Return a polydata of line segments ``edges`` (k, 2) between ``points`` (n, 3)."""
    pd = vtkPolyData()
    pts = vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64), deep=True))
    pd.SetPoints(pts)
    conn = np.ascontiguousarray(edges, dtype=np.int64).reshape(-1)
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, len(conn) + 1, 2, dtype=np.int64),
                                          deep=True),
                  numpy_to_vtkIdTypeArray(conn, deep=True))
    pd.SetLines(cells)
    return pd


def boxes_lines(
    boxes: Sequence[FloatArray],
) -> tuple[Float64Array, Int64Array]:
    """Return ``(points, edges)`` of several boxes, each given as its 8 corners (8, 3)."""
    if not boxes:
        return np.zeros((0, 3)), np.zeros((0, 2), dtype=np.int64)
    pts = np.concatenate([np.asarray(b, dtype=np.float64) for b in boxes])
    edges = np.concatenate([BOX_EDGES + 8 * i for i in range(len(boxes))])
    return pts, edges


def boxes_polydata(boxes: Sequence[FloatArray]) -> vtkPolyData:
    """Return the edges of several boxes, each given as its 8 corners (8, 3)."""
    return line_polydata(*boxes_lines(boxes))


def frustum_lines(camera: Sequence[float], size: float = FRUSTUM_SIZE,
                  aspect: float = 1.6) -> tuple[Float64Array, Int64Array]:
    """Return ``(points, edges)`` of a small camera pyramid for a 9-float camera.

    The apex is the camera position; the base is a rectangle ``size`` metres towards the
    focal point, oriented by view-up, plus a tick above the base marking "up".
    Raises ``ValueError`` if position and focal point coincide.
    """
    pos = np.asarray(camera[0:3], dtype=np.float64)
    focal = np.asarray(camera[3:6], dtype=np.float64)
    up = np.asarray(camera[6:9], dtype=np.float64)
    d = focal - pos
    n = float(np.linalg.norm(d))
    if n < 1e-9:
        raise ValueError("camera position equals its focal point")
    d /= n
    right = np.cross(d, up)
    if np.linalg.norm(right) < 1e-9:  # view-up parallel to the view direction
        right = np.cross(d, np.array((0.0, 0.0, 1.0)) if abs(d[2]) < 0.9 else np.array((1.0, 0, 0)))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, d)
    c = pos + d * size
    hw, hh = size * 0.5, size * 0.5 / aspect
    corners = [c + right * sx * hw + true_up * sy * hh for sx, sy in
               ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    tick = c + true_up * hh * 1.6
    pts = np.array([pos, *corners, tick])
    edges = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1],
                      [3, 5], [4, 5]], dtype=np.int64)
    return pts, edges


class LinesOverlay:
    """One non-pickable line actor in a colour; ``set_polydata`` swaps its content."""

    def __init__(self, renderer: vtkRenderer, color: Sequence[float], width: float = 2.0,
                 opacity: float = 1.0) -> None:
        self._renderer = renderer
        self.mapper = vtkPolyDataMapper()
        self.mapper.SetInputData(line_polydata(np.zeros((0, 3)), np.zeros((0, 2), dtype=np.int64)))
        self.mapper.ScalarVisibilityOff()
        # Outlines sit on part faces: pull lines towards the camera so they win depth ties.
        self.mapper.SetResolveCoincidentTopologyToPolygonOffset()
        self.mapper.SetRelativeCoincidentTopologyLineOffsetParameters(-2.0, -8.0)
        self.actor = vtkActor()
        self.actor.SetMapper(self.mapper)
        self.actor.PickableOff()
        prop = self.actor.GetProperty()
        prop.SetColor(*color)
        prop.SetLineWidth(width)
        prop.SetOpacity(opacity)
        prop.LightingOff()
        renderer.AddActor(self.actor)

    def set_polydata(self, pd: vtkPolyData) -> None:
        """Show the lines of ``pd`` (hidden when it has none)."""
        self.mapper.SetInputData(pd)
        self.actor.SetVisibility(pd.GetNumberOfCells() > 0)

    def set_color(self, color: Sequence[float]) -> None:
        """Change the line colour."""
        self.actor.GetProperty().SetColor(*color)

    @property
    def line_count(self) -> int:
        """Number of line segments shown."""
        data = self.mapper.GetInput()
        return 0 if data is None else int(data.GetNumberOfCells())

    def close(self) -> None:
        """Remove the actor from the renderer."""
        self._renderer.RemoveActor(self.actor)


class Label3D:
    """A text label anchored at a world point that always faces the camera."""

    def __init__(self, renderer: vtkRenderer, text: str, color: Sequence[float]) -> None:
        self._renderer = renderer
        self.actor = vtkBillboardTextActor3D()
        self.actor.SetInput(text)
        self.actor.PickableOff()
        tp = self.actor.GetTextProperty()
        # White on the person's colour, like a collaborator's cursor tag: readable on any
        # background, and the colour still says who it is.
        tp.SetFontSize(14)
        tp.BoldOn()
        tp.SetColor(1.0, 1.0, 1.0)
        tp.SetBackgroundColor(*color)
        tp.SetBackgroundOpacity(0.9)
        tp.SetJustificationToCentered()
        renderer.AddActor(self.actor)

    def update(self, text: str, color: Sequence[float], position: Sequence[float] | None) -> None:
        """Set text, colour and anchor (``None`` hides the label)."""
        self.actor.SetInput(text)
        self.actor.GetTextProperty().SetBackgroundColor(*color)
        if position is None:
            self.actor.VisibilityOff()
        else:
            self.actor.SetPosition(*position)
            self.actor.VisibilityOn()

    def close(self) -> None:
        """Remove the label from the renderer."""
        self._renderer.RemoveActor(self.actor)
