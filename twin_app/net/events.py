"""What the network agent thread tells the client: one small frozen class per kind of event.

The agent builds these on its thread and queues them; ``SyncClient.process_events`` applies
them on the owner thread, dispatching by type. A new kind of event is one new class here and
one branch there — never a string tag checked in several places. Events are immutable so
that nothing the agent still holds can change under the owner thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin_app.core.document import Document
from twin_app.core.ops import Op
from twin_app.core.samples import Stream

# One sequenced op as the store applies it: (seq, client id, client seq, op).
Sequenced = tuple[int, str, int, Op]


@dataclass(frozen=True, slots=True)
class OpsArrived:
    """Consecutive sequenced ops, in seq order, with no gap before or inside the run."""

    run: list[Sequenced]


@dataclass(frozen=True, slots=True)
class Acked:
    """The server decided our edit ``cseq``.

    ``seq`` is its place in the room (``None`` when not known: acknowledged cumulatively, or
    settled by a snapshot). ``dup`` means the room already held the edit's outcome, so the
    client drops its local copy instead of waiting for it in the op stream.
    """

    cseq: int
    seq: int | None
    dup: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused our edit ``cseq`` for good (``code`` and ``reason`` from the NACK)."""

    cseq: int
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Retrying:
    """The server refused our edit ``cseq`` for now (transient code); it will be sent again."""

    cseq: int
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The room's head, durable seq, hash (at ``hash_seq``), storage trouble, our round trip."""

    head_seq: int
    durable_seq: int
    hash: str | None
    hash_seq: int | None
    storage_error: str | None
    rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class SnapshotArrived:
    """A decoded snapshot at ``seq``; our edits up to client seq ``decided`` are in it or refused."""

    doc: Document
    seq: int
    decided: int


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """Presence records of people who changed, and sessions that left."""

    peers: list[dict[str, Any]]
    left: list[str]


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connection state changed (connecting, syncing, live, offline, failed)."""

    state: str
    detail: str


@dataclass(frozen=True, slots=True)
class Welcomed:
    """The server accepted our HELLO: our session, role, its epoch and limits."""

    session: str
    role: str
    epoch: int
    limits: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorReported:
    """Something the user should be told (``code`` from ``twin_app.protocol``)."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class AssetArrived:
    """A mesh blob is now in the local cache."""

    digest: str


@dataclass(frozen=True, slots=True)
class AssetProgress:
    """Bytes of a blob moved so far; ``direction`` is ``"up"`` or ``"down"``."""

    digest: str
    direction: str
    done: int
    total: int



@dataclass(frozen=True, slots=True)
class SensorFrameReady:
    """Sensor frames are waiting: take them with ``Agent.take_sensor_frame``."""


@dataclass(frozen=True, slots=True)
class SensorStreams:
    """The hub's streams and the online state of its sources (name, online, detail)."""

    streams: list[Stream]
    sources: list[tuple[str, bool, str]]


@dataclass(frozen=True, slots=True)
class SensorData:
    """The answer to a history query: tag -> (raw, t, vmin, vmax), or an error text."""

    req: int
    result: dict[str, tuple[bool, Any, Any, Any]] | str


Event = (
    OpsArrived | Acked | Refused | Retrying | Heartbeat | SnapshotArrived | PresenceChanged
    | StateChanged | Welcomed | ErrorReported | AssetArrived | AssetProgress
    | SensorFrameReady | SensorStreams | SensorData
)
