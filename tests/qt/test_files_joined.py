"""File menu actions as a person uses them, on a window joined to a real server."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from twin_app.io.importers import import_file

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def test_export_scene_as_glb_writes_the_file_and_says_so(join, qtbot, tmp_path, monkeypatch):
    _ada, w = join("Ada")
    out = tmp_path / "exports" / "plant"
    out.parent.mkdir()
    asked: list[str] = []

    def save_dialog(parent, title, start, pattern):
        asked.append(start)
        return str(out), pattern

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    w.act_export.trigger()
    glb = out.with_suffix(".glb")
    assert glb.read_bytes()[:4] == b"glTF"
    back = import_file(glb)
    assert len(back.parts) == 4
    assert "Exported 4 parts to plant.glb" in "\n".join(w.notes.visible_texts())
    # The next export starts where this one went.
    w.act_export.trigger()
    assert asked[-1] == str(glb)


def test_export_to_an_unwritable_place_says_why(join, tmp_path, monkeypatch):
    _ada, w = join("Ada")
    target = tmp_path / "missing-dir" / "plant.glb"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a: (str(target), "")))
    w.act_export.trigger()
    assert not target.exists()
    assert "Export failed: plant.glb: cannot write" in "\n".join(w.notes.visible_texts())


def test_import_lands_where_i_look_on_the_floor_clear_selected_and_framed(
        join, qtbot, tmp_path, monkeypatch):
    import numpy as np
    from PySide6.QtCore import Qt

    from tests.io.io_kit import box_solid
    from tests.qt.test_view_joined import screen_box

    _ada, a = join("Ada")
    bo, _b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    # Ada looks at the cabinet (Fit Selection after clicking it in the tree).
    view = a.outline.view
    idx = a.outline.proxy.mapFromSource(a.scene_model.index_of("cab"))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(idx).center())
    a.act_fit_sel.trigger()
    looked_at = np.array(a.viewport.floor_point())
    # A 1.2 × 0.8 × 0.5 m crate modelled 3 m below its file's origin.
    verts, faces = box_solid((0.0, 0.0, -3.0), (1.2, 0.8, -2.5))
    path = tmp_path / "crate.stl"
    import trimesh

    tris = [t for a, b, c, d in faces for t in ((a, b, c), (a, c, d))]
    trimesh.Trimesh(vertices=verts, faces=tris).export(path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args: (str(path), "")))

    def in_metres(dlg) -> None:  # the crate was drawn in metres; STL proposes millimetres
        from PySide6.QtTest import QTest

        from tests.qt.person import click
        from twin_app.qt.importer import UnitsDialog

        if isinstance(dlg, UnitsDialog) and dlg.unit_box.currentData() != "m":
            dlg.unit_box.setFocus()
            while dlg.unit_box.currentData() != "m":
                QTest.keyClick(dlg.unit_box, Qt.Key.Key_Down)
            click(dlg.buttons.button(dlg.buttons.StandardButton.Ok))

    from tests.qt.person import Dialogs

    with Dialogs(in_metres), qtbot.waitSignal(a.importer.sig_done, timeout=20000) as done:
        a.act_import.trigger()
    (gid,) = done.args[0]
    assert a.selection == [gid]
    b = a.viewport.visual.node_bounds([gid])  # xmin, xmax, ymin, ymax, zmin, zmax
    assert b[4] == pytest.approx(0.0, abs=1e-5)  # standing on the floor
    assert b[1] - b[0] == pytest.approx(1.2, abs=1e-4)
    centre = np.array(((b[0] + b[1]) / 2, (b[2] + b[3]) / 2))
    assert np.linalg.norm(centre - looked_at) < 3.0  # near where Ada looked
    for other in ("cab", "r1", "r2", "conv"):
        o = a.viewport.visual.node_bounds([other])
        apart = b[1] <= o[0] or b[0] >= o[1] or b[3] <= o[2] or b[2] >= o[3]
        assert apart, f"the import sits inside {other}"
    w_frac, h_frac = screen_box(a.viewport, gid)
    assert 0.1 < max(w_frac, h_frac) < 0.7  # framed
    qtbot.waitUntil(lambda: (bo.process_events() or True) and gid in bo.store.doc, timeout=10000)
