"""Finding the ChArUco board's corners in a camera frame.

Two stages, as OpenCV's ChArUco detector works: ArUco markers are found first, then the
chessboard corners between them are interpolated and refined to sub-pixel precision on
the full-resolution frame (``cv2.aruco.CharucoDetector.detectBoard`` given the markers).

Speed: marker search dominates (~25 ms on a 1080p frame with OpenCV's defaults). Two
measured causes, two remedies:

* Identification compares every candidate with every code of the dictionary: with the
  100-code dictionary it costs more than finding the candidates. The board only uses its
  first ``n`` codes, so the search uses a dictionary of just those (same ids, same
  error correction) — about half the time, and fewer false matches.
* OpenCV's defaults try three adaptive-threshold windows at full resolution. Markers need
  no sub-pixel accuracy (only the chessboard corners do), so once the board has been seen
  the search runs on the frame scaled by a power of two (exact 2:1 area averaging is
  cheap) so that markers are ≥ ``MIN_MARKER_PX`` pixels wide, with one threshold window
  sized for that. If that finds nothing, or on the first frame, the full-resolution
  search with the default parameters runs instead (also when it finds fewer than 3/4 of
  the last frame's markers), so a board that jumped in size is still found. Corner precision is the same in both paths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.board import BoardSpec

MIN_MARKER_PX = 24.0  # smallest marker side in the scaled search image
FAST_WINDOW = 15  # adaptive-threshold window (pixels) for markers of 24–48 px
MIN_SCALE = 0.25
FALLBACK_FRACTION = 0.75  # fast search finding fewer of last frame's markers: search fully


@dataclass(frozen=True)
class Detection:
    """What was found in one frame.

    ``corners``: n×2 float64 sub-pixel chessboard corners; ``ids``: their n corner ids
    (indices into ``BoardSpec.object_points()``); ``markers``: ArUco markers found;
    ``marker_px``: median marker side in frame pixels (0 if none); ``scale``: the search
    image's scale (1.0 = full-resolution search); ``ms``: time spent.
    """

    corners: NDArray[np.float64]
    ids: NDArray[np.int32]
    markers: int
    marker_px: float
    scale: float
    image_size: tuple[int, int]
    ms: float

    @property
    def count(self) -> int:
        """Number of chessboard corners found."""
        return int(self.ids.shape[0])


def board_dictionary(spec: BoardSpec) -> cv2.aruco.Dictionary:
    """Return the dictionary of the codes ``spec``'s board uses (its first ``n`` codes,
    ids unchanged)."""
    base = spec.cv_board().getDictionary()
    n = int(np.asarray(spec.cv_board().getIds()).size)
    return cv2.aruco.Dictionary(np.ascontiguousarray(base.bytesList[:n]), base.markerSize,
                                base.maxCorrectionBits)


def to_grey(frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Return ``frame`` as one grey channel (BGR, BGRA or already grey)."""
    if frame.ndim == 2:
        return frame
    code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return np.asarray(cv2.cvtColor(frame, code), dtype=np.uint8)


class BoardDetector:
    """Finds one board's corners in frames; remembers the marker size between frames.

    Not thread-safe: use one detector per video stream (it keeps per-stream state).
    """

    def __init__(self, spec: BoardSpec) -> None:
        self.spec = spec
        board = spec.cv_board()
        self._charuco = cv2.aruco.CharucoDetector(board)
        used = board_dictionary(spec)
        self._full = cv2.aruco.ArucoDetector(used, cv2.aruco.DetectorParameters())
        fast = cv2.aruco.DetectorParameters()
        fast.adaptiveThreshWinSizeMin = FAST_WINDOW
        fast.adaptiveThreshWinSizeMax = FAST_WINDOW
        self._fast = cv2.aruco.ArucoDetector(used, fast)
        self._marker_px = 0.0  # last frame's median marker side, 0 = unknown
        self._marker_count = 0  # markers found in the last frame

    def reset(self) -> None:
        """Forget the previous frame (a new video, a cut)."""
        self._marker_px = 0.0
        self._marker_count = 0

    def detect(self, frame: NDArray[np.uint8]) -> Detection:
        """Return the board corners found in ``frame`` (BGR or grey uint8)."""
        t0 = time.perf_counter()
        grey = to_grey(frame)
        h, w = grey.shape[:2]
        corners: list[NDArray[np.float32]] = []
        ids: NDArray[np.int32] | None = None
        scale = 1.0
        if self._marker_px > 0:
            scale = 1.0
            while scale > MIN_SCALE and self._marker_px * scale / 2 >= MIN_MARKER_PX:
                scale /= 2
            corners, ids = self._markers(self._fast, grey, scale)
            if ids is not None and len(ids) < FALLBACK_FRACTION * self._marker_count:
                ids = None  # losing markers: search fully rather than degrade
        if ids is None or len(ids) == 0:
            scale = 1.0
            corners, ids = self._markers(self._full, grey, 1.0)
        if ids is None or len(ids) == 0:
            self._marker_px = 0.0
            self._marker_count = 0
            return Detection(np.zeros((0, 2)), np.zeros(0, np.int32), 0, 0.0, scale, (w, h),
                             (time.perf_counter() - t0) * 1000)
        sides = [float(np.mean(np.linalg.norm(c.reshape(4, 2) - np.roll(c.reshape(4, 2), 1, 0),
                                              axis=1))) for c in corners]
        self._marker_px = float(np.median(sides))
        self._marker_count = len(ids)
        ch_corners, ch_ids, _, _ = self._charuco.detectBoard(
            grey, markerCorners=corners, markerIds=ids)
        if ch_ids is None or ch_corners is None or len(ch_ids) == 0:
            pts, cid = np.zeros((0, 2)), np.zeros(0, np.int32)
        else:
            pts = np.asarray(ch_corners, dtype=np.float64).reshape(-1, 2)
            cid = np.asarray(ch_ids, dtype=np.int32).reshape(-1)
        return Detection(pts, cid, len(ids), self._marker_px, scale, (w, h),
                         (time.perf_counter() - t0) * 1000)

    @staticmethod
    def _markers(detector: cv2.aruco.ArucoDetector, grey: NDArray[np.uint8], scale: float
                 ) -> tuple[list[NDArray[np.float32]], NDArray[np.int32] | None]:
        img = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale,
                                                    interpolation=cv2.INTER_AREA)
        found, ids, _ = detector.detectMarkers(img)
        if ids is None:
            return [], None
        if scale == 1.0:
            out = [np.asarray(c, dtype=np.float32) for c in found]
        else:
            # pixel centres: full = (scaled + 0.5) / scale − 0.5
            off = 0.5 / scale - 0.5
            out = [np.asarray(c, dtype=np.float32) / scale + off for c in found]
        return out, np.asarray(ids, dtype=np.int32)
