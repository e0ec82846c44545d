"""Two people in one room on a real server (child process): the app window and a headless
client see each other's edits, selection and presence; follow needs consent."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from tests.netutil import ServerProcess
from twin_app.core.ops import SetField
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.window import MainWindow

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

BOB_CAM = (20.0, -15.0, 12.0, 1.0, 1.0, 0.5, 0.0, 0.0, 1.0)


@pytest.fixture
def pair(qtbot, room_server, tmp_path):
    from twin_app.net import SyncClient

    bridge = ClientBridge()
    ada = SyncClient(room_server.endpoint, "plant", "owner-token", "Ada",
                     state_dir=tmp_path / "ada", color=(0.9, 0.3, 0.3), wakeup=bridge.wakeup)
    bridge.attach(ada)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(ada, bridge, settings=settings, room="plant", name="Ada",
                   color=(0.9, 0.3, 0.3), endpoint=room_server.endpoint)
    qtbot.addWidget(w)
    w.show()
    ada.start()
    bob = SyncClient(room_server.endpoint, "plant", "designer-token", "Bob",
                     color=(0.2, 0.6, 0.9))
    bob.start()

    def until(cond, timeout=15000):
        def check():
            bob.process_events()
            assert cond()
        qtbot.waitUntil(check, timeout=timeout)

    with qtbot.waitSignal(w.sig_scene_ready, timeout=20000):
        pass
    until(lambda: bob.synced and ada.session in bob.peers and bob.session in ada.peers)
    yield ada, bob, w, until
    w.close()
    bob.close()
    ada.close()
    bridge.detach()


def test_edits_flow_both_ways(pair):
    ada, bob, w, until = pair
    bob.submit(SetField("r1", "name", "Welder 1"), "Rename Robot 1")
    until(lambda: w.scene_model.index_of("r1").data() == "Welder 1")
    w.set_selection(["r2"])
    w.inspector.set_transform_component("position", 2, 0.75)
    until(lambda: bob.store.doc.nodes["r2"].transform[2] == 0.75)
    # Sequenced (no longer pending) comes before saved (acknowledged once on disk).
    until(lambda: not ada.store.pending and ada.unacked_count == 0)
    w.update_status()
    assert "All edits saved" in w.pending_label.text()
    assert w.seq_label.text() == f"seq {ada.store.last_seq}/{max(ada.head_seq, ada.store.last_seq)}"
    assert ada.store.doc.hash() == bob.store.doc.hash()


def test_presence_selection_and_people(pair):
    ada, bob, w, until = pair
    bob.set_presence(selection=["cab"], camera=list(BOB_CAM))
    until(lambda: any("Bob" in n for n in w.people.names()))
    # You are listed once (the server's record of your own session is not a peer).
    assert sorted(w.people.names()) == ["Ada (you)", "Bob"]
    until(lambda: w.viewport.visual.peer_line_count(bob.session) > 0)
    w.set_selection(["r1"])
    until(lambda: bob.peers[ada.session].selection == ["r1"])


def test_follow_needs_consent(pair, qtbot):
    ada, bob, w, until = pair
    # Bob asks to follow Ada: she gets a prompt; nothing is shared until she allows.
    bob.set_presence(follow=ada.session)
    key = f"follow-req:{bob.session}"
    until(lambda: key in w.notes.toasts)
    toast = w.notes.toasts[key]
    assert "Bob asks to follow your view" in toast.label.text()
    assert ada.session not in bob.peers or bob.session not in bob.peers[ada.session].follow_ok
    toast.buttons["Allow"].click()
    until(lambda: bob.session in bob.peers[ada.session].follow_ok)
    until(lambda: w.follow_box.isVisible() and "Being followed by Bob" in w.follow_label.text())
    # Ada stops it: consent is withdrawn.
    w.follow_stop.click()
    until(lambda: bob.session not in bob.peers[ada.session].follow_ok)

    # Ada asks to follow Bob: her camera moves only once Bob allows.
    bob.set_presence(camera=list(BOB_CAM))
    until(lambda: bob.session in ada.peers and ada.peers[bob.session].camera is not None)
    w.presence.follow(bob.session)
    until(lambda: bob.peers[ada.session].follow == bob.session)
    assert w.presence.active_target() is None
    assert "Waiting for Bob" in w.follow_label.text()
    bob.set_presence(follow_ok=[ada.session])
    until(lambda: w.presence.active_target() is not None)
    until(lambda: tuple(round(c, 3) for c in w.viewport.camera()[:6]) == BOB_CAM[:6])
    assert "Following Bob" in w.follow_label.text()


def test_present_mode_prompts_others(pair):
    _ada, bob, w, until = pair
    bob.set_presence(present=True, camera=list(BOB_CAM))
    key = f"present:{bob.session}"
    until(lambda: key in w.notes.toasts)
    assert "Bob is presenting — follow?" in w.notes.toasts[key].label.text()
    w.notes.toasts[key].buttons["Follow"].click()
    until(lambda: tuple(round(c, 3) for c in w.viewport.camera()[:6]) == BOB_CAM[:6])
    bob.set_presence(present=False)
    until(lambda: key not in w.notes.toasts)


def test_full_server_disk_is_shown_in_the_status_bar(qtbot, tmp_path):
    from twin_app.net import SyncClient

    srv = ServerProcess(tmp_path / "server", extra=["--max-room-mb", "0.25"]).start()
    bridge = ClientBridge()
    ada = SyncClient(srv.endpoint, "r", "owner-token", "Ada", wakeup=bridge.wakeup)
    bridge.attach(ada)
    w = MainWindow(ada, bridge, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   room="r", name="Ada", endpoint=srv.endpoint)
    qtbot.addWidget(w)
    w.show()
    try:
        ada.start()
        qtbot.waitUntil(lambda: ada.state == "live", timeout=15000)
        from twin_app.core import AddNode, Node

        ada.submit(AddNode(Node("n", "root", "V", kind="part", name="n")), "add")
        for i in range(3000):  # far more than the room's 0.25 MB quota
            ada.submit(SetField("n", f"prop:note{i % 60}", f"{i:06d}" + "x" * 4000), "fill")
            if ada.storage_error:
                break
            qtbot.wait(1)
        qtbot.waitUntil(lambda: ada.storage_error is not None, timeout=15000)
        w.update_status()
        assert "Server cannot save edits" in w.pending_label.text()
    finally:
        bridge.detach()
        ada.close()
        srv.stop()


def test_offline_edits_are_kept_and_sent_on_reconnect(pair, room_server):
    ada, bob, w, until = pair
    room_server.kill()
    until(lambda: ada.state == "offline", timeout=20000)
    w.update_status()
    assert "Offline" in w.state_label.text()
    w.set_selection(["cab"])
    w.inspector.set_transform_component("position", 1, 6.5)
    assert ada.store.doc.nodes["cab"].transform[1] == 6.5  # shown at once
    w.update_status()
    assert "1 edit pending" in w.pending_label.text()
    assert QApplication.activeModalWidget() is None  # no dialog in the way
    room_server.start()
    until(lambda: ada.state == "live" and not ada.store.pending, timeout=30000)
    until(lambda: bob.state == "live" and bob.store.doc.nodes["cab"].transform[1] == 6.5,
          timeout=30000)

    def saved() -> bool:
        w.update_status()  # "saved" = acknowledged durable by the server
        return "All edits saved" in w.pending_label.text()

    until(saved, timeout=15000)
