"""The application as a user starts it: `twin-app --demo` with its embedded server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from sync_server.embedded import EmbeddedServer
from twin_app.demo import load_demo
from twin_app.net import SyncClient
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.window import MainWindow

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def distinct_colours(img: QImage, step: int = 7) -> int:
    seen = set()
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            seen.add(img.pixel(x, y))
    return len(seen)


def test_demo_plant_renders_every_part(qtbot, tmp_path: Path):
    server = EmbeddedServer(tmp_path / "server", bind="tcp://127.0.0.1:*")
    server.start()
    bridge = ClientBridge()
    client = SyncClient(server.endpoint, "demo", server.owner_token, "Tester",
                        state_dir=tmp_path / "client", server_key=server.server_key, wakeup=bridge.wakeup)
    bridge.attach(client)
    try:
        w = MainWindow(client, bridge, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                       room="demo", name="Tester", endpoint=server.endpoint)
        qtbot.addWidget(w)
        w.show()
        with qtbot.waitSignal(w.sig_scene_ready, timeout=60_000):
            client.start()
        doc, _ = load_demo()
        parts = {n.id for n in doc.nodes.values() if n.mesh}
        assert len(parts) > 300
        assert w.viewport.visual.node_ids() == parts  # one block per part, none missing
        assert all(not w.viewport.visual.block_state(p)["placeholder"] for p in list(parts)[:50])
        shot = tmp_path / "view.png"
        w.viewport.screenshot(shot)
        img = QImage(str(shot))
        # Not blank: the parts are on screen where the camera looks (picking reads what
        # was rendered), not just a background.
        hits = {w.viewport.visual.pick(img.width() * fx // 8, img.height() * fy // 8)
                for fx in range(2, 7) for fy in range(2, 7)}
        assert len(hits - {None}) >= 3
        assert distinct_colours(img) > 50
    finally:
        bridge.detach()
        client.close()
        server.stop()


def test_demo_screenshot_command_line(tmp_path: Path):
    out = tmp_path / "shot.png"
    proc = subprocess.run(
        [sys.executable, "-m", "twin_app.qt.app", "--demo", "--data-dir", str(tmp_path / "data"),
         "--settings", str(tmp_path / "s.ini"), "--size", "1200x800", "--screenshot", str(out)],
        capture_output=True, text=True, timeout=180, check=False, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    assert distinct_colours(img) > 100
    assert "startup_s=" in proc.stderr
