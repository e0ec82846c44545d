"""Presence as two people see it, on windows joined to a real server: my own selection and
camera are never drawn as someone else's, colleagues are drawn in colours apart from my
highlight, and joins and leaves show in the notices."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from tests.qt.test_viewport import widget_pos
from twin_app.qt.presence import _hue_gap, peer_color
from twin_app.render.scene import ACCENT

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]


def notices(w) -> str:
    """The Notifications panel's lines, as shown."""
    lst = w.notes.list
    return "\n".join(lst.item(i).text() for i in range(lst.count()))


def click(qtbot, w, pos: QPoint) -> None:
    qtbot.mouseClick(w.viewport.plotter, Qt.MouseButton.LeftButton, pos=pos)


def test_my_selection_and_camera_are_not_drawn_as_a_peer(join, qtbot):
    ada, a = join("Ada")
    bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.waitUntil(lambda: a.viewport.visual.peer_names() == {bo.session: "Bo"}, timeout=10000)
    n = a.viewport.render_count
    a.view_actions[1].trigger()  # View → Standard Views → Top
    qtbot.waitUntil(lambda: a.viewport.render_count > n)
    click(qtbot, a, widget_pos(a.viewport, (0.5, 0.5, 1.0)))  # on Robot 1
    assert a.selection == ["r1"]
    qtbot.waitUntil(lambda: b.viewport.visual.peer_line_count(ada.session) > 12, timeout=10000)
    # Deselect by clicking the empty floor: no outline of mine remains, in any colour.
    click(qtbot, a, widget_pos(a.viewport, (1.5, -3.0, 0.0)))
    assert a.selection == []
    qtbot.waitUntil(lambda: bo.session in ada.peers and ada.session in ada.peers
                    and ada.peers[ada.session].selection == [], timeout=10000)
    assert a.viewport.visual.selection_outline_count == 0
    assert ada.session not in a.viewport.visual.peer_names()
    # Zoom with the wheel and Fit View: my own frustum with my name never shows up.
    qtbot.wait(50)
    a.act_fit.trigger()
    cam = a.viewport.camera()
    qtbot.waitUntil(lambda: tuple(ada.peers[ada.session].camera or ()) == cam, timeout=10000)
    assert a.viewport.visual.peer_names() == {bo.session: "Bo"}
    # Bo does see Ada's view.
    qtbot.waitUntil(lambda: b.viewport.visual.peer_names().get(ada.session) == "Ada",
                    timeout=10000)


def test_a_colleague_in_my_highlight_colour_is_drawn_apart(join, qtbot):
    ada, a = join("Ada")
    orange = (1.0, 0.6, 0.1)  # nearly my selection colour
    cy, _c = join("Cy", "designer-token", orange)
    qtbot.waitUntil(lambda: cy.session in ada.peers, timeout=10000)
    drawn = peer_color(ada.peers[cy.session])
    import colorsys

    assert _hue_gap(colorsys.rgb_to_hsv(*drawn)[0], colorsys.rgb_to_hsv(*ACCENT)[0]) >= 0.08
    peer = a.viewport.visual._peers[cy.session]
    assert tuple(peer.lines.actor.GetProperty().GetColor()) == pytest.approx(drawn)


def test_joins_and_leaves_are_in_the_notices(join, qtbot):
    _ada, a = join("Ada")
    bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    qtbot.waitUntil(lambda: "Bo joined the room." in notices(a), timeout=10000)
    assert "Ada joined" not in notices(a)
    b.close()
    bo.close()
    qtbot.waitUntil(lambda: "Bo left the room." in notices(a), timeout=15000)
