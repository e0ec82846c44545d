"""``twin-app``: the desktop client.

    twin-app                                  the demo plant, with an embedded local server
    twin-app --connect tcp://host:7700 --room NAME [--token T] [--name N] [--server-key KEY]
    twin-app --demo --screenshot FILE         write a PNG of the window once the plant is drawn

Design notes
------------
* Startup is overlapped: the embedded server (a child process) is started in a helper
  thread while this thread imports VTK and builds the window, so the window shows while
  the room is still being seeded. The first frame of the demo plant is logged with the
  time since process start (``startup_s``).
* With no arguments nothing blocks: the user's name defaults to the OS account name (it
  can be changed later and is remembered); there is no first-run dialog.
* Settings (name, colour, window layout, snapping, recent rooms) live in ``QSettings``;
  ``--settings FILE`` uses an INI file instead (tests, portable installs).
"""

from __future__ import annotations

import argparse
import colorsys
import gc
import getpass
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

_T0 = time.monotonic()
log = logging.getLogger("twin_app.qt.app")


def process_age() -> float:
    """Seconds since this process started (falls back to since this module was loaded)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start)
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _T0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    from twin_app import version_line

    p = argparse.ArgumentParser(prog="twin-app", description="Twinroom desktop client")
    p.add_argument("--version", action="version", version=version_line("twin-app"))
    p.add_argument("--connect", metavar="ENDPOINT", help="server to join, e.g. tcp://host:7700")
    p.add_argument("--room", default="demo", help="room name (default: demo)")
    p.add_argument("--token", default="", help="access token for the room")
    p.add_argument("--name", help="your name as others see it (default: your OS user name)")
    p.add_argument("--server-key", help="the server's Z85 public key (CurveZMQ encryption)")
    p.add_argument("--demo", action="store_true",
                   help="open the demo plant on an embedded local server (the default)")
    p.add_argument("--data-dir", type=Path, help="where the embedded server and caches live")
    p.add_argument("--screenshot", type=Path, metavar="FILE",
                   help="write a PNG of the window once the plant is drawn, then exit")
    p.add_argument("--screenshot-timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    p.add_argument("--settings", type=Path, help="use this INI file for settings")
    p.add_argument("--size", default="", help="window size WxH (e.g. 1440x900)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p.parse_args(argv)


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs ``user_data_dir("Twinroom")``)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("Twinroom", appauthor=False))


def default_name() -> str:
    """The OS user name, capitalised (never prompts)."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = ""
    return (name or "Designer").replace(".", " ").title()


def stored_color(value: object) -> tuple[float, float, float] | None:
    """The colour kept in the settings (three numbers), or ``None`` if absent or unreadable."""
    if not isinstance(value, (list, tuple)) or len(value) < 3:
        return None
    try:
        return (float(value[0]), float(value[1]), float(value[2]))
    except (TypeError, ValueError):
        return None


def color_for(name: str) -> tuple[float, float, float]:
    """A pleasant, stable colour for a user name."""
    hue = int(hashlib.sha1(name.encode()).hexdigest()[:4], 16) / 0xFFFF  # noqa: S324 (not security)
    r, g, b = colorsys.hls_to_rgb(hue, 0.5, 0.65)
    return (round(r, 3), round(g, 3), round(b, 3))


class _Starter(threading.Thread):
    """Starts the embedded server off the GUI thread (it waits for a child process)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(name="embedded-server-start", daemon=True)
        self.data_dir = data_dir
        self.server: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            from sync_server.embedded import EmbeddedServer

            server = EmbeddedServer(self.data_dir, seed_demo=True)
            server.start()
            self.server = server
        except Exception as exc:  # reported on the GUI thread
            self.error = exc


class BackgroundHost:
    """Keeps a room hosted here open after its window closed, until the last other person
    has left; then calls ``done`` (the app quits, which stops the embedded server)."""

    def __init__(self, client: Any, bridge: Any, done: Any) -> None:
        self.client = client
        self.done = done
        self.finished = False
        bridge.sig_peers.connect(self.check)
        bridge.sig_state.connect(lambda *_: self.check())
        log.info("keeping the room open in the background until everyone has left")

    def others(self) -> int:
        """How many other people are in the room."""
        own = self.client.session
        return sum(1 for s in self.client.peers if s != own)

    def check(self) -> None:
        """Finish once nobody else is left."""
        if not self.finished and self.others() == 0:
            self.finished = True
            log.info("the last person left: closing the room")
            self.done()


def main(argv: list[str] | None = None) -> int:
    """Run the desktop client; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = [m for m in ("PySide6", "vtkmodules", "pyvistaqt") if importlib.util.find_spec(m) is None]
    if missing:  # a server-only install (`pip install twinroom`)
        sys.stderr.write(f"twin-app: the desktop app needs {', '.join(missing)}, which this "
                         "installation does not have: pip install 'twinroom[app]'\n")
        return 2
    # The network thread and the GUI thread share the GIL; the default 5 ms switch
    # interval would let one hold the other up for that long (edits, then frames, lag).
    sys.setswitchinterval(0.0005)
    # A plant document is hundreds of thousands of long-lived objects; full cyclic-GC
    # passes over them show up as stutters while orbiting. Collect young objects rarely.
    gc.set_threshold(50_000, 50, 100)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir: Path = args.data_dir or default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)

    starter: _Starter | None = None
    if not args.connect:
        # The core is a package whose __init__ imports its modules, and both this thread
        # (the client) and the starter (the server) import it: imported by both at once,
        # each can find it half-initialised and fail. Import it once, here, first.
        import twin_app.core  # noqa: F401

        starter = _Starter(data_dir / "server")
        starter.start()

    from PySide6.QtCore import QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    QApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    from twin_app.qt.refcheck import LeakingBinding, check_binding

    def refuse(exc: Exception, status: int) -> int:
        """Say why the app cannot start (a dialog, and the log), stop what was started."""
        log.error("%s", exc)
        if not args.screenshot:
            QMessageBox.critical(None, "Twinroom cannot start", str(exc))
        if starter is not None:
            starter.join()
            if starter.server is not None:
                starter.server.stop()
        return status

    try:
        check_binding()
    except LeakingBinding as exc:
        return refuse(exc, 3)
    app.setApplicationName("Twinroom")
    app.setOrganizationName("Twinroom")
    app.setApplicationDisplayName("Twinroom")
    settings = (QSettings(str(args.settings), QSettings.Format.IniFormat) if args.settings
                else QSettings())
    from twin_app.net.outbox import StateTooNew
    from twin_app.qt.settings_schema import SettingsTooNew, check_and_migrate

    try:
        check_and_migrate(settings)
    except SettingsTooNew as exc:  # files of a newer release: left as they are
        return refuse(exc, 4)
    icon = Path(__file__).resolve().parent.parent / "assets" / "icons" / "twinroom-256.png"
    if icon.exists():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))

    from twin_app.qt.theme import apply_theme

    apply_theme(app, str(settings.value("view/theme", "system")))
    name = args.name or str(settings.value("user/name", "") or "") or default_name()
    if args.name:
        settings.setValue("user/name", args.name)
    color = stored_color(settings.value("user/color")) or color_for(name)
    settings.setValue("user/color", list(color))

    # Heavy imports (VTK) while the embedded server boots.
    from twin_app.net import SyncClient
    from twin_app.qt.bridge import ClientBridge
    from twin_app.qt.localserver import LocalServer
    from twin_app.qt.window import MainWindow

    server: Any = None
    local: LocalServer | None = None
    if args.connect:
        endpoint, room, token, key = args.connect, args.room, args.token, args.server_key
        if "://" not in endpoint:
            endpoint = f"tcp://{endpoint}"
        state_dir = data_dir / "client" / hashlib.sha1(endpoint.encode()).hexdigest()[:12]  # noqa: S324
    else:
        assert starter is not None
        starter.join()
        if starter.error is not None or starter.server is None:
            log.error("embedded server failed: %s", starter.error)
            QMessageBox.critical(None, "Twinroom", "The local server could not start:\n\n"
                                 f"{starter.error}")
            return 1
        server = starter.server
        endpoint, room, token, key = server.endpoint, "demo", server.owner_token, server.server_key
        # Watches the child and restarts or shares it off the GUI thread.
        local = LocalServer(server, room)
        state_dir = data_dir / "client" / "local"

    bridge = ClientBridge()
    try:
        client = SyncClient(endpoint, room, token, name, state_dir=state_dir, server_key=key,
                            color=color, wakeup=bridge.wakeup)
    except StateTooNew as exc:
        if local is not None:
            local.stop()
        starter = None
        return refuse(exc, 4)
    bridge.attach(client)
    window = MainWindow(client, bridge, settings=settings, room=room, name=name, color=color,
                        endpoint=endpoint, local_server=local,
                        hosts_room=server is not None and not server.attached)
    background: list[BackgroundHost] = []

    def keep_hosting() -> None:
        app.setQuitOnLastWindowClosed(False)
        background.append(BackgroundHost(client, bridge, app.quit))

    window.sig_keep_hosting.connect(keep_hosting)
    if args.size:
        w, _, h = args.size.partition("x")
        window.resize(int(w), int(h))
    if args.connect:
        window.remember_room(endpoint, room, token, key)
    startup: dict[str, float] = {}

    def on_ready() -> None:
        startup["startup_s"] = process_age()
        log.info("first frame of the plant: startup_s=%.2f (%d parts)", startup["startup_s"],
                 sum(1 for n in client.store.doc.nodes.values() if n.mesh))

    window.sig_scene_ready.connect(on_ready)
    window.show()
    client.start()

    exit_code = 0
    if args.screenshot is not None:
        out: Path = args.screenshot

        def shoot() -> None:
            window.grab_screenshot(out)
            log.info("screenshot written to %s", out)
            app.quit()

        def on_ready_shot() -> None:
            window.viewport.request_render()
            QTimer.singleShot(600, shoot)

        def give_up() -> None:
            nonlocal exit_code
            if not out.exists():
                log.error("the scene did not load within %.0f s; no screenshot",
                          args.screenshot_timeout)
                exit_code = 2
                app.quit()

        window.sig_scene_ready.connect(on_ready_shot)
        QTimer.singleShot(int(args.screenshot_timeout * 1000), give_up)

    try:
        rc = app.exec()
    finally:
        window.save_settings()
        bridge.detach()
        client.close()
        if local is not None:
            local.stop()
    return exit_code or int(rc)


if __name__ == "__main__":
    sys.exit(main())
