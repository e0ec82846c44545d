"""The main window: edits from menus, the 3D handle and the tree go through the client as
ops; undo/redo name the edit and explain refusals; import runs in a worker."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QPushButton

from twin_app.core.ops import SetField
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.local import LocalClient
from twin_app.qt.window import MainWindow

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


def test_undo_redo_labels_follow_edits(win):
    client, w = win
    w.set_selection(["r1"])
    w.inspector.set_transform_component("position", 0, 2.0)
    assert w.act_undo.text() == "&Undo Move Robot 1"
    assert w.act_undo.isEnabled()
    w.act_undo.trigger()
    assert client.store.doc.nodes["r1"].transform[0] == 0.0
    assert w.act_redo.text() == "&Redo Move Robot 1"
    w.act_redo.trigger()
    assert client.store.doc.nodes["r1"].transform[0] == 2.0


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


def test_delete_duplicate_group_actions(win):
    client, w = win
    w.set_selection(["r2"])
    w.act_duplicate.trigger()
    copy = w.selection[0]
    assert copy != "r2" and client.store.doc.nodes[copy].parent == "line"
    assert client.submitted[-1][1] == "Duplicate Robot 2"
    w.set_selection(["r1", "r2"])
    w.act_group.trigger()
    gid = w.selection[0]
    assert client.store.doc.nodes["r1"].parent == gid
    assert w.act_undo.text() == "&Undo Group 2 parts"
    w.set_selection([copy])
    w.act_delete.trigger()
    assert copy not in client.store.doc
    assert w.selection == []


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


def test_pick_selects_everywhere(win):
    client, w = win
    w.viewport.sig_picked.emit("r2", False)
    assert w.selection == ["r2"]
    assert w.outline.selected_ids() == ["r2"]
    assert w.inspector.title.text() == "Robot 2"
    assert client.presence["selection"] == ["r2"]
    w.viewport.sig_picked.emit("cab", True)
    assert w.selection == ["r2", "cab"]
    w.viewport.sig_picked.emit(None, False)
    assert w.selection == []


def test_tree_selection_and_rename(win):
    client, w = win
    w.outline.set_selection(["cab"])
    w.outline.sig_selection.emit(w.outline.selected_ids())
    assert w.selection == ["cab"]
    idx = w.scene_model.index_of("cab")
    w.scene_model.setData(idx, "Control cabinet")
    assert client.store.doc.nodes["cab"].name == "Control cabinet"
    assert w.inspector.title.text() == "Control cabinet"


def write_stl(path: Path, n: int = 2) -> None:
    tris = np.zeros((n, 3, 3), "f4")
    for i in range(n):
        tris[i] = [[i, 0, 0], [i + 1, 0, 0], [i, 1, 0]]
    with path.open("wb") as fh:
        fh.write(b"\0" * 80 + struct.pack("<I", n))
        for t in tris:
            fh.write(struct.pack("<3f", 0, 0, 1) + t.tobytes() + b"\0\0")


def test_import_stl_in_worker_adds_parts(win, qtbot, tmp_path):
    client, w = win
    path = tmp_path / "bracket.stl"
    write_stl(path)
    before = len(client.store.doc)
    progress: list[float] = []
    with qtbot.waitSignal(w.importer.sig_done, timeout=20000) as done:
        job = w.importer.start(path)
        job.signals.progress.connect(lambda f, s: progress.append(f))
    assert done.args[0], "import failed"
    doc = client.store.doc
    assert len(doc) == before + 2  # a group named after the file + one part
    group = doc.nodes[done.args[0][0]]
    assert group.name == "bracket.stl"
    part = doc.nodes[doc.children(group.id)[0]]
    assert part.mesh and client.assets.get(part.mesh) is not None
    assert client.submitted[-1][1] == "Import bracket.stl"
    assert w.act_undo.text() == "&Undo Import bracket.stl"
    assert progress and progress[-1] == 1.0


def test_import_cancel_changes_nothing(win, qtbot, tmp_path):
    client, w = win
    path = tmp_path / "big.stl"
    write_stl(path, 20000)
    before = client.store.doc.hash()
    with qtbot.waitSignal(w.importer.sig_done, timeout=20000) as done:
        w.importer.start(path)
        cancel = w.importer.dialog.findChild(QPushButton)
        assert cancel.text() == "Cancel"
        cancel.click()  # the user presses Cancel
    assert done.args[0] is None
    assert client.store.doc.hash() == before


def test_broken_file_shows_error_and_changes_nothing(win, qtbot, tmp_path):
    client, w = win
    path = tmp_path / "broken.stl"
    path.write_bytes(b"solid nonsense\nthis is not an stl file\n")
    before = client.store.doc.hash()
    n = len(client.submitted)
    with qtbot.waitSignal(w.importer.sig_done, timeout=20000) as done:
        w.importer.start(path)
    assert done.args[0] is None
    box = w.importer.error_box
    assert box is not None and box.isVisible()
    assert "broken.stl" in box.text() and "Nothing was changed" in box.text()
    assert client.store.doc.hash() == before and len(client.submitted) == n
    box.close()


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


def test_theme_switch_and_recent_rooms(win):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    _, w = win
    w.theme_actions["dark"].setChecked(True)
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightnessF() < 0.5
    assert w.settings.value("view/theme") == "dark"
    w.theme_actions["light"].setChecked(True)
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightnessF() > 0.5
    w.remember_room("tcp://plant-a:7700", "line1", "tok")
    w.remember_room("tcp://plant-b:7700", "paint", "")
    w._fill_recent_menu()
    texts = [a.text() for a in w.recent_menu.actions()]
    assert texts == ["paint — tcp://plant-b:7700", "line1 — tcp://plant-a:7700"]


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
