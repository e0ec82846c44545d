"""Viewport furniture: ground grid, orientation axes, standard views and camera tuples.

World units are metres and Z is up. A camera travels as 9 floats — position, focal point,
view-up — which is what presence messages carry and what follow mode applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from twin_app.render._vtk import (
    vtkActor,
    vtkAxesActor,
    vtkOrientationMarkerWidget,
    vtkRenderer,
)
from twin_app.render.overlays import LinesOverlay, line_polydata

if TYPE_CHECKING:
    import pyvista
    from vtkmodules.vtkRenderingCore import vtkCamera, vtkRenderWindowInteractor

# name -> (direction from the focal point to the camera, view-up)
STANDARD_VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "iso": ((1.0, -1.0, 1.0), (0.0, 0.0, 1.0)),
    "iso_back": ((-1.0, 1.0, 1.0), (0.0, 0.0, 1.0)),
    "top": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "bottom": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
    "front": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "back": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
}
GRID_COLOR = (0.55, 0.57, 0.60)
DEFAULT_BOUNDS = (-5.0, 5.0, -5.0, 5.0, 0.0, 2.0)
TURNTABLE_DEG_PER_PX = 0.4


class ViewError(ValueError):
    """An unknown standard view or a malformed camera tuple."""


def camera_tuple(camera: vtkCamera) -> tuple[float, ...]:
    """Return ``camera`` as 9 floats: position, focal point, view-up."""
    return (*camera.GetPosition(), *camera.GetFocalPoint(), *camera.GetViewUp())


def apply_camera_tuple(renderer: vtkRenderer, cam: Sequence[float]) -> None:
    """Set the renderer's camera from 9 floats; raises ``ViewError`` if malformed."""
    if len(cam) != 9 or not all(math.isfinite(float(c)) for c in cam):
        raise ViewError("a camera is 9 finite floats: position, focal point, view-up")
    if np.allclose(cam[0:3], cam[3:6]):
        raise ViewError("camera position equals its focal point")
    camera = renderer.GetActiveCamera()
    camera.SetPosition(*cam[0:3])
    camera.SetFocalPoint(*cam[3:6])
    camera.SetViewUp(*cam[6:9])
    camera.OrthogonalizeViewUp()
    renderer.ResetCameraClippingRange()


def set_standard_view(renderer: vtkRenderer, name: str,
                      bounds: Sequence[float] | None = None) -> None:
    """Look at ``bounds`` (VTK order; default: everything visible) from a named direction.

    Names are the keys of ``STANDARD_VIEWS`` (iso, top, bottom, front, back, right, left,
    iso_back). Raises ``ViewError`` for an unknown name.
    """
    try:
        direction, up = STANDARD_VIEWS[name]
    except KeyError:
        raise ViewError(f"unknown view {name!r}; one of {', '.join(STANDARD_VIEWS)}") from None
    camera = renderer.GetActiveCamera()
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(*direction)
    camera.SetViewUp(*up)
    fit(renderer, bounds)


def fit(renderer: vtkRenderer, bounds: Sequence[float] | None = None,
        margin: float = 0.0) -> None:
    """Keep the view direction and frame ``bounds`` (VTK order) or every visible prop,
    grown by ``margin`` times their size on every side."""
    if bounds is None:
        renderer.ResetCamera()
    else:
        b = [float(v) for v in bounds]
        for i in (0, 2, 4):
            grow = (b[i + 1] - b[i]) * margin
            b[i] -= grow
            b[i + 1] += grow
        renderer.ResetCamera(*b)
    renderer.ResetCameraClippingRange()


def turntable(renderer: vtkRenderer, dx: float, dy: float,
              degrees_per_pixel: float = TURNTABLE_DEG_PER_PX) -> None:
    """Orbit the camera like a turntable about the focal point, the scene following the
    mouse: a horizontal drag of ``dx`` pixels turns about the world Z axis, a vertical drag
    of ``dy`` pixels (display pixels, up positive) tilts, stopping straight above or below.
    Z stays up on screen, so a drag never turns the plant upside down."""
    cam = renderer.GetActiveCamera()
    f = np.asarray(cam.GetFocalPoint(), dtype=np.float64)
    offset = np.asarray(cam.GetPosition(), dtype=np.float64) - f
    up = np.asarray(cam.GetViewUp(), dtype=np.float64)
    dist = float(np.linalg.norm(offset))
    if dist <= 0:
        return
    polar = math.acos(float(np.clip(offset[2] / dist, -1.0, 1.0)))
    # The horizontal direction from the focal point to the camera; straight above or
    # below it is the one the screen's up points away from (or towards).
    h = offset[:2].copy()
    if float(np.linalg.norm(h)) < 1e-9 * dist:
        h = -up[:2] if polar < math.pi / 2 else up[:2].copy()
    if float(np.linalg.norm(h)) < 1e-12:
        h = np.array((0.0, -1.0))
    h /= np.linalg.norm(h)
    turn = math.radians(-dx * degrees_per_pixel)
    c, s = math.cos(turn), math.sin(turn)
    h = np.array((c * h[0] - s * h[1], s * h[0] + c * h[1]))
    polar = min(max(polar + math.radians(dy * degrees_per_pixel), 0.0), math.pi)
    horizontal = np.array((h[0], h[1], 0.0))
    z = np.array((0.0, 0.0, 1.0))
    cam.SetPosition(*(f + dist * (math.sin(polar) * horizontal + math.cos(polar) * z)))
    cam.SetViewUp(*(math.sin(polar) * z - math.cos(polar) * horizontal))
    renderer.ResetCameraClippingRange()


def nice_step(extent: float, max_lines: int = 60) -> float:
    """Return a grid spacing of 1, 2 or 5 × 10^k metres giving at most ``max_lines``."""
    extent = max(extent, 1e-3)
    raw = extent / max_lines
    k = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        step = m * 10.0**k
        if step >= raw:
            return step
    return 10.0 ** (k + 1)


class GroundGrid:
    """Lines on the ground plane (z = 0) covering the scene's footprint plus a margin."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._lines = LinesOverlay(renderer, GRID_COLOR, width=1.0, opacity=0.6)
        # The grid is below the parts: no depth-offset tricks for it.
        self._lines.mapper.SetResolveCoincidentTopologyToOff()
        self.step = 1.0
        self.fit(None)

    @property
    def actor(self) -> vtkActor:
        """The grid's VTK actor."""
        return self._lines.actor

    def fit(self, bounds: Sequence[float] | None) -> None:
        """Size the grid to ``bounds`` (VTK order) or a default 10 m square."""
        b = DEFAULT_BOUNDS if bounds is None else bounds
        extent = max(b[1] - b[0], b[3] - b[2], 1.0)
        margin = extent * 0.15
        step = nice_step(extent + 2 * margin)
        x0 = math.floor((b[0] - margin) / step) * step
        x1 = math.ceil((b[1] + margin) / step) * step
        y0 = math.floor((b[2] - margin) / step) * step
        y1 = math.ceil((b[3] + margin) / step) * step
        xs = np.arange(x0, x1 + step / 2, step)
        ys = np.arange(y0, y1 + step / 2, step)
        pts = [(x, y0, 0.0) for x in xs] + [(x, y1, 0.0) for x in xs]
        pts += [(x0, y, 0.0) for y in ys] + [(x1, y, 0.0) for y in ys]
        nx, ny = len(xs), len(ys)
        edges = [(i, nx + i) for i in range(nx)]
        edges += [(2 * nx + j, 2 * nx + ny + j) for j in range(ny)]
        self._lines.set_polydata(line_polydata(np.array(pts), np.array(edges)))
        self.step = step

    def set_visible(self, visible: bool) -> None:
        """Show or hide the grid."""
        self._lines.actor.SetVisibility(visible)

    def close(self) -> None:
        """Remove the grid from the renderer."""
        self._lines.close()


def add_orientation_axes(
    plotter: pyvista.BasePlotter,
    interactor: vtkRenderWindowInteractor | None = None,
) -> vtkOrientationMarkerWidget | None:
    """Add the X/Y/Z orientation marker in the lower-left corner.

    It needs an interactor (given, or the plotter's); without one (a plain offscreen
    plotter) nothing is added and ``None`` is returned.
    """
    iren = interactor
    if iren is None:
        wrapped = getattr(plotter, "iren", None)
        iren = getattr(wrapped, "interactor", None)
    if iren is None:
        return None
    axes = vtkAxesActor()
    axes.SetShaftTypeToCylinder()
    axes.SetTotalLength(1.0, 1.0, 1.0)
    widget = vtkOrientationMarkerWidget()
    widget.SetOrientationMarker(axes)
    widget.SetInteractor(iren)
    widget.SetDefaultRenderer(plotter.renderer)
    widget.SetViewport(0.0, 0.0, 0.14, 0.2)
    widget.SetEnabled(1)
    widget.InteractiveOff()
    return widget
