"""The bridge between the network client (agent thread) and the GUI thread.

Design notes
------------
* The network client calls ``wakeup()`` from its agent thread whenever inbound events are
  queued. ``ClientBridge.wakeup`` only emits a Qt signal connected with a *queued*
  connection, so the drain (``client.process_events()``) always runs on the GUI thread —
  the only thread allowed to touch Qt, VTK and ``client.store``. A flag coalesces bursts
  of wakeups into one drain per event-loop turn.
* The client's plain-callback lists (``on_state``, ``on_nack`` …) are re-emitted as Qt
  signals; the store's ChangeSets become ``sig_changes``. Views connect to the bridge, never
  to the client, so a view can be tested against the in-process ``LocalClient`` exactly as
  against a real ``SyncClient``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from twin_app.session.facade import Client

log = logging.getLogger(__name__)

# Time the GUI thread spends applying network events before it paints and reads input again.
DRAIN_BUDGET_S = 0.05


class ClientBridge(QObject):
    """Re-emits a client's callbacks as Qt signals on the GUI thread."""

    sig_wakeup = Signal()
    sig_changes = Signal(object)  # ChangeSet
    sig_state = Signal(str, str)  # state, detail
    sig_nack = Signal(object, str, str)  # PendingOp, code, reason
    sig_peers = Signal()
    sig_error = Signal(str, str)  # code, reason
    sig_asset = Signal(str)  # content hash of a mesh that arrived

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client: Client | None = None
        self._scheduled = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self.sig_wakeup.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def wakeup(self) -> None:
        """Thread-safe: ask the GUI thread to drain the client's inbound events."""
        if not self._scheduled.is_set():
            self._scheduled.set()
            self.sig_wakeup.emit()

    def attach(self, client: Client) -> None:
        """Start relaying ``client``'s events (call once, on the GUI thread)."""
        self.client = client
        self._unsubscribe = client.store.subscribe(self.sig_changes.emit)
        client.on_state.append(lambda s, d: self.sig_state.emit(s, d or ""))
        client.on_nack.append(lambda p, c, r: self.sig_nack.emit(p, str(c), str(r)))
        client.on_peers.append(self.sig_peers.emit)
        client.on_error.append(lambda c, r: self.sig_error.emit(str(c), str(r)))
        client.assets.on_arrived.append(self.sig_asset.emit)
        self.wakeup()

    def detach(self) -> None:
        """Stop relaying store changes (the client's callback lists die with it)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.client = None

    def _drain(self) -> None:
        self._scheduled.clear()
        if self.client is None:
            return
        try:
            self.client.process_events(DRAIN_BUDGET_S)
        except Exception:  # a bug in one event must not kill the event loop
            log.exception("processing client events failed")
        if self.client.has_events():
            # More arrived than fits the budget: continue after the paints and input
            # queued meanwhile, so a flood of remote edits never freezes the window.
            self.wakeup()
