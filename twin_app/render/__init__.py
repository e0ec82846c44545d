"""Rendering layer: the document drawn with VTK (through pyvista), without Qt or sockets.

``SceneVisual`` draws the parts as a few composite actors and follows ``ChangeSet``s;
``views`` holds the grid, axes, standard views and camera tuples; ``handle`` the
move/rotate handle. Importing this package imports VTK.
"""

from __future__ import annotations

from twin_app.render.handle import TransformHandle, snap_delta
from twin_app.render.scene import ACCENT, SceneVisual
from twin_app.render.views import (
    STANDARD_VIEWS,
    GroundGrid,
    ViewError,
    add_orientation_axes,
    apply_camera_tuple,
    camera_tuple,
    fit,
    set_standard_view,
    turntable,
)

__all__ = [
    "ACCENT",
    "STANDARD_VIEWS",
    "GroundGrid",
    "SceneVisual",
    "TransformHandle",
    "ViewError",
    "add_orientation_axes",
    "apply_camera_tuple",
    "camera_tuple",
    "fit",
    "set_standard_view",
    "snap_delta",
    "turntable",
]
