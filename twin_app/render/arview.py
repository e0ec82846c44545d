"""Camera AR rendering: a VTK camera that matches a real camera, over its video frame.

``set_camera_from_cv`` turns OpenCV intrinsics (``K``, image size) and extrinsics
(``T_cam_world``: world → camera, OpenCV axes x right, y down, z forward) into a
``vtkCamera``:

* position ``C = −Rᵀt``; direction of projection ``Rᵀ·(0, 0, 1)``; view-up ``Rᵀ·(0, −1, 0)``
  (the image's up is OpenCV's −y, so nothing is mirrored);
* vertical view angle ``2·atan((h/2) / fy)`` — the frustum's edges are the image's outer
  pixel edges;
* window centre from the principal point: VTK shifts the frustum by ``WindowCenter`` in
  normalised device units, so the optical axis lands at NDC ``−WindowCenter``. Pixel
  centres are at integer coordinates, so ``(cx, cy)`` is at NDC
  ``(2(cx+½)/w − 1, 1 − 2(cy+½)/h)`` (y flips: pixel rows go down);
* ``fx ≠ fy`` (non-square pixels) through an explicit aspect ratio ``(w/h)·(fy/fx)``.

``ARView`` renders off screen at the frame's size (scaled down to ``max_width``, with the
intrinsics scaled to match): the frame is the renderer's textured background, the
highlighted parts are drawn over it with that camera, and the result comes back as an
RGB array for any toolkit to show. VTK draws an ideal pinhole camera, so a frame from a
lens with distortion must be undistorted with the same ``K`` first (the AR module's
``CameraModel.undistort``). The part geometry is the caller's (typically the main
scene's block polydata, shared, so a moved part moves here too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import (
    vtkCamera,
    vtkCoordinate,
    vtkRenderWindow,
    vtkTexture,
    vtkWindowToImageFilter,
)

from twin_app.render._vtk import (
    vtkActor,
    vtkPolyData,
    vtkPolyDataMapper,
    vtkRenderer,
)
from twin_app.render.overlays import line_polydata

HIGHLIGHT: tuple[float, float, float] = (1.0, 0.55, 0.05)
HIGHLIGHT_OPACITY = 0.6
DEFAULT_MAX_WIDTH = 1280


def cv_camera_parameters(K: NDArray[np.floating], size: tuple[int, int]
                         ) -> tuple[float, tuple[float, float], float]:
    """Return VTK's ``(view_angle_deg, window_center, aspect)`` for intrinsics ``K`` of a
    ``size = (width, height)`` image. Raises ``ValueError`` for non-positive focal lengths."""
    w, h = size
    fx, fy, cx, cy = float(K[0][0]), float(K[1][1]), float(K[0][2]), float(K[1][2])
    if fx <= 0 or fy <= 0 or w <= 0 or h <= 0:
        raise ValueError("focal lengths and image size must be positive")
    view_angle = math.degrees(2.0 * math.atan((h / 2.0) / fy))
    center = (1.0 - 2.0 * (cx + 0.5) / w, 2.0 * (cy + 0.5) / h - 1.0)
    return view_angle, center, (w / h) * (fy / fx)


def set_camera_from_cv(camera: vtkCamera, K: NDArray[np.floating], size: tuple[int, int],
                       T_cam_world: NDArray[np.floating], near: float = 0.02,
                       far: float = 200.0) -> None:
    """Make ``camera`` see what an OpenCV camera with intrinsics ``K`` (3×3) of a ``size``
    image at pose ``T_cam_world`` (4×4) sees. ``near``/``far``: clipping distances (m)."""
    t = np.asarray(T_cam_world, dtype=np.float64)
    r = t[:3, :3]
    pos = -r.T @ t[:3, 3]
    forward = r.T @ np.array([0.0, 0.0, 1.0])
    up = r.T @ np.array([0.0, -1.0, 0.0])
    view_angle, center, aspect = cv_camera_parameters(K, size)
    camera.SetPosition(*pos)
    camera.SetFocalPoint(*(pos + forward))
    camera.SetViewUp(*up)
    camera.SetUseHorizontalViewAngle(False)
    camera.SetViewAngle(view_angle)
    camera.SetWindowCenter(*center)
    camera.SetExplicitAspectRatio(aspect)
    camera.SetUseExplicitAspectRatio(True)
    camera.SetClippingRange(near, far)


class ARView:
    """Off-screen renderer of highlighted parts over a camera frame.

    Usage: ``set_highlight([...polydata])`` when the highlighted set changes, then
    ``render(frame_rgb, K, T_cam_world)`` per frame, which returns the composited RGB
    image (height×width×3 uint8, at most ``max_width`` wide). ``close()`` frees the
    OpenGL context. Only one thread may use an instance (the GUI thread in the app).
    """

    def __init__(self, max_width: int = DEFAULT_MAX_WIDTH) -> None:
        self.max_width = max_width
        self.renderer = vtkRenderer()
        self.window = vtkRenderWindow()
        self.window.SetOffScreenRendering(True)
        self.window.SetMultiSamples(0)
        self.window.AddRenderer(self.renderer)
        self._image = vtkImageData()
        self._texture = vtkTexture()
        self._texture.SetInputData(self._image)
        self._texture.InterpolateOn()
        self.renderer.SetBackgroundTexture(self._texture)
        self.renderer.TexturedBackgroundOff()
        self.renderer.SetBackground(0.1, 0.1, 0.12)
        self._grab = vtkWindowToImageFilter()
        self._grab.SetInput(self.window)
        self._grab.SetInputBufferTypeToRGB()
        self._grab.ReadFrontBufferOff()
        self._actors: list[vtkActor] = []
        self._lines: vtkActor | None = None
        self._size = (0, 0)
        self._frame: NDArray[np.uint8] | None = None  # keeps the texture's memory alive
        self._closed = False

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the last render."""
        return self._size

    def render_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width``×``height`` frame is rendered at."""
        if width <= self.max_width:
            return width, height
        s = self.max_width / width
        return self.max_width, max(1, round(height * s))

    def set_highlight(self, parts: Sequence[vtkPolyData],
                      color: tuple[float, float, float] = HIGHLIGHT,
                      opacity: float = HIGHLIGHT_OPACITY) -> None:
        """Draw ``parts`` (world-space polydata, shared not copied) in ``color``."""
        for a in self._actors:
            self.renderer.RemoveActor(a)
        self._actors = []
        for pd in parts:
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(pd)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetColor(*color)
            prop.SetOpacity(opacity)
            prop.SetAmbient(0.35)
            actor.PickableOff()
            self.renderer.AddActor(actor)
            self._actors.append(actor)

    def set_lines(self, points: NDArray[np.floating] | None, edges: NDArray[np.integer] | None,
                  color: tuple[float, float, float] = (0.2, 0.9, 0.4), width: float = 2.0
                  ) -> None:
        """Draw world-space line segments (e.g. the board's outline), or none."""
        if self._lines is not None:
            self.renderer.RemoveActor(self._lines)
            self._lines = None
        if points is None or edges is None or len(edges) == 0:
            return
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(line_polydata(points, edges))
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*color)
        actor.GetProperty().SetLineWidth(width)
        actor.GetProperty().LightingOff()
        actor.PickableOff()
        self.renderer.AddActor(actor)
        self._lines = actor

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._closed

    @property
    def highlight_count(self) -> int:
        """Number of highlighted parts."""
        return len(self._actors)

    def render(self, frame_rgb: NDArray[np.uint8], K: NDArray[np.floating] | None,
               T_cam_world: NDArray[np.floating] | None, *, draw_scene: bool = True
               ) -> NDArray[np.uint8]:
        """Return ``frame_rgb`` (h×w×3, RGB, for the camera ``K`` at full size) with the
        scene drawn over it from ``T_cam_world``; the frame alone if the pose or ``K`` is
        ``None`` or ``draw_scene`` is false. The result may be scaled to ``max_width``."""
        if self._closed:
            raise RuntimeError("ARView is closed")
        h, w = frame_rgb.shape[:2]
        rw, rh = self.render_size(w, h)
        if (rw, rh) != (w, h):
            import cv2  # only needed for scaling; the render layer does not require OpenCV

            frame_rgb = np.asarray(cv2.resize(frame_rgb, (rw, rh), interpolation=cv2.INTER_AREA),
                                   dtype=np.uint8)
        self._set_background(frame_rgb)
        if (rw, rh) != self._size:
            self.window.SetSize(rw, rh)
            self._size = (rw, rh)
        show = draw_scene and K is not None and T_cam_world is not None
        for a in self._actors:
            a.SetVisibility(show)
        if self._lines is not None:
            self._lines.SetVisibility(show)
        if show:
            assert K is not None and T_cam_world is not None
            s = rw / w
            k = np.asarray(K, dtype=np.float64).copy()
            # scale about pixel centres: u' = (u + ½)·s − ½
            k[0, 0] *= s
            k[1, 1] *= rh / h
            k[0, 2] = (k[0, 2] + 0.5) * s - 0.5
            k[1, 2] = (k[1, 2] + 0.5) * (rh / h) - 0.5
            set_camera_from_cv(self.renderer.GetActiveCamera(), k, (rw, rh), T_cam_world)
        self.window.Render()
        self._grab.Modified()
        self._grab.Update()
        out = self._grab.GetOutput()
        arr = np.asarray(out.GetPointData().GetScalars()).reshape(rh, rw, -1)[:, :, :3]
        return np.ascontiguousarray(arr[::-1])

    def world_to_pixel(self, point: Sequence[float]) -> tuple[float, float]:
        """Where the last render drew world ``point``, in image pixels (x right, y down)."""
        c = vtkCoordinate()
        c.SetCoordinateSystemToWorld()
        c.SetValue(float(point[0]), float(point[1]), float(point[2]))
        x, y = c.GetComputedDoubleDisplayValue(self.renderer)
        return float(x) - 0.5, float(self._size[1] - y) - 0.5

    def close(self) -> None:
        """Release the render window (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.set_highlight([])
        self.set_lines(None, None)
        self.window.Finalize()

    def _set_background(self, frame_rgb: NDArray[np.uint8]) -> None:
        h, w = frame_rgb.shape[:2]
        flipped = np.ascontiguousarray(frame_rgb[::-1, :, :3], dtype=np.uint8)
        self._frame = flipped.reshape(-1, 3)
        img = self._image
        if img.GetDimensions()[:2] != (w, h):
            img.SetDimensions(w, h, 1)
        # shared, not copied: self._frame stays referenced until the next frame
        arr = numpy_support.numpy_to_vtk(self._frame, deep=False)  # type: ignore[no-untyped-call]
        img.GetPointData().SetScalars(arr)
        img.Modified()
        self.renderer.TexturedBackgroundOn()
