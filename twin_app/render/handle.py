"""A 3D move/rotate handle for one node: arrows, plane squares and rings drawn on top.

Design notes
------------
* Drawn in its own renderer on layer 1 of the render window, sharing the scene's camera.
  That renderer keeps the colour buffer and clears the depth buffer, so the handle is
  always visible, in front of the part it sits in and of anything between it and the eye.
* Sized in screen pixels: before every render (the scene renderer's ``StartEvent``) the
  handle is rescaled so its arrows are ``ARROW_PX`` long at the node's centre, whatever
  the zoom; a camera change is thus picked up in the same frame.
* Picking and dragging are done here, in display pixels (VTK's origin bottom-left),
  without VTK widgets: ``hover``/``press``/``move``/``release``/``cancel`` are called by
  the viewport with the mouse position, and ``press`` says whether the handle took the
  press (then the camera must not see it). A part is hit within ``PICK_PX`` pixels of its
  projected shape. Move mode: drag an arrow along its world axis (closest point between
  the mouse ray and the axis), or a square in its plane (ray–plane intersection). Rotate
  mode: drag a ring to turn about its world axis through the node's centre (the angle the
  mouse sweeps around the projected centre).
* The world delta ``D`` is snapped when snapping is on: translation to multiples of
  ``translate_step`` (default 5 cm), rotation angle to multiples of ``rotate_step``
  (default 15°). The node's new local transform is ``P⁻¹ · D · W`` (``P`` = parent world
  matrix, ``W`` = node world matrix at the start); move keeps rotation and scale exactly,
  rotate keeps scale.
* The handle does not edit the document. It calls ``on_transform(node_id, transform,
  finished)`` with ``finished=False`` while dragging and ``True`` on release; ``cancel``
  (Esc) finishes with the transform the drag started from. It is re-placed with
  ``attach`` when the node changes, except while a drag is in progress (``dragging``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import numpy as np

from twin_app.core.xform import Matrix, matrix_to_quat
from twin_app.io.typed import Float64Array, FloatArray
from twin_app.render._vtk import (
    vtkActor,
    vtkArrowSource,
    vtkCommand,
    vtkMatrix4x4,
    vtkParametricFunctionSource,
    vtkParametricTorus,
    vtkPlaneSource,
    vtkPolyDataAlgorithm,
    vtkPolyDataMapper,
    vtkRenderer,
)
from twin_app.render.transforms import axis_angle, rotation_about

log = logging.getLogger(__name__)

HandleMode = Literal["move", "rotate"]
PartKind = Literal["axis", "plane", "ring"]
Part = tuple[PartKind, int]  # kind and world axis (for a plane: its normal)
TransformCallback = Callable[[str, tuple[float, ...], bool], None]
TRANSLATE_STEP = 0.05  # metres
ROTATE_STEP = 15.0  # degrees
ARROW_PX = 110.0  # on-screen length of an arrow; everything else is relative to it
RING_RADIUS = 0.8  # of the arrow length
PLANE_SPAN = (0.22, 0.42)  # of the arrow length, along both axes of the plane
PICK_PX = 8.0
AXIS_COLORS = ((0.90, 0.22, 0.20), (0.30, 0.72, 0.22), (0.22, 0.45, 0.95))
HIGHLIGHT = (1.0, 0.85, 0.10)
_RING_SAMPLES = 72
_AXES = np.eye(3)


def snap_delta(delta: Matrix, center: Sequence[float] | FloatArray, mode: HandleMode,
               translate_step: float = TRANSLATE_STEP,
               rotate_step_deg: float = ROTATE_STEP) -> Matrix:
    """Snap a world-space drag ``delta`` (4×4).

    Move: the translation to multiples of ``translate_step`` (rotation dropped). Rotate: the
    angle about the rotation's own axis to multiples of ``rotate_step_deg``, pivoting on
    ``center``. Returns a new 4×4 matrix.
    """
    out = np.eye(4)
    if mode == "move":
        t = np.asarray(delta, dtype=np.float64)[:3, 3]
        out[:3, 3] = np.round(t / translate_step) * translate_step if translate_step > 0 else t
        return out
    axis, angle = axis_angle(np.asarray(delta)[:3, :3])
    if rotate_step_deg > 0:
        step = math.radians(rotate_step_deg)
        angle = round(angle / step) * step
    r = rotation_about(axis, angle)
    c = np.asarray(center, dtype=np.float64)
    out[:3, :3] = r
    out[:3, 3] = c - r @ c
    return out


def _to_vtk(m: Matrix) -> vtkMatrix4x4:
    out = vtkMatrix4x4()
    out.DeepCopy(np.asarray(m, dtype=np.float64).reshape(-1).tolist())
    return out


def _frame(axis: int) -> Matrix:
    """Rotation taking +X to world axis ``axis`` (for arrows) as a 4×4 matrix."""
    m = np.eye(4)
    m[:3, :3] = np.roll(np.eye(3), axis, axis=0)
    return m


def _ring_frame(axis: int) -> Matrix:
    """Rotation taking +Z (a torus's axis) to world axis ``axis``."""
    m = np.eye(4)
    m[:3, :3] = np.roll(np.eye(3), axis - 2, axis=0)
    return m


def _segment_distance(p: Float64Array, a: Float64Array, b: Float64Array) -> float:
    """Distance from the 2D point ``p`` to the segment ``a``–``b``."""
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def _inside(p: Float64Array, poly: Float64Array) -> bool:
    """Is the 2D point ``p`` inside the convex polygon ``poly`` (either winding)? Never for
    a polygon seen nearly edge-on (under ``PICK_PX``² of area)."""
    x, y = poly[:, 0], poly[:, 1]
    if abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2 < PICK_PX ** 2:
        return False
    signs = []
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        signs.append((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]))
    return all(s >= 0 for s in signs) or all(s <= 0 for s in signs)


class _PartActor(NamedTuple):
    """The actor of one handle part, its placement in the handle's frame, its own colour."""

    actor: vtkActor
    base: Matrix
    color: tuple[float, float, float]


class TransformHandle:
    """Screen-sized move/rotate handle that turns mouse drags into transforms for one node."""

    def __init__(self, renderer: vtkRenderer, on_transform: TransformCallback) -> None:
        """Draw over ``renderer`` (its render window gets a second layer); report drags to
        ``on_transform(node_id, 10-float transform, finished)``."""
        self._scene = renderer
        self._on_transform = on_transform
        window = renderer.GetRenderWindow()
        if window is None:
            raise ValueError("the renderer must be in a render window")
        self._window = window
        self._overlay = vtkRenderer()
        self._overlay.SetLayer(1)  # keeps the colour buffer, clears depth: drawn on top
        self._overlay.InteractiveOff()
        self._overlay.SetActiveCamera(renderer.GetActiveCamera())
        window.SetNumberOfLayers(max(2, window.GetNumberOfLayers()))
        window.AddRenderer(self._overlay)
        self._actors: dict[Part, _PartActor] = {}
        self._build()
        self._tag = renderer.AddObserver(vtkCommand.StartEvent, self._on_scene_render)
        self.mode: HandleMode | None = None
        self.snapping = False
        self.translate_step = TRANSLATE_STEP
        self.rotate_step = ROTATE_STEP
        self.node_id: str | None = None
        self.hovered: Part | None = None
        self._drag: Part | None = None
        self._grab: tuple[float, ...] = ()  # where the drag started (axis t, plane point, angle)
        self._delta = np.eye(4)
        self._world = np.eye(4)
        self._parent_inv = np.eye(4)
        self._center = np.zeros(3)
        self._scale = 1.0
        self._transform: tuple[float, ...] = ()
        self._closed = False
        self._update_enabled()

    # -- geometry --------------------------------------------------------------------
    def _add(self, part: Part, source: vtkPolyDataAlgorithm, base: Matrix,
             opacity: float = 1.0) -> None:
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(source.GetOutputPort())
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.PickableOff()
        color = AXIS_COLORS[part[1]]
        prop = actor.GetProperty()
        prop.SetColor(*color)
        prop.SetOpacity(opacity)
        prop.SetAmbient(0.45)
        prop.SetDiffuse(0.6)
        prop.SetSpecular(0.0)
        self._overlay.AddActor(actor)
        self._actors[part] = _PartActor(actor, base, color)

    def _build(self) -> None:
        for axis in range(3):
            arrow = vtkArrowSource()
            arrow.SetTipLength(0.24)
            arrow.SetTipRadius(0.075)
            arrow.SetShaftRadius(0.022)
            arrow.SetTipResolution(24)
            arrow.SetShaftResolution(12)
            self._add(("axis", axis), arrow, _frame(axis))
            plane = vtkPlaneSource()
            u, v = (axis + 1) % 3, (axis + 2) % 3
            lo, hi = PLANE_SPAN
            origin, p1, p2 = np.zeros(3), np.zeros(3), np.zeros(3)
            origin[[u, v]] = lo
            p1[[u, v]] = (hi, lo)
            p2[[u, v]] = (lo, hi)
            plane.SetOrigin(*origin)
            plane.SetPoint1(*p1)
            plane.SetPoint2(*p2)
            self._add(("plane", axis), plane, np.eye(4), opacity=0.55)
            torus = vtkParametricTorus()
            torus.SetRingRadius(RING_RADIUS)
            torus.SetCrossSectionRadius(0.018)
            ring = vtkParametricFunctionSource()
            ring.SetParametricFunction(torus)
            ring.SetUResolution(96)
            ring.SetVResolution(8)
            self._add(("ring", axis), ring, _ring_frame(axis))

    def _placement(self) -> Matrix:
        m = np.eye(4)
        m[:3, :3] *= self._scale
        m[:3, 3] = self.center
        return m

    def _place_actors(self) -> None:
        place = self._placement()
        for actor, base, _color in self._actors.values():
            actor.SetUserMatrix(_to_vtk(place @ base))

    def _on_scene_render(self, _obj: object, _event: str) -> None:
        if self.enabled:
            self._scale = self.world_per_pixel(self.center) * ARROW_PX
            self._place_actors()

    def world_per_pixel(self, point: Sequence[float] | FloatArray) -> float:
        """World length of one display pixel at ``point`` (for the current camera)."""
        cam = self._scene.GetActiveCamera()
        height = max(1, self._scene.GetSize()[1])
        if cam.GetParallelProjection():
            return 2.0 * cam.GetParallelScale() / height
        depth = float(np.dot(np.asarray(point) - np.asarray(cam.GetPosition()),
                             np.asarray(cam.GetDirectionOfProjection())))
        return 2.0 * max(depth, 1e-6) * math.tan(math.radians(cam.GetViewAngle()) / 2) / height

    # -- configuration ---------------------------------------------------------------
    @property
    def center(self) -> Float64Array:
        """Where the handle is drawn: the node's box centre, moved by the drag so far."""
        moved: Float64Array = self._delta @ np.append(self._center, 1.0)
        return moved[:3]

    def attach(self, node_id: str, transform: Sequence[float], world: Matrix,
               parent_world: Matrix, local_bounds: Sequence[float]) -> None:
        """Put the handle on ``node_id``: its 10-float ``transform``, world matrix, its
        parent's world matrix and its local box ``(xmin, ymin, zmin, xmax, ymax, zmax)``."""
        lo = np.asarray(local_bounds[:3], dtype=np.float64)
        hi = np.asarray(local_bounds[3:], dtype=np.float64)
        self.node_id = node_id
        self._transform = tuple(float(v) for v in transform)
        self._world = np.asarray(world, dtype=np.float64).copy()
        self._parent_inv = np.linalg.inv(np.asarray(parent_world, dtype=np.float64))
        self._center = (self._world @ np.append((lo + hi) / 2, 1.0))[:3]
        self._delta = np.eye(4)
        self._scale = self.world_per_pixel(self._center) * ARROW_PX
        self._place_actors()
        self._update_enabled()

    def detach(self) -> None:
        """Take the handle off its node and hide it."""
        self.node_id = None
        self._drag = None
        self._delta = np.eye(4)
        self._set_hover(None)
        self._update_enabled()

    def set_mode(self, mode: HandleMode | None) -> None:
        """Choose move, rotate, or no handle."""
        if mode not in ("move", "rotate", None):
            raise ValueError(f"handle mode must be 'move', 'rotate' or None, not {mode!r}")
        self.mode = mode
        self._drag = None
        self._set_hover(None)
        self._update_enabled()

    def set_snapping(self, enabled: bool, translate_step: float | None = None,
                     rotate_step_deg: float | None = None) -> None:
        """Turn snapping on or off, optionally changing the steps."""
        self.snapping = enabled
        if translate_step is not None:
            self.translate_step = translate_step
        if rotate_step_deg is not None:
            self.rotate_step = rotate_step_deg

    @property
    def enabled(self) -> bool:
        """True when the handle is shown and reacting to the mouse."""
        return self.mode is not None and self.node_id is not None and not self._closed

    @property
    def dragging(self) -> bool:
        """True between a press on the handle and its release (or cancel)."""
        return self._drag is not None

    def parts(self) -> list[Part]:
        """The parts shown in the current mode (none when disabled)."""
        if not self.enabled:
            return []
        kinds: tuple[PartKind, ...] = ("axis", "plane") if self.mode == "move" else ("ring",)
        return [p for p in self._actors if p[0] in kinds]

    def part_color(self, part: Part) -> tuple[float, float, float]:
        """The colour ``part`` is drawn in now (highlighted when hovered or dragged)."""
        r, g, b = self._actors[part][0].GetProperty().GetColor()
        return (r, g, b)

    def close(self) -> None:
        """Remove the handle's renderer and observers."""
        if self._closed:
            return
        self._closed = True
        self._scene.RemoveObserver(self._tag)
        self._overlay.RemoveAllViewProps()
        self._window.RemoveRenderer(self._overlay)
        self._actors.clear()

    def _update_enabled(self) -> None:
        shown = set(self.parts())
        for part, (actor, _base, _color) in self._actors.items():
            actor.SetVisibility(part in shown)

    def _set_hover(self, part: Part | None) -> bool:
        if part == self.hovered:
            return False
        self.hovered = part
        for p, (actor, _base, color) in self._actors.items():
            actor.GetProperty().SetColor(*(HIGHLIGHT if p == part else color))
        return True

    # -- screen geometry -------------------------------------------------------------
    def _project(self, points: FloatArray) -> Float64Array:
        """World points (n×3) → display pixels (n×2, origin bottom-left)."""
        ren = self._scene
        cam = ren.GetActiveCamera()
        vm = cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1)
        m = np.array([[vm.GetElement(i, j) for j in range(4)] for i in range(4)])
        hom = np.c_[np.asarray(points, dtype=np.float64), np.ones(len(points))] @ m.T
        ndc = hom[:, :2] / np.where(np.abs(hom[:, 3:4]) < 1e-12, 1e-12, hom[:, 3:4])
        w, h = ren.GetSize()
        ox, oy = ren.GetOrigin()
        return np.asarray((ndc + 1.0) / 2.0 * (w, h) + (ox, oy))

    def _ray(self, x: float, y: float) -> tuple[Float64Array, Float64Array]:
        """The eye ray through display pixel ``(x, y)``: origin and unit direction."""
        ren = self._scene
        pts = []
        for z in (0.0, 1.0):
            ren.SetDisplayPoint(x, y, z)
            ren.DisplayToWorld()
            wx, wy, wz, ww = ren.GetWorldPoint()
            pts.append(np.array((wx, wy, wz)) / (ww if abs(ww) > 1e-12 else 1.0))
        d = pts[1] - pts[0]
        return pts[0], d / max(float(np.linalg.norm(d)), 1e-12)

    def hit(self, x: float, y: float) -> Part | None:
        """The handle part under display pixel ``(x, y)``, or ``None``."""
        parts = self.parts()
        if not parts:
            return None
        p = np.array((x, y), dtype=np.float64)
        c, s = self.center, self._scale
        best: tuple[float, Part] | None = None
        for part in parts:
            kind, axis = part
            a = _AXES[axis]
            if kind == "plane":
                u, v = _AXES[(axis + 1) % 3], _AXES[(axis + 2) % 3]
                lo, hi = (t * s for t in PLANE_SPAN)
                quad = self._project(np.array([c + lo * u + lo * v, c + hi * u + lo * v,
                                               c + hi * u + hi * v, c + lo * u + hi * v]))
                if _inside(p, quad):
                    return part  # the squares sit nearest the centre: they win
                continue
            if kind == "axis":
                ends = self._project(np.array([c + 0.12 * s * a, c + s * a]))
                dist = _segment_distance(p, ends[0], ends[1])
            else:
                u, v = _AXES[(axis + 1) % 3], _AXES[(axis + 2) % 3]
                ang = np.linspace(0, 2 * math.pi, _RING_SAMPLES + 1)
                ring = c + RING_RADIUS * s * (np.outer(np.cos(ang), u) + np.outer(np.sin(ang), v))
                pts = self._project(ring)
                dist = min(_segment_distance(p, pts[i], pts[i + 1]) for i in range(_RING_SAMPLES))
            if dist <= PICK_PX and (best is None or dist < best[0]):
                best = (dist, part)
        return best[1] if best is not None else None

    # -- mouse -------------------------------------------------------------------------
    def hover(self, x: float, y: float) -> bool:
        """Highlight the part under ``(x, y)``; returns True if the highlight changed."""
        if self.dragging:
            return False
        return self._set_hover(self.hit(x, y))

    def press(self, x: float, y: float) -> bool:
        """Start a drag if ``(x, y)`` is on the handle; returns True if it took the press."""
        part = self.hit(x, y)
        if part is None:
            return False
        grab = self._measure(part, x, y)
        if grab is None:
            return False  # an axis seen end-on or a plane edge-on: nothing sensible to drag
        self._set_hover(part)
        self._drag = part
        self._grab = grab
        self._delta = np.eye(4)
        return True

    def move(self, x: float, y: float) -> None:
        """Continue the drag to ``(x, y)`` and report the new transform."""
        if self._drag is None or self.node_id is None:
            return
        now = self._measure(self._drag, x, y)
        if now is None:
            return
        kind, axis = self._drag
        delta = np.eye(4)
        if kind == "axis":
            delta[:3, 3] = (now[0] - self._grab[0]) * _AXES[axis]
        elif kind == "plane":
            delta[:3, 3] = np.subtract(now, self._grab)
        else:
            turn = rotation_about(_AXES[axis], now[0] - self._grab[0])
            delta[:3, :3] = turn
            delta[:3, 3] = self._center - turn @ self._center
        self._report(delta, finished=False)

    def release(self, x: float, y: float) -> None:
        """End the drag at ``(x, y)`` and report the final transform."""
        if self._drag is None:
            return
        self.move(x, y)
        self._finish(self._delta)

    def cancel(self) -> bool:
        """Abandon the drag: the node goes back where it was. Returns True if one ran."""
        if self._drag is None:
            return False
        self._finish(np.eye(4))
        return True

    def _finish(self, delta: Matrix) -> None:
        self._drag = None
        if self.node_id is None or self.mode is None:
            return
        self._report(delta, finished=True)

    def _report(self, delta: Matrix, finished: bool) -> None:
        assert self.node_id is not None
        try:
            transform, snapped = self._solve(delta)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("ignoring a degenerate drag: %s", exc)
            return
        self._delta = snapped
        self._place_actors()
        self._on_transform(self.node_id, transform, finished)

    def _measure(self, part: Part, x: float, y: float) -> tuple[float, ...] | None:
        """The drag coordinate at ``(x, y)``: the axis parameter, the point in the plane,
        or the angle swept around the centre on screen."""
        kind, axis = part
        a = _AXES[axis]
        c = self._center
        origin, d = self._ray(x, y)
        if kind == "axis":
            b = float(np.dot(a, d))
            denom = 1.0 - b * b
            if denom < 1e-4:
                return None
            w0 = c - origin
            return ((b * float(np.dot(d, w0)) - float(np.dot(a, w0))) / denom,)
        if kind == "plane":
            nd = float(np.dot(a, d))
            if abs(nd) < 1e-4:
                return None
            hit = origin + d * float(np.dot(a, c - origin)) / nd
            return (float(hit[0]), float(hit[1]), float(hit[2]))
        cx, cy = self._project(c[None, :])[0]
        if math.hypot(x - cx, y - cy) < 2.0:
            return None
        toward_eye = float(np.dot(a, np.asarray(self._scene.GetActiveCamera().GetPosition()) - c))
        angle = math.atan2(y - cy, x - cx)
        return (angle if toward_eye >= 0 else -angle,)

    # -- the computation -------------------------------------------------------------
    def _solve(self, delta: Matrix) -> tuple[tuple[float, ...], Matrix]:
        if self.mode is None or self.node_id is None:
            raise RuntimeError("the handle is not attached or has no mode")
        delta = np.asarray(delta, dtype=np.float64)
        if self.snapping:
            delta = snap_delta(delta, self._center, self.mode, self.translate_step,
                               self.rotate_step)
        elif self.mode == "move":
            delta = np.block([[np.eye(3), delta[:3, 3:4]], [np.zeros((1, 3)), np.ones((1, 1))]])
        local = self._parent_inv @ delta @ self._world
        pos = tuple(float(v) for v in local[:3, 3])
        old = self._transform
        if self.mode == "move":
            return (*pos, *old[3:10]), delta
        scale = np.abs(np.asarray(old[7:10]))
        rot = local[:3, :3] / np.linalg.norm(local[:3, :3], axis=0)
        u, _, vt = np.linalg.svd(rot)
        q = matrix_to_quat(u @ vt)
        signs = (1 if o >= 0 else -1 for o in old[7:10])
        return (*pos, *q, *(float(s) * g for s, g in zip(scale, signs, strict=True))), delta

    def transform_for(self, dragged_world: Matrix) -> tuple[float, ...]:
        """Return the node's new 10-float local transform for a dragged world matrix
        (snapped when snapping is on). Raises ``RuntimeError`` when not attached."""
        delta = np.asarray(dragged_world, dtype=np.float64) @ np.linalg.inv(self._world)
        return self._solve(delta)[0]
