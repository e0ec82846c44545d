"""Camera calibration from views of the ChArUco board.

ChArUco corners carry their ids, so partly visible boards still count — a calibration can
be taken by waving the board (or the camera) around for half a minute. Views with fewer
than ``min_corners`` corners are skipped; at least ``MIN_VIEWS`` are needed. The
distortion model is k1, k2, p1, p2 (k3 fixed at 0 by default: with the few views a user
takes, a free k3 overfits and bends the image edges). The result's RMS reprojection error
says how well the model fits: < 0.5 px is good, > 1 px means blurred frames or a bent
board.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from twin_app.ar.board import BoardSpec
from twin_app.ar.camera import CameraModel
from twin_app.ar.detect import BoardDetector, Detection
from twin_app.ar.errors import CalibrationError
from twin_app.ar.source import FrameSource

MIN_VIEWS = 4


def calibrate(spec: BoardSpec, detections: Iterable[Detection], *, min_corners: int = 12,
              fix_k3: bool = True, name: str = "") -> CameraModel:
    """Return the camera model fitted to ``detections`` (frames of one camera and size).

    Raises ``CalibrationError`` when fewer than ``MIN_VIEWS`` views have ``min_corners``
    corners, when the views differ in size, or when OpenCV cannot fit a model.
    """
    obj_all = spec.object_points().astype(np.float32)
    objs: list[np.ndarray] = []
    imgs: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    for det in detections:
        if det.count < min_corners:
            continue
        if size is not None and det.image_size != size:
            raise CalibrationError(f"Views of two sizes ({size[0]}×{size[1]} and "
                                   f"{det.image_size[0]}×{det.image_size[1]}): calibrate one "
                                   "camera at one resolution.")
        size = det.image_size
        objs.append(np.ascontiguousarray(obj_all[det.ids]).reshape(-1, 1, 3))
        imgs.append(det.corners.astype(np.float32).reshape(-1, 1, 2))
    if size is None or len(objs) < MIN_VIEWS:
        raise CalibrationError(
            f"Only {len(objs)} usable views of the board (at least {MIN_VIEWS} with "
            f"{min_corners}+ corners are needed; 15–30 from different angles is better).")
    flags = cv2.CALIB_FIX_K3 if fix_k3 else 0
    try:
        rms, k, dist, _r, _t = cv2.calibrateCamera(objs, imgs, size, None, None, flags=flags)
    except cv2.error as exc:
        raise CalibrationError("OpenCV could not fit a camera model to these views "
                               "(too similar? show the board tilted in several "
                               "directions).") from exc
    k = np.asarray(k, dtype=np.float64)
    d = tuple(float(v) for v in np.asarray(dist, dtype=np.float64).reshape(-1)[:5])
    return CameraModel(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                       size[0], size[1], d, True, float(rms), len(objs), name)


def detections_from_video(spec: BoardSpec, path: str | Path, *, max_views: int = 40,
                          min_corners: int = 12) -> list[Detection]:
    """Return up to ``max_views`` detections spread evenly over a video file's frames
    (only frames with ``min_corners`` corners). Raises ``SourceError``."""
    src = FrameSource(path)
    try:
        step = max(1, src.frame_count // (max_views * 2)) if src.frame_count else 1
        out: list[Detection] = []
        i = 0
        while True:
            frame = src.read()
            if frame is None:
                break
            if i % step == 0:
                det = BoardDetector(spec).detect(frame)  # fresh: views are independent
                if det.count >= min_corners:
                    out.append(det)
            i += 1
        return _spread(out, max_views)
    finally:
        src.close()


def detections_from_images(spec: BoardSpec, paths: Sequence[str | Path]) -> list[Detection]:
    """Return the detections of still images. Raises ``CalibrationError`` for an
    unreadable image."""
    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise CalibrationError(f"Cannot read the image {p}.")
        out.append(BoardDetector(spec).detect(np.asarray(img, dtype=np.uint8)))
    return out


def _spread(items: list[Detection], n: int) -> list[Detection]:
    if len(items) <= n:
        return items
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]
