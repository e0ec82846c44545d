"""The main window: edits from menus, the 3D handle and the tree go through the client as
ops; undo/redo name the edit and explain refusals; import runs in a worker."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from twin_app.core.ops import SetField
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.window import MainWindow
from twin_app.session.local import LocalClient

pytestmark = [pytest.mark.qt, pytest.mark.vtk]


@pytest.fixture
def win(qtbot, plant, tmp_path):
    doc, blobs = plant
    client = LocalClient(doc, blobs, name="Ada")
    bridge = ClientBridge()
    bridge.attach(client)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(client, bridge, settings=settings, room="test", name="Ada")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield client, w
    w.close()


def toasts(w: MainWindow) -> str:
    return "\n".join(w.notes.visible_texts())



def test_refused_undo_shows_why(win):
    client, w = win
    w.set_selection(["r1"])
    w.inspector.set_transform_component("position", 0, 2.0)
    # Bob moves the same robot afterwards: undoing must not clobber his edit.
    client.remote(SetField("r1", "transform", (9, 9, 0, 0, 0, 0, 1, 1, 1, 1)))
    w.undo()
    assert client.store.doc.nodes["r1"].transform[0] == 9.0
    msg = w.statusBar().currentMessage()
    assert "Cannot undo “Move Robot 1”" in msg and "someone else" in msg
    assert "someone else" in toasts(w)


def test_nack_is_shown(win):
    client, w = win
    client.refuse = lambda op: "Robot 1 is locked by Bob"
    w.set_selection(["r1"])
    w.inspector.set_transform_component("position", 1, 4.0)
    assert client.store.doc.nodes["r1"].transform[1] == 0.0  # rolled back
    assert "Your change “Move Robot 1” was refused: Robot 1 is locked by Bob" in toasts(w)
    assert "refused" in w.statusBar().currentMessage()


def test_viewer_role_cannot_edit(win):
    client, w = win
    client.role = "viewer"
    n = len(client.submitted)
    w.set_selection(["r1"])
    w.act_delete.trigger()
    assert "r1" in client.store.doc
    assert len(client.submitted) == n
    assert "cannot" in toasts(w)



def test_handle_drag_is_one_undo_entry(win, qtbot):
    client, w = win
    vp = w.viewport
    w.set_selection(["r1"])
    w.set_handle_mode("move")
    n = len(client.submitted)
    undo_before = len(client.store.history.undo_entries)
    for x in (0.5, 1.0, 1.5):
        vp.sig_transform_dragged.emit("r1", (x, 0.0, 0.0, 0, 0, 0, 1, 1, 1, 1), False)
        qtbot.wait(70)  # drags are sent at most every 60 ms: let the throttle open
    vp.sig_transform_dragged.emit("r1", (2.0, 0.0, 0.0, 0, 0, 0, 1, 1, 1, 1), True)
    assert client.store.doc.nodes["r1"].transform[0] == 2.0
    sent = [op for op, _ in client.submitted[n:]]
    assert len(sent) >= 2 and all(isinstance(o, SetField) for o in sent)  # live + final
    assert len(client.store.history.undo_entries) == undo_before + 1
    assert w.act_undo.text() == "&Undo Move Robot 1"
    w.undo()
    assert client.store.doc.nodes["r1"].transform[0] == 0.0




def test_settings_persist_snapping_and_layout(win, tmp_path):
    _, w = win
    w.act_snap.setChecked(True)
    w.snap_move.setValue(0.25)
    w.save_settings()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert s.value("snap/enabled") == "true"
    assert float(s.value("snap/move")) == 0.25
    assert s.value("window/state") is not None


def test_status_bar_shows_state_room_seq_pending(win):
    client, w = win
    w.update_status()
    assert "Live" in w.state_label.text()
    assert "test" in w.room_label.text()
    w.set_selection(["r1"])
    w.inspector.set_transform_component("position", 0, 1.0)
    w.update_status()
    assert w.seq_label.text() == f"seq {client.store.last_seq}/{client.head_seq}"
    assert "saved" in w.pending_label.text()



def test_share_dialog_copies_join_details(qtbot, plant, tmp_path):
    from PySide6.QtGui import QGuiApplication

    from twin_app.qt.share import ShareInfo

    doc, blobs = plant
    client = LocalClient(doc, blobs)
    bridge = ClientBridge()
    bridge.attach(client)
    w = MainWindow(client, bridge, room="demo",
                   settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   share=ShareInfo("tcp://ws-12:7700", "demo", "s3cret"))
    qtbot.addWidget(w)
    w.update_status()
    assert "ws-12:7700" in w.share_btn.text()
    dlg = w.show_share()
    assert dlg.fields["Token"].text() == "s3cret"
    assert dlg.fields["Command"].text() == "twin-app --connect tcp://ws-12:7700 --room demo --token s3cret"
    dlg.copy(dlg.fields["Token"].text())
    assert QGuiApplication.clipboard().text() == "s3cret"
    dlg.close()
    w.close()
