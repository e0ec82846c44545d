"""Calibration recovers known intrinsics; board and calibration files; the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from twin_app.ar import (
    BoardDetector,
    BoardFileError,
    BoardSpec,
    CalibrationError,
    CameraModel,
    calibrate,
)
from twin_app.ar import geometry as g

from .synthetic import CAM_720, calibration_views, write_video

SPEC = BoardSpec()


def _views(n: int = 14, seed: int = 7):
    return calibration_views(SPEC, CAM_720, n, seed)


def test_calibration_recovers_known_intrinsics():
    dets = [BoardDetector(SPEC).detect(f) for f in _views()]
    cam = calibrate(SPEC, dets, name="test cam")
    assert cam.views == 14 and cam.calibrated
    assert cam.rms_px is not None and cam.rms_px < 0.3
    assert cam.fx == pytest.approx(CAM_720.fx, rel=0.01)
    assert cam.fy == pytest.approx(CAM_720.fy, rel=0.01)
    assert abs(cam.cx - CAM_720.cx) < 4 and abs(cam.cy - CAM_720.cy) < 4
    # The frames have no lens distortion: the fitted model moves no pixel noticeably.
    grid = np.stack(np.meshgrid(np.linspace(0, 1279, 9), np.linspace(0, 719, 5)), -1)
    grid = grid.reshape(-1, 1, 2).astype(np.float64)
    undone = cv2.undistortPoints(grid, cam.K, cam.dist_coeffs, P=cam.K).reshape(-1, 2)
    assert float(np.max(np.linalg.norm(undone - grid.reshape(-1, 2), axis=1))) < 1.0


def test_too_few_views_is_an_error_in_words():
    dets = [BoardDetector(SPEC).detect(f) for f in _views(3)]
    with pytest.raises(CalibrationError, match=r"Only 3 usable views.*at least 4"):
        calibrate(SPEC, dets)


def test_calibration_file_round_trip_and_rescaling(tmp_path):
    cam = CameraModel(1010.0, 1000.0, 650.0, 355.0, 1280, 720, (0.1, -0.2, 0.0, 0.0, 0.0),
                      rms_px=0.21, views=12, name="bench cam")
    path = tmp_path / "camera.json"
    cam.save(path)
    data = json.loads(path.read_text())
    assert data["camera_matrix"][0] == [1010.0, 0.0, 650.0] and data["image_size"] == [1280, 720]
    assert CameraModel.load(path) == cam
    full = cam.for_size(1920, 1080)
    assert full.fx == pytest.approx(1515.0) and full.cx == pytest.approx((650.5 * 1.5) - 0.5)
    with pytest.raises(CalibrationError, match="another aspect ratio"):
        cam.for_size(640, 480)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    (b"\x00\x80binary", "not a text"),
    ('{"format": "something else"}', "Not a camera calibration file"),
    ('{"format": "twinroom-camera", "version": 1, "image_size": [640, 480]}',
     "incomplete or has a wrong value"),
    ('{"format": "twinroom-camera", "version": 1, "image_size": [640, 480], '
     '"camera_matrix": [[-5, 0, 320], [0, 500, 240], [0, 0, 1]]}', "must be positive"),
])
def test_bad_calibration_files_are_refused_in_words(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(CalibrationError, match=message):
        CameraModel.load(path)


def test_board_file_round_trip_and_errors(tmp_path):
    spec = BoardSpec().with_pose(g.translation(0.5, 0.25, 0.8) @ g.rotation((1, 0, 0), 180))
    path = tmp_path / "board.json"
    spec.save(path)
    assert BoardSpec.load(path) == spec
    data = json.loads(path.read_text())
    data["marker_mm"] = 50
    path.write_text(json.dumps(data))
    with pytest.raises(BoardFileError, match="must be smaller than the squares"):
        BoardSpec.load(path)
    data["marker_mm"] = 26
    data["board_to_world"][0][0] = 2.0
    path.write_text(json.dumps(data))
    with pytest.raises(BoardFileError, match="rigid transform"):
        BoardSpec.load(path)
    with pytest.raises(BoardFileError, match="Cannot read the board file"):
        BoardSpec.load(tmp_path / "missing.json")


def test_command_line_prints_a_board_and_calibrates_from_a_video(tmp_path):
    run = [sys.executable, "-m", "twin_app.ar"]
    out = subprocess.run([*run, "board", str(tmp_path / "board.json"), "--png",
                          str(tmp_path / "board.png")], check=False, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "280.0 × 210.0 mm" in out.stdout and (tmp_path / "board.png").stat().st_size > 0
    video = write_video(tmp_path / "calib.avi", _views(12, seed=11))
    out = subprocess.run([*run, "calibrate", str(video), "--board", str(tmp_path / "board.json"),
                          "--out", str(tmp_path / "camera.json")], check=False, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["views"] == 12 and summary["rms_px"] < 0.6
    cam = CameraModel.load(tmp_path / "camera.json")
    assert cam.fx == pytest.approx(CAM_720.fx, rel=0.02) and cam.name == "calib"
    bad = subprocess.run([*run, "calibrate", str(tmp_path / "nothing.avi"), "--out",
                          str(tmp_path / "x.json")], check=False, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert np.isfinite(cam.cx)


def test_undistort_maps_a_distorted_point_back_to_the_pinhole_projection():
    cam = CameraModel(1000.0, 1000.0, 639.5, 359.5, 1280, 720, (-0.2, 0.05, 0.0, 0.0, 0.0))
    # The ray that an ideal camera sees at pixel (1000, 600), through the distorting lens:
    ray = np.array([[(1000 - 639.5) / 1000, (600 - 359.5) / 1000, 1.0]])
    distorted = cv2.projectPoints(ray, np.zeros(3), np.zeros(3), cam.K,
                                  cam.dist_coeffs)[0].reshape(2)
    frame = np.zeros((720, 1280, 3), np.uint8)
    x, y = (round(v) for v in distorted)
    frame[y - 2:y + 3, x - 2:x + 3] = 255
    fixed = cam.undistort(frame)
    ys, xs = np.nonzero(fixed[:, :, 0] > 100)
    assert abs(xs.mean() - 1000) < 1.5 and abs(ys.mean() - 600) < 1.5
    plain = CameraModel(1000.0, 1000.0, 639.5, 359.5, 1280, 720)
    assert plain.undistort(frame) is frame
