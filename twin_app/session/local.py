"""An in-process client with the same facade as ``twin_app.net.SyncClient``, no network.

It sequences every op at once (as a server would) and checks the role with the same
``permissions.refusal`` the server uses, so a refused edit rolls back and is reported via
``on_nack`` exactly like a real nack. Used for single-user offline documents and by tests
that exercise views without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import new_id
from twin_app.core.meshblob import digest
from twin_app.core.ops import Op
from twin_app.core.permissions import refusal
from twin_app.core.store import ClientStore, PendingOp
from twin_app.session.facade import Client, Peer
from twin_app.session.sensors import SensorFeed


class LocalAssets:
    """A content-addressed blob cache held in memory."""

    def __init__(self, blobs: dict[str, bytes] | None = None) -> None:
        self.blobs: dict[str, bytes] = dict(blobs or {})
        self.on_arrived: list[Callable[[str], None]] = []

    def put(self, blob: bytes) -> str:
        """Store ``blob`` and return its content hash."""
        h = digest(blob)
        self.blobs[h] = blob
        return h

    def get(self, h: str) -> bytes | None:
        """Return the blob named ``h`` or ``None``."""
        return self.blobs.get(h)

    def want(self, hashes: Iterable[str]) -> None:
        """Nothing to download: every blob is local."""


class LocalClient:
    """A single-user client: ops apply and are sequenced immediately."""

    def __init__(self, doc: Document | None = None, assets: dict[str, bytes] | None = None,
                 *, name: str = "You", role: str = "owner") -> None:
        self.store = ClientStore(new_id(), doc)
        self.assets = LocalAssets(assets)
        self.name = name
        self.role = role
        self.session: str | None = "local"
        self.state = "live"
        self.state_detail = ""
        self.synced = True
        self.storage_error: str | None = None
        self.head_seq = 0
        self.peers: dict[str, Peer] = {}
        self.sensors = SensorFeed()
        self.presence: dict[str, Any] = {}
        self.submitted: list[tuple[Op, str]] = []
        # Server-side policy beyond roles (e.g. a lock held by someone else): returns why
        # an op is refused, or None. The refusal arrives as a nack, like a server's.
        self.refuse: Callable[[Op], str | None] | None = None
        self.on_state: list[Callable[[str, str], None]] = []
        self.on_nack: list[Callable[[PendingOp, str, str], None]] = []
        self.on_peers: list[Callable[[], None]] = []
        self.on_error: list[Callable[[str, str], None]] = []

    @property
    def unacked_count(self) -> int:
        """Edits not yet settled: none once ``submit`` returns (settled at once)."""
        return len(self.store.pending)

    def start(self) -> None:
        """Announce the (always live) state."""
        for fn in list(self.on_state):
            fn(self.state, "")

    def close(self) -> None:
        """Mark the client closed."""
        self.state = "closed"

    def process_events(self, budget_s: float | None = None) -> int:
        """No inbound queue: nothing to process."""
        return 0

    def has_events(self) -> bool:
        """No inbound queue: never."""
        return False

    def submit(self, op: Op, label: str) -> PendingOp:
        """Apply ``op`` (raises ``InvalidOp``) and sequence it, or nack it for the role."""
        why = refusal(self.role, op, self.store.doc)
        if why is None and self.refuse is not None:
            why = self.refuse(op)
        pending = self.store.local(op, label)
        self.submitted.append((op, label))
        self._settle(pending, why)
        return pending

    def undo(self) -> PendingOp | None:
        """Undo this user's last edit (raises ``UndoConflict``)."""
        pending = self.store.undo()
        if pending is not None:
            self.submitted.append((pending.op, f"Undo {pending.label}"))
            self._settle(pending, None)
        return pending

    def redo(self) -> PendingOp | None:
        """Redo the last undone edit (raises ``UndoConflict``)."""
        pending = self.store.redo()
        if pending is not None:
            self.submitted.append((pending.op, f"Redo {pending.label}"))
            self._settle(pending, None)
        return pending

    def _settle(self, pending: PendingOp, why: str | None) -> None:
        if why is not None:
            self.store.reject(pending.cseq)
            for fn in list(self.on_nack):
                fn(pending, "forbidden", why)
            return
        self.head_seq += 1
        self.store.remote(self.head_seq, self.store.client_id, pending.cseq, pending.op)

    def remote(self, op: Op, client_id: str = "someone-else") -> None:
        """Apply an op as if another user's edit arrived from the server."""
        self.head_seq += 1
        try:
            self.store.remote(self.head_seq, client_id, 0, op)
        except InvalidOp:
            self.head_seq -= 1
            raise

    def set_presence(self, **fields: Any) -> None:
        """Record this user's presence (no one else to see it)."""
        self.presence.update(fields)


def _is_a_client(client: LocalClient) -> Client:
    return client  # mypy proves here that LocalClient is what the UI codes against
