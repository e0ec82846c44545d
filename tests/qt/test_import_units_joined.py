"""Importing CAD files through the window as a person does, joined to a real server: the
units dialog for unitless files (default, preview, warning, remembered choice), an STEP
assembly arriving as its tree, and one click selecting a multi-material part."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QProgressDialog

from tests.data import make_data
from tests.qt.person import Dialogs, Room, click, key
from tests.qt.person import choose_file as pick
from twin_app.qt.importer import UnitsDialog

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def room(qapp, tmp_path_factory) -> Iterator[Room]:
    r = Room(tmp_path_factory.mktemp("units"), share=False)
    yield r
    r.close()


class Person:
    """Answers the file dialog with ``path`` and the units dialog with ``handle`` (once per
    dialog); reads error boxes."""

    def __init__(self, path: Path, handle: Callable[[UnitsDialog], None] | None = None) -> None:
        self.path = path
        self.handle = handle
        self.units_seen: list[dict[str, object]] = []
        self.errors: list[tuple[str, str]] = []
        self._done: set[int] = set()

    def __call__(self, dlg: QDialog) -> None:
        if isinstance(dlg, QProgressDialog):
            return
        if isinstance(dlg, QFileDialog):
            pick(dlg, self.path)
        elif isinstance(dlg, UnitsDialog):
            if id(dlg) in self._done:
                return
            self._done.add(id(dlg))
            self.units_seen.append({
                "unit": dlg.unit_box.currentData(), "size": dlg.size_label.text(),
                "warning": dlg.warning.text() if dlg.warning.isVisible() else ""})
            if self.handle is None:
                click(dlg.buttons.button(dlg.buttons.StandardButton.Ok))
            else:
                self.handle(dlg)
        elif isinstance(dlg, QMessageBox):
            self.errors.append((dlg.text(), dlg.detailedText()))
            dlg.close()


def import_with(room: Room, person: Person, done: Callable[[], bool]) -> None:
    with Dialogs(person):
        key(room.win.viewport.plotter, "Ctrl+O")
        room.until(lambda: not room.win.importer.busy and done(), 60)


def group_named(room: Room, name: str, count: int = 1):
    groups = [n for n in room.ada.store.doc.nodes.values() if n.name == name]
    return groups[-1] if len(groups) >= count else None


def test_unitless_stl_asks_for_the_unit_shows_the_size_warns_and_remembers(
        room: Room, tmp_path: Path) -> None:
    win = room.win
    path = tmp_path / "conveyor.stl"
    path.write_bytes(make_data.binary_stl(*make_data.box((0, 0, 0), (304, 20, 10))))
    trail: list[tuple[str, str, str]] = []

    def try_metres_then_millimetres(dlg: UnitsDialog) -> None:
        box = dlg.unit_box
        box.setFocus()
        for _ in range(2):  # millimetres → centimetres → metres
            QTest.keyClick(box, Qt.Key.Key_Down)
        trail.append((box.currentData(), dlg.size_label.text(), dlg.warning.text()))
        for _ in range(2):
            QTest.keyClick(box, Qt.Key.Key_Up)
        trail.append((box.currentData(), dlg.size_label.text(),
                      dlg.warning.text() if dlg.warning.isVisible() else ""))
        click(dlg.buttons.button(dlg.buttons.StandardButton.Ok))

    person = Person(path, try_metres_then_millimetres)
    import_with(room, person, lambda: group_named(room, "conveyor.stl") is not None)
    # Millimetres by default for STL, with the size it gives.
    assert person.units_seen == [{"unit": "mm", "size": "30.4 × 2 × 1 cm", "warning": ""}]
    assert trail == [("m", "304 × 20 × 10 m", "⚠ 304 m wide — was it millimetres?"),
                     ("mm", "30.4 × 2 × 1 cm", "")]
    group = group_named(room, "conveyor.stl")
    assert group.props["units"] == "mm"
    assert win.selection == [group.id]
    # Bob, in the room, gets a 304 mm part.
    room.until(lambda: room.bob_node(group.id) is not None)
    (part,) = room.bob.store.doc.children(group.id)
    bbox = room.bob_node(part).props["bbox"]
    assert bbox[3] - bbox[0] == pytest.approx(0.304, abs=1e-6)
    assert "Imported 1 part from conveyor.stl (mm)" in win.statusBar().currentMessage()

    # Inches this time: chosen with the keyboard, then remembered for the next STL.
    def inches(dlg: UnitsDialog) -> None:
        dlg.unit_box.setFocus()
        QTest.keyClick(dlg.unit_box, Qt.Key.Key_End)
        click(dlg.buttons.button(dlg.buttons.StandardButton.Ok))

    import_with(room, Person(path, inches), lambda: group_named(room, "conveyor.stl", 2) is not None)
    assert group_named(room, "conveyor.stl", 2).props["units"] == "in"
    settings = QSettings(str(room.settings_path), QSettings.Format.IniFormat)
    assert settings.value("import/units/STL") == "in"

    # The next STL opens on inches; Cancel there changes nothing.
    before = room.ada.store.doc.hash()

    def cancel(dlg: UnitsDialog) -> None:
        click(dlg.buttons.button(dlg.buttons.StandardButton.Cancel))

    third = Person(path, cancel)
    import_with(room, third, lambda: bool(third.units_seen))
    assert third.units_seen[0]["unit"] == "in"
    assert third.units_seen[0]["size"] == "7.72 × 0.508 × 0.254 m"
    assert room.ada.store.doc.hash() == before


def test_a_step_assembly_arrives_as_its_tree_without_asking(room: Room) -> None:
    person = Person(DATA / "frame.step")
    import_with(room, person, lambda: group_named(room, "frame.step") is not None)
    assert person.units_seen == []  # STEP says it is in millimetres
    group = group_named(room, "frame.step")
    assert group.props["units"] == "mm"
    room.until(lambda: room.bob_node(group.id) is not None)
    doc = room.bob.store.doc
    (frame,) = doc.children(group.id)
    names = [doc.nodes[c].name for c in doc.children(frame)]
    assert names == ["base", "side", "side", "top", "gusset kit", "gusset kit"]
    kit = doc.children(frame)[4]
    assert [doc.nodes[c].name for c in doc.children(kit)] == ["gusset", "gusset"]
    right = doc.nodes[doc.children(frame)[2]]
    assert right.props["instance"] == "right side"
    assert right.color == pytest.approx((0.2, 0.4, 0.8), abs=1e-4)  # sRGB, as drawn


def test_a_broken_file_says_why_in_words_with_details(room: Room, tmp_path: Path) -> None:
    bad = tmp_path / "pump.gltf"
    bad.write_bytes(b'{"asset": {"version": "2.0"}, "nodes": [')
    before = room.ada.store.doc.hash()
    person = Person(bad)
    import_with(room, person, lambda: bool(person.errors))
    text, details = person.errors[0]
    assert "pump.gltf: not a valid glTF file (its scene description (JSON) is broken)" in text
    assert "Nothing was changed" in text
    assert "JSONDecodeError" in details
    assert room.ada.store.doc.hash() == before


def on_screen(room: Room, xyz) -> QPoint:
    vp = room.win.viewport
    ren = vp.plotter.renderer
    ren.SetWorldPoint(*xyz, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    ratio = vp.plotter.devicePixelRatioF()
    return QPoint(round(x / ratio), round(vp.plotter.height() - 1 - y / ratio))


def test_one_click_on_a_multi_material_part_selects_the_whole_part(room: Room) -> None:
    win = room.win
    import_with(room, Person(DATA / "truck_3mat.glb"),
                lambda: group_named(room, "truck_3mat.glb") is not None)
    group = group_named(room, "truck_3mat.glb")
    doc = room.ada.store.doc
    (truck,) = doc.children(group.id)
    blocks = doc.children(truck)
    assert [doc.nodes[b].kind for b in blocks] == ["material"] * 3
    room.until(lambda: win.viewport.visual.node_bounds([blocks[1]]) is not None)
    b = win.viewport.visual.node_bounds([blocks[1]])  # the cab
    centre = ((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, b[5])
    key(win.viewport.plotter, "Esc")
    QTest.mouseClick(win.viewport.plotter, Qt.MouseButton.LeftButton, pos=on_screen(room, centre))
    room.until(lambda: win.selection == [truck], 10)
    room.until(lambda: room.bob.peers[room.ada.session].selection == [truck])


def test_every_mesh_of_an_assembly_reaches_the_other_client(room: Room) -> None:
    import_with(room, Person(DATA / "frame.step"),
                lambda: group_named(room, "frame.step", 2) is not None)
    group = group_named(room, "frame.step", 2)
    room.until(lambda: room.bob_node(group.id) is not None)
    meshes = {room.bob_node(n).mesh for n in room.bob.store.doc.subtree(group.id)
              if room.bob_node(n).mesh}
    assert len(meshes) == 4
    room.bob.assets.want(meshes)
    room.until(lambda: all(room.bob.assets.has(h) for h in meshes), 10)
