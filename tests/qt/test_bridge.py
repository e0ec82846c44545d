"""wakeup() from a network thread drains the client on the GUI thread, coalesced."""

from __future__ import annotations

import threading

import pytest

from twin_app.qt.bridge import ClientBridge
from twin_app.session.local import LocalClient

pytestmark = pytest.mark.qt


class RecordingClient(LocalClient):
    def __init__(self) -> None:
        super().__init__()
        self.drained_on: list[int] = []

    def process_events(self, budget_s: float | None = None) -> int:
        self.drained_on.append(threading.get_ident())
        return 0


def test_wakeup_from_agent_thread_runs_on_gui_thread(qtbot):
    client = RecordingClient()
    bridge = ClientBridge()
    bridge.attach(client)
    qtbot.waitUntil(lambda: len(client.drained_on) == 1)  # attach drains once
    gui = threading.get_ident()

    def agent() -> None:
        for _ in range(50):
            bridge.wakeup()

    t = threading.Thread(target=agent)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(client.drained_on) >= 2)
    assert set(client.drained_on) == {gui}
    assert len(client.drained_on) <= 3  # 50 wakeups coalesce into one or two drains


def test_callbacks_become_signals(qtbot):
    client = LocalClient(role="viewer")
    bridge = ClientBridge()
    bridge.attach(client)
    from twin_app.core.document import Node
    from twin_app.core.ops import AddNode

    with qtbot.waitSignal(bridge.sig_nack) as nack:
        client.submit(AddNode(Node("x", "root", "V", kind="part", name="X")), "Add X")
    assert nack.args[1] == "forbidden" and "viewer" in nack.args[2]
    assert "x" not in client.store.doc
