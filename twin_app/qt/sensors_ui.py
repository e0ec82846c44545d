"""Wires the sensor lane into a main window: overlays, panels, docks, actions and timers.

Design notes
------------
* ``SensorsController`` owns the ``SensorOverlays`` (board + visuals) of the window's
  viewport and the Sensors, Alarms, Trend and Spectrum panels. The window forwards its
  document changes (``on_changes``) and selection (``on_selection``); everything else comes
  from the client's ``SensorFeed`` listeners.
* Every edit a panel asks for becomes a command from ``twin_app.session.sensor_commands``
  and goes through ``window.dispatch``: role checks, undo and sync as for any edit.
* Attention: while any alarm is active and unacknowledged, a red badge in the status bar
  and the Alarms dock's title blink (``FLASH_MS``) and the alarm outlines in the view
  pulse; acknowledging the last one stops all three.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDockWidget, QLabel, QToolButton, QWidget

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document, PropValue
from twin_app.qt.alarms import AlarmsPanel
from twin_app.qt.sensors import SensorDialog, SensorsPanel
from twin_app.qt.trend import SpectrumPanel, TrendPanel
from twin_app.render.sensor_overlays import SensorOverlays
from twin_app.session import sensor_commands
from twin_app.session.commands import display_name
from twin_app.session.sensor_commands import bind_sensor, edit_sensor

if TYPE_CHECKING:
    from twin_app.qt.window import MainWindow

TICK_MS = 1000
FLUSH_MS = 80  # at most ~12 sensor redraws a second
PULSE_MS = 120
FLASH_MS = 600
BADGE_ON = "QToolButton { background: #d64545; color: white; font-weight: bold; border-radius: 3px; padding: 1px 6px; }"
BADGE_OFF = "QToolButton { background: #7a2020; color: white; font-weight: bold; border-radius: 3px; padding: 1px 6px; }"


def _placeholder(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #8a8f99")
    return label


class SensorsController(QObject):
    """The sensor features of one window (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.win = window
        self.feed = window.client.sensors
        vp = window.viewport
        self.overlays = SensorOverlays(vp.plotter.renderer, vp.visual, self.feed,
                                       lambda: window.client.store.doc)
        self.board = self.overlays.board
        self.sensors = SensorsPanel(self.board)
        self.alarms = AlarmsPanel(lambda: window.client.store.doc)
        # The charts are made when first opened: most windows never need pyqtgraph.
        self._trend: TrendPanel | None = None
        self._spectrum: SpectrumPanel | None = None
        self.dialog: SensorDialog | None = None
        self._dialog_sensor: str | None = None  # the sensor the open dialog edits
        self.flash_on = False
        self._closed = False

        self.act_labels = QAction("Sensor &Labels", window)
        self.act_labels.setCheckable(True)
        self.act_labels.setChecked(True)
        self.act_labels.setStatusTip("Show each sensor's value beside its part")
        self.act_labels.toggled.connect(self._on_labels_toggled)
        self.act_colors = QAction("Sensor &Colours", window)
        self.act_colors.setCheckable(True)
        self.act_colors.setChecked(True)
        self.act_colors.setStatusTip("Colour parts by their sensor's value or state")
        self.act_colors.toggled.connect(self._on_colors_toggled)
        self.view_actions = [self.act_labels, self.act_colors]

        self.badge = QToolButton()
        self.badge.setAutoRaise(False)
        self.badge.setToolTip("Unacknowledged alarms: click to show the Alarms panel")
        self.badge.clicked.connect(self.show_alarms)
        self.badge.hide()

        self.sensors.sig_fly.connect(self.fly_to_sensor)
        self.sensors.sig_bind.connect(self.bind_dialog)
        self.sensors.sig_edit.connect(self.edit_dialog)
        self.sensors.sig_trend.connect(self.open_trend)
        self.sensors.sig_spectrum.connect(self.open_spectrum)
        self.sensors.sig_fault.connect(self.inject_fault)
        self.sensors.sig_current.connect(self._on_current_sensor)
        self.alarms.sig_goto.connect(self._on_alarm_goto)
        self.alarms.sig_ack.connect(self.acknowledge)
        self.alarms.sig_unacked.connect(self._on_unacked)
        self.board.deferred = True
        self.board.on_dirty.append(self._on_dirty)
        self.feed.on_streams.append(self._on_streams)
        self._last_flush = 0.0

        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._tick.start()
        self._pulse = QTimer(self)
        self._pulse.setInterval(PULSE_MS)
        self._pulse.timeout.connect(self._on_pulse)
        self._flash = QTimer(self)
        self._flash.setInterval(FLASH_MS)
        self._flash.timeout.connect(self._on_flash)
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self._on_flush)
        self.overlays.set_document(window.client.store.doc)

    # -- docks ---------------------------------------------------------------------------
    def add_docks(self) -> None:
        """Add the panels as docks of the window (Trend and Spectrum start hidden)."""
        w = self.win
        w._add_dock("Sensors", self.sensors, Qt.DockWidgetArea.RightDockWidgetArea)
        w._add_dock("Alarms", self.alarms, Qt.DockWidgetArea.BottomDockWidgetArea)
        w._add_dock("Trend", _placeholder("Select sensors in the Sensors panel and press "
                                          "Trend."), Qt.DockWidgetArea.BottomDockWidgetArea)
        w._add_dock("Spectrum", _placeholder("Select a vibration sensor in the Sensors panel "
                                             "and press Spectrum."),
                    Qt.DockWidgetArea.BottomDockWidgetArea)
        # Side by side, never tabbed: Qt rebuilds a tab group's tab bar whenever one of its
        # docks is hidden or shown, and the charts come and go.
        w.splitDockWidget(w.docks["Alarms"], w.docks["Trend"], Qt.Orientation.Horizontal)
        w.splitDockWidget(w.docks["Trend"], w.docks["Spectrum"], Qt.Orientation.Horizontal)
        w.docks["Trend"].hide()
        w.docks["Spectrum"].hide()
        w.resizeDocks([w.docks["Alarms"]], [190], Qt.Orientation.Vertical)
        w.resizeDocks([w.docks["Inspector"], w.docks["Comments"], w.docks["Sensors"]],
                      [420, 160, 300], Qt.Orientation.Vertical)
        w.statusBar().addPermanentWidget(self.badge)

    @property
    def trend(self) -> TrendPanel:
        """The trend chart (made on first use)."""
        if self._trend is None:
            self._trend = TrendPanel(self.board)
            self._swap_in("Trend", self._trend)
        return self._trend

    @property
    def spectrum(self) -> SpectrumPanel:
        """The spectrum chart (made on first use)."""
        if self._spectrum is None:
            self._spectrum = SpectrumPanel(self.board)
            self._swap_in("Spectrum", self._spectrum)
        return self._spectrum

    def _swap_in(self, title: str, panel: QWidget) -> None:
        dock = self.win.docks[title]
        old = dock.widget()
        dock.setWidget(panel)
        if old is not None:
            old.deleteLater()

    @property
    def alarms_dock(self) -> QDockWidget:
        return self.win.docks["Alarms"]

    def show_alarms(self) -> None:
        self.alarms_dock.show()
        self.alarms_dock.raise_()

    # -- from the window -----------------------------------------------------------------
    def on_changes(self, doc: Document, changes: ChangeSet) -> None:
        self.overlays.on_changes(doc, changes)
        self.alarms.on_changes(changes)
        if self.dialog is not None and self._dialog_sensor and self._dialog_sensor not in doc:
            self.dialog.reject()

    def on_selection(self, ids: Sequence[str]) -> None:
        doc = self.win.client.store.doc
        self.board.set_focus([*ids, *self.sensors.selected()])
        self.sensors.set_can_bind(len(ids) == 1 and ids[0] in doc
                                  and doc.nodes[ids[0]].kind in ("part", "group"))
        # Selecting a sensor's part shows that sensor's colour map in the legend.
        for sid, spec in ((s.node, s) for s in self.board.specs):
            if ids and spec.bound_to == ids[0]:
                self.board.show_legend_of(sid)
                break

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for t in (self._tick, self._pulse, self._flash, self._flush):
            t.stop()
        if self._on_dirty in self.board.on_dirty:
            self.board.on_dirty.remove(self._on_dirty)
        if self._on_streams in self.feed.on_streams:
            self.feed.on_streams.remove(self._on_streams)
        if self._trend is not None:
            self._trend.close_panel()
        if self._spectrum is not None:
            self._spectrum.close_panel()
        self.overlays.close()

    # -- feed ----------------------------------------------------------------------------
    def _on_dirty(self) -> None:
        # Frames come as fast as the hub sends them; draw at most every FLUSH_MS, so a
        # flood of edits and a fast sensor lane never make the window draw twice as often.
        if not self._flush.isActive():
            wait = FLUSH_MS - (time.monotonic() - self._last_flush) * 1000
            self._flush.start(max(0, int(wait)))

    def _on_flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.board.flush():
            self.win.viewport.request_render()

    def _on_streams(self) -> None:
        self.sensors.refresh()

    def _on_tick(self) -> None:
        self.board.tick()
        self.win.viewport.request_render()

    # -- attention -----------------------------------------------------------------------
    def _on_unacked(self, n: int) -> None:
        dock = self.alarms_dock
        if n:
            self.badge.setText(f"⚠ {n} alarm{'s' if n != 1 else ''} to acknowledge")
            self.badge.show()
            dock.setWindowTitle(f"Alarms — {n} unacknowledged")
            if not self._flash.isActive():
                self._flash.start()
                self._pulse.start()
                self._on_flash()
        else:
            self.badge.hide()
            dock.setWindowTitle("Alarms")
            self._flash.stop()
            self._pulse.stop()
            self.board.alarms.pulse(0.5)  # steady, fully visible
            self.win.viewport.request_render()

    def _on_flash(self) -> None:
        self.flash_on = not self.flash_on
        self.badge.setStyleSheet(BADGE_ON if self.flash_on else BADGE_OFF)
        n = self.alarms.unacked
        self.alarms_dock.setWindowTitle(f"{'⚠ ' if self.flash_on else ''}Alarms — {n} unacknowledged")

    def _on_pulse(self) -> None:
        self.board.alarms.pulse(time.monotonic() / 1.2)
        self.win.viewport.request_render()

    # -- actions -------------------------------------------------------------------------
    def _on_labels_toggled(self, on: bool) -> None:
        self.overlays.labels_enabled = on
        self.win.viewport.request_render()

    def _on_colors_toggled(self, on: bool) -> None:
        self.board.colors.set_visible(on)
        self.board.refresh()
        self.win.viewport.request_render()

    def _on_current_sensor(self, sensor: object) -> None:
        self.board.show_legend_of(sensor if isinstance(sensor, str) else None)
        self.board.set_focus([*self.win.selection, *self.sensors.selected()])
        self.win.viewport.request_render()

    def fly_to_sensor(self, sensor: str) -> None:
        """Select the sensor's bound part and frame it."""
        spec = self.board.spec(sensor)
        doc = self.win.client.store.doc
        target = spec.bound_to if spec is not None and spec.bound_to and spec.bound_to in doc \
            else sensor
        self.win._fit_to([target])

    def _on_alarm_goto(self, part: str) -> None:
        self.win._fit_to([part])

    def bind_dialog(self) -> SensorDialog | None:
        """Ask for the sensor to bind to the selected part (non-blocking)."""
        sel = self.win.selection
        doc = self.win.client.store.doc
        if len(sel) != 1 or sel[0] not in doc:
            self.win.show_message("Select the part to bind a sensor to first.", "warning")
            return None
        part = sel[0]

        def validate(values: dict[str, PropValue | None], name: str) -> str | None:
            try:
                bind_sensor(self.win.client.store.doc, part, name, values)
            except ValueError as exc:
                return str(exc)
            return None

        dlg = SensorDialog(self.feed, part_name=display_name(doc, part), validate=validate,
                           parent=self.win)

        def done(result: int) -> None:
            self.dialog = None
            if result != QDialog.DialogCode.Accepted:
                return
            try:
                op, label, sid = bind_sensor(self.win.client.store.doc, part, dlg.name.text(),
                                             dlg.values())
            except ValueError as exc:
                self.win.show_message(f"Could not bind the sensor: {exc}", "error")
                return
            if self.win.dispatch(op, label) is not None:
                self.sensors.refresh()
                self.sensors.select([sid])

        return self._open(dlg, done, None)

    def edit_dialog(self, sensor: str) -> SensorDialog | None:
        """Edit a sensor's rules (non-blocking)."""
        doc = self.win.client.store.doc
        node = doc.nodes.get(sensor)
        if node is None:
            return None

        def validate(values: dict[str, PropValue | None], name: str) -> str | None:
            try:
                edit_sensor(self.win.client.store.doc, sensor, values, name)
            except ValueError as exc:
                return str(exc)
            return None

        spec = self.board.spec(sensor)
        part = spec.bound_to if spec is not None and spec.bound_to else sensor
        dlg = SensorDialog(self.feed, part_name=display_name(doc, part), sensor=node,
                           validate=validate, parent=self.win)

        def done(result: int) -> None:
            self.dialog = None
            self._dialog_sensor = None
            if result != QDialog.DialogCode.Accepted:
                return
            try:
                cmd = edit_sensor(self.win.client.store.doc, sensor, dlg.values(), dlg.name.text())
            except ValueError as exc:
                self.win.show_message(f"Could not change the sensor: {exc}", "error")
                return
            if cmd is not None:
                self.win.dispatch(*cmd)

        return self._open(dlg, done, sensor)

    def _open(self, dlg: SensorDialog, done: Callable[[int], None],
              sensor: str | None) -> SensorDialog:
        if self.dialog is not None:
            self.dialog.reject()
        self.dialog = dlg
        self._dialog_sensor = sensor
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.finished.connect(done)
        dlg.open()
        return dlg

    def open_trend(self, sensors: Sequence[str]) -> None:
        dock = self.win.docks["Trend"]
        dock.show()
        dock.raise_()
        self.trend.set_sensors(list(sensors))

    def open_spectrum(self, sensor: str) -> None:
        dock = self.win.docks["Spectrum"]
        dock.show()
        dock.raise_()
        self.spectrum.set_sensor(sensor)

    def inject_fault(self, sensor: str, fault: str) -> None:
        cmd = sensor_commands.set_fault(self.win.client.store.doc, sensor, fault)
        if cmd is not None and self.win.dispatch(*cmd) is not None:
            self.win.show_message(cmd[1])

    def acknowledge(self, alarm: str, comment: str) -> None:
        cmd = sensor_commands.acknowledge(self.win.client.store.doc, alarm, self.win.user_name,
                                          comment, time.time_ns())
        if cmd is not None:
            self.win.dispatch(*cmd, undoable=False)
