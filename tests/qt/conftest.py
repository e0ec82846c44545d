"""Fixtures for the Qt tier: small real documents and real in-process clients."""

from __future__ import annotations

import os

import numpy as np
import pytest

from twin_app.core import meshblob
from twin_app.core.document import Document, Node
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, apply

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


def box_blob(size: float = 1.0) -> bytes:
    """Return the mesh blob of an axis-aligned cube with edge ``size`` (min corner at 0)."""
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], "f4")
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], "u4")
    return meshblob.encode(v, f)


def small_plant() -> tuple[Document, dict[str, bytes]]:
    """A line with two robots and a conveyor, plus a loose cabinet (4 parts, 1 group)."""
    blob = box_blob()
    h = meshblob.digest(blob)
    bbox = (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
    doc = Document()
    ops = [
        AddNode(Node("line", ROOT_ID, "V", kind="group", name="Line A")),
        AddNode(Node("r1", "line", "V", kind="part", name="Robot 1", mesh=h,
                     transform=(0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
                     props={"bbox": bbox, "part_number": "RB-100", "mass": 120.0})),
        AddNode(Node("r2", "line", "W", kind="part", name="Robot 2", mesh=h,
                     transform=(3, 0, 0, 0, 0, 0, 1, 1, 1, 1),
                     props={"bbox": bbox, "part_number": "RB-100", "mass": 125.0})),
        AddNode(Node("conv", "line", "X", kind="part", name="Conveyor", mesh=h,
                     transform=(0, 2, 0, 0, 0, 0, 1, 4, 1, 0.5), props={"bbox": bbox})),
        AddNode(Node("cab", ROOT_ID, "W", kind="part", name="Cabinet", mesh=h,
                     transform=(-3, 0, 0, 0, 0, 0, 1, 1, 1, 2), color=(0.2, 0.4, 0.8),
                     props={"bbox": bbox})),
    ]
    apply(doc, Batch(tuple(ops)))
    return doc, {h: blob}


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
