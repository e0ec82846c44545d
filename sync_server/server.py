"""The sync server: one ROUTER endpoint, many rooms, one event loop.

Design notes
------------
* **One port.** Every message — hello, join, snapshot, edits, acks, the sequenced op
  stream, presence, heartbeats, asset chunks — travels over one ROUTER socket (CurveZMQ
  optional). A snapshot and the ops after it therefore reach a client over one ordered
  connection, which removes the Clone pattern's subscribe/snapshot race by construction;
  clients still detect gaps (a send to a full pipe is dropped) and repair them from the
  ring buffer. Fan-out costs ~1.6 µs per recipient in Python; ops are batched per loop turn,
  so a room of 50 clients costs ~80 µs per batch, not per op.
* **The loop never blocks.** All sends are ``NOBLOCK`` with ``ROUTER_MANDATORY``: a full
  pipe (a slow or frozen client) drops that client's message (it repairs the gap later),
  an unknown peer ends its session. Disk writes happen in each room's writer thread
  (``RoomLog``); its events come back through a self-pipe registered in the poller.
* **Order of an edit:** validate with the shared reducer → assign the room's next seq →
  apply → queue for the durable log → broadcast to the room → ACK the author once the writer
  reports it durable. Publishing ahead of durability is safe: after a crash the server
  starts with a new epoch, every client re-snapshots, and clients resend every edit that
  was not acknowledged (idempotent by client id + client seq), so nothing acked is lost and
  everyone converges.
* **Rooms open on demand and close when idle.** A room is loaded at its first join
  (blocking the loop for the load: one keyframe plus a bounded tail) and closed once it
  has had no members for ``room_idle_s`` and everything it accepted is durable: its writer
  flushes, closes the database (three file descriptors) and exits. A server that has seen
  10 000 rooms holds only the ones in use. Writer events are tagged with their
  ``RoomLog``, so a late event from a closed room never touches its reopened successor.
* **Hostile input** is decoded only after size checks, validated against a schema, and
  answered with an ERROR or NACK; a handler that raises anyway is caught, logged and
  answered with ``internal`` — the loop itself never dies on input.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import re
import secrets
import signal
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from sync_server.assets import CHUNK, AssetError, AssetStore
from sync_server.config import Grant, ServerConfig, token_hash
from sync_server.roomlog import Entry, Keyframe, RoomLog
from sync_server.sensors import Source
from sync_server.sensors.alarms import SERVER_CID, alarm_ops, sweep_ops
from sync_server.sensors.hub import Hub, Transition
from sync_server.sensors.simulator import Simulator, channels_from_document
from twin_app import __version__, protocol
from twin_app.core import roomfile, snapshot
from twin_app.core.changes import DISCARD
from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp
from twin_app.core.ops import (
    AddNode,
    Batch,
    Op,
    RemoveNode,
    Reparent,
    SetField,
    apply,
    count_ops,
    op_from_wire,
    op_to_wire,
)
from twin_app.core.permissions import EDIT_ALL, PUSH_SENSORS, refusal
from twin_app.core.sensors import SensorSpec, sensor_specs
from twin_app.protocol import Message, ProtocolError

log = logging.getLogger(__name__)

ROOM_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
ZAP_DOMAIN = "twinroom"
# Plain ints: combining pyzmq's enum flags costs more than the send itself in a hot loop.
NB = int(zmq.NOBLOCK)
NB_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
RCVMORE = int(zmq.RCVMORE)
OPS_PER_MESSAGE = 5000
RECENT_CSEQS = 100_000
QUERIES_PER_S = 20.0
PRESENCE_KEYS = ("selection", "camera", "status", "follow", "follow_ok", "present")


class DataDirBusy(RuntimeError):
    """Another server process holds the data directory."""


LOCK_FILE = "server.lock"


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory's exclusive lock; return its fd. Raises ``DataDirBusy``."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip()
        os.close(fd)
        raise DataDirBusy(f"{data_dir} is in use by another twin-sync ({holder or 'starting'})") from None
    return fd


def data_dir_holder(data_dir: Path) -> str | None:
    """The endpoint of the server running on ``data_dir``, or ``None`` if none runs."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # we could lock it: nobody holds it
    except BlockingIOError:
        parts = os.read(fd, 200).decode(errors="replace").split()
        return parts[1] if len(parts) == 2 else None
    finally:
        os.close(fd)


@dataclass
class Session:
    """One connected client (one ROUTER peer)."""

    rid: bytes
    id: str
    client_id: str
    name: str
    color: list[float] | None
    grant: Grant
    last_seen: float
    tokens: float
    tokens_t: float
    room: Room | None = None
    presence: dict[str, Any] = field(default_factory=dict)
    rtt_ms: float | None = None
    seq: int = 0
    # The client seq of an edit refused for a transient reason (0 = none): later edits
    # are refused with the same code until it is resent, so a client's edits are still
    # applied in its order and none is overtaken by the ones after it.
    held: int = 0
    held_code: str = ""
    behind_sent: int = 0  # ``behind`` in the last record sent to the room
    query_tokens: float = 40.0  # sensor history queries: QUERIES_PER_S, burst 40
    sources: set[str] = field(default_factory=set)  # sensor sources this peer pushes for
    query_t: float = 0.0

    def behind(self) -> int:
        """Ops of the room this client has not confirmed (``HEARTBEAT.head_seq``)."""
        return max(0, self.room.head - self.seq) if self.room else 0

    def record(self) -> dict[str, Any]:
        """The peer record other members receive in PRESENCE."""
        self.behind_sent = self.behind()
        rec: dict[str, Any] = {
            "session": self.id, "client_id": self.client_id, "name": self.name,
            "role": self.grant.role, "color": self.color, "rtt_ms": self.rtt_ms,
            "behind": self.behind_sent,
        }
        rec.update(self.presence)
        return rec


class Room:
    """A room's live state in the loop thread; its durable state is ``log``."""

    def __init__(self, name: str, rlog: RoomLog, cfg: ServerConfig, seed: Any = None) -> None:
        self.name = name
        self.log = rlog
        rec = rlog.load(seed)
        self.doc = rec.doc
        self.head = rec.head_seq
        self.durable = rec.head_seq
        self.keyframe: Keyframe = rec.keyframe
        self.ring: deque[Entry] = deque(rec.tail[-cfg.ring_size:], maxlen=cfg.ring_size)
        self.last_cseq = {cid: cseq for cid, (cseq, _seq) in rec.clients.items()}
        self.recent: OrderedDict[tuple[str, int], int] = OrderedDict()
        self.members: dict[bytes, Session] = {}
        self.outbox: list[Entry] = []
        self.acks: deque[tuple[int, bytes, int]] = deque()
        self.presence_dirty: set[bytes] = set()
        self.left: list[str] = []
        self.storage_error: str | None = None
        self.idle_since = time.monotonic()
        self.server_cseq = self.last_cseq.get(SERVER_CID, 0)
        self.specs: list[SensorSpec] = list(sensor_specs(self.doc).values())
        self.specs_dirty = False
        self.specs_sent = 0.0
        rlog.start()

    def quiescent(self) -> bool:
        """True if nobody is here and everything accepted is durable and acknowledged."""
        return not self.members and self.durable >= self.head and not self.acks and not self.outbox

    def ring_covers(self, first: int) -> bool:
        """True if every op from ``first`` to the head is in the ring buffer."""
        if first > self.head:
            return True
        return bool(self.ring) and self.ring[0].seq <= first

    def ring_from(self, first: int) -> Iterable[Entry]:
        """Ring entries with seq >= ``first`` (caller checked ``ring_covers``)."""
        if not self.ring or first > self.head:
            return ()
        return islice(self.ring, max(0, first - self.ring[0].seq), None)


class Server:
    """The sync server. ``run()`` blocks until ``stop()`` (thread- and signal-safe)."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.epoch = secrets.randbits(63)
        self.rooms: dict[str, Room] = {}
        self.sessions: dict[bytes, Session] = {}
        self.assets = AssetStore(cfg.assets_dir, cfg.limits.max_asset)
        self.endpoint = ""
        self.stats = {"messages": 0, "rejected": 0, "errors": 0}
        self._events: deque[tuple[RoomLog, str, Any]] = deque()
        self._closing: dict[str, Room] = {}  # idle rooms whose writer is flushing
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._running = False
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._router: zmq.Socket[bytes] | None = None
        self._auth: ThreadAuthenticator | None = None
        self._bad_peers: OrderedDict[bytes, int] = OrderedDict()
        self._lock_fd = -1
        self.hub: Hub | None = None
        self.sources: list[Source] = []
        self._simulator: Simulator | None = None
        self._hub_out: deque[tuple[bytes, list[bytes]]] = deque()
        self._hub_alarms: deque[tuple[str, list[Transition]]] = deque()

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> str:
        """Lock the data directory, load existing rooms, bind; return the bound endpoint.

        Raises ``DataDirBusy`` if another server uses the same data directory: two
        sequencers on one room log would hand out the same seqs.
        """
        cfg = self.cfg
        cfg.rooms_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_data_dir(cfg.data_dir)
        # Existing rooms open at their first join. A seeded room that does not exist yet
        # is created now, so a bad seed file stops the server at start, not a join.
        for name in cfg.seeds:
            if ROOM_RE.fullmatch(name) and not (cfg.rooms_dir / f"{name}.db").exists():
                self._open_room(name)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        self._ctx = ctx
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.MAXMSGSIZE, cfg.limits.socket_max_message)
        router.setsockopt(zmq.SNDHWM, 5000)
        router.setsockopt(zmq.RCVHWM, 5000)
        router.setsockopt(zmq.LINGER, 200)
        router.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        if cfg.curve_secret_file is not None:
            self._setup_curve(ctx, router, cfg.curve_secret_file, cfg.curve_allow_dir)
        router.bind(cfg.bind)
        self._router = router
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, f"{os.getpid()} {self.endpoint}\n".encode())
        if cfg.sensors:
            self._start_sensors()
        return self.endpoint

    def _start_sensors(self) -> None:
        """Start the hub and the configured sources (simulator, mapping file)."""
        cfg = self.cfg
        hub = Hub(cfg.data_dir / "sensors.sqlite", self._from_hub, self._alarms_from_hub, self._wake)
        self.hub = hub
        hub.start()
        for room in self.rooms.values():
            hub.room_specs(room.name, room.specs)
        if cfg.simulate:
            docs = [self._open_room(name).doc for name in cfg.simulate if ROOM_RE.fullmatch(name)]
            channels = [c for doc in docs for c in channels_from_document(doc)]
            self._simulator = Simulator(channels, lambda: hub.faults)
            self.sources.append(self._simulator)
        if cfg.sensor_config is not None:
            # The bridges' libraries (paho, asyncua, pyarrow) load only when configured.
            config = importlib.import_module("sync_server.sensors.config")
            self.sources.extend(config.load_sources(cfg.sensor_config))
        for src in self.sources:
            src.start(hub.sink(src.name))

    def _from_hub(self, rid: bytes, frames: list[bytes]) -> None:
        self._hub_out.append((rid, frames))  # the hub wakes the loop once per tick

    def _alarms_from_hub(self, room: str, transitions: list[Transition]) -> None:
        self._hub_alarms.append((room, transitions))
        self._wake()

    def _setup_curve(
        self, ctx: zmq.Context[zmq.Socket[bytes]], sock: zmq.Socket[bytes],
        secret_file: Path, allow_dir: Path | None,
    ) -> None:
        # The authenticator must run before bind: a CURVE socket with no ZAP handler
        # accepts any client key. The socket's ZAP domain must match the configured one
        # (pyzmq's '*' only covers an empty domain).
        public, secret = zmq.auth.load_certificate(str(secret_file))
        if secret is None:
            raise ValueError(f"{secret_file} holds no secret key")
        auth = ThreadAuthenticator(ctx, log=logging.getLogger("sync_server.zap"))
        auth.start()
        if allow_dir is None:
            auth.configure_curve(domain=ZAP_DOMAIN, location=zmq.auth.CURVE_ALLOW_ANY)
        else:
            auth.configure_curve(domain=ZAP_DOMAIN, location=str(allow_dir))
        if not auth.is_alive():
            raise RuntimeError("the ZAP authenticator did not start; refusing to serve CURVE")
        self._auth = auth
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())

    def stop(self) -> None:
        """Ask the loop to finish (safe from any thread or a signal handler)."""
        self._running = False
        self._wake()

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGINT/SIGTERM."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full: the loop is awake anyway

    def _post(self, rlog: RoomLog, kind: str, value: Any) -> None:
        # Called from writer threads: deque.append is atomic.
        self._events.append((rlog, kind, value))
        self._wake()

    def close(self) -> None:
        """Flush room logs and release sockets (after ``run`` returned)."""
        for src in self.sources:
            src.stop()
        if self.hub is not None:
            self.hub.stop()
        for room in [*self.rooms.values(), *self._closing.values()]:
            room.log.close()
        if self._router is not None:
            self._router.close(linger=1000)  # time for the last ACKs and goodbyes to leave
        if self._auth is not None:
            self._auth.stop()
        if self._ctx is not None:
            self._ctx.term()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the data directory lock

    # -- rooms -------------------------------------------------------------------------
    def _open_room(self, name: str) -> Room:
        """Return the open room ``name``, loading (or creating) it from disk if needed.

        Raises ``sqlite3.Error``/``OSError`` if its file cannot be read, ``RuntimeError``
        if its log does not replay, ``RoomFileError`` for a bad seed file.
        """
        room = self.rooms.get(name)
        if room is not None:
            return room
        closing = self._closing.pop(name, None)
        if closing is not None:
            closing.log.join()  # its writer is flushing an idle room: let it finish first
        path = self.cfg.rooms_dir / f"{name}.db"
        seed = None
        if not path.exists() and name in self.cfg.seeds:
            doc, blobs = roomfile.read(self.cfg.seeds[name])
            for digest, blob in blobs.items():
                self.assets.put(digest, blob)
            seed = doc
        def on_event(kind: str, value: Any) -> None:
            self._post(rlog, kind, value)

        rlog = RoomLog(path, on_event, max_bytes=self.cfg.max_room_bytes,
                       durability=self.cfg.durability)
        room = Room(name, rlog, self.cfg, seed)
        self.rooms[name] = room
        if self.hub is not None:
            self.hub.room_specs(name, room.specs)
        log.info("room %s: loaded at seq %d (%d nodes)", name, room.head, len(room.doc))
        return room

    # -- the loop ------------------------------------------------------------------------
    def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until ``stop()``. ``ready(endpoint)`` is called once listening."""
        if self._router is None:
            self.open()
        router = self._router
        assert router is not None
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        self._running = True
        if ready:
            ready(self.endpoint)
        hb_every = self.cfg.hb_ms / 1000.0
        presence_every = 1.0 / self.cfg.limits.presence_hz
        next_hb = next_presence = time.monotonic()
        while self._running:
            now = time.monotonic()
            timeout = max(0.0, min(next_hb, next_presence) - now)
            events = dict(poller.poll(int(timeout * 1000.0) + 1))
            if router in events:
                self._drain(router)
            if self._wake_r in events:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            if self._events:
                self._writer_events()
            if self._hub_alarms:
                self._apply_alarms()
            now = time.monotonic()
            self._sensor_upkeep(now)
            self._flush()
            if self._hub_out:
                self._hub_flush()
            if now >= next_presence:
                self._flush_presence()
                next_presence = now + presence_every
            if now >= next_hb:
                self._heartbeats(now)
                next_hb = now + hb_every
        self._wind_down()

    def _wind_down(self) -> None:
        """After ``stop()`` (SIGTERM): acknowledge what was accepted, then tell clients to go.

        Every room's writer commits what is queued and exits; the ACKs for it go out; then
        each client hears ``server_stopping`` and reconnects with back-off (to this server
        once it is back, with a new epoch). An edit accepted but not yet committed when the
        disk fails stays unacknowledged, and its author resends it: nothing acked is lost.
        """
        self._flush()
        for room in [*self.rooms.values(), *self._closing.values()]:
            room.log.close()
        self._writer_events()
        for rid in list(self.sessions):
            self._send(rid, protocol.ERROR, {
                "code": protocol.E_SHUTDOWN,
                "reason": "the server is stopping; reconnecting when it is back",
            })
        log.info("stopped: %d rooms flushed, %d clients told to reconnect",
                    len(self.rooms), len(self.sessions))

    def _drain(self, router: zmq.Socket[bytes]) -> None:
        # Drain a bounded number of messages per turn, so broadcasts batch naturally
        # under load and timers still run.
        recv = router.recv
        more = router.getsockopt
        for _ in range(2000):
            try:
                rid = recv(NB)
            except zmq.Again:
                return
            # Every message has at least a routing id and a header frame; asking the
            # socket for RCVMORE only after that is cheaper than recv_multipart's loop.
            frames = [rid, recv(NB)]
            while more(RCVMORE):
                frames.append(recv(NB))
            self.stats["messages"] += 1
            try:
                self._on_message(frames)
            except Exception:  # the last line of defence: never die on input
                self.stats["errors"] += 1
                log.exception("internal error handling a message; peer answered, loop continues")
                self._send(frames[0], protocol.ERROR, {"code": protocol.E_INTERNAL, "reason": "internal server error"})

    def _refuse(self, rid: bytes, code: str, reason: str, version: int = protocol.VERSION) -> None:
        self.stats["rejected"] += 1
        n = self._bad_peers.get(rid, 0) + 1
        self._bad_peers[rid] = n
        self._bad_peers.move_to_end(rid)
        while len(self._bad_peers) > 1000:
            self._bad_peers.popitem(last=False)
        if n <= 5 or n % 1000 == 0:
            log.warning("refused message from peer %s (%d so far): %s: %s", rid.hex(), n, code, reason)
        router = self._router
        assert router is not None
        # In the peer's own protocol version, so that an older or newer app can read it.
        self._send_frames(router, rid, protocol.encode(protocol.ERROR, {"code": code, "reason": reason},
                                                       version=version))

    def _on_message(self, frames: list[bytes]) -> None:
        rid = frames[0]
        if not rid or rid[0] != 0:
            # libzmq-generated routing ids start with a zero byte; anything else was
            # chosen by the client and could impersonate another peer.
            self._refuse(rid, protocol.E_BAD_ROUTING_ID, "client-chosen routing ids are not allowed")
            return
        try:
            msg = protocol.decode(frames[1:], self.cfg.limits.max_message)
        except ProtocolError as exc:
            version = protocol.header_version(frames[1:])
            version = protocol.VERSION if version is None else version
            if exc.code == protocol.E_BAD_VERSION:
                why = protocol.version_refusal("app", version, 0, "", __version__)
                self._refuse(rid, exc.code, why or str(exc), version)
                return
            self._refuse(rid, exc.code, str(exc))
            return
        session = self.sessions.get(rid)
        now = time.monotonic()
        if msg.type == protocol.HELLO:
            self._on_hello(rid, msg, now)
            return
        if session is None:
            self._refuse(rid, protocol.E_NO_SESSION, "send HELLO first")
            return
        session.last_seen = now
        handler = self._handlers.get(msg.type)
        if handler is None:
            self._refuse(rid, protocol.E_UNKNOWN_TYPE, f"{msg.name} is not a client message")
            return
        handler(self, session, msg)

    # -- handlers ------------------------------------------------------------------------
    def _on_hello(self, rid: bytes, msg: Message, now: float) -> None:
        body = msg.body
        why = protocol.version_refusal("app", protocol.VERSION, protocol.peer_revision(body),
                                       body.get("release", ""), __version__)
        if why:
            self._refuse(rid, protocol.E_BAD_VERSION, why)
            return
        grant = self.cfg.grants.get(token_hash(body["token"]))
        if grant is None:
            self._refuse(rid, protocol.E_AUTH, "unknown token")
            return
        old = self.sessions.pop(rid, None)
        if old is not None:
            self._leave(old)
        # A client that reconnects gets a new connection; end the old one's session, so
        # edits still queued on the old connection cannot be applied after (and overtake)
        # the ones it resends on the new connection.
        for stale in [s for s in self.sessions.values() if s.client_id == body["client_id"]]:
            self.sessions.pop(stale.rid, None)
            self._leave(stale)
        session = Session(
            rid, secrets.token_hex(6), body["client_id"], body["name"] or "anonymous",
            body.get("color"), grant, now, self.cfg.limits.ops_burst, now,
        )
        self.sessions[rid] = session
        lim = self.cfg.limits
        self._send(rid, protocol.WELCOME, {
            "session": session.id, "epoch": self.epoch, "role": grant.role,
            "hb_ms": self.cfg.hb_ms, "server": f"twinroom/{__version__}", "proto": protocol.REVISION,
            "limits": {
                "max_message": lim.max_message, "ops_per_s": lim.ops_per_s,
                "edit_credit": lim.edit_credit, "max_nodes": lim.max_nodes,
                "presence_hz": lim.presence_hz, "chunk": CHUNK,
            },
        })
        log.info("session %s: %s (%s) connected", session.id, session.name, grant.role)

    def _on_join(self, session: Session, msg: Message) -> None:
        name = msg.body["room"]
        if not ROOM_RE.fullmatch(name):
            self._refuse(session.rid, protocol.E_BAD_BODY, "room names are 1–64 of A–Z a–z 0–9 _ . -")
            return
        if not session.grant.allows(name):
            self._refuse(session.rid, protocol.E_FORBIDDEN, f"your token does not grant room {name!r}")
            return
        room = self.rooms.get(name)
        if room is None:
            known = name in self._closing or name in self.cfg.seeds or (self.cfg.rooms_dir / f"{name}.db").exists()
            if not known and session.grant.role not in EDIT_ALL:
                self._refuse(session.rid, protocol.E_NO_ROOM, f"room {name!r} does not exist")
                return
            try:
                room = self._open_room(name)
            except (sqlite3.Error, OSError, RuntimeError, ValueError) as exc:
                log.error("room %s: cannot open: %s", name, exc)
                self._refuse(session.rid, protocol.E_STORAGE, f"room {name!r} cannot be opened: {exc}")
                return
        if session.room is not None:
            self._leave(session)
        session.room = room
        session.seq = room.head
        session.held = 0  # after the snapshot the client resends every undecided edit, in order
        room.members[session.rid] = session
        self._send_snapshot(session)
        self._send(session.rid, protocol.PRESENCE, {
            "peers": [s.record() for s in room.members.values()], "left": [],
        })
        room.presence_dirty.add(session.rid)

    def _send_snapshot(self, session: Session) -> None:
        room = session.room
        assert room is not None
        kf = room.keyframe
        if not room.ring_covers(kf.seq + 1):
            # The writer's keyframe lags more than the ring holds (e.g. a stalled disk):
            # encode the loop's document now. Rare and slower, but always exact.
            kf = Keyframe(room.head, room.doc.hash(), len(room.doc), snapshot.encode(room.doc))
        # The keyframe plus the ops after it, in one message: the client rebuilds the room
        # exactly at the head and the live stream continues from head + 1.
        tail = [e.item for e in room.ring_from(kf.seq + 1)]
        # ``cseq``: this client's edits up to here are decided (each one sequenced is in
        # this snapshot), so the client drops them instead of showing them pending for ever.
        self._send(session.rid, protocol.SNAPSHOT, {
            "room": room.name, "epoch": self.epoch, "seq": kf.seq, "hash": kf.hash,
            "nodes": kf.nodes, "chunks": len(kf.chunks), "ops": tail,
            "cseq": room.last_cseq.get(session.client_id, 0),
        }, kf.chunks)

    def _send_ops(self, rid: bytes, entries: list[Entry]) -> None:
        for i in range(0, len(entries), OPS_PER_MESSAGE):
            part = entries[i:i + OPS_PER_MESSAGE]
            self._send(rid, protocol.OPS, {
                "epoch": self.epoch, "first_seq": part[0].seq,
                "ops": [e.item for e in part],
            })

    def _on_submit(self, session: Session, msg: Message) -> None:
        body = msg.body
        cseq = body["cseq"]
        room = session.room
        rid = session.rid

        def nack(code: str, reason: str) -> None:
            self.stats["rejected"] += 1
            self._send(rid, protocol.NACK, {"cseq": cseq, "code": code, "reason": reason})

        if room is None:
            nack(protocol.E_NOT_JOINED, "join a room before editing")
            return
        cid = session.client_id
        if cseq <= room.last_cseq.get(cid, 0):
            # A resend of an edit the room already applied: acknowledge, never apply twice.
            # (A conforming client never resends one at or below its snapshot's ``cseq``,
            # and a transient refusal holds back later edits, so this is always applied.)
            seq = room.recent.get((cid, cseq))
            if seq is not None and seq > room.durable:
                room.acks.append((seq, rid, cseq))
            else:
                self._send(rid, protocol.ACK, {"cseq": cseq, "seq": seq, "dup": True})
            return
        if session.held:
            if cseq > session.held:
                nack(session.held_code, f"edit {session.held} was refused for now; resend it first")
                return
            session.held = 0

        def refuse_for_now(code: str, reason: str) -> None:
            session.held, session.held_code = cseq, code
            nack(code, reason)

        if room.head - room.durable > self.cfg.limits.max_backlog or (room.storage_error and room.head > room.durable):
            refuse_for_now(protocol.E_STORAGE, f"the server cannot store edits right now ({room.storage_error or 'disk too slow'})")
            return
        try:
            op = op_from_wire(body["op"])
        except InvalidOp as exc:
            nack(exc.code, str(exc))
            return
        cost = count_ops(op)
        now = time.monotonic()
        lim = self.cfg.limits
        if cost > lim.ops_burst:
            # More than the bucket ever holds: waiting would not help, so not transient.
            nack(protocol.E_TOO_LARGE, f"a batch of {cost} ops is more than the {lim.ops_burst:.0f} the server accepts at once")
            return
        session.tokens = min(lim.ops_burst, session.tokens + (now - session.tokens_t) * lim.ops_per_s)
        session.tokens_t = now
        if cost > session.tokens:
            refuse_for_now(protocol.E_RATE, f"more than {lim.ops_per_s:.0f} ops/s; slow down")
            return
        session.tokens -= cost
        why = refusal(session.grant.role, op, room.doc)
        if why:
            nack(protocol.E_FORBIDDEN, why)
            return
        try:
            apply(room.doc, op, DISCARD, lim.max_nodes)
        except InvalidOp as exc:
            nack(exc.code, str(exc))
            return
        room.head += 1
        entry = Entry(room.head, time.time_ns(), cid, cseq, op, body["op"])
        room.last_cseq[cid] = cseq
        room.recent[(cid, cseq)] = entry.seq
        if len(room.recent) > RECENT_CSEQS:
            room.recent.popitem(last=False)
        room.ring.append(entry)
        room.outbox.append(entry)  # broadcast, then logged, at the end of this loop turn
        room.acks.append((entry.seq, rid, cseq))
        if not room.specs_dirty and _touches_sensors(op, room.doc):
            room.specs_dirty = True

    def _on_catchup(self, session: Session, msg: Message) -> None:
        room = session.room
        if room is None:
            self._refuse(session.rid, protocol.E_NOT_JOINED, "join a room first")
            return
        # The range is inclusive and clipped to what has been broadcast. Every CATCHUP is
        # answered: by OPS (empty when nothing is in the range, e.g. from_seq > to_seq) or
        # by a SNAPSHOT when the range is older than the ring.
        first, last = msg.body["from_seq"], min(msg.body["to_seq"], self._broadcast_head(room))
        if first < 1 or not room.ring_covers(first):
            self._send_snapshot(session)  # older than the ring: start over from a snapshot
            return
        entries = [e for e in room.ring_from(first) if e.seq <= last] if first <= last else []
        if entries:
            self._send_ops(session.rid, entries)
        else:
            self._send(session.rid, protocol.OPS, {"epoch": self.epoch, "first_seq": first, "ops": []})

    def _on_presence(self, session: Session, msg: Message) -> None:
        if session.room is None:
            return
        for key in PRESENCE_KEYS:
            if key in msg.body:
                session.presence[key] = msg.body[key]
        session.room.presence_dirty.add(session.rid)

    def _on_heartbeat(self, session: Session, msg: Message) -> None:
        body = msg.body
        if "rtt_ms" in body:
            session.rtt_ms = float(body["rtt_ms"])
        if "head_seq" in body:
            session.seq = body["head_seq"]
        if "t" in body:  # a ping: answer so the client can measure the round trip
            self._send(session.rid, protocol.HEARTBEAT, self._hb_body(session.room, body["t"]))

    def _on_bye(self, session: Session, msg: Message) -> None:
        self.sessions.pop(session.rid, None)
        self._leave(session)

    def _on_asset_have(self, session: Session, msg: Message) -> None:
        missing, offsets = [], []
        for digest in msg.body["hashes"]:
            try:
                if not self.assets.has(digest):
                    missing.append(digest)
                    offsets.append(self.assets.partial(digest))
            except AssetError:
                continue
        self._send(session.rid, protocol.ASSET_MISSING, {"hashes": missing, "offsets": offsets})

    def _on_asset_put(self, session: Session, msg: Message) -> None:
        body = msg.body
        if session.grant.role not in EDIT_ALL:
            self._send(session.rid, protocol.ASSET_ACK, {
                "hash": body["hash"], "offset": 0, "error": f"the {session.grant.role} role cannot upload",
            })
            return
        if len(msg.blobs) != 1:
            self._refuse(session.rid, protocol.E_BAD_BODY, "ASSET_PUT carries exactly one data frame")
            return
        try:
            offset = self.assets.write(body["hash"], body["size"], body["offset"], msg.blobs[0])
            self._send(session.rid, protocol.ASSET_ACK, {"hash": body["hash"], "offset": offset})
        except AssetError as exc:
            self._send(session.rid, protocol.ASSET_ACK, {
                "hash": body["hash"], "offset": self._safe_partial(body["hash"]), "error": str(exc),
            })
        except OSError as exc:
            log.error("asset store: %s", exc)
            self._send(session.rid, protocol.ASSET_ACK, {
                "hash": body["hash"], "offset": self._safe_partial(body["hash"]),
                "error": f"the server could not store the asset ({exc.strerror})",
            })

    def _safe_partial(self, digest: str) -> int:
        try:
            return self.assets.partial(digest)
        except (AssetError, OSError):
            return 0

    def _on_asset_get(self, session: Session, msg: Message) -> None:
        digest, offset = msg.body["hash"], msg.body["offset"]
        try:
            size = self.assets.size(digest)
            data = self.assets.read(digest, offset) if offset < size else b""
            self._send(session.rid, protocol.ASSET_DATA, {"hash": digest, "size": size, "offset": offset}, [data])
        except (AssetError, OSError) as exc:
            self._send(session.rid, protocol.ASSET_DATA, {
                "hash": digest, "size": 0, "offset": offset, "error": str(exc),
            }, [b""])

    # -- the sensor lane ----------------------------------------------------------------
    def _on_sensor_sub(self, session: Session, msg: Message) -> None:
        if self.hub is None:
            self._refuse(session.rid, protocol.E_UNKNOWN_TYPE, "this server runs no sensor hub")
            return
        if not msg.body["on"]:
            self.hub.unsubscribe(session.rid)
            return
        if session.room is None:
            self._refuse(session.rid, protocol.E_NOT_JOINED, "join a room before subscribing to its sensors")
            return
        self.hub.subscribe(session.rid, session.room.name, float(msg.body.get("hz") or 0.0))

    def _on_sensor_credit(self, session: Session, msg: Message) -> None:
        if self.hub is not None:
            self.hub.credit(session.rid, msg.body["fseq"])

    def _on_sensor_query(self, session: Session, msg: Message) -> None:
        b = msg.body
        if self.hub is None:
            self._send(session.rid, protocol.SENSOR_DATA, {"req": b["req"], "series": [], "error": "no sensor hub"})
            return
        # History is read on the hub's thread: a client asking without pause must not
        # starve everyone's frames.
        now = time.monotonic()
        session.query_tokens = min(40.0, session.query_tokens + (now - session.query_t) * QUERIES_PER_S)
        session.query_t = now
        if session.query_tokens < 1.0:
            self._send(session.rid, protocol.SENSOR_DATA, {
                "req": b["req"], "series": [], "error": f"more than {QUERIES_PER_S:.0f} history queries per second; slow down"})
            return
        session.query_tokens -= 1.0
        self.hub.query(session.rid, b["req"], b["tags"], b["t0"], b["t1"], b["points"])

    def _on_sensor_push(self, session: Session, msg: Message) -> None:
        if session.grant.role not in PUSH_SENSORS or self.hub is None:
            self._refuse(session.rid, protocol.E_FORBIDDEN, f"the {session.grant.role} role cannot push sensor samples")
            return
        b, blobs = msg.body, msg.blobs
        n, tags = b["n"], b["tags"]
        arrays = b.get("arrays") or []
        source = b.get("source") or session.name
        if len(blobs) != 4 + len(arrays) or [len(x) for x in blobs[:4]] != [4 * n, 8 * n, 8 * n, n]:
            self._refuse(session.rid, protocol.E_BAD_BODY, "SENSOR_PUSH: columns do not match n")
            return
        import numpy as np

        idx = np.frombuffer(blobs[0], "<u4")
        if n and int(idx.max()) >= len(tags):
            self._refuse(session.rid, protocol.E_BAD_BODY, "SENSOR_PUSH: a sample names no tag")
            return
        sink = self.hub.sink(str(source)[:128])
        session.sources.add(sink.name)
        if n:
            sink.push(tags, idx.astype(np.uint32), np.frombuffer(blobs[1], "<i8").astype(np.int64),
                      np.frombuffer(blobs[2], "<f8").astype(np.float64), np.frombuffer(blobs[3], np.uint8).copy(),
                      b.get("units"))
        for spec, blob in zip(arrays, blobs[4:], strict=True):
            try:
                ti, t_ns, quality, (rows, cols) = spec
                values = np.frombuffer(blob, "<f4").astype(np.float32).reshape(int(rows), int(cols))
                sink.push_array(tags[int(ti)], int(t_ns), values, int(quality))
            except (ValueError, TypeError, IndexError):
                self._refuse(session.rid, protocol.E_BAD_BODY, "SENSOR_PUSH: malformed array entry")
                return

    def _on_sensor_source(self, session: Session, msg: Message) -> None:
        if session.grant.role not in PUSH_SENSORS or self.hub is None:
            self._refuse(session.rid, protocol.E_FORBIDDEN, f"the {session.grant.role} role cannot report sources")
            return
        b = msg.body
        session.sources.add(b["name"])
        self.hub.sink(b["name"]).source_status(b["name"], b["online"], b.get("detail", ""))

    def _hub_flush(self) -> None:
        router = self._router
        assert router is not None
        out = self._hub_out
        while out:
            rid, frames = out.popleft()
            if rid in self.sessions:
                self._send_frames(router, rid, frames)

    def _apply_alarms(self) -> None:
        while self._hub_alarms:
            name, transitions = self._hub_alarms.popleft()
            room = self.rooms.get(name)
            if room is not None:
                for op in alarm_ops(room.doc, transitions):
                    self._commit_server(room, op)

    def _commit_server(self, room: Room, op: Op) -> None:
        """Sequence an op the server itself makes (alarms), exactly like a client's edit."""
        try:
            apply(room.doc, op, DISCARD, self.cfg.limits.max_nodes)
        except InvalidOp as exc:
            log.warning("room %s: server op refused by the reducer: %s", room.name, exc)
            return
        room.head += 1
        room.server_cseq += 1
        entry = Entry(room.head, time.time_ns(), SERVER_CID, room.server_cseq, op, op_to_wire(op))
        room.last_cseq[SERVER_CID] = room.server_cseq
        room.ring.append(entry)
        room.outbox.append(entry)

    def _sensor_upkeep(self, now: float) -> None:
        """Tell the hub about changed sensor nodes; remove alarms that are done."""
        for room in self.rooms.values():
            if room.specs_dirty and now - room.specs_sent >= 0.1:
                room.specs_dirty = False
                room.specs_sent = now
                room.specs = list(sensor_specs(room.doc).values())
                if self.hub is not None:
                    self.hub.room_specs(room.name, room.specs)
                if self._simulator is not None and room.name in self.cfg.simulate:
                    self._simulator.update([c for name in self.cfg.simulate if name in self.rooms
                                            for c in channels_from_document(self.rooms[name].doc)])
                for op in sweep_ops(room.doc):
                    self._commit_server(room, op)

    _handlers: ClassVar[dict[int, Callable[[Server, Session, Message], None]]] = {
        protocol.SENSOR_SUB: _on_sensor_sub,
        protocol.SENSOR_CREDIT: _on_sensor_credit,
        protocol.SENSOR_QUERY: _on_sensor_query,
        protocol.SENSOR_PUSH: _on_sensor_push,
        protocol.SENSOR_SOURCE: _on_sensor_source,
        protocol.JOIN: _on_join,
        protocol.SUBMIT: _on_submit,
        protocol.CATCHUP: _on_catchup,
        protocol.PRESENCE: _on_presence,
        protocol.HEARTBEAT: _on_heartbeat,
        protocol.BYE: _on_bye,
        protocol.ASSET_HAVE: _on_asset_have,
        protocol.ASSET_PUT: _on_asset_put,
        protocol.ASSET_GET: _on_asset_get,
    }

    # -- output --------------------------------------------------------------------------
    def _send(self, rid: bytes, msg_type: int, body: dict[str, Any], blobs: Iterable[bytes] = ()) -> bool:
        """Send one message without blocking; False if it was dropped."""
        router = self._router
        assert router is not None
        frames = protocol.encode(msg_type, body, list(blobs))
        return self._send_frames(router, rid, frames)

    def _send_frames(self, router: zmq.Socket[bytes], rid: bytes, frames: list[bytes]) -> bool:
        try:
            router.send(rid, NB_MORE)
            last = len(frames) - 1
            for i, f in enumerate(frames):
                router.send(f, NB_MORE if i < last else NB, copy=len(f) < 65536)
            return True
        except zmq.Again:
            return False  # the peer's pipe is full: it repairs the gap when it drains
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                session = self.sessions.pop(rid, None)
                if session is not None:
                    self._leave(session)
                return False
            raise

    def _flush(self) -> None:
        router = self._router
        assert router is not None
        for room in self.rooms.values():
            if not room.outbox:
                continue
            entries, room.outbox = room.outbox, []
            for i in range(0, len(entries), OPS_PER_MESSAGE):
                part = entries[i:i + OPS_PER_MESSAGE]
                frames = protocol.encode(protocol.OPS, {
                    "epoch": self.epoch, "first_seq": part[0].seq,
                    "ops": [e.item for e in part],
                })
                limit = self.cfg.lag_limit
                for rid, session in list(room.members.items()):
                    # A client that has not confirmed the last ``lag_limit`` ops is frozen
                    # or too slow: stop queueing for it (bounded memory). It sees the head
                    # in heartbeats and repairs from the ring, or takes a snapshot.
                    if part[-1].seq - session.seq <= limit:
                        self._send_frames(router, rid, frames)
            # Handed to the writer only now: waking it earlier would let it take the GIL
            # between an op's validation and its broadcast.
            room.log.append(entries)

    def _writer_events(self) -> None:
        while self._events:
            rlog, kind, value = self._events.popleft()
            name = rlog.path.stem
            room = self.rooms.get(name)
            if kind == "closed":
                closing = self._closing.get(name)
                if closing is not None and closing.log is rlog:
                    del self._closing[name]
                    rlog.join()
                    log.info("room %s: closed (idle)", name)
                continue
            if room is None or room.log is not rlog:
                continue
            if kind == "durable":
                room.durable = value
                room.storage_error = None
                acks = room.acks
                # One cumulative ACK per client per commit: a client's edits are
                # sequenced in its submit order, so acking its newest durable edit acks
                # every earlier one that was not refused.
                newest: dict[bytes, tuple[int, int]] = {}
                while acks and acks[0][0] <= value:
                    seq, rid, cseq = acks.popleft()
                    if rid not in newest or cseq > newest[rid][0]:
                        newest[rid] = (cseq, seq)
                for rid, (cseq, seq) in newest.items():
                    if rid in self.sessions:
                        self._send(rid, protocol.ACK, {"cseq": cseq, "seq": seq})
            elif kind == "keyframe":
                room.keyframe = value
            elif kind == "error":
                if room.storage_error is None:
                    log.error("room %s: storage failing: %s", name, value)
                room.storage_error = value

    def _flush_presence(self) -> None:
        for room in self.rooms.values():
            if not room.presence_dirty and not room.left:
                continue
            peers = [room.members[r].record() for r in room.presence_dirty if r in room.members]
            body = {"peers": peers, "left": room.left}
            room.presence_dirty = set()
            room.left = []
            frames = protocol.encode(protocol.PRESENCE, body)
            router = self._router
            assert router is not None
            for rid in list(room.members):
                self._send_frames(router, rid, frames)

    @staticmethod
    def _broadcast_head(room: Room) -> int:
        """The last seq already handed to the members (ops of this loop turn go out at its end)."""
        return room.head - len(room.outbox)

    def _hb_body(self, room: Room | None, t: Any = None) -> dict[str, Any]:
        body: dict[str, Any] = {"epoch": self.epoch}
        if t is not None:
            body["t"] = t
        if room is not None:
            # ``head_seq`` never runs ahead of the OPS already sent on this connection, so a
            # ping's answer cannot overtake the ops it counts (clients take head_seq > last
            # as a lost tail). The hash may be of a later seq: ``hash_seq`` says which.
            body.update(
                head_seq=self._broadcast_head(room), durable_seq=room.durable,
                hash=room.doc.hash(), hash_seq=room.head, storage_error=room.storage_error,
            )
        return body

    def _heartbeats(self, now: float) -> None:
        timeout = self.cfg.session_timeout_s
        for session in [s for s in self.sessions.values() if now - s.last_seen > timeout]:
            log.info("session %s (%s): timed out", session.id, session.name)
            self.sessions.pop(session.rid, None)
            self._leave(session)
        self._close_idle_rooms(now)
        router = self._router
        assert router is not None
        for room in self.rooms.values():
            if not room.members:
                continue
            for rid, session in room.members.items():
                # A peer that says nothing still falls behind (or catches up): refresh the
                # ``behind`` others see, without waiting for its next presence update.
                if session.behind() != session.behind_sent:
                    room.presence_dirty.add(rid)
            frames = protocol.encode(protocol.HEARTBEAT, self._hb_body(room))
            for rid in list(room.members):
                self._send_frames(router, rid, frames)

    def _close_idle_rooms(self, now: float) -> None:
        for room in list(self.rooms.values()):
            if room.members:
                room.idle_since = now
            elif room.specs and self.hub is not None:
                continue  # its alarms are watched whether anyone is in the room or not
            elif now - room.idle_since >= self.cfg.room_idle_s and room.quiescent():
                # Not joined here: the writer may be finishing a keyframe. Its "closed"
                # event (or a join that needs the room back) completes the close.
                del self.rooms[room.name]
                self._closing[room.name] = room
                room.log.close_soon()

    def _leave(self, session: Session) -> None:
        if self.hub is not None:
            self.hub.unsubscribe(session.rid)
            # A bridge that is gone cannot say its sources are offline: say it for it.
            for name in session.sources:
                self.hub.sink(name).source_status(name, False, f"{session.name} disconnected")
            session.sources.clear()
        room = session.room
        if room is None:
            return
        session.room = None
        room.idle_since = time.monotonic()
        room.members.pop(session.rid, None)
        room.presence_dirty.discard(session.rid)
        room.left.append(session.id)
        room.acks = deque(a for a in room.acks if a[1] != session.rid)


def _touches_sensors(op: Op, doc: Document) -> bool:
    """True if ``op`` may change a room's sensor specs or alarms (checked after applying)."""
    if isinstance(op, Batch):
        return any(_touches_sensors(o, doc) for o in op.ops)
    if isinstance(op, AddNode):
        return op.node.kind == "sensor"
    if isinstance(op, SetField):
        node = doc.get(op.id)
        return node is not None and node.kind in ("sensor", "alarm")
    return isinstance(op, RemoveNode | Reparent)
