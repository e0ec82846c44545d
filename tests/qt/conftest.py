"""Fixtures for the Qt tier: small real documents and real in-process clients."""

from __future__ import annotations

import os

import pytest

from tests.plant import small_plant
from twin_app.core.document import Document

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


@pytest.fixture
def plant() -> tuple[Document, dict[str, bytes]]:
    return small_plant()


@pytest.fixture
def room_server(tmp_path):
    """A real server process (child) with the small plant seeded as room ``plant``."""
    from tests.netutil import ServerProcess
    from twin_app.core import roomfile

    doc, blobs = small_plant()
    seed = tmp_path / "plant.twinroom"
    roomfile.write(seed, doc, blobs, "plant")
    srv = ServerProcess(tmp_path / "server", extra=["--seed", f"plant={seed}"]).start()
    yield srv
    srv.stop()


@pytest.fixture
def join(qtbot, room_server, tmp_path):
    """Factory: ``join(name, token, color)`` opens a MainWindow joined to room ``plant`` on
    the real server (or ``room`` at ``endpoint``), shown and with its scene loaded; returns
    ``(client, window)``."""
    from PySide6.QtCore import QSettings

    from twin_app.net import SyncClient
    from twin_app.qt.bridge import ClientBridge
    from twin_app.qt.window import MainWindow

    opened: list[tuple[object, object, object]] = []

    def make(name: str = "Ada", token: str = "owner-token",
             color: tuple[float, float, float] = (0.9, 0.3, 0.3), *,
             endpoint: str | None = None, room: str = "plant", hosts_room: bool = False):
        endpoint = endpoint or room_server.endpoint
        bridge = ClientBridge()
        client = SyncClient(endpoint, room, token, name,
                            state_dir=tmp_path / f"state-{name}", color=color,
                            wakeup=bridge.wakeup)
        bridge.attach(client)
        settings = QSettings(str(tmp_path / f"settings-{name}.ini"), QSettings.Format.IniFormat)
        w = MainWindow(client, bridge, settings=settings, room=room, name=name, color=color,
                       endpoint=endpoint, hosts_room=hosts_room)
        qtbot.addWidget(w)
        w.show()
        opened.append((w, client, bridge))
        with qtbot.waitSignal(w.sig_scene_ready, timeout=20000):
            client.start()
        qtbot.waitExposed(w)
        return client, w

    yield make
    for w, client, bridge in reversed(opened):
        w.close()  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
        bridge.detach()  # type: ignore[attr-defined]


@pytest.fixture
def demo_server(tmp_path):
    """A real server process with room ``demo`` seeded with the demo plant."""
    from tests.netutil import ServerProcess

    srv = ServerProcess(tmp_path / "demo-server", extra=["--demo"]).start()
    yield srv
    srv.stop()
