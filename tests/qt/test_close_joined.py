"""Closing the window that hosts the room, with others in it: a warning first, and the
choice to keep the room open in the background until the last person leaves."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from twin_app.qt.app import BackgroundHost

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text().replace("&", "") == text)


def test_closing_alone_does_not_ask(join, qtbot):
    _ada, a = join("Ada", hosts_room=True)
    a.act_quit.trigger()
    qtbot.waitUntil(lambda: not a.isVisible())
    assert a.close_box is None


def test_cancel_keeps_the_window_and_close_room_closes_it(join, qtbot):
    _ada, a = join("Ada", hosts_room=True)
    _bo, _b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.waitUntil(lambda: a.others_in_room() == ["Bo"], timeout=10000)
    a.act_quit.trigger()
    qtbot.waitUntil(lambda: a.close_box is not None and a.close_box.isVisible())
    box = a.close_box
    assert "Bo is still in room “plant”" in box.text()
    assert "closes for them" in box.text()
    qtbot.mouseClick(button(box, "Cancel"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: a.close_box is None)
    assert a.isVisible()
    a.act_quit.trigger()
    qtbot.waitUntil(lambda: a.close_box is not None and a.close_box.isVisible())
    with qtbot.assertNotEmitted(a.sig_keep_hosting):
        qtbot.mouseClick(button(a.close_box, "Close the Room"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not a.isVisible())


def test_keep_hosting_in_the_background_until_the_last_person_leaves(join, qtbot):
    ada, a = join("Ada", hosts_room=True)
    bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.waitUntil(lambda: a.others_in_room() == ["Bo"], timeout=10000)
    finished: list[bool] = []
    hosts: list[BackgroundHost] = []
    # The app does this when the window asks to keep hosting (see twin_app.qt.app.main).
    a.sig_keep_hosting.connect(
        lambda: hosts.append(BackgroundHost(ada, a.bridge, lambda: finished.append(True))))
    a.act_quit.trigger()
    qtbot.waitUntil(lambda: a.close_box is not None and a.close_box.isVisible())
    qtbot.mouseClick(button(a.close_box, "Keep Hosting in the Background"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not a.isVisible())
    assert hosts and not finished
    # Ada's side of the room lives on without a window: Bo still sees her there.
    qtbot.wait(500)
    assert ada.session in bo.peers and ada.state == "live"
    # Bo leaves: the background host finishes (the app quits and stops the server).
    b.close()
    bo.close()
    qtbot.waitUntil(lambda: finished == [True], timeout=15000)
