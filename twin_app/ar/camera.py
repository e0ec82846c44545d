"""The camera model (intrinsics and lens distortion) and its readable calibration file.

``CameraModel`` holds OpenCV's 3×3 camera matrix ``K``, the distortion coefficients
(k1, k2, p1, p2[, k3…]) and the image size they were measured at. ``guess`` makes an
uncalibrated stand-in (a typical webcam's field of view) so a video can be looked at
before calibrating; such a model is marked ``calibrated=False`` and the pose verdict
never trusts it. A calibration measured at one resolution is valid at another of the same
aspect ratio (webcams scale the sensor); ``for_size`` rescales it and refuses otherwise.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.errors import CalibrationError

FORMAT = "twinroom-camera"
VERSION = 1
GUESS_HFOV_DEG = 65.0  # a typical webcam


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera at one image size (``width``, ``height`` in pixels)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    dist: tuple[float, ...] = ()
    calibrated: bool = True
    rms_px: float | None = None  # the calibration's reprojection error, if measured
    views: int = 0  # frames the calibration used
    name: str = ""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"Image size {self.width}×{self.height} is not valid.")
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.fx) and math.isfinite(self.fy)):
            raise CalibrationError("Focal lengths fx and fy must be positive numbers.")
        if not all(math.isfinite(v) for v in (self.cx, self.cy, *self.dist)):
            raise CalibrationError("The principal point and distortion must be numbers.")
        if len(self.dist) not in (0, 4, 5, 8, 12, 14):
            raise CalibrationError(f"{len(self.dist)} distortion coefficients: OpenCV takes "
                                   "4, 5, 8, 12 or 14.")

    @classmethod
    def guess(cls, width: int, height: int) -> CameraModel:
        """An uncalibrated stand-in for a ``width``×``height`` camera."""
        f = (width / 2) / math.tan(math.radians(GUESS_HFOV_DEG) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height, (),
                   calibrated=False, name="guessed (not calibrated)")

    @property
    def K(self) -> NDArray[np.float64]:
        """The 3×3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist_coeffs(self) -> NDArray[np.float64]:
        """The distortion coefficients as OpenCV takes them (possibly empty)."""
        return np.asarray(self.dist, dtype=np.float64).reshape(-1, 1)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def undistort(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Return ``frame`` (this model's size) as an ideal pinhole camera with the same
        ``K`` would see it; the frame itself when there is no distortion."""
        if not any(self.dist):
            return frame
        m1, m2 = _undistort_maps(self)
        return np.asarray(cv2.remap(frame, m1, m2, cv2.INTER_LINEAR), dtype=np.uint8)

    def for_size(self, width: int, height: int) -> CameraModel:
        """Return this model for frames of ``width``×``height``.

        Same size: ``self``. Same aspect ratio: the intrinsics scaled (pixel centres kept).
        Raises ``CalibrationError`` when the aspect ratio differs (the sensor is cropped
        differently, so the calibration does not apply).
        """
        if (width, height) == self.size:
            return self
        if abs(width / height - self.width / self.height) > 0.01:
            raise CalibrationError(
                f"The calibration was made at {self.width}×{self.height}, this video is "
                f"{width}×{height} (another aspect ratio): calibrate at this resolution.")
        s = width / self.width
        return CameraModel(self.fx * s, self.fy * s, (self.cx + 0.5) * s - 0.5,
                           (self.cy + 0.5) * s - 0.5, width, height, self.dist,
                           self.calibrated, self.rms_px, self.views, self.name)

    # -- files -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the calibration file's content (JSON-ready)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "image_size": [self.width, self.height],
            "camera_matrix": [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
            "dist_coeffs": list(self.dist),
            "calibrated": self.calibrated,
            "rms_px": self.rms_px,
            "views": self.views,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @classmethod
    def from_json(cls, data: object) -> CameraModel:
        """Build a model from a calibration file's content. Raises ``CalibrationError``."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CalibrationError(f"Not a camera calibration file (expected \"format\": "
                                   f"\"{FORMAT}\").")
        if data.get("version") != VERSION:
            raise CalibrationError(f"Calibration file version {data.get('version')!r} is not "
                                   f"supported (this build reads version {VERSION}).")
        try:
            w, h = (int(v) for v in data["image_size"])
            k = np.asarray(data["camera_matrix"], dtype=np.float64)
            if k.shape != (3, 3):
                raise ValueError("camera_matrix must be 3×3")
            if abs(k[0, 1]) > 1e-9 or abs(k[1, 0]) > 1e-9 or not np.allclose(k[2], (0, 0, 1)):
                raise ValueError("camera_matrix must be [[fx,0,cx],[0,fy,cy],[0,0,1]]")
            rms = data.get("rms_px")
            return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), w, h,
                       tuple(float(v) for v in data.get("dist_coeffs", [])),
                       bool(data.get("calibrated", True)),
                       None if rms is None else float(rms), int(data.get("views", 0)),
                       str(data.get("name", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"The calibration file is incomplete or has a wrong value: "
                                   f"{exc}") from exc

    def save(self, path: str | Path) -> None:
        """Write the calibration file (JSON) to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CameraModel:
        """Read a calibration file. Raises ``CalibrationError`` with the reason in words."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CalibrationError(f"The calibration file {path} is not a text (JSON) file.") from exc
        except OSError as exc:
            raise CalibrationError(f"Cannot read the calibration file {path}: "
                                   f"{exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"The calibration file {path} is not valid JSON "
                                   f"(line {exc.lineno}: {exc.msg}).") from exc
        return cls.from_json(data)


@lru_cache(maxsize=4)
def _undistort_maps(cam: CameraModel) -> tuple[NDArray[np.int16], NDArray[np.uint16]]:
    m1, m2 = cv2.initUndistortRectifyMap(cam.K, cam.dist_coeffs, None, cam.K, cam.size,
                                         cv2.CV_16SC2)
    return np.asarray(m1, dtype=np.int16), np.asarray(m2, dtype=np.uint16)
