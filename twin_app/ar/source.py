"""Frames from a webcam or a video file (OpenCV's ``VideoCapture``), with errors in words."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.errors import SourceError


class FrameSource:
    """An open webcam (``int`` index) or video file (path). Not thread-safe: read it from
    one thread. Raises ``SourceError`` if it cannot be opened."""

    def __init__(self, source: int | str | Path) -> None:
        self.is_file = not isinstance(source, int)
        self.label = f"webcam {source}" if isinstance(source, int) else Path(source).name
        if not isinstance(source, int) and not Path(source).is_file():
            raise SourceError(f"The video file {source} does not exist.")
        self._cap = cv2.VideoCapture(source if isinstance(source, int) else str(source))
        if not self._cap.isOpened():
            self._cap.release()
            what = ("No webcam answered at index " + str(source) if isinstance(source, int)
                    else f"Cannot read {Path(source).name} as a video (unknown format or "
                         "damaged file)")
            raise SourceError(what + ".")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self.frame_count = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self.frames_read = 0

    def read(self) -> NDArray[np.uint8] | None:
        """Return the next frame (BGR uint8), or ``None`` at the end or on a read error."""
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        self.frames_read += 1
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        """Release the device or file (idempotent)."""
        self._cap.release()
