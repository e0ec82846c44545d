"""Live sensors as a person uses them, on windows joined to a real server with its sensor hub.

A source process pushes samples over the wire (``tests.sensorkit.Pusher``, the protocol a
bridge speaks); the person binds a sensor to a part through the Sensors panel, sets its
thresholds, sees the part coloured and labelled, opens a trend and acknowledges an alarm,
which another person's window then shows as acknowledged. Checks read what is drawn:
block colours, label texts, table rows, the status-bar badge.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from tests.qt.person import click, click_item, select_in_tree, type_text
from tests.sensorkit import Pusher, now_ns
from twin_app import protocol
from twin_app.core.sensors import LEVEL_COLORS, STALE_COLOR, colormap_table
from twin_app.qt.alarms import COL_ACK
from twin_app.qt.sensors import COL_NAME, COL_QUALITY, COL_VALUE

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

TAG = "line/r1/temp"
TIMEOUT = 15_000


@pytest.fixture
def pusher(room_server):
    src = Pusher(room_server.endpoint)
    yield src
    src.close()


def push(src: Pusher, value: float, tag: str = TAG) -> None:
    src.push([tag], [0], [now_ns()], [value], units=["°C"])


def color_of(w, nid: str) -> np.ndarray:
    return np.array(w.viewport.visual.block_state(nid)["color"])


def label_of(w, sensor: str) -> str | None:
    return w.sensor_ui.overlays.labels.text(sensor)


def reading(w, sensor: str) -> str | None:
    """The reading on a sensor's label (its last line; the first names the sensor when
    the person looks at it)."""
    text = label_of(w, sensor)
    return None if text is None else text.split("\n")[-1]


def sensor_of(w, part: str) -> str | None:
    """The id of the sensor node bound to ``part`` (None before it exists)."""
    return next((n.id for n in w.client.store.doc.nodes.values()
                 if n.kind == "sensor" and n.props.get("bound_to") == part), None)


def fill(dlg, name: str, numbers: dict[str, str], display: str | None = None) -> None:
    """Type into the sensor dialog's boxes as a person would, then press OK."""
    if name:
        type_text(dlg.name, name, enter=False)
    for key, text in numbers.items():
        type_text(dlg.numbers[key], text, enter=False)
    if display is not None:
        dlg.display.setFocus()
        while dlg.display.currentText() != display:
            QTest.keyClick(dlg.display, Qt.Key.Key_Down)
    click(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok))


def bind_through_ui(qtbot, w, part: str, name: str, numbers: dict[str, str]) -> str:
    """Select ``part`` in the tree, press Bind… in the Sensors panel, fill the dialog."""
    w.docks["Sensors"].show()
    w.docks["Sensors"].raise_()
    qtbot.waitUntil(lambda: TAG in w.client.sensors.by_tag, timeout=TIMEOUT)
    select_in_tree(w, part)
    panel = w.sensor_ui.sensors
    assert panel.bind_btn.isEnabled()
    click(panel.bind_btn)
    dlg = w.sensor_ui.dialog
    assert dlg is not None and dlg.isVisible()
    assert dlg.tag.currentText() == TAG  # the hub's stream, offered to choose
    assert dlg.unit.text() == "°C"  # the stream's unit, filled in
    fill(dlg, name, numbers)
    qtbot.waitUntil(lambda: sensor_of(w, part) is not None, timeout=TIMEOUT)
    sid = sensor_of(w, part)
    assert sid is not None
    w.act_select_none.trigger()  # Esc: the part shows its sensor colour, untinted
    return sid


def shows_while_pushing(w, src: Pusher, sid: str, value: float, text: str):
    """A condition for waitUntil: push ``value`` every 0.2 s until the label reads ``text``
    (with a 1 s stale time, one sample could turn stale before a loaded machine draws it)."""
    last = [0.0]

    def cond() -> bool:
        if time.monotonic() - last[0] > 0.2:
            push(src, value)
            last[0] = time.monotonic()
        return reading(w, sid) == text

    return cond


def table_row(panel, sensor: str) -> dict[str, str]:
    idx = panel.row_of(sensor)
    assert idx.isValid(), f"{sensor} is not listed"
    m = panel.proxy
    return {c: m.index(idx.row(), col).data() for c, col in
            (("name", COL_NAME), ("value", COL_VALUE), ("quality", COL_QUALITY))}


def test_bind_set_thresholds_see_colour_label_trend_and_undo(join, qtbot, pusher):
    _ada, w = join("Ada")
    push(pusher, 20.0, "line/r1/temp")
    sid = bind_through_ui(qtbot, w, "r1", "Robot 1 temperature",
                          {"range_min": "0", "range_max": "100", "warn_high": "60",
                           "alarm_high": "90"})
    node = w.client.store.doc.nodes[sid]
    assert node.parent == "r1" and node.props["warn_high"] == 60.0 and node.props["tag"] == TAG
    mid = colormap_table("turbo")[int(0.5 * 255)]
    push(pusher, 50.0)
    qtbot.waitUntil(lambda: label_of(w, sid) is not None and "50.0 °C" in label_of(w, sid),
                    timeout=TIMEOUT)
    assert color_of(w, "r1") == pytest.approx(mid, abs=0.02)
    assert color_of(w, "r2") != pytest.approx(mid, abs=0.02)  # only the bound part
    panel = w.sensor_ui.sensors
    qtbot.waitUntil(lambda: table_row(panel, sid)["value"] == "50.0 °C", timeout=TIMEOUT)
    assert table_row(panel, sid)["name"] == "Robot 1 temperature"
    assert table_row(panel, sid)["quality"] == "good"
    # Double-click the sensor: its part is selected and framed.
    click_item(panel.view, panel.row_of(sid), double=True)
    assert w.selection == ["r1"]
    w.act_select_none.trigger()

    # New thresholds through the dialog: warn from 40, shown by state colour.
    click_item(panel.view, panel.row_of(sid))
    click(panel.edit_btn)
    dlg = w.sensor_ui.dialog
    assert dlg is not None and dlg.numbers["warn_high"].text() == "60"
    fill(dlg, "", {"warn_high": "40"}, display="state")
    qtbot.waitUntil(lambda: w.client.store.doc.nodes[sid].props.get("warn_high") == 40.0,
                    timeout=TIMEOUT)
    push(pusher, 45.0)
    qtbot.waitUntil(lambda: color_of(w, "r1") == pytest.approx(LEVEL_COLORS[1], abs=0.02),
                    timeout=TIMEOUT)

    # A trend of it: threshold lines and the live values.
    click_item(panel.view, panel.row_of(sid))
    click(panel.trend_btn)
    trend = w.sensor_ui.trend
    assert w.docks["Trend"].isVisible()
    assert trend.threshold_values() == [40.0, 90.0]
    push(pusher, 47.0)
    qtbot.waitUntil(lambda: 47.0 in trend.series_data(TAG)[1].tolist(), timeout=TIMEOUT)
    # The recorded history came back from the server (50.0 was pushed before the chart opened).
    qtbot.waitUntil(lambda: 50.0 in trend.series[TAG].hist_hi.tolist(), timeout=TIMEOUT)
    assert trend.queries >= 1 and not trend.message

    # The inspector lists a sensor's rules in reading order, the coloured part named.
    select_in_tree(w, sid)
    props = w.inspector.props
    keys = [props.item(r, 0).text() for r in range(props.rowCount())]
    assert keys[:3] == ["tag", "unit", "display"]
    row = keys.index("bound_to")
    assert props.item(row, 1).toolTip() == "Coloured part: Robot 1"

    # Undo brings the old thresholds and the colour map back, for everyone.
    w.act_undo.trigger()
    qtbot.waitUntil(lambda: w.client.store.doc.nodes[sid].props.get("warn_high") == 60.0,
                    timeout=TIMEOUT)
    push(pusher, 48.0)
    qtbot.waitUntil(lambda: color_of(w, "r1") == pytest.approx(
        colormap_table("turbo")[int(0.48 * 255)], abs=0.02), timeout=TIMEOUT)


def test_alarm_acknowledged_with_the_mouse_shows_on_the_other_window(join, qtbot, pusher):
    _ada, a = join("Ada")
    _bo, b = join("Bo", "designer-token", (0.2, 0.6, 0.9))
    push(pusher, 20.0)
    sid = bind_through_ui(qtbot, a, "r1", "Robot 1 temperature",
                          {"range_min": "0", "range_max": "100", "warn_high": "60",
                           "alarm_high": "90"})
    push(pusher, 95.0)
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: w.sensor_ui.alarms.tree.topLevelItemCount() == 1,
                        timeout=TIMEOUT)
        qtbot.waitUntil(lambda w=w: w.sensor_ui.badge.isVisible(), timeout=TIMEOUT)
        assert w.sensor_ui.badge.text() == "⚠ 1 alarm to acknowledge"
        assert "1 unacknowledged" in w.docks["Alarms"].windowTitle()
        qtbot.waitUntil(lambda w=w: w.sensor_ui.overlays.alarms.line_count(2, False) == 12,
                        timeout=TIMEOUT)
        # In alarm, the label names the sensor: impossible to mistake for another.
        qtbot.waitUntil(lambda w=w: label_of(w, sid) == "Robot 1 temperature\n95.0 °C",
                        timeout=TIMEOUT)
    item = a.sensor_ui.alarms.tree.topLevelItem(0)
    alarm_id = next(n.id for n in a.client.store.doc.nodes.values() if n.kind == "alarm")
    assert not a.scene_model.index_of(alarm_id).isValid()  # listed here, not in the tree
    assert item.text(0) == "Alarm"
    assert item.text(2) == "Robot 1" and "95.0 °C" in item.text(4)

    # Ada clicks the alarm: Robot 1 is selected (and framed); she acknowledges it.
    tree = a.sensor_ui.alarms.tree
    click_item(tree, tree.indexFromItem(item))
    assert a.selection == ["r1"]
    type_text(a.sensor_ui.alarms.comment, "coolant valve stuck, opened it", enter=False)
    click(a.sensor_ui.alarms.ack_btn)

    def acked(w) -> bool:
        it = w.sensor_ui.alarms.tree.topLevelItem(0)
        return it is not None and it.text(COL_ACK).startswith("Ada ") and \
            it.text(COL_ACK).endswith(": coolant valve stuck, opened it")

    for w in (a, b):
        qtbot.waitUntil(lambda w=w: acked(w), timeout=TIMEOUT)
        qtbot.waitUntil(lambda w=w: not w.sensor_ui.badge.isVisible(), timeout=TIMEOUT)
        assert w.docks["Alarms"].windowTitle() == "Alarms"
        assert w.sensor_ui.overlays.alarms.line_count(2, True) == 12  # steady, still shown
    # Back to normal: the server clears the acknowledged alarm and removes it.
    push(pusher, 30.0)
    for w in (a, b):
        qtbot.waitUntil(lambda w=w: w.sensor_ui.alarms.tree.topLevelItemCount() == 0,
                        timeout=TIMEOUT)


def test_stale_and_offline_are_shown_on_the_part_not_an_old_value(join, qtbot, pusher, room_server):
    _ada, w = join("Ada")
    push(pusher, 20.0)
    sid = bind_through_ui(qtbot, w, "r1", "Robot 1 temperature",
                          {"range_min": "0", "range_max": "100", "stale_s": "1"})
    qtbot.waitUntil(shows_while_pushing(w, pusher, sid, 50.0, "50.0 °C"), timeout=TIMEOUT)
    # No sample for more than a second: stale, grey, hatched; not "50.0 °C".
    qtbot.waitUntil(lambda: reading(w, sid) == "stale", timeout=TIMEOUT)
    assert color_of(w, "r1") == pytest.approx(STALE_COLOR, abs=0.01)
    assert w.sensor_ui.overlays.colors.hatch.line_count > 0
    panel = w.sensor_ui.sensors
    qtbot.waitUntil(lambda: table_row(panel, sid)["value"] == "stale", timeout=TIMEOUT)
    qtbot.waitUntil(shows_while_pushing(w, pusher, sid, 51.0, "51.0 °C"), timeout=TIMEOUT)
    assert not np.allclose(color_of(w, "r1"), STALE_COLOR, atol=0.01)
    # The bridge says its source went away (a broker gone): offline, and the panel says so.
    pusher.send(protocol.SENSOR_SOURCE, {"name": pusher.name, "online": False,
                                         "detail": "broker unreachable"})
    qtbot.waitUntil(lambda: reading(w, sid) == "offline", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: f"source offline: {pusher.name}" in panel.status.text(),
                    timeout=TIMEOUT)
    room_server.stop()  # the link is gone: every value is offline
    qtbot.waitUntil(lambda: reading(w, sid) == "offline", timeout=30_000)
    assert color_of(w, "r1") == pytest.approx(STALE_COLOR, abs=0.01)
