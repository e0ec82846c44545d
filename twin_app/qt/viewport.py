"""The 3D viewport widget: a pyvistaqt interactor showing the document through SceneVisual.

Design notes
------------
* Composition, not inheritance: the widget *holds* a ``pyvistaqt.QtInteractor`` (itself a
  QOpenGLWidget and a pyvista plotter) and a ``SceneVisual`` (``self.visual``). The
  multiple-inheritance plotter stays an implementation detail.
* Renders are coalesced: every change path calls ``request_render()``, which schedules one
  render for the next event-loop turn (``QTimer.singleShot(0)``) however many changes
  arrive in this turn. The render itself is a widget ``update()``: the interactor's
  ``paintGL`` renders VTK exactly once per paint (calling the render window directly
  would render twice, once now and once in the paint it schedules). Renders requested by
  the camera style or the handle widget go the same way (interactor ``EnableRender`` off,
  its ``RenderEvent`` turned into ``update()``), so an orbit step costs one frame, not two.
  pyvistaqt's auto-update timer is off: nothing renders unless something changed.
* Mouse: left-drag orbits as a Z-up turntable (``render.turntable``, done here from Qt
  events) or, with ``set_orbit("trackball")``, by VTK's trackball-camera style; the style
  pans (middle or shift-left) and zooms (wheel, right-drag). A left press and release within a few pixels is a click: it picks the part
  under the cursor (``sig_picked(id or None, additive)``, additive with Ctrl or Shift).
  Hover picks at most every ``HOVER_MS`` while no button is down (``sig_hovered``).
* The move/rotate handle follows the visual's selection when exactly one node is selected
  and a handle mode is set. Mouse events reach it before the camera: a press on the
  handle (and the moves and release that follow) is consumed here, so dragging the handle
  never orbits; hovering it highlights the part under the cursor; Esc during a drag puts
  the node back (the key is claimed from the window's Esc shortcut while dragging). Drags
  come out as ``sig_transform_dragged(id, transform, finished)`` and the main window turns
  them into ops. The handle is re-placed from the document at render time, but never
  during a drag.
* ``sig_camera_changed`` fires after a render in which the camera moved because of the user
  (orbit, zoom, standard view, fit). ``set_camera`` (follow mode, comment jumps) does not
  echo it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pyvistaqt import QtInteractor

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.render import (
    GroundGrid,
    SceneVisual,
    TransformHandle,
    add_orientation_axes,
    apply_camera_tuple,
    camera_tuple,
    fit,
    set_standard_view,
    turntable,
)
from twin_app.render.handle import ROTATE_STEP, TRANSLATE_STEP, HandleMode

log = logging.getLogger(__name__)

CLICK_SLOP = 4  # pixels a press may travel and still count as a click
HOVER_MS = 60
ORBIT_STYLES = ("turntable", "trackball")
FIT_SELECTION_MARGIN = 0.6  # of the selection's size on every side: it fills about a third
LIGHT_BACKGROUND = ((0.93, 0.94, 0.96), (0.74, 0.77, 0.82))  # top, bottom
DARK_BACKGROUND = ((0.20, 0.22, 0.26), (0.09, 0.10, 0.12))
MeshSource = Callable[[str], "bytes | None"]


class Viewport(QWidget):
    """The 3D view of the plant with picking, hover, handles and coalesced rendering."""

    sig_picked = Signal(object, bool)  # node id or None, additive (Ctrl/Shift)
    sig_hovered = Signal(object)  # node id or None
    sig_transform_dragged = Signal(str, tuple, bool)  # node id, 10-float transform, finished
    sig_camera_changed = Signal(tuple)  # 9 floats: position, focal point, view-up

    def __init__(self, parent: QWidget | None = None, *, mesh_source: MeshSource) -> None:
        super().__init__(parent)
        self._mesh_source = mesh_source
        self._doc: Document | None = None
        self._closed = False
        self._render_pending = False
        self.render_count = 0  # coalesced renders performed (diagnostics and tests)
        self._press: tuple[int, int] | None = None
        self._press_additive = False
        self._dragged_handle = False
        self._hover: str | None = None
        self._orbit = "turntable"
        self._orbit_from: tuple[int, int] | None = None
        self._hover_pos: tuple[int, int] | None = None
        self._handle_mode: HandleMode | None = None
        self._handle_key: tuple[Any, ...] | None = None
        self._last_camera: tuple[float, ...] | None = None
        self._has_viewed = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._qt = QtInteractor(self, auto_update=False)
        layout.addWidget(self._qt)
        self._renderer = self._qt.renderer
        self.set_dark(False)
        self.visual = SceneVisual(self._qt, self._fetch_mesh)
        self.grid = GroundGrid(self._renderer)
        iren = self._qt.iren.interactor
        self._iren = iren
        self._axes = add_orientation_axes(self._qt, iren)
        self._handle = TransformHandle(self._renderer, self._on_handle_transform)
        self._handle.set_snapping(False, TRANSLATE_STEP, ROTATE_STEP)
        # Mouse clicks, hover and handle drags are read from Qt events, before VTK's camera
        # style sees them (it would orbit, and it grabs VTK's event focus on a press).
        self._qt.installEventFilter(self)
        self._render_tag = self._renderer.AddObserver("EndEvent", self._on_rendered)
        # Camera styles and widgets render through the interactor on every mouse move; by
        # default that renders now *and* again in the paint the finished frame schedules.
        # Route those renders to a widget update instead, and render for real only when
        # the paint asks (pyvistaqt marks its paintGL with ``_in_paint``).
        self._iren_render_tag: int | None = None
        if hasattr(self._qt, "_in_paint"):
            iren.EnableRenderOff()
            self._iren_render_tag = iren.AddObserver("RenderEvent", self._on_iren_render)
        self._hover_timer = QTimer(self)
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_MS)
        self._hover_timer.timeout.connect(self._do_hover)
        set_standard_view(self._renderer, "iso", self.grid_bounds())

    # -- properties ------------------------------------------------------------------
    @property
    def plotter(self) -> QtInteractor:
        """The embedded pyvistaqt interactor (a pyvista plotter and a QOpenGLWidget)."""
        return self._qt

    @property
    def handle(self) -> TransformHandle:
        """The move/rotate handle."""
        return self._handle

    def _fetch_mesh(self, mesh_hash: str) -> bytes | None:
        blob = self._mesh_source(mesh_hash)
        return blob if isinstance(blob, bytes) else None

    # -- document --------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        """Show ``doc`` (full rebuild); frames it the first time a document is shown."""
        self._doc = doc
        self.visual.rebuild(doc)
        self.grid.fit(self.visual.scene_bounds())
        self._handle_key = None
        if not self._has_viewed and self.visual.block_count():
            self._has_viewed = True
            set_standard_view(self._renderer, "iso", self.grid_bounds())
        self.request_render()

    def on_changes(self, doc: Document, changes: ChangeSet) -> None:
        """Apply a change set to the drawing and schedule one render."""
        if changes.reset or doc is not self._doc:
            self.set_document(doc)
            return
        self.visual.apply(doc, changes)
        if self._handle.node_id is not None and self._handle.node_id not in doc:
            self._handle.detach()
        self.request_render()

    # -- rendering -------------------------------------------------------------------
    def request_render(self) -> None:
        """Schedule one render on the next event-loop turn (no-op if one is pending)."""
        if self._render_pending or self._closed:
            return
        self._render_pending = True
        QTimer.singleShot(0, self._flush_render)

    def _flush_render(self) -> None:
        self._render_pending = False
        if self._closed:
            return
        self._sync_handle()
        self.render_count += 1
        self._qt.update()  # paintGL renders VTK once

    def _on_iren_render(self, _obj: object, _event: str) -> None:
        if self._closed:
            return
        ren_win = self._qt.ren_win
        if getattr(self._qt, "_in_paint", False) and ren_win is not None:
            ren_win.Render()  # the paint is asking: render into VTK's buffer
        else:
            self._qt.update()  # a style or widget asked: one paint, one render

    def screenshot(self, path: str | Path) -> None:
        """Render and save the 3D view to an image file (PNG by extension)."""
        self._sync_handle()
        self._qt.screenshot(str(path))

    # -- camera ----------------------------------------------------------------------
    def grid_bounds(self) -> tuple[float, ...]:
        """World bounds of everything drawn, or a default 10 m square."""
        b = self.visual.scene_bounds()
        return b if b is not None else (-5.0, 5.0, -5.0, 5.0, 0.0, 2.0)

    def fit_view(self) -> None:
        """Frame the whole plant, keeping the view direction."""
        fit(self._renderer, self.grid_bounds())
        self.request_render()

    def fit_selection(self) -> None:
        """Frame the selected nodes with room around them (the whole plant if nothing
        drawable is selected)."""
        b = self.visual.node_bounds(self.visual.selection)
        if b is None:
            fit(self._renderer, self.grid_bounds())
        else:
            fit(self._renderer, b, margin=FIT_SELECTION_MARGIN)
        self.request_render()

    def floor_point(self) -> tuple[float, float]:
        """Where the middle of the view meets the floor (z = 0); the point looked at when
        the view does not reach the floor (looking up or level)."""
        cam = self._renderer.GetActiveCamera()
        pos = np.asarray(cam.GetPosition(), dtype=np.float64)
        focal = np.asarray(cam.GetFocalPoint(), dtype=np.float64)
        d = focal - pos
        if d[2] < -1e-9 and pos[2] > 0:
            hit = pos + d * (-pos[2] / d[2])
            return float(hit[0]), float(hit[1])
        return float(focal[0]), float(focal[1])

    def set_standard_view(self, name: str) -> None:
        """Look at the plant from a named direction: iso, top, bottom, front, back, left,
        right. Raises ``twin_app.render.ViewError`` for an unknown name."""
        set_standard_view(self._renderer, name, self.grid_bounds())
        self.request_render()

    def set_camera(self, camera: Sequence[float]) -> None:
        """Set the camera from 9 floats (position, focal point, view-up) without echoing
        ``sig_camera_changed``; raises ``ViewError`` if malformed."""
        apply_camera_tuple(self._renderer, camera)
        self._last_camera = self.camera()
        self.request_render()

    def camera(self) -> tuple[float, ...]:
        """Return the camera as 9 floats: position, focal point, view-up."""
        return camera_tuple(self._renderer.GetActiveCamera())

    def _on_rendered(self, _obj: object, _event: str) -> None:
        cam = self.camera()
        if cam != self._last_camera:
            first = self._last_camera is None
            self._last_camera = cam
            if not first:
                self.sig_camera_changed.emit(cam)

    # -- look ------------------------------------------------------------------------
    def set_grid_visible(self, visible: bool) -> None:
        """Show or hide the floor grid and the orientation axes."""
        self.grid.set_visible(visible)
        if self._axes is not None:
            self._axes.SetEnabled(1 if visible else 0)
            if visible:
                self._axes.InteractiveOff()
        self.request_render()

    def set_dark(self, dark: bool) -> None:
        """Switch the background between the light and dark theme gradients."""
        top, bottom = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
        self._renderer.GradientBackgroundOn()
        self._renderer.SetBackground(*bottom)
        self._renderer.SetBackground2(*top)
        self.request_render()

    # -- handle ----------------------------------------------------------------------
    def set_handle_mode(self, mode: HandleMode | None) -> None:
        """Show the move or rotate handle on a single selected node (``None``: no handle)."""
        self._handle_mode = mode
        self._handle.set_mode(mode)
        self._handle_key = None
        self.request_render()

    def set_orbit(self, style: str) -> None:
        """Orbit with left-drag as a Z-up ``"turntable"`` (default) or a free
        ``"trackball"``; raises ``ValueError`` for anything else."""
        if style not in ORBIT_STYLES:
            raise ValueError(f"orbit style must be one of {ORBIT_STYLES}, not {style!r}")
        self._orbit = style

    @property
    def orbit(self) -> str:
        """The orbit style: ``"turntable"`` or ``"trackball"``."""
        return self._orbit

    def set_snapping(self, on: bool) -> None:
        """Snap handle drags to the translation/rotation steps."""
        self._handle.set_snapping(on)

    def set_snap_steps(self, move: float, rotate_deg: float) -> None:
        """Set the snapping steps: metres for moves, degrees for rotations."""
        self._handle.set_snapping(self._handle.snapping, move, rotate_deg)

    def _sync_handle(self) -> None:
        handle = self._handle
        if handle.dragging:
            return
        doc = self._doc
        sel = self.visual.selection
        if self._handle_mode is None or doc is None or len(sel) != 1:
            if handle.node_id is not None:
                handle.detach()
            self._handle_key = None
            return
        (nid,) = tuple(sel)
        node = doc.get(nid)
        if node is None or node.parent is None:
            handle.detach()
            return
        world = self.visual.world_matrix(nid)
        parent = self.visual.world_matrix(node.parent)
        bounds = self.visual.local_bounds(nid)
        if world is None or parent is None or bounds is None:
            handle.detach()
            return
        key = (nid, node.transform, parent.tobytes(), bounds, self._handle_mode)
        if key == self._handle_key:
            return
        self._handle_key = key
        handle.attach(nid, node.transform, world, parent, bounds)

    def _on_handle_transform(self, node_id: str, transform: tuple[float, ...],
                             finished: bool) -> None:
        self.sig_transform_dragged.emit(node_id, tuple(transform), finished)
        if finished:
            self._handle_key = None
            self.request_render()

    # -- mouse -----------------------------------------------------------------------
    def _display_pos(self, event: QMouseEvent) -> tuple[int, int]:
        """Qt widget coordinates → VTK display pixels (origin bottom-left)."""
        ratio = self._qt.devicePixelRatioF()
        pos = event.position()
        return round(pos.x() * ratio), round((self._qt.height() - pos.y() - 1) * ratio)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Watch the interactor's mouse and key events for clicks, hover and the handle;
        consume only what the handle takes (so the camera does not move with it)."""
        if watched is self._qt and not self._closed:
            kind = event.type()
            if kind == QEvent.Type.MouseButtonPress:
                return self._on_press(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.MouseButtonRelease:
                return self._on_release(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.MouseMove:
                return self._on_move(event)  # type: ignore[arg-type]
            if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                    and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape \
                    and self._handle.dragging:
                event.accept()  # Esc cancels the drag rather than clearing the selection
                if kind == QEvent.Type.KeyPress:
                    self._handle.cancel()
                    self.request_render()
                return True
        return False

    def _on_press(self, event: QMouseEvent) -> bool:
        self._hover_timer.stop()
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        x, y = self._display_pos(event)
        if self._handle.enabled and self._handle.press(x, y):
            self._dragged_handle = True
            self._press = None
            self.request_render()
            return True
        self._press = (x, y)
        mods = event.modifiers()
        self._press_additive = bool(mods & (Qt.KeyboardModifier.ControlModifier
                                            | Qt.KeyboardModifier.ShiftModifier))
        self._dragged_handle = False
        if self._orbit == "turntable" and not mods & Qt.KeyboardModifier.ShiftModifier:
            self._orbit_from = (x, y)  # shift-left still pans, through the camera style
            return True
        return False

    def _on_release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        orbiting, self._orbit_from = self._orbit_from is not None, None
        if self._handle.dragging:
            self._dragged_handle = False
            self._handle.release(*self._display_pos(event))
            self.request_render()
            return True
        press, self._press = self._press, None
        if press is None or self._dragged_handle:
            consumed = self._dragged_handle  # the rest of a drag that Esc cancelled
            self._dragged_handle = False
            return consumed
        x, y = self._display_pos(event)
        if abs(x - press[0]) > CLICK_SLOP or abs(y - press[1]) > CLICK_SLOP:
            return orbiting  # an orbit, not a click
        node_id = self.visual.pick(x, y)
        self.sig_picked.emit(node_id, self._press_additive)
        return orbiting

    def _on_move(self, event: QMouseEvent) -> bool:
        pos = self._display_pos(event)
        if self._handle.dragging:
            self._handle.move(*pos)
            self.request_render()
            return True
        if self._dragged_handle:
            return True  # Esc cancelled the drag: the button is still down, keep the camera
        if self._orbit_from is not None:
            x0, y0 = self._orbit_from
            self._orbit_from = pos
            turntable(self._renderer, pos[0] - x0, pos[1] - y0)
            self.request_render()
            return True
        if event.buttons() != Qt.MouseButton.NoButton:
            return False
        if self._handle.enabled and self._handle.hover(*pos):
            self.request_render()
        if self._handle.hovered is not None:
            self._hover_timer.stop()
            self._set_part_hover(None)
            return False
        self._hover_pos = pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()
        return False

    def _do_hover(self) -> None:
        if self._hover_pos is None or self._closed or self._press is not None:
            return
        self._set_part_hover(self.visual.pick(*self._hover_pos))

    def _set_part_hover(self, node_id: str | None) -> None:
        if node_id != self._hover:
            self._hover = node_id
            # A floor slab or a wall is the backdrop: tinting it would flood the whole hall.
            lit = None if node_id is None or self.visual.is_backdrop(node_id) else node_id
            self.visual.set_hover(lit)
            self.sig_hovered.emit(node_id)
            self.request_render()

    def leaveEvent(self, event: Any) -> None:
        """Clear the hover highlight when the mouse leaves the view."""
        self._hover_timer.stop()
        self._hover_pos = None
        if self._hover is not None:
            self._hover = None
            self.visual.set_hover(None)
            self.sig_hovered.emit(None)
            self.request_render()
        super().leaveEvent(event)

    # -- teardown --------------------------------------------------------------------
    def close(self) -> bool:
        """Release VTK resources (visual, handle, observers, render window) and close."""
        if not self._closed:
            self._closed = True
            self._hover_timer.stop()
            self._qt.removeEventFilter(self)
            if self._iren_render_tag is not None:
                self._iren.RemoveObserver(self._iren_render_tag)
                self._iren.EnableRenderOn()
            self._renderer.RemoveObserver(self._render_tag)
            self._handle.close()
            if self._axes is not None:
                self._axes.SetEnabled(0)
                # VTK detaches on None; its type stubs do not allow for it.
                self._axes.SetInteractor(None)  # type: ignore[arg-type]
            self.visual.close()
            self.grid.close()
            self._qt.close()
        return bool(super().close())

