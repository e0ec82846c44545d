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
