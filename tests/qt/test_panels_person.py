"""Ada uses the window with keyboard and mouse; Bob, in the same room on a real server, sees
the result. Menus by their shortcuts, the scene tree, inspector and people panels by clicks
and typing, the 3D view by clicks and drags, dialogs answered as a person answers them.

The tests share one room (joining costs a second); each works on its own parts."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QProcess, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QColorDialog,
    QDialog,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QProgressDialog,
)

from tests.qt.person import (
    Dialogs,
    Room,
    click,
    click_item,
    key,
    select_in_tree,
    tree_index,
    type_text,
)
from tests.qt.person import (
    choose_file as pick,
)
from twin_app.core import xform as tf
from twin_app.qt.connect import ConnectDialog
from twin_app.qt.importer import UnitsDialog
from twin_app.qt.scenetree import COL_VISIBLE

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


@pytest.fixture(scope="module")
def room(qapp, tmp_path_factory) -> Iterator[Room]:
    r = Room(tmp_path_factory.mktemp("person"), share=False)
    yield r
    r.close()


def bob_sees_selection(room: Room, ids: list[str]) -> None:
    room.until(lambda: room.bob.peers[room.ada.session].selection == ids)


def on_screen(room: Room, xyz: tuple[float, float, float]) -> QPoint:
    """Where a world point is drawn in the 3D view (Qt widget coordinates)."""
    vp = room.win.viewport
    ren = vp.plotter.renderer
    ren.SetWorldPoint(*xyz, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = vp.plotter.devicePixelRatioF()
    return QPoint(round(x / ratio), round(vp.plotter.height() - 1 - y / ratio))


# ============================================================== Edit menu, by keys ==
def test_duplicate_delete_undo_redo_by_keyboard(room: Room) -> None:
    win, view = room.win, room.win.viewport.plotter
    select_in_tree(win, "r2")
    bob_sees_selection(room, ["r2"])
    key(view, "Ctrl+D")
    room.until(lambda: win.selection and win.selection != ["r2"])
    copy = win.selection[0]
    room.until(lambda: room.bob_node(copy) is not None)
    assert room.bob_node(copy).parent == "line" and room.bob_node(copy).name.startswith("Robot")
    assert win.act_undo.text() == "&Undo Duplicate Robot 2"
    key(view, "Del")
    room.until(lambda: room.bob_node(copy) is None)
    assert win.selection == []
    key(view, "Ctrl+Z")
    room.until(lambda: room.bob_node(copy) is not None)
    assert win.act_redo.text().startswith("&Redo Delete")
    key(view, "Ctrl+Y")
    room.until(lambda: room.bob_node(copy) is None)


def test_group_then_name_it_and_rename_with_f2(room: Room) -> None:
    win = room.win
    select_in_tree(win, "r1", "conv")
    assert sorted(win.selection) == ["conv", "r1"]
    key(win.viewport.plotter, "Ctrl+G")
    room.until(lambda: room.bob_node("r1").parent not in ("line", None))
    gid = room.bob_node("r1").parent
    assert room.bob_node("conv").parent == gid
    assert win.selection == [gid] and win.outline.selected_ids() == [gid]
    # The new group's name is open for editing in the tree: type over it.
    editor = QApplication.focusWidget()
    room.until(lambda: (editor := QApplication.focusWidget()) is not None
               and editor.metaObject().className() == "QExpandingLineEdit")
    editor = QApplication.focusWidget()
    type_text(editor, "Welding cell")
    room.until(lambda: room.bob_node(gid).name == "Welding cell")

    select_in_tree(win, "cab")
    key(win.viewport.plotter, "F2")
    room.until(lambda: QApplication.focusWidget() is not None
               and QApplication.focusWidget().metaObject().className() == "QExpandingLineEdit")
    type_text(QApplication.focusWidget(), "Control cabinet")
    room.until(lambda: room.bob_node("cab").name == "Control cabinet")
    assert win.inspector.title.text() == "Control cabinet"


def test_select_all_and_none(room: Room) -> None:
    win = room.win
    key(win.viewport.plotter, "Ctrl+A")
    parts = sorted(n.id for n in room.ada.store.doc.walk() if n.kind == "part")
    assert sorted(win.selection) == parts
    assert win.inspector.title.text() == f"{len(parts)} selected"
    bob_sees_selection(room, win.selection)
    key(win.viewport.plotter, "Esc")
    assert win.inspector.title.text() == "Nothing selected"
    bob_sees_selection(room, [])


# =========================================================================== inspector ==
def test_inspector_fields_typed_reach_the_other_client(room: Room) -> None:
    win, insp = room.win, room.win.inspector
    select_in_tree(win, "r2")
    type_text(insp.spins["position"][0], "4.5")
    room.until(lambda: room.bob_node("r2").transform[0] == 4.5)
    type_text(insp.spins["rotation"][2], "90")
    room.until(lambda: abs(tf.quat_to_euler(room.bob_node("r2").transform[3:7])[2] - 90) < 1e-6)
    # Scale 0 is refused with a message; nothing is sent.
    before = room.bob_node("r2").transform
    type_text(insp.spins["scale"][1], "0")
    assert "Scale cannot be zero" in win.statusBar().currentMessage()
    assert room.ada.store.doc.nodes["r2"].transform == before
    type_text(insp.name, "Robot 2 (spare)")
    room.until(lambda: room.bob_node("r2").name == "Robot 2 (spare)")
    type_text(insp.opacity, "40")
    room.until(lambda: room.bob_node("r2").opacity == pytest.approx(0.4))
    click(insp.visible)
    room.until(lambda: room.bob_node("r2").visible is False)
    click(insp.visible)
    room.until(lambda: room.bob_node("r2").visible is True)


def test_colour_picked_in_the_dialog_and_reset(room: Room) -> None:
    win, insp = room.win, room.win.inspector
    select_in_tree(win, "cab")

    def pick_red(dlg: QDialog) -> None:
        assert isinstance(dlg, QColorDialog)
        dlg.setCurrentColor(QColor(255, 0, 0))
        dlg.accept()

    with Dialogs(pick_red) as dialogs:
        click(insp.color)
    assert dialogs.seen == ["QColorDialog"]
    room.until(lambda: room.bob_node("cab").color == (1.0, 0.0, 0.0))
    click(insp.reset_color)
    room.until(lambda: room.bob_node("cab").color is None)


def test_properties_edit_add_remove_and_bad_value(room: Room) -> None:
    win, insp = room.win, room.win.inspector
    select_in_tree(win, "r1")
    table = insp.props

    def edit_cell(name: str, text: str) -> None:
        # Click the value next to ``name`` and type over it (F2 is the window's Rename).
        row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
        click_item(table, table.model().index(row, 1))
        QTest.keyClick(table, text[0])
        room.until(lambda: table.state() == table.State.EditingState)
        QTest.keyClicks(QApplication.focusWidget(), text[1:])
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)

    edit_cell("mass", "130.5")
    room.until(lambda: room.bob_node("r1").props["mass"] == 130.5)
    # A word where a number belongs: refused with the reason, value kept.
    edit_cell("mass", "heavy")
    room.until(lambda: "mass" in win.statusBar().currentMessage())
    assert room.ada.store.doc.nodes["r1"].props["mass"] == 130.5

    type_text(insp.new_key, "supplier", enter=False)
    type_text(insp.new_value, "ACME Robotics", enter=False)
    click(insp.add_btn)
    room.until(lambda: room.bob_node("r1").props.get("supplier") == "ACME Robotics")
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "supplier")
    click_item(table, table.model().index(row, 0))
    click(insp.del_btn)
    room.until(lambda: "supplier" not in room.bob_node("r1").props)


# ========================================================================== scene tree ==
def test_tree_visibility_checkbox_and_double_click(room: Room) -> None:
    win = room.win
    view = win.outline.view
    idx = tree_index(win, "r2", COL_VISIBLE)
    rect = view.visualRect(idx)
    # The check box sits at the left of the cell.
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + rect.height() // 2 + 1, rect.center().y()))
    room.until(lambda: room.bob_node("r2").visible is False)
    assert not room.ada.store.doc.nodes["r2"].visible
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + rect.height() // 2 + 1, rect.center().y()))
    room.until(lambda: room.bob_node("r2").visible is True)
    # Bob moves the part Ada has selected into another group: it stays selected for her.
    select_in_tree(win, "r2")
    from twin_app.session import commands

    op, label = commands.reparent(room.bob.store.doc, ["r2"], "root")
    room.bob.submit(op, label)
    room.until(lambda: room.ada.store.doc.nodes["r2"].parent == "root")
    assert win.selection == ["r2"] and win.outline.selected_ids() == ["r2"]
    idx = tree_index(win, "r2", COL_VISIBLE)
    # Double-clicking a row outside its name frames that part.
    before = win.viewport.camera()
    click_item(view, idx, double=True)
    room.until(lambda: win.selection == ["r2"])
    assert win.viewport.camera() != pytest.approx(before)


# ============================================================================ 3D view ==
def test_clicks_in_the_view_select_and_others_see_it(room: Room) -> None:
    win = room.win
    vp = win.viewport.plotter
    key(vp, "7")  # top view
    key(vp, "F")  # whole plant
    QTest.qWait(50)
    cab = room.ada.store.doc.nodes["cab"].transform[:3]
    robot = room.ada.store.doc.nodes["line"]
    assert robot is not None
    click(vp, pos=on_screen(room, (cab[0] + 0.5, cab[1] + 0.5, 2.0)))
    room.until(lambda: win.selection == ["cab"])
    bob_sees_selection(room, ["cab"])
    assert win.outline.selected_ids() == ["cab"]
    assert win.inspector.title.text() == room.ada.store.doc.nodes["cab"].name
    # Hovering a part names it in the status bar, with its place in the tree.
    QTest.mouseMove(vp, on_screen(room, (cab[0] + 0.5, cab[1] + 0.5, 2.0)) + QPoint(2, 2))
    room.until(lambda: room.ada.store.doc.nodes["cab"].name in win.statusBar().currentMessage())
    # Clicking empty floor clears the selection.
    click(vp, pos=on_screen(room, (cab[0] - 6, cab[1] - 6, 0.0)))
    room.until(lambda: win.selection == [])
    bob_sees_selection(room, [])


def test_orbit_drag_and_wheel_move_the_camera_bob_sees(room: Room) -> None:
    win = room.win
    vp = win.viewport.plotter
    start = win.viewport.camera()
    mid = vp.rect().center()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, pos=mid)
    for i in range(1, 8):
        QTest.mouseMove(vp, mid + QPoint(10 * i, 4 * i))
        QTest.qWait(15)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=mid + QPoint(70, 28))
    room.until(lambda: win.viewport.camera() != pytest.approx(start))
    orbit = win.viewport.camera()
    room.until(lambda: room.bob.peers[room.ada.session].camera is not None and np.allclose(
        room.bob.peers[room.ada.session].camera, orbit, atol=1e-3))


def test_view_keys_grid_and_handle_modes(room: Room) -> None:
    win = room.win
    vp = win.viewport.plotter
    for shortcut, direction in (("7", (0, 0, 1)), ("1", (0, -1, 0)), ("3", (1, 0, 0))):
        key(vp, shortcut)
        cam = win.viewport.camera()
        d = np.subtract(cam[0:3], cam[3:6])
        assert d / np.linalg.norm(d) == pytest.approx(direction, abs=1e-6), shortcut
    assert win.act_grid.isChecked()
    key(vp, "G")
    assert not win.act_grid.isChecked()
    key(vp, "G")
    assert win.act_grid.isChecked()
    select_in_tree(win, "cab")
    key(vp, "W")
    room.until(lambda: win.viewport.handle.enabled and win.viewport.handle.node_id == "cab")
    key(vp, "Q")
    room.until(lambda: not win.viewport.handle.enabled)


def test_snapping_sets_the_arrow_step_in_the_inspector(room: Room) -> None:
    win = room.win
    select_in_tree(win, "cab")
    x0 = room.ada.store.doc.nodes["cab"].transform[0]
    key(win.viewport.plotter, "Ctrl+Shift+X")
    assert win.act_snap.isChecked()
    type_text(win.snap_move, "0.25")
    spin = win.inspector.spins["position"][0]
    spin.setFocus()
    QTest.keyClick(spin, Qt.Key.Key_Up)
    room.until(lambda: room.bob_node("cab").transform[0] == pytest.approx(x0 + 0.25))
    key(win.viewport.plotter, "Ctrl+Shift+X")
    assert not win.act_snap.isChecked()


# ============================================================================== people ==
def test_follow_go_to_view_and_present_from_the_people_panel(room: Room) -> None:
    win, people = room.win, room.win.people
    bob_cam = (18.0, -14.0, 11.0, 1.0, 1.0, 0.5, 0.0, 0.0, 1.0)
    room.bob.set_presence(camera=list(bob_cam))
    room.until(lambda: room.ada.peers[room.bob.session].camera is not None)
    row = next(i for i in range(people.tree.topLevelItemCount())
               if people.tree.topLevelItem(i).text(0) == "Bob")
    click_item(people.tree, people.tree.model().index(row, 0))
    click(people.jump_btn)
    room.until(lambda: win.viewport.camera()[:6] == pytest.approx(bob_cam[:6], abs=1e-3))

    click(people.follow_btn)
    room.until(lambda: room.bob.peers[room.ada.session].follow == room.bob.session)
    assert "Waiting for Bob" in win.follow_label.text()
    room.bob.set_presence(follow_ok=[room.ada.session])
    room.until(lambda: "Following Bob" in win.follow_label.text())
    room.until(lambda: people.follow_btn.text() == "Stop following")
    click(people.follow_btn)
    room.until(lambda: room.bob.peers[room.ada.session].follow is None)

    click(people.present_btn)
    room.until(lambda: room.bob.peers[room.ada.session].present is True)
    assert win.act_present.isChecked()
    win.act_present.trigger()  # People → Present again ends it
    room.until(lambda: room.bob.peers[room.ada.session].present is False)
    assert not people.present_btn.isChecked()


def test_notices_button_opens_the_history(room: Room) -> None:
    win = room.win
    dock = win.docks["Notifications"]
    was = dock.isVisible()
    click(win.bell)
    assert dock.isVisible() != was
    assert win.bell.text() == "Notices"  # opened means read
    click(win.bell)
    assert dock.isVisible() == was


# ========================================================================= File menu ==
def write_stl(path: Path, n: int = 2) -> None:
    """A binary STL of ``n`` triangles in a row."""
    rec = np.zeros(n, [("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    i = np.arange(n, dtype="f4")
    rec["normal"][:, 2] = 1
    rec["v"][:, 0, 0], rec["v"][:, 1, 0], rec["v"][:, 2, 0] = i, i + 1, i
    rec["v"][:, 2, 1] = 1
    with path.open("wb") as fh:
        fh.write(b"\0" * 80 + struct.pack("<I", n))
        fh.write(rec.tobytes())


def choose_file(path: Path):
    def answer(dlg: QDialog) -> None:
        if isinstance(dlg, QFileDialog):
            pick(dlg, path)
        elif isinstance(dlg, UnitsDialog):  # STL: keep the unit it proposes
            click(dlg.buttons.button(dlg.buttons.StandardButton.Ok))
    return answer


def test_import_from_the_file_menu_reaches_the_other_client(room: Room, tmp_path: Path) -> None:
    win = room.win
    path = tmp_path / "bracket.stl"
    write_stl(path)
    with Dialogs(choose_file(path)) as dialogs:
        key(win.viewport.plotter, "Ctrl+O")
        room.until(lambda: win.importer.job is None and "bracket.stl" in
                   win.statusBar().currentMessage(), 30)
    assert dialogs.seen[0] == "QFileDialog"
    group = next(n for n in room.ada.store.doc.nodes.values() if n.name == "bracket.stl")
    assert win.selection == [group.id]
    room.until(lambda: room.bob_node(group.id) is not None)
    (part,) = room.bob.store.doc.children(group.id)
    mesh = room.bob_node(part).mesh
    room.until(lambda: room.bob.assets.get(mesh) is not None)
    assert win.act_undo.text() == "&Undo Import bracket.stl"


def test_import_cancel_and_broken_file_change_nothing(room: Room, tmp_path: Path) -> None:
    win = room.win
    big = tmp_path / "big.stl"
    write_stl(big, 600_000)  # long enough for the progress dialog to show
    before = room.ada.store.doc.hash()

    def cancel(dlg: QDialog) -> None:
        if isinstance(dlg, QProgressDialog):
            click(dlg.findChild(type(win.follow_stop)))  # its Cancel button
        else:
            choose_file(big)(dlg)

    with Dialogs(cancel):
        key(win.viewport.plotter, "Ctrl+O")
        room.until(lambda: win.importer.job is None, 30)
    assert room.ada.store.doc.hash() == before

    broken = tmp_path / "broken.stl"
    broken.write_bytes(b"solid nonsense\nthis is not an stl file\n")
    boxes: list[str] = []

    def read_error(dlg: QDialog) -> None:
        if isinstance(dlg, QMessageBox):
            boxes.append(dlg.text())
            dlg.close()
        else:
            choose_file(broken)(dlg)

    with Dialogs(read_error):
        key(win.viewport.plotter, "Ctrl+O")
        room.until(lambda: bool(boxes), 30)
    assert "broken.stl" in boxes[0] and "Nothing was changed" in boxes[0]
    assert room.ada.store.doc.hash() == before


def test_connect_to_room_and_recent_rooms_open_a_new_window(room: Room, monkeypatch) -> None:
    win = room.win
    launched: list[list[str]] = []
    # The new window is another process: record its command line instead of starting it.
    monkeypatch.setattr(QProcess, "startDetached",
                        staticmethod(lambda prog, args: launched.append(list(args)) or True))

    def fill(dlg: QDialog) -> None:
        assert isinstance(dlg, ConnectDialog)
        type_text(dlg.endpoint, "plant-b:7700", enter=False)
        type_text(dlg.room, "paint", enter=False)
        type_text(dlg.token, "s3cret", enter=False)
        dlg.accept()

    with Dialogs(fill):
        win.act_connect.trigger()
    assert launched[-1][-8:] == ["--connect", "tcp://plant-b:7700", "--room", "paint",
                                 "--name", "Ada", "--token", "s3cret"]
    assert "Opening room paint" in win.statusBar().currentMessage()
    win.recent_menu.aboutToShow.emit()  # the person opens File → Recent Rooms
    (entry,) = [a for a in win.recent_menu.actions() if "paint" in a.text()]
    assert entry.text() == "paint — tcp://plant-b:7700"
    entry.trigger()
    assert len(launched) == 2 and launched[1] == launched[0]


def test_your_name_and_theme(room: Room) -> None:
    win = room.win

    def rename(dlg: QDialog) -> None:
        assert isinstance(dlg, QInputDialog)
        dlg.setTextValue("Ada Lovelace")
        dlg.accept()

    with Dialogs(rename):
        win.act_identity.trigger()
        room.until(lambda: win.settings.value("user/name") == "Ada Lovelace")
    assert "Ada Lovelace" in win.statusBar().currentMessage()

    win.theme_actions["dark"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.5
    win.theme_actions["light"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightnessF() > 0.5
    assert win.settings.value("view/theme") == "light"
    assert math.isfinite(win.viewport.camera()[0])
