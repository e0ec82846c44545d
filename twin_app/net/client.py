"""``SyncClient``: the application's handle on a room (headless; no Qt).

Threading: the client's store, peers and callbacks belong to the *owner thread* (the GUI
thread in the app). The network agent thread decodes messages and queues events; the owner
calls ``process_events()`` — when ``wakeup()`` fires, or in ``wait_for`` — to apply them.
Nothing here blocks on the network.

Usage::

    client = SyncClient("tcp://host:7700", room="demo", token="…", name="Ada")
    client.store.subscribe(on_changes)      # ChangeSet per applied batch
    client.start()
    client.submit(SetField(node_id, "name", "Robot 2"), "Rename Robot 2")
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, assert_never

import zmq

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.core.ids import is_content_hash
from twin_app.core.ops import Op, op_from_wire, op_to_wire
from twin_app.core.store import ClientStore, PendingOp
from twin_app.net import events as ev
from twin_app.net.agent import Agent
from twin_app.net.assets import AssetCache
from twin_app.net.outbox import Outbox
from twin_app.protocol import E_ASSET
from twin_app.session.facade import Client, Peer
from twin_app.session.sensors import History, SensorFeed, SourceState

log = logging.getLogger(__name__)

MAX_RUN = 50_000  # ops applied in one go when coalescing queued runs


class Assets:
    """Mesh blobs for the application: local cache plus background transfers.

    ``report(code, reason)`` is told once about each mesh reference that is not a content
    hash: such a part keeps its placeholder, and every other mesh still downloads.
    """

    def __init__(self, cache: AssetCache, agent: Agent, report: Callable[[str, str], None]) -> None:
        self._cache = cache
        self._agent = agent
        self._report = report
        self._bad: set[str] = set()
        self.on_arrived: list[Callable[[str], None]] = []
        self.on_progress: list[Callable[[str, str, int, int], None]] = []

    def put(self, blob: bytes) -> str:
        """Store a blob locally and upload it if the server lacks it; return its hash."""
        digest = self._cache.put(blob)
        self._agent.command("upload", digest, blob)
        return digest

    def get(self, digest: str) -> bytes | None:
        """Return a blob from the local cache, or ``None`` if it has not arrived."""
        return self._cache.get(digest)

    def has(self, digest: str) -> bool:
        """True if the blob is in the local cache."""
        return self._cache.has(digest)

    def want(self, digests: Iterable[str]) -> None:
        """Download, in the background, whichever of ``digests`` are not here yet.

        A name that is not a content hash is skipped and reported once (never raises).
        """
        missing = []
        for d in set(digests):
            if not is_content_hash(d):
                if d not in self._bad:
                    self._bad.add(d)
                    log.warning("mesh reference %r is not a content hash; drawn as a box", d[:80])
                    self._report(E_ASSET, f"a part refers to mesh “{d[:16]}…”, which is not a "
                                 "content hash (64 hex digits); it is drawn as a box")
            elif not self._cache.has(d):
                missing.append(d)
        if missing:
            self._agent.command("want", missing)


def _fire(listeners: list[Callable[..., None]], *args: Any) -> None:
    for listener in list(listeners):
        listener(*args)


class SyncClient:
    """A connection to one room. See the module docstring for the threading rules."""

    def __init__(
        self,
        endpoint: str,
        room: str,
        token: str,
        name: str,
        *,
        state_dir: Path | None = None,
        server_key: str | None = None,
        client_keys: tuple[bytes, bytes] | None = None,
        color: tuple[float, float, float] | None = None,
        wakeup: Callable[[], None] | None = None,
    ) -> None:
        self.room = room
        self.name = name
        self._unacked: set[int] = set()  # as seen on the owner thread
        self._outbox = Outbox(state_dir)
        self.client_id = self._outbox.client_id
        self.store = ClientStore(self.client_id)
        self.store.next_cseq = self._outbox.next_cseq
        for cseq, label, wire in self._outbox.pending(room):
            # Edits from a previous run that the server never acknowledged: they are shown
            # once the room arrives and sent again (the server drops any it already has).
            self.store.pending.append(PendingOp(cseq, op_from_wire(wire), label, None))
            self.store.next_cseq = max(self.store.next_cseq, cseq + 1)
            self._unacked.add(cseq)
        self._events: deque[ev.Event] = deque()
        self._event_flag = threading.Event()
        self._wakeup = wakeup
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        cache = AssetCache(state_dir / "assets" if state_dir else None)
        self._agent = Agent(
            self._ctx, endpoint, room, token, name, color, self._outbox, cache, self._emit,
            server_key=server_key, client_keys=client_keys,
        )
        self.assets = Assets(cache, self._agent, lambda code, reason: _fire(self.on_error, code, reason))
        self.state = "connecting"
        self.state_detail = ""
        self.session: str | None = None
        self.role: str | None = None
        self.epoch: int | None = None
        self.limits: dict[str, Any] = {}
        self.head_seq = 0
        self.durable_seq = 0
        self.rtt_ms: float | None = None
        self.storage_error: str | None = None
        self.divergences = 0  # hash mismatches found (each one repaired by a resync)
        self.server_hash: tuple[int | None, str | None] = (None, None)  # (seq, hash) last heard
        self.peers: dict[str, Peer] = {}
        self.synced = False
        self.on_state: list[Callable[[str, str], None]] = []
        self.on_nack: list[Callable[[PendingOp, str, str], None]] = []
        self.on_peers: list[Callable[[], None]] = []
        self.on_error: list[Callable[[str, str], None]] = []
        self.on_ack: list[Callable[[int, int | None], None]] = []
        self._retrying = False  # a transient refusal was reported and no ACK came since
        self._closed = False
        self.sensors = SensorFeed(self._request_history)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (returns at once)."""
        self._agent.start()

    def close(self) -> None:
        """Say goodbye to the server and stop the network thread."""
        if self._closed:
            return
        self._closed = True
        if self._agent.is_alive():
            self._agent.stop()
            self._agent.join(timeout=5)
        if not self._agent.is_alive():
            self._agent.release()
        self._outbox.close()
        self._ctx.term()
        self.state = "closed"

    # -- edits ----------------------------------------------------------------------------
    def submit(self, op: Op, label: str) -> PendingOp:
        """Apply ``op`` locally at once and send it. Raises ``InvalidOp`` (nothing changes)."""
        pending = self.store.local(op, label)
        self._unacked.add(pending.cseq)
        self._agent.command("submit", pending.cseq, op_to_wire(op), label)
        return pending

    def undo(self) -> PendingOp | None:
        """Undo this user's last edit (as a new op). Raises ``UndoConflict``."""
        return self._send_step(self.store.undo())

    def redo(self) -> PendingOp | None:
        """Redo the last undone edit. Raises ``UndoConflict``."""
        return self._send_step(self.store.redo())

    def _send_step(self, pending: PendingOp | None) -> PendingOp | None:
        if pending is not None:
            self._unacked.add(pending.cseq)
            self._agent.command("submit", pending.cseq, op_to_wire(pending.op), pending.label)
        return pending

    def set_presence(self, **fields: Any) -> None:
        """Update what others see of us: ``selection``, ``camera`` (9 floats), ``status``,
        ``follow`` (a session id or None), ``follow_ok`` (sessions allowed to follow us),
        ``present`` (bool). Coalesced to at most 30 messages per second."""
        clean: dict[str, Any] = {}
        for key, value in fields.items():
            clean[key] = list(value) if isinstance(value, tuple) else value
        self._agent.command("presence", clean)

    def resync(self) -> None:
        """Ask for a fresh snapshot of the room."""
        self._agent.command("resync")

    @property
    def counters(self) -> dict[str, int]:
        """How often the agent caught up, re-joined and reconnected (diagnostics)."""
        return dict(self._agent.counters)

    @property
    def unacked_count(self) -> int:
        """Edits whose ACK or NACK has not been processed yet (on the owner thread)."""
        return len(self._unacked)

    # -- events ----------------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        # Agent thread: queue and wake the owner thread.
        self._events.append(event)
        self._event_flag.set()
        if self._wakeup is not None:
            self._wakeup()

    def process_events(self, budget_s: float | None = None) -> int:
        """Apply queued network events on the calling (owner) thread; return how many.

        Consecutive runs of ops are applied as one (one ``ChangeSet`` for the views, however
        many messages they came in). With ``budget_s``, returns once that much time has
        passed and leaves the rest queued (``has_events``), so a GUI thread under a flood of
        remote edits still paints and answers its user; without it, drains everything.
        """
        events = self._events
        deadline = None if budget_s is None else time.monotonic() + budget_s
        n = 0
        while events:
            event = events.popleft()
            n += 1
            if isinstance(event, ev.OpsArrived) and events and isinstance(events[0], ev.OpsArrived):
                run = list(event.run)
                while events and isinstance(events[0], ev.OpsArrived) and len(run) < MAX_RUN:
                    more = events.popleft()
                    assert isinstance(more, ev.OpsArrived)
                    run.extend(more.run)
                    n += 1
                event = ev.OpsArrived(run)
            try:
                self._handle(event)
            except Exception:  # a bug in a callback must not stall the event stream
                log.exception("error handling network event %s", type(event).__name__)
            if deadline is not None and time.monotonic() >= deadline:
                break
        self._agent.applied_seq = self.store.last_seq
        return n

    def has_events(self) -> bool:
        """True if network events are queued for ``process_events``."""
        return bool(self._events)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Process events until ``predicate()`` holds or ``timeout`` passes (headless use)."""
        deadline = time.monotonic() + timeout
        while True:
            self._event_flag.clear()
            self.process_events()
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._event_flag.wait(min(remaining, 0.1))

    def _handle(self, event: ev.Event) -> None:
        match event:
            case ev.OpsArrived(run):
                self._want_meshes(self.store.remote_many(run))
            case ev.Acked(cseq, seq, dup):
                self._unacked.discard(cseq)
                self._retrying = False
                if dup:
                    self.store.reject(cseq)  # already handled by the server before: drop ours
                _fire(self.on_ack, cseq, seq)
            case ev.Refused(cseq, code, reason):
                self._unacked.discard(cseq)
                pending = self.store.reject(cseq)
                if pending is not None:
                    log.info("edit %r refused: %s (%s)", pending.label, reason, code)
                    _fire(self.on_nack, pending, code, reason)
            case ev.Retrying(_cseq, code, reason):
                # Refused for now (rate limit, storage trouble): the edit stays pending and
                # shown, and the agent sends it again. Say so once per episode.
                if not self._retrying:
                    self._retrying = True
                    _fire(self.on_error, code, f"{reason}. Your edits are kept and sent again.")
            case ev.Heartbeat():
                self._on_heartbeat(event)
            case ev.SnapshotArrived(doc, seq, decided):
                self._reset(doc, seq, decided)
            case ev.PresenceChanged(peers, left):
                for rec in peers:
                    peer = Peer.from_record(rec)
                    self.peers[peer.session] = peer
                for session in left:
                    self.peers.pop(session, None)
                _fire(self.on_peers)
            case ev.StateChanged(state, detail):
                self.state, self.state_detail = state, detail
                if state == "offline":
                    self.peers.clear()
                    _fire(self.on_peers)
                if state != "live":
                    self.sensors.disconnected()
                _fire(self.on_state, state, detail)
            case ev.Welcomed(session, role, epoch, limits):
                self.session, self.role, self.epoch, self.limits = session, role, epoch, limits
            case ev.ErrorReported(code, reason):
                _fire(self.on_error, code, reason)
            case ev.AssetArrived(digest):
                _fire(self.assets.on_arrived, digest)
            case ev.AssetProgress(digest, direction, done, total):
                _fire(self.assets.on_progress, digest, direction, done, total)
            case ev.SensorFrameReady():
                frame = self._agent.take_sensor_frame()
                if frame is not None:
                    self.sensors.apply(frame)
            case ev.SensorStreams(streams, sources):
                self.sensors.set_streams(streams, [SourceState(*s) for s in sources])
            case ev.SensorData(req, result):
                self.sensors.answer(req, result if isinstance(result, str) else {
                    tag: History(tag, raw, t, lo, hi) for tag, (raw, t, lo, hi) in result.items()})
            case _:
                assert_never(event)

    def _request_history(self, req: int, tags: Sequence[str], t0: int, t1: int, points: int) -> bool:
        if self._closed:
            return False
        self._agent.command("sensor_query", req, list(tags), t0, t1, points)
        return True

    def _on_heartbeat(self, hb: ev.Heartbeat) -> None:
        self.head_seq = max(self.head_seq, hb.head_seq)
        self.durable_seq = hb.durable_seq
        self.storage_error = hb.storage_error
        self.rtt_ms = hb.rtt_ms
        self.server_hash = (hb.hash_seq, hb.hash)
        in_step = hb.hash and hb.hash_seq == self.store.last_seq and not self.store.pending
        if in_step and self.store.doc.hash() != hb.hash:
            self.divergences += 1
            log.error("document diverged from the server at seq %d; resyncing", hb.hash_seq)
            self.resync()

    def _reset(self, doc: Document, seq: int, decided_cseq: int) -> None:
        self.head_seq = max(seq, self.head_seq if self.synced else 0)
        self.synced = True
        self.store.reset(doc, seq, decided_cseq)
        self.assets.want(n.mesh for n in self.store.doc.nodes.values() if n.mesh)

    def _want_meshes(self, changes: ChangeSet) -> None:
        doc = self.store.doc
        wanted = []
        for nid, fields in changes.nodes.items():
            if "mesh" in fields or "node" in fields:
                node = doc.get(nid)
                if node is not None and node.mesh:
                    wanted.append(node.mesh)
        if wanted:
            self.assets.want(wanted)


def _is_a_client(client: SyncClient) -> Client:
    return client  # mypy proves here that SyncClient is what the UI codes against
