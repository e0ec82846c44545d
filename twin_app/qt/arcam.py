"""The "Camera AR" window: the model drawn over a webcam or a video of the fixture.

Design notes
------------
* Threads: a worker thread (``_Tracker``) owns the ``FrameSource`` (OpenCV capture), the
  board detector and the pose tracker; per frame it reads, undistorts, detects, estimates
  the pose and hands an immutable ``FrameResult`` (RGB frame + ``PoseResult``) to the GUI
  thread through a queued Qt signal. The GUI thread only renders (VTK, ``ARView``) and
  paints. The worker waits until the GUI has taken the previous frame, so a slow paint
  never queues frames up (a webcam then drops frames in the driver, a file plays slower).
  A file plays at its own frame rate.
* What is drawn: the current selection of the main window (guidance highlights use the
  same ``ARView.set_highlight`` later), sharing the main scene's world-space block
  geometry, so a part moved by anyone moves in the overlay too; and the board's outline,
  green when the registration is trusted, red when not.
* The verdict is always visible: a green line with the registration quality, or an amber
  banner "Do not trust the overlay — <reason>" (no board, partly seen, high reprojection
  error, ambiguous pose, uncalibrated camera). Without a pose the frame is shown alone.
* Camera calibration and board files are read from the buttons (paths remembered in the
  settings). "Calibrate from Video…" fits a calibration to a video of the board shown
  from many angles in a worker thread, then asks where to save it (a readable JSON file,
  the same as ``python -m twin_app.ar calibrate`` writes) and uses it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from twin_app.ar import (
    ARError,
    BoardDetector,
    BoardSpec,
    CameraModel,
    FrameSource,
    PoseResult,
    PoseTracker,
    calibrate,
    detections_from_video,
)
from twin_app.render.arview import ARView

if TYPE_CHECKING:
    from twin_app.qt.window import MainWindow

log = logging.getLogger(__name__)

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)"
JSON_FILTER = "JSON files (*.json);;All files (*)"
OK_STYLE = "background:#1f6f3a;color:white;padding:6px;border-radius:4px;font-weight:bold"
WARN_STYLE = "background:#b35900;color:white;padding:6px;border-radius:4px;font-weight:bold"
IDLE_STYLE = "padding:6px"
TRUSTED_LINE = (0.2, 0.9, 0.4)
UNTRUSTED_LINE = (0.95, 0.2, 0.2)
BOARD_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0]], dtype=np.int64)


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: the (undistorted) RGB image, its camera and the pose."""

    index: int
    rgb: NDArray[np.uint8]
    camera: CameraModel
    pose: PoseResult
    ms: float
    stream: int  # which stream it belongs to (a frame of a stopped stream is dropped)


class _Relay(QObject):
    sig_frame = Signal(object)  # FrameResult
    sig_ended = Signal(str)  # why the stream stopped (end of file, webcam gone)
    sig_failed = Signal(str)  # a sentence for the user
    sig_calibrated = Signal(object)  # CameraModel
    sig_calibration_failed = Signal(str)


class _Tracker(threading.Thread):
    """Reads, detects and estimates poses off the GUI thread."""

    def __init__(self, source: FrameSource, spec: BoardSpec, camera: CameraModel | None,
                 relay: _Relay, stream: int) -> None:
        super().__init__(name="camera-ar", daemon=True)
        self.stream = stream
        self.source = source
        self.spec = spec
        self.camera = camera
        self.relay = relay
        self.stopping = threading.Event()
        self.taken = threading.Event()
        self.taken.set()

    def stop(self) -> None:
        self.stopping.set()
        self.taken.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def run(self) -> None:
        try:
            self._loop()
        except ARError as exc:
            self.relay.sig_failed.emit(str(exc))
        except Exception as exc:  # a worker must report, never die silently
            log.exception("camera AR worker failed")
            self.relay.sig_failed.emit(f"The video could not be processed: {exc}")
        finally:
            self.source.close()

    def _loop(self) -> None:
        detector = BoardDetector(self.spec)
        tracker: PoseTracker | None = None
        period = 1.0 / self.source.fps if self.source.is_file else 0.0
        due = time.monotonic()
        index = 0
        while not self.stopping.is_set():
            frame = self.source.read()
            if frame is None:
                self.relay.sig_ended.emit(
                    "End of the video" if self.source.is_file else
                    "The webcam stopped sending frames")
                return
            t0 = time.perf_counter()
            h, w = frame.shape[:2]
            if tracker is None:
                cam = (self.camera or CameraModel.guess(w, h)).for_size(w, h)
                tracker = PoseTracker(self.spec, cam)
            cam = tracker.camera.for_size(w, h)
            frame = cam.undistort(frame)
            pose = tracker.update(detector.detect(frame))
            rgb = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            ms = (time.perf_counter() - t0) * 1000
            while not self.taken.wait(0.1):  # the GUI has not painted the last one yet
                if self.stopping.is_set():
                    return
            if self.stopping.is_set():
                return
            if period:
                delay = due - time.monotonic()
                if delay > 0 and self.stopping.wait(delay):
                    return
                due = max(due + period, time.monotonic() - period)
            self.taken.clear()
            self.relay.sig_frame.emit(FrameResult(index, rgb, cam, pose, ms, self.stream))
            index += 1


class CameraARWindow(QWidget):
    """A top-level window showing the camera frame with the scene registered over it."""

    sig_frame_shown = Signal(int)  # index of the frame just painted

    def __init__(self, host: MainWindow, settings: QSettings) -> None:
        super().__init__(host, Qt.WindowType.Window)
        self.setObjectName("camera_ar")
        self.setWindowTitle("Camera AR")
        self.resize(1000, 700)
        self.host = host
        self.settings = settings
        self.spec = BoardSpec()
        self.camera: CameraModel | None = None
        self.view = ARView()
        self.last: FrameResult | None = None
        self.shown: NDArray[np.uint8] | None = None  # the composited image last painted
        self._worker: _Tracker | None = None
        self._source_arg: int | str | Path = 0
        self._streams = 0
        self._highlight_key: tuple[int, ...] = ()
        self._relay = _Relay(self)
        self._relay.sig_frame.connect(self._on_frame)
        self._relay.sig_ended.connect(self._on_ended)
        self._relay.sig_failed.connect(self._on_failed)

        self.open_btn = QPushButton("Open Video…")
        self.open_btn.setToolTip("Play a video file of the fixture with the board in view")
        self.webcam_btn = QPushButton("Webcam")
        self.webcam_btn.setToolTip("Use the first webcam")
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setEnabled(False)
        self.calib_btn = QPushButton("Camera Calibration…")
        self.calib_btn.setToolTip("Load the camera's calibration file "
                                  "(made with: python -m twin_app.ar calibrate)")
        self.calibrate_btn = QPushButton("Calibrate from Video…")
        self.calibrate_btn.setToolTip("Fit the camera's intrinsics to a video in which the "
                                      "board is shown from many angles, and save them")
        self.board_btn = QPushButton("Board…")
        self.board_btn.setToolTip("Load the board file: board size and where it sits in the "
                                  "plant")
        bar = QHBoxLayout()
        for b in (self.open_btn, self.webcam_btn, self.stop_btn, self.calib_btn,
                  self.calibrate_btn, self.board_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        self.image = QLabel("Open a video or a webcam that sees the board on the fixture.")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(480, 270)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image.setStyleSheet("background:#15171a;color:#ccc")
        self.verdict = QLabel("No video")
        self.verdict.setWordWrap(True)
        self.verdict.setStyleSheet(IDLE_STYLE)
        self.quality = QLabel("")
        self.source_label = QLabel("")
        self.setup_label = QLabel("")
        info = QHBoxLayout()
        info.addWidget(self.quality, 1)
        info.addWidget(self.source_label)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.verdict)
        lay.addLayout(info)
        lay.addWidget(self.setup_label)

        self.open_btn.clicked.connect(self.open_video_dialog)
        self.webcam_btn.clicked.connect(lambda: self.open_source(0))
        self.stop_btn.clicked.connect(self.stop)
        self.calib_btn.clicked.connect(self.calibration_dialog)
        self.board_btn.clicked.connect(self.board_dialog)
        self.calibrate_btn.clicked.connect(self.calibrate_dialog)
        self._relay.sig_calibrated.connect(self._on_calibrated)
        self._relay.sig_calibration_failed.connect(self._on_calibration_failed)
        self._calibrating: threading.Thread | None = None
        host.installEventFilter(self)
        self._restore()
        self._update_setup()

    # -- files -----------------------------------------------------------------------
    def _restore(self) -> None:
        for key, load in (("ar/calibration", self.load_calibration), ("ar/board", self.load_board)):
            path = str(self.settings.value(key, "") or "")
            if path and Path(path).is_file():
                load(Path(path), quiet=True)

    def _ask(self, title: str, key: str, pattern: str) -> Path | None:
        start = str(self.settings.value(key, str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, title, start, pattern)
        return Path(path) if path else None

    def open_video_dialog(self) -> None:
        """Ask for a video file and play it."""
        path = self._ask("Open a video of the fixture", "ar/video_dir", VIDEO_FILTER)
        if path is not None:
            self.settings.setValue("ar/video_dir", str(path.parent))
            self.open_source(path)

    def calibration_dialog(self) -> None:
        """Ask for a camera calibration file and use it."""
        path = self._ask("Camera calibration file", "ar/calibration", JSON_FILTER)
        if path is not None:
            self.load_calibration(path)

    def board_dialog(self) -> None:
        """Ask for a board file and use it."""
        path = self._ask("Board file", "ar/board", JSON_FILTER)
        if path is not None:
            self.load_board(path)

    def calibrate_dialog(self) -> None:
        """Ask for a calibration video, fit the intrinsics off the GUI thread, then ask
        where to save them (and use them)."""
        path = self._ask("Calibration video: the board shown from many angles", "ar/video_dir",
                         VIDEO_FILTER)
        if path is None:
            return
        spec, relay = self.spec, self._relay

        def work() -> None:
            try:
                dets = detections_from_video(spec, path)
                relay.sig_calibrated.emit(calibrate(spec, dets, name=path.stem))
            except ARError as exc:
                relay.sig_calibration_failed.emit(str(exc))
            except Exception as exc:  # report, never die silently
                log.exception("calibration failed")
                relay.sig_calibration_failed.emit(f"Calibration failed: {exc}")

        self.calibrate_btn.setEnabled(False)
        self.verdict.setText(f"Calibrating from {path.name}…")
        self.verdict.setStyleSheet(IDLE_STYLE)
        self._calibrating = threading.Thread(target=work, name="camera-calibration",
                                             daemon=True)
        self._calibrating.start()

    def _on_calibrated(self, cam: CameraModel) -> None:
        self.calibrate_btn.setEnabled(True)
        self._calibrating = None
        quality = f"{cam.views} views, reprojection error {cam.rms_px or 0:.2f} px"
        start = str(Path(str(self.settings.value("ar/video_dir", str(Path.home()))))
                    / f"{cam.name or 'camera'}.json")
        path, _ = QFileDialog.getSaveFileName(self, f"Save the calibration ({quality})", start,
                                              JSON_FILTER)
        if not path:
            self.verdict.setText(f"Calibration not saved ({quality}).")
            return
        try:
            cam.save(path)
        except OSError as exc:
            self._warn(f"Cannot save the calibration to {path}: {exc.strerror}")
            return
        self.load_calibration(Path(path))
        self.verdict.setText(f"Calibrated: {quality}; saved to {Path(path).name}.")
        self.verdict.setStyleSheet(OK_STYLE if (cam.rms_px or 0) <= 1.0 else WARN_STYLE)

    def _on_calibration_failed(self, message: str) -> None:
        self.calibrate_btn.setEnabled(True)
        self._calibrating = None
        self._warn(message)

    def load_calibration(self, path: Path, quiet: bool = False) -> bool:
        """Use the calibration in ``path``; on error say why and keep the current one."""
        try:
            self.camera = CameraModel.load(path)
        except ARError as exc:
            if not quiet:
                self._warn(str(exc))
            return False
        self.settings.setValue("ar/calibration", str(path))
        self._update_setup()
        self._restart()
        return True

    def load_board(self, path: Path, quiet: bool = False) -> bool:
        """Use the board in ``path``; on error say why and keep the current one."""
        try:
            self.spec = BoardSpec.load(path)
        except ARError as exc:
            if not quiet:
                self._warn(str(exc))
            return False
        self.settings.setValue("ar/board", str(path))
        self._update_setup()
        self._restart()
        return True

    # -- streams ---------------------------------------------------------------------
    def open_source(self, source: int | str | Path) -> bool:
        """Start processing a webcam (index) or a video file; say why if it cannot."""
        self.stop()
        try:
            src = FrameSource(source)
        except ARError as exc:
            self._warn(str(exc))
            return False
        self._source_arg = source
        self.last = None
        self.source_label.setText(src.label)
        self.verdict.setText("Looking for the board…")
        self.verdict.setStyleSheet(IDLE_STYLE)
        self._streams += 1
        self._worker = _Tracker(src, self.spec, self.camera, self._relay, self._streams)
        self._worker.start()
        self.stop_btn.setEnabled(True)
        return True

    def _restart(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self.open_source(self._source_arg)

    def stop(self) -> None:
        """Stop the current stream (the last frame stays on screen)."""
        w, self._worker = self._worker, None
        if w is not None:
            w.stop()
        self.stop_btn.setEnabled(False)

    @property
    def running(self) -> bool:
        """True while a stream is being processed."""
        return self._worker is not None and self._worker.is_alive()

    # -- frames ----------------------------------------------------------------------
    def _on_frame(self, result: FrameResult) -> None:
        worker = self._worker
        try:
            if worker is None or result.stream != worker.stream:
                return  # stopped or replaced meanwhile
            self.last = result
            if self.view.closed:  # shut down once (the main window's close was cancelled)
                self.view = ARView()
                self._highlight_key = ()
            self._sync_highlight()
            pose = result.pose
            t = pose.T_cam_world
            if pose.found:
                corners = self.spec.outline() @ self.spec.T_world_board[:3, :3].T
                corners += self.spec.T_world_board[:3, 3]
                self.view.set_lines(corners, BOARD_EDGES,
                                    TRUSTED_LINE if pose.trusted else UNTRUSTED_LINE)
            self.shown = self.view.render(result.rgb, result.camera.K, t)
            self._paint()
            self._show_verdict(result)
            self.sig_frame_shown.emit(result.index)
        finally:
            if worker is not None and result.stream == worker.stream:
                worker.taken.set()

    def _sync_highlight(self) -> None:
        visual = self.host.viewport.visual
        doc = self.host.client.store.doc
        parts = []
        for nid in self.host.selection:
            if nid not in doc:
                continue
            for sub in doc.subtree(nid):
                state = visual.block_state(sub)
                if state is not None and state["visible"]:
                    parts.append(state["polydata"])
        key = tuple(id(p) for p in parts)
        if key != self._highlight_key:
            self._highlight_key = key
            self.view.set_highlight(parts)

    def _paint(self) -> None:
        img = self.shown
        if img is None:
            return
        h, w = img.shape[:2]
        qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pix = QPixmap.fromImage(qimg).scaled(
            self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        self.image.setPixmap(pix)

    def displayed_point(self, x: float, y: float) -> tuple[int, int]:
        """Where pixel ``(x, y)`` of the camera frame is drawn on the image widget."""
        pix = self.image.pixmap()
        if self.last is None or pix is None or pix.isNull():
            raise RuntimeError("no frame shown")
        s = pix.width() / self.last.rgb.shape[1]
        ox = (self.image.width() - pix.width()) / 2
        oy = (self.image.height() - pix.height()) / 2
        return round(ox + (x + 0.5) * s - 0.5), round(oy + (y + 0.5) * s - 0.5)

    def _show_verdict(self, result: FrameResult) -> None:
        pose = result.pose
        if pose.trusted:
            self.verdict.setText(f"✓ {pose.reason}")
            self.verdict.setStyleSheet(OK_STYLE)
        else:
            self.verdict.setText(f"⚠ Do not trust the overlay — {pose.reason}")
            self.verdict.setStyleSheet(WARN_STYLE)
        if pose.rms_px is not None:
            self.quality.setText(
                f"Reprojection error {pose.rms_px:.2f} px · {pose.corners} corners · "
                f"{pose.markers} markers · pose {pose.flip} · {result.ms:.1f} ms")
        else:
            self.quality.setText(f"{pose.markers} markers · {result.ms:.1f} ms")

    def _on_ended(self, message: str) -> None:
        self.stop()
        self.source_label.setText(f"{self.source_label.text()} — {message.lower()}")

    def _on_failed(self, message: str) -> None:
        self.stop()
        self._warn(message)

    def _warn(self, message: str) -> None:
        self.verdict.setText(f"⚠ {message}")
        self.verdict.setStyleSheet(WARN_STYLE)

    def _update_setup(self) -> None:
        cam = self.camera
        if cam is None:
            cam_text = "Camera: not calibrated (intrinsics guessed: overlay not trusted)"
        else:
            rms = f", {cam.rms_px:.2f} px" if cam.rms_px is not None else ""
            cam_text = (f"Camera: {cam.name or 'calibrated'} ({cam.width}×{cam.height}, "
                        f"fx {cam.fx:.0f}{rms})")
        cols, rows = self.spec.squares
        at = self.spec.T_world_board[:3, 3]
        self.setup_label.setText(
            f"{cam_text} · Board: {cols}×{rows} squares of {self.spec.square_m * 1000:g} mm "
            f"at ({at[0]:.2f}, {at[1]:.2f}, {at[2]:.2f}) m")

    # -- Qt --------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._paint()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the stream and free the renderer (the main window is closing)."""
        self.stop()
        self.view.close()
