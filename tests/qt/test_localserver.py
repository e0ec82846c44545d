"""The embedded server from the window: restarted without freezing it, shared on request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer

from sync_server.embedded import EmbeddedServer
from sync_server.server import data_dir_holder
from twin_app.net import SyncClient
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.localserver import LocalServer
from twin_app.qt.share import ShareDialog
from twin_app.qt.window import MainWindow

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


@pytest.fixture
def hosted(qtbot, tmp_path: Path):
    """A window on the app's own embedded server, as ``twin-app`` opens it."""
    server = EmbeddedServer(tmp_path / "server", bind="tcp://127.0.0.1:*", seed_demo=False)
    server.start()
    local = LocalServer(server, "r")
    bridge = ClientBridge()
    client = SyncClient(server.endpoint, "r", server.owner_token, "Host", state_dir=tmp_path / "client",
                        server_key=server.server_key, wakeup=bridge.wakeup)
    bridge.attach(client)
    w = MainWindow(client, bridge, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   room="r", name="Host", endpoint=server.endpoint, local_server=local)
    qtbot.addWidget(w)
    w.show()
    client.start()
    qtbot.waitUntil(lambda: client.state == "live", timeout=20_000)
    yield w, server, local, client
    bridge.detach()
    client.close()
    local.stop()


def test_restarting_the_server_keeps_the_window_responsive(qtbot, hosted):
    w, server, local, client = hosted
    ticks: list[float] = []
    beat = QTimer(w)
    beat.timeout.connect(lambda: ticks.append(time.monotonic()))
    beat.start(10)
    busy: list[tuple[bool, float]] = []
    local.sig_busy.connect(lambda b: busy.append((b, time.monotonic())))
    assert server.proc is not None
    server.proc.kill()  # the child crashes; the watchdog notices within 2 s
    server.proc.wait(10)
    qtbot.waitUntil(lambda: [b for b, _ in busy] == [True, False], timeout=30_000)
    began, ended = busy[0][1], busy[1][1]
    during = [t for t in ticks if began < t < ended]
    # The restart waits for the new child to listen; meanwhile the window kept handling
    # its events (a 10 ms timer kept firing). Waiting on the GUI thread fires it never.
    assert ended - began > 0.1
    assert len(during) >= max(3.0, 0.25 * (ended - began) / 0.010), (len(during), ended - began)
    assert "restarted" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: client.state == "live", timeout=20_000)
    assert server.alive()


def test_share_asks_then_opens_the_room_to_the_network(qtbot, hosted):
    w, server, local, client = hosted
    qtbot.waitUntil(lambda: "This computer only" in w.share_btn.text())
    w.act_share.trigger()
    prompt = local.prompt
    assert prompt is not None and prompt.isVisible()
    assert "every network interface" in prompt.informativeText()  # says what it does
    assert data_dir_holder(server.data_dir).startswith("tcp://127.0.0.1:")
    share = next(b for b in prompt.buttons() if b.text() == "Share on the network")
    qtbot.mouseClick(share, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in w.findChildren(ShareDialog)), timeout=30_000)
    dlg = next(d for d in w.findChildren(ShareDialog) if d.isVisible())
    assert dlg.fields["Server key"].text() == server.server_key
    assert dlg.fields["Token"].text() == server.share_token
    assert f"--server-key {server.server_key}" in dlg.fields["Command"].text()
    port = server.endpoint.rsplit(":", 1)[1]
    assert data_dir_holder(server.data_dir) == f"tcp://0.0.0.0:{port}"
    qtbot.waitUntil(lambda: w.share_btn.text().startswith("Share: "))
    qtbot.waitUntil(lambda: client.state == "live", timeout=20_000)
    # A colleague joins with what the dialog shows (by this machine's loopback address:
    # the test host's name may not resolve).
    assert dlg.fields["Address"].text().endswith(f":{port}")
    other = SyncClient(f"tcp://127.0.0.1:{port}", "r", dlg.fields["Token"].text(), "Colleague",
                       server_key=dlg.fields["Server key"].text())
    try:
        other.start()
        assert other.wait_for(lambda: other.state == "live" and other.role == "designer", 20)
    finally:
        other.close()
    dlg.close()
