"""Camera pose from the board's corners, with the planar flip resolved, and a verdict.

Planar targets have a well-known two-fold ambiguity: seen nearly head-on or from far
away, a board tilted one way and the same board tilted the other way give almost the
same image, and a solver can jump between the two from frame to frame (the overlay
"flips"). IPPE (``cv2.solvePnPGeneric(..., SOLVEPNP_IPPE)``) returns *both* solutions
with their reprojection errors. ``PoseTracker`` chooses:

1. if the second solution's error is at least ``ambiguity_ratio`` × the first's, the
   first (unambiguous);
2. otherwise, if a resolved pose from the last ``history_frames`` frames exists, the
   solution whose rotation is closest to it (temporal consistency);
3. otherwise the lower-error one, flagged unresolved: the overlay is not trusted until a
   view resolves it (tilting the camera a little does).

The verdict says whether the overlay can be trusted and, if not, why, in words: no board,
too few corners, reprojection error too high, unresolved flip, uncalibrated camera. The
RMS reprojection error over the corners is the registration quality shown to the user.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.board import BoardSpec
from twin_app.ar.camera import CameraModel
from twin_app.ar.detect import Detection
from twin_app.ar.geometry import Mat4, from_rvec_tvec, invert, rotation_angle

log = logging.getLogger(__name__)

NO_BOARD = "No board in view"


@dataclass(frozen=True)
class Limits:
    """When to stop trusting the overlay."""

    min_corners: int = 8
    max_rms_px: float = 1.0
    ambiguity_ratio: float = 2.0
    history_frames: int = 15


@dataclass(frozen=True)
class PoseResult:
    """The outcome for one frame.

    ``T_cam_board`` / ``T_cam_world``: 4×4 camera-from-board / camera-from-world (``None``
    when no pose); ``rms_px``: RMS reprojection error over ``corners`` corners; ``flip``:
    ``"unambiguous"``, ``"temporal"`` or ``"unresolved"`` (``""`` without a pose);
    ``ambiguity``: second-best over best IPPE error; ``T_cam_board_other``: the IPPE
    solution not chosen (the flipped pose); ``trusted`` and ``reason``: the verdict
    (``reason`` is a sentence either way).
    """

    trusted: bool
    reason: str
    corners: int = 0
    markers: int = 0
    T_cam_board: Mat4 | None = None
    T_cam_world: Mat4 | None = None
    rms_px: float | None = None
    flip: str = ""
    ambiguity: float | None = None
    detect_ms: float = 0.0
    pose_ms: float = 0.0
    image_points: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))
    T_cam_board_other: Mat4 | None = None

    @property
    def found(self) -> bool:
        """True if a pose was computed (trusted or not)."""
        return self.T_cam_board is not None


class PoseTracker:
    """Turns detections of one video stream into poses, keeping the flip consistent."""

    def __init__(self, spec: BoardSpec, camera: CameraModel, limits: Limits | None = None
                 ) -> None:
        self.spec = spec
        self.camera = camera
        self.limits = limits or Limits()
        self._obj = spec.object_points()
        self._T_world_board = spec.T_world_board
        self._T_board_world = invert(self._T_world_board)
        self._last: Mat4 | None = None  # last resolved T_cam_board
        self._since_last = 0

    def reset(self) -> None:
        """Forget the history (another video, the camera was moved far)."""
        self._last = None
        self._since_last = 0

    def update(self, det: Detection) -> PoseResult:
        """Return the pose and verdict for ``det`` (the next frame of the stream)."""
        t0 = time.perf_counter()
        lim = self.limits
        self._since_last += 1
        if self._since_last > lim.history_frames:
            self._last = None
        if det.count < 4:
            reason = (NO_BOARD if det.markers == 0 else
                      f"Board partly seen: {det.count} corners, at least "
                      f"{lim.min_corners} needed")
            return PoseResult(False, reason, det.count, det.markers, detect_ms=det.ms)
        cam = self.camera.for_size(*det.image_size)
        if self._collinear(det.ids):
            return PoseResult(False, f"Board partly seen: its {det.count} corners lie on one "
                              "line", det.count, det.markers, detect_ms=det.ms)
        obj = np.ascontiguousarray(self._obj[det.ids], dtype=np.float64)
        img = np.ascontiguousarray(det.corners, dtype=np.float64)
        try:
            _n, rvecs, tvecs, errs = cv2.solvePnPGeneric(
                obj, img, cam.K, cam.dist_coeffs, flags=cv2.SOLVEPNP_IPPE)
        except cv2.error:
            log.warning("IPPE failed on %d corners", det.count, exc_info=True)
            rvecs = ()
        if len(rvecs) == 0:
            return PoseResult(False, "No pose from these corners (degenerate view)", det.count,
                              det.markers, detect_ms=det.ms)
        sols = [from_rvec_tvec(np.asarray(r), np.asarray(t)) for r, t in zip(rvecs, tvecs,
                                                                              strict=True)]
        e = [float(v) for v in np.asarray(errs, dtype=np.float64).reshape(-1)]
        order = sorted(range(len(sols)), key=lambda i: e[i])
        sols = [sols[i] for i in order]
        e = [e[i] for i in order]
        ambiguity = e[1] / max(e[0], 1e-9) if len(sols) > 1 else math.inf
        if ambiguity >= lim.ambiguity_ratio:
            chosen, flip = sols[0], "unambiguous"
        elif self._last is not None:
            last = self._last
            chosen = min(sols, key=lambda s: rotation_angle(last, s))
            flip = "temporal"
        else:
            chosen, flip = sols[0], "unresolved"
        other = next((s for s in sols if s is not chosen), None)
        if flip != "unresolved":
            self._last = chosen
            self._since_last = 0
        proj = self._project(cam, chosen, obj)
        rms = float(np.sqrt(np.mean(np.sum((proj - img) ** 2, axis=1))))
        trusted, reason = self._verdict(cam, det, rms, flip)
        return PoseResult(trusted, reason, det.count, det.markers, chosen,
                          chosen @ self._T_board_world, rms, flip,
                          None if math.isinf(ambiguity) else ambiguity, det.ms,
                          (time.perf_counter() - t0) * 1000, img, other)

    def _verdict(self, cam: CameraModel, det: Detection, rms: float, flip: str
                 ) -> tuple[bool, str]:
        lim = self.limits
        quality = f"{det.count} corners, reprojection error {rms:.2f} px"
        if det.count < lim.min_corners:
            return False, (f"Board partly seen: {det.count} corners, at least "
                           f"{lim.min_corners} needed")
        if rms > lim.max_rms_px:
            return False, (f"Reprojection error {rms:.2f} px is above {lim.max_rms_px:g} px: "
                           "wrong calibration, a bent board or motion blur")
        if flip == "unresolved":
            return False, ("Pose ambiguous (board seen head-on or from far): tilt the camera "
                           "a little or come closer")
        if not cam.calibrated:
            return False, f"Camera not calibrated (intrinsics guessed); {quality}"
        return True, f"Registered: {quality}"

    def _collinear(self, ids: NDArray[np.int32]) -> bool:
        pts = self._obj[ids][:, :2]
        centred = pts - pts.mean(axis=0)
        # second singular value ~ spread across the best-fit line (metres · √n)
        return bool(np.linalg.svd(centred, compute_uv=False)[-1] < 1e-6)

    @staticmethod
    def _project(cam: CameraModel, T: Mat4, obj: NDArray[np.float64]) -> NDArray[np.float64]:
        rvec, _ = cv2.Rodrigues(np.ascontiguousarray(T[:3, :3]))
        pts, _ = cv2.projectPoints(obj, rvec, np.ascontiguousarray(T[:3, 3]), cam.K,
                                   cam.dist_coeffs)
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def project(camera: CameraModel, T_cam_world: Mat4, points: NDArray[np.floating]
            ) -> NDArray[np.float64]:
    """Return the pixel positions (n×2) of world ``points`` (n×3) seen by ``camera`` at
    ``T_cam_world``, lens distortion included."""
    pts = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    return PoseTracker._project(camera, T_cam_world, pts)
