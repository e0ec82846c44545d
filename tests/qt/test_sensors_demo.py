"""The demo plant's first screen with its simulated sensors, as a new user sees it: live
values on the equipment, the thermal camera draped on the hydraulic unit, a vibration
spectrum with the machine's frequencies marked, and a fault injected from the panel."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.qt.person import click, click_item

pytestmark = [pytest.mark.qt, pytest.mark.vtk, pytest.mark.net]

TIMEOUT = 20_000
SPINDLE_TEMP = "line1.st3.cnc.spindle.temp"
SPINDLE_VIB = "line1.st3.cnc.spindle.vib"
THERMAL = "line1.st5.press.hpu.thermal"
COOLANT_TEMP = "line1.st3.cnc.coolant.temp"


def test_demo_first_screen_shows_live_sensors_heat_map_and_spectrum(join, demo_server, qtbot):
    client, w = join("Ada", endpoint=demo_server.endpoint, room="demo")
    ui = w.sensor_ui
    labels = ui.overlays.labels

    # Live readings on the equipment, and its parts coloured by them.
    def reads_celsius() -> bool:
        text = labels.text(SPINDLE_TEMP)
        return text is not None and re.fullmatch(r"-?\d+(\.\d+)? °C", text.split("\n")[-1]) is not None

    qtbot.waitUntil(reads_celsius, timeout=TIMEOUT)
    spec = ui.board.spec(SPINDLE_TEMP)
    assert spec is not None and spec.bound_to == "line1.st3.cnc.head"
    housing = "line1.st3.cnc.head.housing"
    drawn = np.array(w.viewport.visual.block_state(housing)["color"])
    own = np.array(client.store.doc.nodes[housing].color)
    assert not np.allclose(drawn, own, atol=0.01)  # the colour map, not the paint

    # The thermal camera's 24×32 frame on the hydraulic unit.
    qtbot.waitUntil(lambda: THERMAL in ui.overlays.heatmaps.colors, timeout=TIMEOUT)
    assert ui.overlays.heatmaps.colors[THERMAL].shape == (24 * 32, 3)

    # The spectrum of the spindle vibration, shaft and bearing frequencies marked.
    w.docks["Sensors"].show()
    w.docks["Sensors"].raise_()
    panel = ui.sensors
    qtbot.waitUntil(lambda: panel.row_of(SPINDLE_VIB).isValid(), timeout=TIMEOUT)
    click_item(panel.view, panel.row_of(SPINDLE_VIB))
    assert panel.spectrum_btn.isEnabled()
    click(panel.spectrum_btn)
    assert w.docks["Spectrum"].isVisible()
    spectrum = ui.spectrum
    assert spectrum.fault_lines()[:2] == [50.0, 100.0]  # shaft and its 2nd harmonic
    assert 178.5 in spectrum.fault_lines()
    qtbot.waitUntil(lambda: spectrum.updates >= 1, timeout=TIMEOUT)
    assert abs(spectrum.peak_hz() - 50.0) < 3.0  # the shaft line dominates a healthy spindle

    # A trend of two temperatures: both charted live; zooming with the wheel stops following the live edge.
    click_item(panel.view, panel.row_of(SPINDLE_TEMP))
    click_item(panel.view, panel.row_of(COOLANT_TEMP), Qt.KeyboardModifier.ControlModifier)
    assert panel.selected() == sorted([SPINDLE_TEMP, COOLANT_TEMP],
                                      key=lambda s: panel.row_of(s).row())
    click(panel.trend_btn)
    trend = ui.trend
    tags = ["line1/st3/spindle/temp", "line1/st3/coolant/temp"]
    assert sorted(trend.series) == sorted(tags)
    qtbot.waitUntil(lambda: all(len(trend.series_data(t)[0]) >= 3 for t in tags), timeout=TIMEOUT)
    assert trend.live.isChecked()
    view = trend.plot.viewport()
    at = QPointF(view.rect().center())
    # Zoom in with the mouse wheel over the chart.
    QApplication.sendEvent(view, QWheelEvent(
        at, view.mapToGlobal(at), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))
    qtbot.waitUntil(lambda: not trend.live.isChecked(), timeout=TIMEOUT)
    asked = trend.queries
    trend.window_box.setFocus()
    QTest.keyClick(trend.window_box, Qt.Key.Key_Down)  # 10 min → 1 h: history asked again
    assert trend.window_s == 3600.0 and trend.queries == asked + 1

    # Inject a bearing fault from the panel: an ordinary, synced property edit.
    click_item(panel.view, panel.row_of(SPINDLE_VIB))
    panel.fault_actions["bearing"].trigger()
    qtbot.waitUntil(lambda: client.store.doc.nodes[SPINDLE_VIB].props.get("sim_fault") == "bearing",
                    timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not client.store.pending, timeout=TIMEOUT)  # the server took it
