"""Camera AR as a person uses it: View > Camera AR…, load the calibration and the board
files, open a video of the fixture; the overlay sits where the part really is, the
registration quality is shown, and a frame without the board says not to trust it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.ar.synthetic import CAM_720, calibration_views, write_video
from tests.qt.person import Dialogs, choose_file, click, select_in_tree
from twin_app.ar import BoardSpec, CameraModel, project
from twin_app.ar import geometry as g
from twin_app.ar.synth import render_view

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

CAM = CameraModel(1400.0, 1390.0, 965.0, 535.0, 1920, 1080, name="station cam", rms_px=0.2,
                  views=20)
# A 560 × 420 mm board on the floor in front of Robot 1 (the 1 m cube at the origin).
_BOARD = BoardSpec(square_m=0.07, marker_m=0.052)
BOARD = _BOARD.with_pose(g.translation(0.5 - _BOARD.size_m[0] / 2, -0.12, 0.0)
                         @ g.rotation((1, 0, 0), 180))
R1_CENTRE = np.array([[0.5, 0.5, 0.5]])
WITH_BOARD, WITHOUT = 10, 4


def camera_at(k: int):
    """T_cam_world of frame ``k``: the operator walks slowly to the right."""
    return g.look_at((1.2 + 0.02 * k, -2.0, 1.3 + 0.01 * k), (0.5, 0.0, 0.3))


def make_video(path):
    frames = [render_view(BOARD, CAM, camera_at(k) @ BOARD.T_world_board, noise_sigma=2.0,
                          blur_sigma=0.6, seed=k) for k in range(WITH_BOARD)]
    away = g.translation(12.0, 0.0, 2.0)  # the camera turned away: no board in the frame
    frames += [render_view(BOARD, CAM, away, noise_sigma=2.0, seed=50 + k)
               for k in range(WITHOUT)]
    return write_video(path, frames, fps=20.0)


def pick(path):
    def answer(dlg):
        if isinstance(dlg, QFileDialog):
            choose_file(dlg, path)
        else:
            dlg.reject()
    return Dialogs(answer)


def orange(rgb) -> bool:
    r, _g, b = (int(v) for v in rgb)
    return r - b > 60


def test_camera_ar_overlays_the_selection_where_it_is_and_warns_without_the_board(
        join, qtbot, tmp_path):
    _ada, w = join("Ada")
    select_in_tree(w, "r1")
    qtbot.waitUntil(lambda: w.selection == ["r1"])
    video = make_video(tmp_path / "station.avi")
    CAM.save(tmp_path / "station-cam.json")
    BOARD.save(tmp_path / "fixture-board.json")

    w.act_camera_ar.trigger()
    ar = w.camera_ar
    qtbot.waitExposed(ar)
    assert "not calibrated" in ar.setup_label.text()

    # A file that is not a video: said in words, nothing starts.
    with pick(tmp_path / "station-cam.json"):
        click(ar.open_btn)
    assert "Cannot read station-cam.json as a video" in ar.verdict.text()
    assert not ar.running

    with pick(tmp_path / "fixture-board.json"):
        click(ar.board_btn)
    assert "8×6 squares of 70 mm" in ar.setup_label.text()
    # Without a calibration the board is found but the overlay is not to be trusted.
    with pick(video):
        click(ar.open_btn)
    qtbot.waitUntil(lambda: ar.last is not None and ar.last.pose.found, timeout=20000)
    assert ar.verdict.text().startswith("⚠ Do not trust the overlay — ")
    assert ("not calibrated" in ar.verdict.text()
            or "Reprojection error" in ar.verdict.text()), ar.verdict.text()

    # Loading the calibration restarts the video with it.
    with pick(tmp_path / "station-cam.json"):
        click(ar.calib_btn)
    assert "Camera: station cam (1920×1080, fx 1400, 0.20 px)" in ar.setup_label.text()
    qtbot.waitUntil(lambda: ar.last is not None and ar.last.camera.name == "station cam"
                    and ar.last.index >= 3, timeout=20000)
    result = ar.last
    assert result.pose.trusted, ar.verdict.text()
    assert ar.verdict.text().startswith("✓ Registered:")
    assert "Reprojection error 0." in ar.quality.text() and "35 corners" in ar.quality.text()

    # The overlay is aligned: Robot 1's centre is drawn where the real camera sees it.
    truth = project(CAM, camera_at(result.index), R1_CENTRE)[0]
    drawn = np.array(ar.view.world_to_pixel(R1_CENTRE[0])) * (1920 / ar.view.size[0])
    assert np.linalg.norm(drawn - truth) < 3.0, (drawn, truth)
    # ... and a person sees it there: highlighted at that spot on screen, not elsewhere.
    screen = ar.image.pixmap().toImage()
    x, y = ar.displayed_point(*truth)
    assert orange(screen.pixelColor(x, y).getRgb()[:3])
    x, y = ar.displayed_point(100, 100)
    assert not orange(screen.pixelColor(x, y).getRgb()[:3])
    ar.grab().save(str(tmp_path / "camera_ar.png"))

    # The camera turns away from the board: a clear warning, and no part drawn.
    qtbot.waitUntil(lambda: ar.last is not None and not ar.last.pose.found, timeout=20000)
    assert ar.verdict.text() == "⚠ Do not trust the overlay — No board in view"
    assert "background" in ar.verdict.styleSheet() and "#b35900" in ar.verdict.styleSheet()
    ar.grab().save(str(tmp_path / "camera_ar_no_board.png"))
    truth = project(CAM, camera_at(WITH_BOARD - 1), R1_CENTRE)[0]
    s = ar.view.size[0] / 1920
    assert not orange(ar.shown[round(truth[1] * s), round(truth[0] * s)])
    qtbot.waitUntil(lambda: "end of the video" in ar.source_label.text(), timeout=20000)
    assert not ar.running and not ar.stop_btn.isEnabled()


def test_calibrate_from_a_video_saves_a_readable_file_and_uses_it(join, qtbot, tmp_path):
    _ada, w = join("Ada")
    video = write_video(tmp_path / "wave-the-board.avi", calibration_views(BoardSpec(), CAM_720))
    w.act_camera_ar.trigger()
    ar = w.camera_ar
    saved = tmp_path / "station-720.json"

    def answer(dlg):
        if not isinstance(dlg, QFileDialog):
            dlg.reject()
        elif dlg.acceptMode() == QFileDialog.AcceptMode.AcceptSave:
            assert "reprojection error" in dlg.windowTitle()
            choose_file(dlg, saved)
        else:
            choose_file(dlg, video)

    with Dialogs(answer):
        click(ar.calibrate_btn)
        qtbot.waitUntil(lambda: ar.verdict.text().startswith("Calibrated:"), timeout=60000)
    assert "14 views" in ar.verdict.text() and "station-720.json" in ar.verdict.text()
    cam = CameraModel.load(saved)
    assert abs(cam.fx - CAM_720.fx) / CAM_720.fx < 0.01 and cam.name == "wave-the-board"
    assert "Camera: wave-the-board (1280×720, fx 10" in ar.setup_label.text()
    assert ar.calibrate_btn.isEnabled()
