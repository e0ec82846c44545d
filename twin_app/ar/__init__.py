"""Camera AR: register a webcam or video to the world with a ChArUco board on the fixture.

Pure module (numpy + OpenCV, no Qt or VTK), so it runs in worker threads and headless
tools. The pieces, in the order a frame meets them:

* ``board.BoardSpec`` — the printed board and its fixed pose in the world (a JSON file);
* ``detect.BoardDetector`` — ArUco markers, then sub-pixel ChArUco corners;
* ``pose.PoseTracker`` — IPPE pose with both planar solutions, the flip resolved by
  reprojection error and temporal consistency, and the verdict (trusted, or why not);
* ``camera.CameraModel`` — intrinsics and distortion (a JSON file), ``calibrate`` fits
  one from board views; ``synth`` renders the board at a known pose for tests.

``python -m twin_app.ar`` writes a printable board and calibrates from a video or images.
"""

from __future__ import annotations

from twin_app.ar.board import BoardSpec
from twin_app.ar.calibrate import calibrate, detections_from_images, detections_from_video
from twin_app.ar.camera import CameraModel
from twin_app.ar.detect import BoardDetector, Detection
from twin_app.ar.errors import ARError, BoardFileError, CalibrationError, SourceError
from twin_app.ar.pose import NO_BOARD, Limits, PoseResult, PoseTracker, project
from twin_app.ar.source import FrameSource

__all__ = [
    "NO_BOARD",
    "ARError",
    "BoardDetector",
    "BoardFileError",
    "BoardSpec",
    "CalibrationError",
    "CameraModel",
    "Detection",
    "FrameSource",
    "Limits",
    "PoseResult",
    "PoseTracker",
    "SourceError",
    "calibrate",
    "detections_from_images",
    "detections_from_video",
    "project",
]
