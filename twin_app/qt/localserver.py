"""The embedded server as the window sees it: watched, restarted and shared without freezing.

Design notes
------------
* Starting the server child waits for its "listening" line — seconds on a big room, up to
  30 s when something is wrong. That wait never happens on the GUI thread: a restart (the
  child died) or a re-bind for sharing runs in a worker thread, and its outcome comes back
  as a Qt signal, queued to the GUI thread. Only one such job runs at a time.
* The server listens on this machine only until the user chooses to share. ``ask_to_share``
  says what sharing does before doing it (restart on every interface, same port, still
  encrypted, everyone reconnects) and ``sig_shared`` carries the details to hand out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from sync_server.embedded import EmbeddedServer, EmbeddedServerError
from twin_app.qt.share import ShareInfo

log = logging.getLogger(__name__)

WATCH_MS = 2000


class LocalServer(QObject):
    """Watches an ``EmbeddedServer``; restarts and shares it in the background."""

    sig_message = Signal(str, str)  # text, level — for the window's notices
    sig_shared = Signal(object)  # ShareInfo, once others on the network can join
    sig_busy = Signal(bool)  # a restart or a re-bind started (True) or ended (False)

    def __init__(self, server: EmbeddedServer, room: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = server
        self.room = room
        self.prompt: QMessageBox | None = None
        self._job: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(WATCH_MS)

    @property
    def shared(self) -> bool:
        """True once the server listens on every network interface."""
        return self.server.shared

    @property
    def busy(self) -> bool:
        """True while a restart or a re-bind runs."""
        return self._job is not None and self._job.is_alive()

    def info(self) -> ShareInfo:
        """What others need to join: address, room, the shared token, the server key."""
        s = self.server
        return ShareInfo(s.share_address, self.room, s.share_token, s.server_key or None)

    def check(self) -> None:
        """Restart the server in the background if its process died (timer slot)."""
        if self.busy or self.server.alive():
            return

        def restart() -> None:
            self.server.ensure_running()
            self.sig_message.emit("The local server stopped and was restarted; no saved edit was lost.",
                                  "warning")

        self._run(restart, "The local server stopped and could not restart")

    def ask_to_share(self, parent: QWidget) -> QMessageBox:
        """Ask (without blocking) whether to open the room to the network; return the prompt."""
        port = self.server.endpoint.rsplit(":", 1)[-1]
        box = QMessageBox(QMessageBox.Icon.Question, "Share this room",
                          "Right now only this computer can join this room.", parent=parent)
        box.setInformativeText(
            f"Sharing restarts the local server so that it listens on every network interface "
            f"(port {port}) until you close Twinroom. Colleagues then join with the address, "
            "token and server key shown next; the connection is encrypted. Everyone in the "
            "room reconnects within a second and no edit is lost.")
        share = box.addButton("Share on the network", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(share)
        share.clicked.connect(self.share)
        self.prompt = box
        box.open()
        return box

    def share(self) -> None:
        """Re-bind the server on every interface in the background; ``sig_shared`` follows."""
        if self.shared:
            self.sig_shared.emit(self.info())
            return

        def rebind() -> None:
            self.server.share()
            self.sig_shared.emit(self.info())

        self.sig_message.emit("Opening the room to your network…", "info")
        self._run(rebind, "The room could not be shared")

    def _run(self, job: Callable[[], None], failure: str) -> None:
        if self.busy:
            return

        def work() -> None:
            try:
                job()
            except EmbeddedServerError as exc:
                log.error("%s: %s", failure, exc)
                self.sig_message.emit(f"{failure}: {exc}", "error")
            finally:
                self.sig_busy.emit(False)

        self.sig_busy.emit(True)
        self._job = threading.Thread(target=work, name="local-server", daemon=True)
        self._job.start()

    def stop(self) -> None:
        """Stop watching and stop the server (waits for a running job first)."""
        self._timer.stop()
        if self._job is not None:
            self._job.join()
        self.server.stop()
