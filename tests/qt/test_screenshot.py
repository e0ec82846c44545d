"""The demo plant renders (not blank, one block per part) and ``twin-app --screenshot`` works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from tests.netutil import ServerProcess
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.window import MainWindow

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]
ROOT = Path(__file__).resolve().parents[2]


def image_stats(path: Path) -> tuple[int, int, float, int]:
    """(width, height, luminance std-dev, distinct colours) of a PNG."""
    img = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.sizeInBytes())
    arr = arr.reshape(h, img.bytesPerLine())[:, : w * 3].reshape(h, w, 3)
    colours = len(np.unique(arr[::4, ::4].reshape(-1, 3), axis=0))
    return w, h, float(arr.mean(axis=2).std()), colours


def test_demo_plant_renders_every_part(qtbot, tmp_path):
    from twin_app.net import SyncClient

    srv = ServerProcess(tmp_path / "server", extra=["--demo"]).start()
    bridge = ClientBridge()
    client = SyncClient(srv.endpoint, "demo", "owner-token", "Ada", wakeup=bridge.wakeup)
    bridge.attach(client)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(client, bridge, settings=settings, room="demo", name="Ada")
    qtbot.addWidget(w)
    w.resize(1400, 880)
    w.show()
    try:
        with qtbot.waitSignal(w.sig_scene_ready, timeout=30000):
            client.start()
        doc = client.store.doc
        parts = [n for n in doc.nodes.values() if n.mesh]
        assert len(parts) > 50
        assert w.viewport.visual.block_count() == len(parts)
        assert w.missing_meshes() == set()
        out = tmp_path / "main.png"
        w.grab_screenshot(out)
        width, height, spread, colours = image_stats(out)
        assert (width, height) == (w.width(), w.height())
        assert spread > 20 and colours > 200, "the window looks blank"
        view = tmp_path / "view.png"
        w.viewport.screenshot(view)
        assert image_stats(view)[2] > 10, "the 3D view is blank"
    finally:
        w.close()
        bridge.detach()
        client.close()
        srv.stop()


def test_twin_app_screenshot_cli(tmp_path):
    out = tmp_path / "shot.png"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "twin_app.qt.app", "--demo", "--screenshot", str(out),
         "--data-dir", str(tmp_path / "data"), "--settings", str(tmp_path / "s.ini"),
         "--name", "Ada"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists()
    width, height, spread, colours = image_stats(out)
    assert width >= 800 and height >= 500
    assert spread > 20 and colours > 200
    m = re.search(r"startup_s=([0-9.]+) \((\d+) parts\)", proc.stderr)
    assert m, proc.stderr[-2000:]
    startup_s, parts = float(m.group(1)), int(m.group(2))
    assert parts > 50
    print(f"startup_s={startup_s:.2f} wall_s={wall:.2f}")
    assert startup_s < wall + 1.0
