"""Visuals of the sensor overlays: each draws one model of ``twin_app.session.sensor_overlays``.

Design notes
------------
* One visual per model kind, created and closed together by ``SensorOverlays`` from the
  ``VISUALS`` factory map (napari's ``_vispy`` overlays). A visual listens to its model's
  ``on_change`` and only draws; it never computes a value or a level.
* Value and state colours go through ``SceneVisual.set_overlay_colors`` (the scene's
  lookup tables, written in bulk): no actor of their own.
* Bad data is hatched: the parts whose sensor's quality is bad, stale or offline get grey
  diagonal strokes across the faces of their box on top of the grey colour, so "no
  trustworthy value" reads differently from "a cold value".
* Labels are billboard text anchored above the sensor (or its bound part); heat maps are one
  quad grid per array sensor, fitted to the largest upright face of the bound part's box
  (or its top), a little outside it so it does not fight the part for depth; alarms are
  outlines in the level colour, unacknowledged ones pulsing with the model's ``phase``.
* Visuals never render: the owner renders once per event-loop turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from twin_app.core.document import Document
from twin_app.core.sensors import LEVEL_COLORS, colormap_table
from twin_app.io.typed import Float64Array
from twin_app.render._vtk import (
    numpy_to_vtk,
    numpy_to_vtkIdTypeArray,
    vtk_to_numpy,
    vtkActor,
    vtkCellArray,
    vtkCommand,
    vtkLookupTable,
    vtkPoints,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkScalarBarActor,
    vtkUnsignedCharArray,
)
from twin_app.render.overlays import BOX_EDGES, Label3D, LinesOverlay, line_polydata
from twin_app.render.scene import SceneVisual
from twin_app.render.transforms import apply_matrix
from twin_app.session.sensor_overlays import (
    AlarmModel,
    HeatmapModel,
    LabelModel,
    LegendModel,
    SensorBoard,
    ValueColorModel,
)
from twin_app.session.sensors import SensorFeed

HATCH_COLOR = (0.25, 0.25, 0.28)
HATCH_STROKES = 6  # per face
HEATMAP_LIFT = 0.004  # metres off the face (+0.5 % of the part)
LABEL_LIFT = 0.06  # metres above the anchor's top


class _Visual(Protocol):
    def close(self) -> None: ...


class ValueColorVisual:
    """Colours the bound parts through the scene's lookup tables; hatches bad data."""

    def __init__(self, renderer: vtkRenderer, scene: SceneVisual, model: ValueColorModel) -> None:
        self.scene = scene
        self.model = model
        self.hatch = LinesOverlay(renderer, HATCH_COLOR, width=1.5)
        self.hatched: list[str] = []
        model.on_change.append(self.update)
        self.update()

    def update(self) -> None:
        m = self.model
        if m.released:
            self.scene.set_overlay_colors(m.released, None)
        if m.ids:
            self.scene.set_overlay_colors(m.ids, m.rgb)
        bad = list(m.bad) if m.visible else []
        if bad != self.hatched:
            self.hatched = bad
            self.hatch.set_polydata(line_polydata(*hatch_lines(self.scene.outline_boxes(bad))))

    def close(self) -> None:
        if self.update in self.model.on_change:
            self.model.on_change.remove(self.update)
        if self.model.ids:
            self.scene.set_overlay_colors(self.model.ids, None)
        self.hatch.close()


def hatch_lines(boxes: list[Float64Array]) -> tuple[Float64Array, npt.NDArray[np.int64]]:
    """Diagonal strokes across the 4 upright faces and the top of each box (8 corners in
    ``box_corners`` order): ``(points, edges)``."""
    faces = ((0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7), (4, 5, 6, 7))
    pts: list[Float64Array] = []
    for c in boxes:
        for a, b, cc, d in faces:
            p0, p1, p2, p3 = c[a], c[b], c[cc], c[d]
            for k in range(1, HATCH_STROKES + 1):
                t = k / (HATCH_STROKES + 1)
                # Strokes parallel to the p1→p3 diagonal, sweeping from p0 to p2.
                if t <= 0.5:
                    s = 2 * t
                    pts += [p0 + (p1 - p0) * s, p0 + (p3 - p0) * s]
                else:
                    s = 2 * t - 1
                    pts += [p1 + (p2 - p1) * s, p3 + (p2 - p3) * s]
    if not pts:
        return np.zeros((0, 3)), np.zeros((0, 2), np.int64)
    arr = np.array(pts, np.float64)
    return arr, np.arange(len(arr), dtype=np.int64).reshape(-1, 2)


class LabelVisual:
    """One billboard label per sensor: name, value and unit on the level's colour."""

    def __init__(self, renderer: vtkRenderer, scene: SceneVisual, model: LabelModel,
                 top: vtkRenderer | None = None) -> None:
        self.renderer = renderer
        self.top = top
        self.on_top: set[str] = set()  # labels of sensors in alarm, drawn over everything
        self.scene = scene
        self.model = model
        self.labels: dict[str, Label3D] = {}
        self._shown: dict[str, tuple[object, ...]] = {}
        model.on_change.append(self.update)
        self.update()

    def update(self) -> None:
        items = self.model.items if self.model.visible else {}
        for sid in [s for s in self.labels if s not in items]:
            self.labels.pop(sid).close()
            self._shown.pop(sid, None)
            self.on_top.discard(sid)
        for sid, item in items.items():
            b = self.scene.node_bounds([item.anchor])
            pos = None if b is None else ((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, b[5] + LABEL_LIFT)
            key = (item.text, item.color, item.quality, pos, item.alarm)
            if self._shown.get(sid) == key:
                continue  # unchanged: a new text would be rasterised again for nothing
            self._shown[sid] = key
            label = self.labels.get(sid)
            top = item.alarm and self.top is not None
            if label is not None and (sid in self.on_top) != top:
                label.close()  # moves between the scene and the top layer
                label = None
            if label is None:
                target = self.top if top and self.top is not None else self.renderer
                label = self.labels[sid] = Label3D(target, item.text, item.color)
                self.on_top.discard(sid)
                if top:
                    self.on_top.add(sid)
                label.actor.GetTextProperty().SetFontSize(11)
            # Dark text on the light amber/green, white on red and grey.
            tp = label.actor.GetTextProperty()
            light = item.color[0] > 0.6 and item.color[1] > 0.6
            tp.SetColor(*((0.08, 0.08, 0.08) if light else (1.0, 1.0, 1.0)))
            tp.SetItalic(item.quality >= 2)
            label.update(item.text, item.color, pos)

    def text(self, sensor: str) -> str | None:
        """The text shown for ``sensor`` (``None`` if it has no visible label)."""
        label = self.labels.get(sensor)
        if label is None or not label.actor.GetVisibility():
            return None
        return str(label.actor.GetInput())

    def close(self) -> None:
        if self.update in self.model.on_change:
            self.model.on_change.remove(self.update)
        for label in self.labels.values():
            label.close()
        self.labels = {}
        self._shown = {}


class LegendVisual:
    """The colour map of one sensor as a scalar bar in the corner of the view."""

    def __init__(self, renderer: vtkRenderer, model: LegendModel) -> None:
        self.renderer = renderer
        self.model = model
        self.lut = vtkLookupTable()
        self.bar = vtkScalarBarActor()
        self.bar.SetLookupTable(self.lut)
        self.bar.SetOrientationToVertical()
        self.bar.SetNumberOfLabels(5)
        self.bar.SetLabelFormat("%.4g")
        self.bar.SetBarRatio(0.3)
        self.bar.UnconstrainedFontSizeOn()
        self.bar.SetMaximumWidthInPixels(90)
        self.bar.SetMaximumHeightInPixels(240)
        self.bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self.bar.GetPositionCoordinate().SetValue(0.84, 0.06)
        self.bar.SetWidth(0.14)
        self.bar.SetHeight(0.4)
        for tp in (self.bar.GetTitleTextProperty(), self.bar.GetLabelTextProperty()):
            tp.SetColor(0.15, 0.15, 0.18)
            tp.ShadowOff()
            tp.ItalicOff()
            tp.SetFontSize(11)
        self.bar.GetTitleTextProperty().BoldOn()
        self.bar.GetTitleTextProperty().SetFontSize(12)
        self.bar.PickableOff()
        renderer.AddViewProp(self.bar)
        self._cmap = ""
        model.on_change.append(self.update)
        self.update()

    def update(self) -> None:
        st = self.model.state
        if st is None or not self.model.visible:
            self.bar.VisibilityOff()
            return
        if st.colormap != self._cmap:
            table = colormap_table(st.colormap, 256)
            self.lut.SetNumberOfTableValues(256)
            for i, (r, g, b) in enumerate(table.tolist()):
                self.lut.SetTableValue(i, r, g, b, 1.0)
            self._cmap = st.colormap
        self.lut.SetTableRange(st.lo, st.hi)
        self.bar.SetTitle(st.title.replace(" (", "\n("))
        self.bar.VisibilityOn()

    def set_dark(self, dark: bool) -> None:
        c = (0.9, 0.9, 0.92) if dark else (0.15, 0.15, 0.18)
        for tp in (self.bar.GetTitleTextProperty(), self.bar.GetLabelTextProperty()):
            tp.SetColor(*c)

    @property
    def title(self) -> str | None:
        return str(self.bar.GetTitle()) if self.bar.GetVisibility() else None

    def close(self) -> None:
        if self.update in self.model.on_change:
            self.model.on_change.remove(self.update)
        self.renderer.RemoveViewProp(self.bar)


def face_grid(local_bounds: tuple[float, ...], world: Float64Array, rows: int,
              cols: int) -> tuple[Float64Array, str]:
    """Corner points ((rows+1)·(cols+1), 3) of a grid on the largest upright face of a local
    box (else its top), just outside it, in world space; row 0 at the top. Returns the
    points and the face's name (``-y``, ``+x``, … ``+z``)."""
    x0, y0, z0, x1, y1, z1 = local_bounds
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    lift = HEATMAP_LIFT + 0.005 * max(dx, dy, dz)
    faces = {
        "-y": (dx * dz, np.array([x0, y0 - lift, z1]), np.array([dx, 0, 0]), np.array([0, 0, -dz])),
        "+x": (dy * dz, np.array([x1 + lift, y0, z1]), np.array([0, dy, 0]), np.array([0, 0, -dz])),
        "+y": (dx * dz, np.array([x1, y1 + lift, z1]), np.array([-dx, 0, 0]), np.array([0, 0, -dz])),
        "-x": (dy * dz, np.array([x0 - lift, y1, z1]), np.array([0, -dy, 0]), np.array([0, 0, -dz])),
        "+z": (0.5 * dx * dy, np.array([x0, y1, z1 + lift]), np.array([dx, 0, 0]), np.array([0, -dy, 0])),
    }
    name = max(faces, key=lambda k: faces[k][0])
    _, origin, across, down = faces[name]
    u = np.linspace(0.0, 1.0, cols + 1)
    v = np.linspace(0.0, 1.0, rows + 1)
    pts = origin + v[:, None, None] * down + u[None, :, None] * across
    return apply_matrix(world, pts.reshape(-1, 3)), name


def grid_cells(rows: int, cols: int) -> npt.NDArray[np.int64]:
    """Quads (rows·cols, 4) over a (rows+1)×(cols+1) point grid, row-major."""
    idx = np.arange((rows + 1) * (cols + 1), dtype=np.int64).reshape(rows + 1, cols + 1)
    return np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)


class HeatmapVisual:
    """Array sensors' frames as coloured quad grids on their bound parts."""

    def __init__(self, renderer: vtkRenderer, scene: SceneVisual, model: HeatmapModel) -> None:
        self.renderer = renderer
        self.scene = scene
        self.model = model
        self.actors: dict[str, vtkActor] = {}
        self.colors: dict[str, npt.NDArray[np.uint8]] = {}
        model.on_change.append(self.update)
        self.update()

    def update(self) -> None:
        items = self.model.items if self.model.visible else {}
        for sid in [s for s in self.actors if s not in items]:
            self.renderer.RemoveActor(self.actors.pop(sid))
            self.colors.pop(sid, None)
        for sid, hm in items.items():
            lb = self.scene.local_bounds(hm.node)
            world = self.scene.world_matrix(hm.node)
            if lb is None or world is None or hm.values.ndim != 2:
                continue
            rows, cols = hm.values.shape
            pts, _face = face_grid(lb, world, rows, cols)
            vals = hm.values.astype(np.float64).ravel()
            table = colormap_table(hm.colormap, 256)
            with np.errstate(invalid="ignore"):
                t = np.clip((vals - hm.lo) / (hm.hi - hm.lo), 0.0, 1.0)
            rgb = table[(np.nan_to_num(t) * 255).astype(np.int64)]
            if hm.quality >= 2:
                rgb = 0.35 * rgb + 0.65 * 0.5  # washed out: not a live picture
            rgb[~np.isfinite(vals)] = 0.5
            colors = np.ascontiguousarray((rgb * 255).astype(np.uint8))
            pd = vtkPolyData()
            p = vtkPoints()
            p.SetData(numpy_to_vtk(np.ascontiguousarray(pts), deep=True))
            pd.SetPoints(p)
            quads = grid_cells(rows, cols).ravel()
            cells = vtkCellArray()
            cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, len(quads) + 1, 4, dtype=np.int64),
                                                  deep=True),
                          numpy_to_vtkIdTypeArray(quads, deep=True))
            pd.SetPolys(cells)
            scalars = vtkUnsignedCharArray()
            scalars.SetNumberOfComponents(3)
            scalars.SetNumberOfTuples(len(colors))
            vtk_to_numpy(scalars).reshape(-1, 3)[:] = colors
            pd.GetCellData().SetScalars(scalars)
            actor = self.actors.get(sid)
            if actor is None:
                mapper = vtkPolyDataMapper()
                mapper.SetColorModeToDirectScalars()
                mapper.SetScalarModeToUseCellData()
                actor = vtkActor()
                actor.SetMapper(mapper)
                actor.PickableOff()
                actor.GetProperty().LightingOff()
                self.renderer.AddActor(actor)
                self.actors[sid] = actor
            actor.GetMapper().SetInputDataObject(pd)
            self.colors[sid] = colors

    def close(self) -> None:
        if self.update in self.model.on_change:
            self.model.on_change.remove(self.update)
        for actor in self.actors.values():
            self.renderer.RemoveActor(actor)
        self.actors = {}


class TopLayer:
    """A renderer drawn over the scene with its own depth buffer and the scene's camera:
    what is in it shows through walls and enclosures (alarms must never hide)."""

    def __init__(self, base: vtkRenderer) -> None:
        self.base = base
        self.renderer = vtkRenderer()
        self.renderer.InteractiveOff()
        self.renderer.SetActiveCamera(base.GetActiveCamera())
        self.window = base.GetRenderWindow()
        if self.window is not None:
            layer = max(self.window.GetNumberOfLayers(), 2)
            self.window.SetNumberOfLayers(layer + 1)
            self.renderer.SetLayer(layer)
            self.window.AddRenderer(self.renderer)
        self._tag = base.AddObserver(vtkCommand.StartEvent, self._follow)

    def _follow(self, _obj: object, _event: str) -> None:
        # The view may get a new camera object or viewport; draw with the scene's.
        cam = self.base.GetActiveCamera()
        if self.renderer.GetActiveCamera() is not cam:
            self.renderer.SetActiveCamera(cam)
        self.renderer.SetViewport(*self.base.GetViewport())

    def close(self) -> None:
        self.base.RemoveObserver(self._tag)
        if self.window is not None:
            self.window.RemoveRenderer(self.renderer)


class AlarmVisual:
    """Outlines of parts in alarm: red (alarm) or amber (warning); unacknowledged ones
    pulse and are drawn on top of everything (through the enclosure a part sits in)."""

    def __init__(self, renderer: vtkRenderer, scene: SceneVisual, model: AlarmModel,
                 top: vtkRenderer | None = None) -> None:
        self.scene = scene
        self.model = model
        self.lines: dict[tuple[int, bool], LinesOverlay] = {}
        for level in (1, 2):
            for acked in (False, True):
                color = tuple(float(c) for c in LEVEL_COLORS[level])
                self.lines[(level, acked)] = LinesOverlay(
                    renderer if acked or top is None else top, color,
                    width=(2.0 if acked else 5.0) + level)
        self._drawn: list[tuple[str, int, bool, tuple[str, ...]]] = []
        model.on_change.append(self.update)
        self.update()

    def update(self) -> None:
        marks = self.model.marks if self.model.visible else []
        drawn = [(m.alarm, m.level, m.acked, tuple(m.parts)) for m in marks]
        if drawn != self._drawn:
            self._drawn = drawn
            for (level, acked), ov in self.lines.items():
                parts = [p for m in marks if min(max(m.level, 1), 2) == level and m.acked == acked
                         for p in m.parts]
                boxes = self.scene.outline_boxes(dict.fromkeys(parts))
                pts = (np.concatenate([b for b in boxes]) if boxes else np.zeros((0, 3)))
                edges = (np.concatenate([BOX_EDGES + 8 * i for i in range(len(boxes))])
                         if boxes else np.zeros((0, 2), np.int64))
                ov.set_polydata(line_polydata(pts, edges))
        pulse = 0.3 + 0.7 * abs(math.sin(math.pi * self.model.phase))
        for (_level, acked), ov in self.lines.items():
            if not acked:
                ov.actor.GetProperty().SetOpacity(pulse)

    def line_count(self, level: int, acked: bool) -> int:
        return self.lines[(level, acked)].line_count

    def close(self) -> None:
        if self.update in self.model.on_change:
            self.model.on_change.remove(self.update)
        for ov in self.lines.values():
            ov.close()


class SensorOverlays:
    """The sensor board and one visual per overlay model, created and closed together."""

    def __init__(self, renderer: vtkRenderer, scene: SceneVisual, feed: SensorFeed,
                 get_doc: Callable[[], Document]) -> None:
        self.board = SensorBoard(feed)
        self.get_doc = get_doc
        b = self.board
        self.top = TopLayer(renderer)
        self.colors = ValueColorVisual(renderer, scene, b.colors)
        self.labels = LabelVisual(renderer, scene, b.labels, self.top.renderer)
        self.legend = LegendVisual(renderer, b.legend)
        self.heatmaps = HeatmapVisual(renderer, scene, b.heatmaps)
        self.alarms = AlarmVisual(renderer, scene, b.alarms, self.top.renderer)
        self._visuals: list[_Visual] = [self.colors, self.labels, self.legend, self.heatmaps,
                                        self.alarms, self.top]

    def set_document(self, doc: Document) -> None:
        self.board.set_document(doc)

    def on_changes(self, doc: Document, changes: object) -> None:
        from twin_app.core.changes import ChangeSet

        if isinstance(changes, ChangeSet):
            self.board.on_changes(doc, changes)

    @property
    def labels_enabled(self) -> bool:
        return self.board.labels.visible

    @labels_enabled.setter
    def labels_enabled(self, on: bool) -> None:
        self.board.labels.set_visible(on)
        if on:
            self.board.refresh()

    def close(self) -> None:
        self.board.close()
        for v in self._visuals:
            v.close()
        self._visuals = []


__all__ = ["AlarmVisual", "HeatmapVisual", "LabelVisual", "LegendVisual", "SensorOverlays",
           "ValueColorVisual", "face_grid", "grid_cells", "hatch_lines"]
