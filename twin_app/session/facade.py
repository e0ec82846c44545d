"""The client facade the UI codes against, and what it says about the people in a room.

``twin_app.net.SyncClient`` (a room on a server) and ``twin_app.session.local.LocalClient``
(in-process, no network) both satisfy ``Client``; mypy checks it where the UI receives one.
Data members are read-only properties here so that an implementation may narrow a type
(a local client always has a role) without breaking the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twin_app.core.ops import Op
from twin_app.core.store import ClientStore, PendingOp
from twin_app.session.sensors import SensorFeed


@dataclass
class Peer:
    """Someone else (or us) in the room, as the server last described them."""

    session: str
    client_id: str
    name: str
    role: str
    color: tuple[float, float, float] | None = None
    selection: list[str] = field(default_factory=list)
    camera: tuple[float, ...] | None = None
    status: str = ""
    follow: str | None = None
    follow_ok: list[str] = field(default_factory=list)
    present: bool = False
    rtt_ms: float | None = None
    behind: int = 0

    @staticmethod
    def from_record(rec: dict[str, Any]) -> Peer:
        """Build a peer from a PRESENCE record (tolerating missing fields)."""
        color = rec.get("color")
        camera = rec.get("camera")
        return Peer(
            session=str(rec.get("session", "")),
            client_id=str(rec.get("client_id", "")),
            name=str(rec.get("name", "")),
            role=str(rec.get("role", "")),
            color=(float(color[0]), float(color[1]), float(color[2])) if isinstance(color, list) and len(color) == 3 else None,
            selection=list(rec.get("selection") or []),
            camera=tuple(camera) if isinstance(camera, list) else None,
            status=str(rec.get("status") or ""),
            follow=rec.get("follow"),
            follow_ok=list(rec.get("follow_ok") or []),
            present=bool(rec.get("present", False)),
            rtt_ms=rec.get("rtt_ms"),
            behind=int(rec.get("behind") or 0),
        )


class Assets(Protocol):
    """A client's content-addressed mesh blobs: local cache plus whatever transfers them."""

    @property
    def on_arrived(self) -> list[Callable[[str], None]]:
        """Called with a blob's hash once it is in the cache."""
        ...

    def put(self, blob: bytes) -> str:
        """Store ``blob`` (and share it with the room); return its content hash."""
        ...

    def get(self, digest: str) -> bytes | None:
        """Return the blob named ``digest``, or ``None`` if it is not here (yet)."""
        ...

    def want(self, digests: Iterable[str]) -> None:
        """Fetch, in the background, whichever of ``digests`` are not here yet."""
        ...


class Client(Protocol):
    """A room as the UI sees it. The store, peers and callbacks belong to the owner thread."""

    @property
    def store(self) -> ClientStore:
        """The document with this user's pending edits applied."""
        ...

    @property
    def assets(self) -> Assets:
        """Mesh blobs by content hash."""
        ...

    @property
    def sensors(self) -> SensorFeed:
        """The room's live sensor values, the hub's streams and history queries."""
        ...

    @property
    def peers(self) -> Mapping[str, Peer]:
        """People in the room by session, this user included once the server lists them."""
        ...

    @property
    def session(self) -> str | None:
        """This user's session, once joined."""
        ...

    @property
    def role(self) -> str | None:
        """This user's role in the room, once joined."""
        ...

    @property
    def state(self) -> str:
        """``connecting``, ``syncing``, ``live``, ``offline``, ``failed`` or ``closed``."""
        ...

    @property
    def state_detail(self) -> str:
        """Why the state is what it is, for a tooltip."""
        ...

    @property
    def synced(self) -> bool:
        """True once the room's document has arrived."""
        ...

    @property
    def head_seq(self) -> int:
        """The room's latest seq as last heard."""
        ...

    @property
    def unacked_count(self) -> int:
        """This user's edits the room has not decided yet."""
        ...

    @property
    def storage_error(self) -> str | None:
        """Why the room cannot save edits now, or ``None``."""
        ...

    @property
    def on_state(self) -> list[Callable[[str, str], None]]:
        """Called with ``(state, detail)`` when the state changes."""
        ...

    @property
    def on_nack(self) -> list[Callable[[PendingOp, str, str], None]]:
        """Called with ``(edit, code, reason)`` when the room refuses an edit (rolled back)."""
        ...

    @property
    def on_peers(self) -> list[Callable[[], None]]:
        """Called when ``peers`` changed."""
        ...

    @property
    def on_error(self) -> list[Callable[[str, str], None]]:
        """Called with ``(code, reason)`` for anything the user should be told."""
        ...

    def start(self) -> None:
        """Connect (returns at once)."""
        ...

    def close(self) -> None:
        """Leave the room."""
        ...

    def process_events(self, budget_s: float | None = None) -> int:
        """Apply queued inbound events on the owner thread, for at most ``budget_s``."""
        ...

    def has_events(self) -> bool:
        """True if inbound events wait for ``process_events``."""
        ...

    def submit(self, op: Op, label: str) -> PendingOp:
        """Apply ``op`` locally and send it. Raises ``InvalidOp`` (nothing changes)."""
        ...

    def undo(self) -> PendingOp | None:
        """Undo this user's last edit. Raises ``UndoConflict``."""
        ...

    def redo(self) -> PendingOp | None:
        """Redo the last undone edit. Raises ``UndoConflict``."""
        ...

    def set_presence(self, **fields: Any) -> None:
        """Update what others see of this user (selection, camera, follow, present …)."""
        ...
