"""Regenerate the screenshots in docs/ (run under a display: `make screenshot`).

* docs/screenshot-main.png — `twin-app --demo --screenshot`, exactly what a first start shows;
* docs/screenshot-collab.png — two people in the demo room: you have the robot cell
  selected, a colleague from another site (a headless client) has a CNC machine selected,
  and their camera shows as a labelled frustum.
* docs/screenshot-sensors.png — the demo room's simulated sensors live: a CNC machine
  whose spindle overheats (alarm, trend) and whose bearing wears (spectrum), coloured by
  value, with labels, the thermal camera's heat map and the Alarms panel.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main_window(tmp: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "twin_app.qt.app", "--demo", "--data-dir", str(tmp / "main"),
         "--settings", str(tmp / "main.ini"), "--size", "1500x920",
         "--screenshot", str(DOCS / "screenshot-main.png")],
        check=True, timeout=180,
    )


def collaboration(tmp: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from sync_server.embedded import EmbeddedServer
    from twin_app.net import SyncClient
    from twin_app.qt.bridge import ClientBridge
    from twin_app.qt.window import MainWindow

    server = EmbeddedServer(tmp / "collab")
    server.start()
    app = QApplication.instance() or QApplication([])
    bridge = ClientBridge()
    ada = SyncClient(server.endpoint, "demo", server.owner_token, "Ada Lin",
                     state_dir=tmp / "collab" / "ada", color=(0.85, 0.3, 0.3), wakeup=bridge.wakeup,
                     server_key=server.server_key)
    bridge.attach(ada)
    window = MainWindow(ada, bridge, settings=QSettings(str(tmp / "collab.ini"), QSettings.Format.IniFormat),
                        room="demo", name="Ada Lin", color=(0.85, 0.3, 0.3), endpoint=server.endpoint)
    window.resize(1500, 920)
    window.show()
    ada.start()
    bo = SyncClient(server.endpoint, "demo", server.share_token, "Bo Chen (Site B)", color=(0.2, 0.6, 0.95),
                    server_key=server.server_key)
    bo.start()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            bo.process_events()
            time.sleep(0.01)

    end = time.monotonic() + 60
    while time.monotonic() < end and not (ada.synced and bo.synced and all(
            ada.assets.has(n.mesh) for n in ada.store.doc.nodes.values() if n.mesh)):
        pump(0.05)
    bo.set_presence(selection=["line1.st3.cnc"], camera=[8.0, -14.0, 9.0, 2.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    window.set_selection(["line1.st2.robot"])
    pump(2.0)
    window.grab_screenshot(DOCS / "screenshot-collab.png")
    bo.close()
    bridge.detach()
    ada.close()
    server.stop()


def sensors(tmp: Path, seconds: float = 45.0) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from sync_server.embedded import EmbeddedServer
    from twin_app.net import SyncClient
    from twin_app.qt.bridge import ClientBridge
    from twin_app.qt.window import MainWindow

    server = EmbeddedServer(tmp / "sensors")
    server.start()
    app = QApplication.instance() or QApplication([])
    bridge = ClientBridge()
    ada = SyncClient(server.endpoint, "demo", server.owner_token, "Ada Lin",
                     state_dir=tmp / "sensors" / "ada", color=(0.85, 0.3, 0.3), wakeup=bridge.wakeup,
                     server_key=server.server_key)
    bridge.attach(ada)
    window = MainWindow(ada, bridge, settings=QSettings(str(tmp / "sensors.ini"), QSettings.Format.IniFormat),
                        room="demo", name="Ada Lin", color=(0.85, 0.3, 0.3), endpoint=server.endpoint)
    window.resize(1600, 1000)
    window.show()
    ada.start()

    def pump(secs: float) -> None:
        end = time.monotonic() + secs
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    end = time.monotonic() + 60
    while time.monotonic() < end and not (ada.synced and all(
            ada.assets.has(n.mesh) for n in ada.store.doc.nodes.values() if n.mesh)):
        pump(0.05)
    ui = window.sensor_ui
    ui.inject_fault("line1.st3.cnc.spindle.temp", "overheat")
    ui.inject_fault("line1.st3.cnc.spindle.vib", "bearing")
    pump(seconds)  # the faults develop
    window.docks["Comments"].hide()  # room for the sensor list
    b = window.viewport.visual.node_bounds(["line1.st3"])
    if b is not None:  # the CNC cell from the front left, the robot cell beside it
        cx, cy, cz = (b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 3
        window.viewport.set_camera((cx - 1.0, cy - 13.0, cz + 9.0, cx + 2.5, cy, cz, 0.0, 0.0, 1.0))
    ui.sensors.select(["line1.st3.cnc.spindle.temp"])
    ui.open_trend(["line1.st3.cnc.spindle.temp", "line1.st3.cnc.coolant.temp"])
    ui.trend.window_box.setCurrentIndex(0)
    ui.open_spectrum("line1.st3.cnc.spindle.vib")
    pump(4.0)
    window.grab_screenshot(DOCS / "screenshot-sensors.png")
    window.close()
    bridge.detach()
    ada.close()
    server.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="twin-shots-") as d:
        main_window(Path(d))
        collaboration(Path(d))
        sensors(Path(d))
