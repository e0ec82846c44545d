"""Help as a person finds it: F1 opens a real help page, Help → About says the version."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

import twin_app
from tests.qt.person import key
from twin_app.qt.help import HelpDialog

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def test_f1_opens_the_help_page(join, qtbot):
    _ada, a = join("Ada")
    assert a.act_help.shortcut().toString() == "F1"
    a.act_help.trigger()
    qtbot.waitUntil(lambda: bool(a.findChildren(HelpDialog)))
    dlg = a.findChildren(HelpDialog)[0]
    qtbot.waitExposed(dlg)
    text = dlg.browser.toPlainText()
    for expected in ("Mouse", "Orbit", "Pan", "Zoom", "drag an arrow", "Esc",
                     "Inviting someone", "File → Share", "--connect", "Keys",
                     "Ctrl+Z", "Undo", "F2", "Rename"):
        assert expected in text, expected
    # A help page, not a menu of greyed-out items; it does not block the window.
    assert not dlg.isModal()
    close = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())


def test_f1_again_brings_back_the_one_help_page(join, qtbot):
    _ada, a = join("Ada")
    for _ in range(3):
        key(a.viewport.plotter, "F1")
        qtbot.waitUntil(lambda: any(d.isVisible() for d in a.findChildren(HelpDialog)))
    pages = a.findChildren(HelpDialog)
    assert len(pages) == 1
    dlg = pages[0]
    close = dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible())
    key(a.viewport.plotter, "F1")
    qtbot.waitUntil(dlg.isVisible)
    assert a.findChildren(HelpDialog) == [dlg]


def test_about_shows_the_version(join, qtbot):
    _ada, a = join("Ada")
    a.act_about.trigger()
    qtbot.waitUntil(lambda: any(b.isVisible() for b in a.findChildren(QMessageBox)))
    box = next(b for b in a.findChildren(QMessageBox) if b.isVisible())
    assert f"Twinroom {twin_app.__version__}" in box.text()
    assert "Apache" in box.text()
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not any(b.isVisible() for b in a.findChildren(QMessageBox)))
