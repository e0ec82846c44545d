"""A 3D move/rotate handle for one node, built on VTK's box widget.

Design notes
------------
* The widget box is placed on the node's local bounding box and then given the node's
  world matrix, so the box is oriented with the part. VTK reports the box's transform
  relative to its placement, i.e. the dragged *world* matrix ``W'`` of the node.
* The world delta ``D = W' · W⁻¹`` is snapped when snapping is on: translation to
  multiples of ``translate_step`` (default 5 cm) in move mode; in rotate mode the rotation
  angle about the dragged axis to multiples of ``rotate_step`` (default 15°), pivoting on
  the box centre. The node's new local transform is ``P⁻¹ · D · W`` (``P`` = parent world
  matrix); move mode keeps the node's rotation and scale exactly, rotate mode keeps scale.
* The handle does not edit the document. It calls ``on_transform(node_id, transform,
  finished)`` with ``finished=False`` while dragging and ``True`` on release; the caller
  turns these into ops. It is re-placed with ``attach`` when the node changes, except
  while a drag is in progress (``dragging``), so the widget is not yanked under the mouse.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from twin_app.core.xform import Matrix, matrix_to_quat
from twin_app.render._vtk import vtkBoxRepresentation, vtkBoxWidget2, vtkRenderer, vtkTransform
from twin_app.render.transforms import axis_angle, rotation_about

if TYPE_CHECKING:
    from vtkmodules.vtkRenderingCore import vtkRenderWindowInteractor

log = logging.getLogger(__name__)

HandleMode = Literal["move", "rotate"]
TransformCallback = Callable[[str, tuple[float, ...], bool], None]
TRANSLATE_STEP = 0.05  # metres
ROTATE_STEP = 15.0  # degrees
_MIN_THICKNESS = 0.01  # metres: a flat part still gets a grabbable box


def snap_delta(delta: Matrix, center: Sequence[float], mode: HandleMode,
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


def _vtk_matrix(transform: vtkTransform) -> Matrix:
    m = transform.GetMatrix()
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])


class TransformHandle:
    """Box-widget handle that turns drags into new transforms for one node."""

    def __init__(self, renderer: vtkRenderer, interactor: vtkRenderWindowInteractor,
                 on_transform: TransformCallback) -> None:
        self._on_transform = on_transform
        self._rep = vtkBoxRepresentation()
        self._rep.SetPlaceFactor(1.0)
        self._rep.GetOutlineProperty().SetColor(1.0, 0.55, 0.05)
        self._rep.GetSelectedOutlineProperty().SetColor(1.0, 0.8, 0.2)
        self._widget = vtkBoxWidget2()
        self._widget.SetRepresentation(self._rep)
        self._widget.SetInteractor(interactor)
        self._widget.SetCurrentRenderer(renderer)
        self._widget.SetDefaultRenderer(renderer)
        self._widget.SetMoveFacesEnabled(False)
        self._widget.SetScalingEnabled(False)
        self._tags = [
            self._widget.AddObserver("StartInteractionEvent", self._on_start),
            self._widget.AddObserver("InteractionEvent", self._on_drag),
            self._widget.AddObserver("EndInteractionEvent", self._on_end),
        ]
        self.mode: HandleMode | None = None
        self.snapping = False
        self.translate_step = TRANSLATE_STEP
        self.rotate_step = ROTATE_STEP
        self.dragging = False
        self.node_id: str | None = None
        self._world = np.eye(4)
        self._parent_inv = np.eye(4)
        self._center = np.zeros(3)
        self._transform: tuple[float, ...] = ()

    # -- configuration ---------------------------------------------------------------
    def attach(self, node_id: str, transform: Sequence[float], world: Matrix,
               parent_world: Matrix, local_bounds: Sequence[float]) -> None:
        """Put the handle on ``node_id``: its 10-float ``transform``, world matrix, its
        parent's world matrix and its local box ``(xmin, ymin, zmin, xmax, ymax, zmax)``."""
        lo = np.asarray(local_bounds[:3], dtype=np.float64)
        hi = np.asarray(local_bounds[3:], dtype=np.float64)
        thick = max(float(np.max(hi - lo)) * 0.02, _MIN_THICKNESS)
        grow = np.maximum(thick - (hi - lo), 0.0) / 2
        lo, hi = lo - grow, hi + grow
        self.node_id = node_id
        self._transform = tuple(float(v) for v in transform)
        self._world = np.asarray(world, dtype=np.float64).copy()
        self._parent_inv = np.linalg.inv(np.asarray(parent_world, dtype=np.float64))
        self._center = (self._world @ np.append((lo + hi) / 2, 1.0))[:3]
        self._rep.PlaceWidget([lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]])
        t = vtkTransform()
        t.SetMatrix(self._world.reshape(-1).tolist())
        self._rep.SetTransform(t)
        self._update_enabled()

    def detach(self) -> None:
        """Take the handle off its node and hide it."""
        self.node_id = None
        self.dragging = False
        self._update_enabled()

    def set_mode(self, mode: HandleMode | None) -> None:
        """Choose move, rotate, or no handle."""
        if mode not in ("move", "rotate", None):
            raise ValueError(f"handle mode must be 'move', 'rotate' or None, not {mode!r}")
        self.mode = mode
        self._widget.SetTranslationEnabled(mode == "move")
        self._widget.SetRotationEnabled(mode == "rotate")
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
        return bool(self._widget.GetEnabled())

    @property
    def widget(self) -> vtkBoxWidget2:
        """The underlying VTK widget."""
        return self._widget

    def close(self) -> None:
        """Disable the widget and drop its observers."""
        self._widget.SetEnabled(0)
        for tag in self._tags:
            self._widget.RemoveObserver(tag)
        self._tags = []
        self._widget.SetInteractor(None)

    # -- the computation -------------------------------------------------------------
    def transform_for(self, dragged_world: Matrix) -> tuple[float, ...]:
        """Return the node's new 10-float local transform for a dragged world matrix."""
        if self.mode is None or self.node_id is None:
            raise RuntimeError("the handle is not attached or has no mode")
        delta = np.asarray(dragged_world, dtype=np.float64) @ np.linalg.inv(self._world)
        if self.snapping:
            delta = snap_delta(delta, self._center, self.mode, self.translate_step,
                               self.rotate_step)
        elif self.mode == "move":
            delta = np.block([[np.eye(3), delta[:3, 3:4]], [np.zeros((1, 3)), np.ones((1, 1))]])
        local = self._parent_inv @ delta @ self._world
        pos = tuple(float(v) for v in local[:3, 3])
        old = self._transform
        if self.mode == "move":
            return (*pos, *old[3:10])
        scale = np.abs(np.asarray(old[7:10]))
        rot = local[:3, :3] / np.linalg.norm(local[:3, :3], axis=0)
        u, _, vt = np.linalg.svd(rot)
        q = matrix_to_quat(u @ vt)
        return (*pos, *q, *(float(s) * (1 if o >= 0 else -1) for s, o in zip(scale, old[7:10],
                                                                                strict=True)))

    def drag_to(self, dragged_world: Matrix, finished: bool) -> tuple[float, ...]:
        """Report a drag to ``on_transform`` as if the widget had moved; returns the
        transform sent. Used by the widget's observers and by tests."""
        assert self.node_id is not None
        transform = self.transform_for(dragged_world)
        self._on_transform(self.node_id, transform, finished)
        return transform

    # -- widget events ---------------------------------------------------------------
    def _update_enabled(self) -> None:
        on = self.mode is not None and self.node_id is not None
        if bool(self._widget.GetEnabled()) != on:
            self._widget.SetEnabled(1 if on else 0)

    def _current(self) -> Matrix:
        t = vtkTransform()
        self._rep.GetTransform(t)
        return _vtk_matrix(t)

    def _on_start(self, _obj: object, _event: str) -> None:
        self.dragging = True

    def _on_drag(self, _obj: object, _event: str) -> None:
        if self.node_id is None or self.mode is None:
            return
        try:
            self.drag_to(self._current(), False)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("ignoring a degenerate drag: %s", exc)

    def _on_end(self, _obj: object, _event: str) -> None:
        self.dragging = False
        if self.node_id is None or self.mode is None:
            return
        try:
            self.drag_to(self._current(), True)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("ignoring a degenerate drag: %s", exc)
