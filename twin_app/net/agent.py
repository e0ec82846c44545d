"""The network agent: one background thread that owns the client's ZeroMQ socket.

Design notes
------------
* ZeroMQ sockets are not thread-safe, so exactly one thread touches the DEALER socket.
  The application thread talks to it through a command deque plus a self-pipe; the agent
  answers with an event deque plus a ``wakeup()`` callback (the GUI turns that into a
  queued Qt signal). Decoding — including whole snapshots — happens here, off the GUI
  thread; applying to the document happens on the application thread.
* States: ``connecting`` (HELLO sent, waiting for WELCOME) → ``syncing`` (JOIN sent,
  waiting for the SNAPSHOT) → ``live``. Any silence longer than three heartbeats, an
  ``no_session`` error or a new server epoch starts over with a *fresh socket* (a new
  connection, so nothing stale queued in the old one reaches the new server).
* The op stream is checked by seq: ops at or below the applied seq are dropped, a gap
  triggers CATCHUP for the missing range (buffering what came after it), a heartbeat
  whose head is ahead of us with no catch-up in flight reveals a lost tail. The server
  answers a catch-up older than its ring with a fresh snapshot.
* Edits: the outbox holds every unacknowledged edit. A snapshot says up to which client
  seq the room has decided our edits (``cseq``); those are never sent again — they are in
  the snapshot, or were refused — and are settled once a heartbeat reports the snapshot's
  head durable. Every later one is sent again, in client-seq order. At most ``credit``
  edits are in flight at once.
* A transient refusal (``protocol.TRANSIENT``: rate limit, storage trouble) keeps the edit:
  the server refuses every later edit of ours with the same code until it is resent, so
  once every edit in flight has been answered we resend from the oldest, after a back-off
  that doubles up to ``BACKOFF_MAX``.
* Assets move in chunks with a window of ``ASSET_WINDOW`` requests in flight (credit), and
  resume from the bytes already transferred.
* Sensors: once live in a room the agent subscribes to the room's sensor frames
  (``SENSOR_SUB``), grants credit for each frame as it arrives and merges frames into one
  pending frame; the application takes it with ``take_sensor_frame`` when told
  (``SensorFrameReady``), so a slow window draws the newest values, never a backlog.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from twin_app import __version__, protocol
from twin_app.core import snapshot
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import is_content_hash
from twin_app.core.ops import apply, op_from_wire
from twin_app.core.samples import Aggregate, Frame, Stream
from twin_app.net import events as ev
from twin_app.net.assets import AssetCache
from twin_app.net.outbox import Outbox
from twin_app.protocol import Message, ProtocolError

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 3.0
SNAPSHOT_TIMEOUT = 20.0
CATCHUP_TIMEOUT = 3.0
PING_EVERY = 1.0
ASSET_WINDOW = 4
ASSET_RETRY = 0.5
ASSET_GIVE_UP = 120.0
BACKOFF_MAX = 5.0
RESEND_BACKOFF = 0.1
REPORT_EVERY = 1000
SENSOR_HZ = 30.0


@dataclass
class Upload:
    """An asset upload in progress."""

    digest: str
    blob: bytes
    offset: int = 0
    inflight: int = 0
    started: bool = False


@dataclass
class Download:
    """An asset download in progress."""

    digest: str
    next_offset: int = 0
    inflight: int = 0
    size: int = -1
    retry_at: float = 0.0
    since: float = field(default_factory=time.monotonic)


class Agent(threading.Thread):
    """Owns the DEALER socket; see the module docstring."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        room: str,
        token: str,
        name: str,
        color: tuple[float, float, float] | None,
        outbox: Outbox,
        assets: AssetCache,
        emit: Callable[[ev.Event], None],
        server_key: str | None = None,
        client_keys: tuple[bytes, bytes] | None = None,
    ) -> None:
        super().__init__(name="twin-net", daemon=True)
        self.ctx = ctx
        self.endpoint = endpoint
        self.room = room
        self.token = token
        self.user_name = name
        self.color = color
        self.outbox = outbox
        self.assets = assets
        self.emit = emit
        self.server_key = server_key.encode() if server_key else None
        self.client_keys = client_keys or (zmq.curve_keypair() if server_key else None)
        self.commands: deque[tuple[Any, ...]] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.sock: zmq.Socket[bytes] | None = None
        self.state = "connecting"
        self.state_since = time.monotonic()
        self.epoch: int | None = None
        self.hb_s = 0.5
        self.credit = 256
        self.last_rx = time.monotonic()
        self.last_ping = 0.0
        self.rtt_ms: float | None = None
        self.seq = 0  # highest contiguous seq handed to the application
        self.reported_seq = 0
        # Written by the owner thread after it applied events (an int store is atomic):
        # the seq its document is at. With ``snapshot_seq`` it tells what to report.
        self.applied_seq = 0
        self.snapshot_seq = 0
        self.buffer: dict[int, tuple[str, int, Any]] = {}
        self.catchup_at: float | None = None
        self.unacked: OrderedDict[int, list[Any]] = OrderedDict()  # cseq -> op wire
        self.inflight: set[int] = set()
        # Decided edits (at or below a snapshot's cseq): cseq -> the snapshot's head seq,
        # settled once the server reports that seq durable.
        self.decided: dict[int, int] = {}
        self.resend_at: float | None = None  # after a transient refusal
        self.resend_backoff = RESEND_BACKOFF
        self.presence: dict[str, Any] = {}
        self.presence_dirty = False
        self.presence_sent = 0.0
        self.uploads: dict[str, Upload] = {}
        self._asked: deque[list[str]] = deque()  # ASSET_HAVE queries awaiting their answer
        self.downloads: dict[str, Download] = {}
        self.backoff = 0.2
        self.next_attempt = 0.0
        self.join_tries = 0
        self._stopping = False
        self._finished = False
        self.counters = {"catchups": 0, "joins": 0, "reconnects": 0, "sensor_frames": 0}
        self.sensor_hz = SENSOR_HZ
        self._sensor_lock = threading.Lock()
        self._sensor_pending: Aggregate | None = None
        self._sensor_t = 0
        for cseq, _label, wire in outbox.pending(room):
            self.unacked[cseq] = wire

    # -- called from the application thread --------------------------------------------
    def command(self, *cmd: Any) -> None:
        """Queue a command for the agent (thread-safe; ignored once the agent has stopped,
        e.g. a GUI timer firing after the client was closed)."""
        if self._finished:
            return
        self.commands.append(cmd)
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass

    def stop(self) -> None:
        """Ask the agent to say BYE and exit."""
        self.command("close")

    # -- thread ----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # keep the app informed instead of dying silently
            log.exception("network agent crashed")
            self.emit(ev.StateChanged("failed", "internal error in the network agent (see log)"))
        finally:
            self._finished = True
            if self.sock is not None:
                self.sock.close(linger=0)

    def release(self) -> None:
        """Close the wake-up pipe (owner thread, after the agent thread ended or never ran).

        Not done by the agent thread itself: a command racing with its exit would write to
        a closed — or worse, reused — file descriptor.
        """
        self._finished = True
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.monotonic()
            self.emit(ev.StateChanged(state, detail))

    def _loop(self) -> None:
        self._connect()
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        registered: zmq.Socket[bytes] | None = None
        while not self._stopping:
            if self.sock is not registered:
                if registered is not None:
                    poller.unregister(registered)
                if self.sock is not None:
                    poller.register(self.sock, zmq.POLLIN)
                registered = self.sock
            events = dict(poller.poll(50))
            if self._wake_r in events:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            while self.commands and not self._stopping:
                self._on_command(self.commands.popleft())
            if self.sock is not None and self.sock in events:
                self._drain()
            self._timers(time.monotonic())
        if self.sock is not None and self.state in ("syncing", "live"):
            self._send(protocol.BYE, {})

    # -- connection ------------------------------------------------------------------------
    def _connect(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)  # never drop on our side; the server bounds its sends
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        if self.server_key is not None and self.client_keys is not None:
            sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_key)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self.client_keys[0])
            sock.setsockopt(zmq.CURVE_SECRETKEY, self.client_keys[1])
        sock.connect(self.endpoint)
        self.sock = sock
        self.inflight.clear()
        self.buffer.clear()
        self.catchup_at = None
        for dl in self.downloads.values():
            dl.inflight = 0
            dl.next_offset = self.assets.partial_size(dl.digest)
        for up in self.uploads.values():
            up.inflight = 0
            up.started = False
        self._asked.clear()  # answers to queries on the old connection never come
        self.last_rx = time.monotonic()
        self._set_state("connecting", f"connecting to {self.endpoint}")
        self._send(protocol.HELLO, {
            "token": self.token, "client_id": self.outbox.client_id, "name": self.user_name,
            "color": list(self.color) if self.color else None,
            "proto": protocol.REVISION, "release": f"Twinroom {__version__}",
        })

    def _reconnect(self, why: str) -> None:
        self.counters["reconnects"] += 1
        log.info("reconnecting: %s", why)
        self._set_state("offline", why)
        self.next_attempt = time.monotonic() + self.backoff * (0.5 + random.random())
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def progress(self) -> int:
        """The seq to report as ours: what the application applied, once it has the room.

        A GUI thread that falls behind a flood of edits must look behind to the server,
        which then stops queueing for it past its lag limit (it repairs later), instead of
        this thread queueing an unbounded backlog of events for it.
        """
        if self.applied_seq < self.snapshot_seq:
            return self.seq  # the snapshot is still on its way to the application
        return min(self.seq, self.applied_seq)

    def _send(self, msg_type: int, body: dict[str, Any], blobs: list[bytes] | None = None) -> bool:
        """Send without blocking; False if the message was dropped (not connected, full)."""
        if self.sock is None:
            return False
        try:
            self.sock.send_multipart(protocol.encode(msg_type, body, blobs or []), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("send of %s dropped: not connected", protocol.NAMES.get(msg_type))
            return False
        return True

    # -- commands from the application ------------------------------------------------------
    def _on_command(self, cmd: tuple[Any, ...]) -> None:
        kind = cmd[0]
        if kind == "submit":
            _, cseq, wire, label = cmd
            self.unacked[cseq] = wire
            self._pump_submits()
            self.outbox.add(self.room, cseq, label, wire)
        elif kind == "presence":
            self.presence.update(cmd[1])
            self.presence_dirty = True
        elif kind == "resync":
            if self.state == "live":
                self._join()
        elif kind == "upload":
            _, digest, blob = cmd
            if digest not in self.uploads:
                self.uploads[digest] = Upload(digest, blob)
                self._start_uploads()
        elif kind == "want":
            for digest in cmd[1]:
                if not is_content_hash(digest):
                    continue  # the application reported it; never stop the others for it
                if digest not in self.downloads and not self.assets.has(digest):
                    self.downloads[digest] = Download(digest, self.assets.partial_size(digest))
            self._pump_downloads(time.monotonic())
        elif kind == "sensor_query":
            _, req, tags, t0, t1, points = cmd
            if self.state != "live" or not self._send(protocol.SENSOR_QUERY, {
                    "req": req, "tags": tags, "t0": t0, "t1": t1, "points": points}):
                self.emit(ev.SensorData(req, "not connected to the server"))
        elif kind == "close":
            self._stopping = True

    def _pump_submits(self) -> None:
        if self.state != "live":
            return
        if self.resend_at is not None:
            # Resend only once every edit in flight was answered: the server refuses all
            # of them after a transient refusal, and they must go again in order.
            if self.inflight or time.monotonic() < self.resend_at:
                return
            self.resend_at = None
        for cseq, wire in self.unacked.items():
            if len(self.inflight) >= self.credit:
                break
            if cseq in self.inflight or cseq in self.decided:
                continue
            if not self._send(protocol.SUBMIT, {"cseq": cseq, "op": wire}):
                break  # not sent: a later edit must not overtake it
            self.inflight.add(cseq)

    def _join(self) -> None:
        self.counters["joins"] += 1
        self.join_tries += 1
        self._set_state("syncing", f"joining room {self.room}")
        self.buffer.clear()
        self.catchup_at = None
        self._send(protocol.JOIN, {"room": self.room})

    # -- inbound ----------------------------------------------------------------------------
    def _drain(self) -> None:
        sock = self.sock
        assert sock is not None
        for _ in range(10_000):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.last_rx = time.monotonic()
            try:
                msg = protocol.decode(frames, protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)
            except ProtocolError as exc:
                if exc.code == protocol.E_BAD_VERSION:  # a server of another protocol version
                    version = protocol.header_version(frames)
                    version = protocol.VERSION if version is None else version
                    self._refuse_server(protocol.version_refusal("server", version, 0, "", __version__))
                    return
                log.warning("dropped a malformed message from the server: %s", exc)
                continue
            self._on_message(msg)
            if self.sock is not sock:
                return  # the handler reconnected

    def _on_message(self, msg: Message) -> None:
        t, body = msg.type, msg.body
        if t == protocol.OPS:
            if self.state in ("syncing", "live") and body["epoch"] == self.epoch:
                self._on_ops(body)
        elif t == protocol.HEARTBEAT:
            self._on_heartbeat(body)
        elif t == protocol.ACK:
            cseq, dup = body["cseq"], bool(body.get("dup"))
            if dup:
                self._settle(cseq)
                self.emit(ev.Acked(cseq, body["seq"], dup=True))
            else:
                # Cumulative: every unacked edit up to this one is durable (refused ones
                # were nacked before, in order, on the same connection).
                done = [c for c in self.unacked if c <= cseq]
                self.resend_backoff = RESEND_BACKOFF
                for c in done:
                    self._settle(c, pump=False)
                self._pump_submits()
                for c in done:
                    self.emit(ev.Acked(c, body["seq"] if c == cseq else None, dup=False))
        elif t == protocol.NACK:
            cseq, code = body["cseq"], body["code"]
            if code in protocol.TRANSIENT and cseq in self.unacked:
                self.inflight.discard(cseq)
                if self.resend_at is None:
                    self.resend_at = time.monotonic() + self.resend_backoff * (0.5 + random.random())
                    self.resend_backoff = min(self.resend_backoff * 2, BACKOFF_MAX)
                self.emit(ev.Retrying(cseq, code, body["reason"]))
                return
            self._settle(cseq)
            self.emit(ev.Refused(cseq, code, body["reason"]))
        elif t == protocol.PRESENCE:
            self.emit(ev.PresenceChanged(body.get("peers", []), body.get("left", [])))
        elif t == protocol.SNAPSHOT:
            self._on_snapshot(body, msg.blobs)
        elif t == protocol.WELCOME:
            self._on_welcome(body)
        elif t == protocol.ERROR:
            self._on_error(body["code"], body["reason"])
        elif t == protocol.ASSET_MISSING:
            self._on_asset_missing(body)
        elif t == protocol.ASSET_ACK:
            self._on_asset_ack(body)
        elif t == protocol.ASSET_DATA:
            self._on_asset_data(body, msg.blobs)
        elif t == protocol.SENSOR_FRAME:
            self._on_sensor_frame(msg)
        elif t == protocol.SENSOR_STREAMS:
            self._on_sensor_streams(body)
        elif t == protocol.SENSOR_DATA:
            self._on_sensor_data(body, msg.blobs)

    # -- sensors ---------------------------------------------------------------------------
    def _on_sensor_frame(self, msg: Message) -> None:
        try:
            frame = protocol.decode_frame(msg)
        except ProtocolError as exc:
            log.warning("bad sensor frame from the server: %s", exc)
            return
        self._send(protocol.SENSOR_CREDIT, {"fseq": msg.body["fseq"]})
        self.counters["sensor_frames"] += 1
        with self._sensor_lock:
            first = self._sensor_pending is None
            if first:
                self._sensor_pending = Aggregate()
            assert self._sensor_pending is not None
            self._sensor_pending.merge(frame)
            self._sensor_t = frame.t_ns
        if first:
            self.emit(ev.SensorFrameReady())

    def take_sensor_frame(self) -> Frame | None:
        """The frames merged since the last call (application thread)."""
        with self._sensor_lock:
            pending, self._sensor_pending = self._sensor_pending, None
        if pending is None:
            return None
        return pending.take(self._sensor_t)

    def _on_sensor_streams(self, body: dict[str, Any]) -> None:
        streams = []
        for rec in body["streams"]:
            try:
                streams.append(Stream.from_wire(rec))
            except ValueError:
                continue
        sources = [(str(s.get("name", "")), bool(s.get("online")), str(s.get("detail", "")))
                   for s in body.get("sources", [])]
        self.emit(ev.SensorStreams(streams, sources))

    def _on_sensor_data(self, body: dict[str, Any], blobs: list[bytes]) -> None:
        if body.get("error"):
            self.emit(ev.SensorData(body["req"], str(body["error"])))
            return
        series: dict[str, tuple[bool, Any, Any, Any]] = {}
        if len(blobs) != 3 * len(body["series"]):
            self.emit(ev.SensorData(body["req"], "malformed answer from the server"))
            return
        for i, rec in enumerate(body["series"]):
            tag, raw, n = rec
            t, lo, hi = blobs[3 * i:3 * i + 3]
            if not isinstance(tag, str) or not isinstance(n, int) or len(t) != 8 * n \
                    or len(lo) != 4 * n or len(hi) != 4 * n:
                self.emit(ev.SensorData(body["req"], "malformed answer from the server"))
                return
            series[tag] = (bool(raw), np.frombuffer(t, "<i8").astype(np.int64),
                           np.frombuffer(lo, "<f4").astype(np.float32), np.frombuffer(hi, "<f4").astype(np.float32))
        self.emit(ev.SensorData(body["req"], series))

    def _settle(self, cseq: int, pump: bool = True) -> None:
        self.unacked.pop(cseq, None)
        self.inflight.discard(cseq)
        self.decided.pop(cseq, None)
        self.outbox.remove(self.room, cseq)
        if pump:
            self._pump_submits()

    def _on_welcome(self, body: dict[str, Any]) -> None:
        why = protocol.version_refusal("server", protocol.VERSION, protocol.peer_revision(body),
                                       str(body.get("server", "")).replace("twinroom/", "Twinroom "),
                                       __version__)
        if why:
            self._refuse_server(why)
            return
        if self.epoch is not None and body["epoch"] != self.epoch:
            log.info("server restarted (new epoch): full resync")
        self.epoch = body["epoch"]
        self.hb_s = max(0.05, body["hb_ms"] / 1000.0)
        self.credit = int(body["limits"].get("edit_credit", 256))
        self.backoff = 0.2
        self.emit(ev.Welcomed(body["session"], body["role"], body["epoch"], body["limits"]))
        self.join_tries = 0
        self._join()

    def _on_snapshot(self, body: dict[str, Any], chunks: list[bytes]) -> None:
        if self.state not in ("syncing", "live") or body["epoch"] != self.epoch:
            return
        with snapshot.gc_paused():
            self._load_snapshot(body, chunks)

    def _load_snapshot(self, body: dict[str, Any], chunks: list[bytes]) -> None:
        try:
            doc = snapshot.decode(chunks)
        except snapshot.SnapshotError as exc:
            log.error("bad snapshot from the server: %s; rejoining", exc)
            self._join()
            return
        if doc.hash() != body["hash"]:
            log.error("snapshot hash mismatch; rejoining")
            self._join()
            return
        seq = body["seq"]
        try:
            for _cid, _cseq, wire in body["ops"]:
                apply(doc, op_from_wire(wire))
                seq += 1
        except (InvalidOp, ValueError, TypeError) as exc:
            log.error("snapshot tail does not apply (%s); rejoining", exc)
            self._join()
            return
        # Ops buffered while we waited are either in the snapshot (<= seq) or follow it.
        buffered = {s: e for s, e in self.buffer.items() if s > seq}
        self.buffer.clear()
        self.seq = seq
        self.snapshot_seq = seq
        decided = body.get("cseq", 0)
        self.decided = {c: seq for c in self.unacked if c <= decided}
        self.emit(ev.SnapshotArrived(doc, seq, decided))
        self._set_state("live", f"in room {self.room}")
        self.join_tries = 0
        if buffered:
            self._accept(buffered)
        self.inflight.clear()
        self._pump_submits()
        self.presence_dirty = True
        self._start_uploads()
        self._pump_downloads(time.monotonic())
        self._send(protocol.SENSOR_SUB, {"on": True, "hz": self.sensor_hz})

    def _on_ops(self, body: dict[str, Any]) -> None:
        first = body["first_seq"]
        entries: dict[int, tuple[str, int, Any]] = {}
        for i, item in enumerate(body["ops"]):
            seq = first + i
            if seq <= self.seq:
                continue  # already in our snapshot or applied: never apply twice
            if not (isinstance(item, list) and len(item) == 3):
                log.error("malformed op entry from the server; rejoining")
                self._join()
                return
            entries[seq] = (item[0], item[1], item[2])
        if self.state == "syncing":
            self.buffer.update(entries)  # before the snapshot: keep for after it
            return
        self._accept(entries)

    def _accept(self, entries: dict[int, tuple[str, int, Any]]) -> None:
        self.buffer.update(entries)
        run: list[ev.Sequenced] = []
        while self.seq + 1 in self.buffer:
            self.seq += 1
            cid, cseq, wire = self.buffer.pop(self.seq)
            try:
                run.append((self.seq, cid, cseq, op_from_wire(wire)))
            except InvalidOp as exc:
                log.error("undecodable op %d from the server (%s); rejoining", self.seq, exc)
                self._join()
                return
        if run:
            self.emit(ev.OpsArrived(run))
            if self.seq - self.reported_seq >= REPORT_EVERY:
                # Tell the server how far we got, so it can tell a busy client from a
                # frozen one (it stops queueing for clients that fall too far behind).
                self.reported_seq = self.seq
                self._send(protocol.HEARTBEAT, {"head_seq": self.progress()})
        if self.buffer:
            # A gap: ops after it are held until the missing range arrives.
            if self.catchup_at is None:
                self._catchup(min(self.buffer) - 1)
        else:
            self.catchup_at = None

    def _catchup(self, to_seq: int) -> None:
        self.counters["catchups"] += 1
        self.catchup_at = time.monotonic()
        self._send(protocol.CATCHUP, {"from_seq": self.seq + 1, "to_seq": to_seq})

    def _on_heartbeat(self, body: dict[str, Any]) -> None:
        if "t" in body and isinstance(body["t"], (int, float)):
            self.rtt_ms = max(0.0, (time.monotonic() - body["t"]) * 1000.0)
        epoch = body.get("epoch")
        if epoch is not None and self.epoch is not None and epoch != self.epoch:
            self._reconnect("the server restarted")
            self.next_attempt = 0.0
            return
        durable = body.get("durable_seq")
        if self.decided and self.state == "live" and durable is not None:
            # Edits the snapshot already held (or that were refused) are settled once
            # everything up to the snapshot's head is on the server's disk.
            for cseq in [c for c, at in self.decided.items() if at <= durable]:
                self._settle(cseq, pump=False)
                self.emit(ev.Acked(cseq, None, dup=True))
        head = body.get("head_seq")
        if self.state == "live" and head is not None:
            if head > self.seq and self.catchup_at is None:
                self._catchup(head)  # the tail of the stream was lost
            self.emit(ev.Heartbeat(head, body.get("durable_seq", 0), body.get("hash"),
                                   body.get("hash_seq"), body.get("storage_error"), self.rtt_ms))

    def _refuse_server(self, why: str | None) -> None:
        """Stop talking to a server of an incompatible version (says which side to update)."""
        self._set_state("failed", why or "the server speaks another protocol version")
        self.emit(ev.ErrorReported(protocol.E_BAD_VERSION, why or ""))
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None
        self.next_attempt = time.monotonic() + BACKOFF_MAX

    def _on_error(self, code: str, reason: str) -> None:
        if code == protocol.E_SHUTDOWN:  # every acknowledged edit is on its disk; it comes back
            self._reconnect(reason)
            return
        if code == protocol.E_BAD_VERSION and self.state == "connecting":
            self._refuse_server(reason)
            return
        if code == protocol.E_NO_SESSION:
            self._reconnect("the server forgot our session")
            self.next_attempt = 0.0
            return
        if code == protocol.E_AUTH:
            self._set_state("failed", f"access refused: {reason}")
            self.emit(ev.ErrorReported(code, reason))
            if self.sock is not None:
                self.sock.close(linger=0)
                self.sock = None
            self.next_attempt = time.monotonic() + BACKOFF_MAX
            return
        if code in (protocol.E_FORBIDDEN, protocol.E_NO_ROOM) and self.state == "syncing":
            self._set_state("failed", reason)
        self.emit(ev.ErrorReported(code, reason))

    # -- assets -----------------------------------------------------------------------------
    def _start_uploads(self) -> None:
        if self.state != "live":
            return
        todo = [u.digest for u in self.uploads.values() if not u.started]
        for u in self.uploads.values():
            u.started = True
        if todo:
            self._send(protocol.ASSET_HAVE, {"hashes": todo})
            self._asked.append(todo)

    def _on_asset_missing(self, body: dict[str, Any]) -> None:
        # The server answers ASSET_HAVE queries in order, each naming what it lacks of
        # *that* query: only its hashes are decided by this answer.
        if not self._asked:
            return
        asked = self._asked.popleft()
        missing = dict(zip(body["hashes"], body["offsets"], strict=False))
        for digest in asked:
            up = self.uploads.get(digest)
            if up is None or not up.started or up.inflight:
                continue
            if digest not in missing:
                del self.uploads[digest]
                self.emit(ev.AssetProgress(digest, "up", len(up.blob), len(up.blob)))
                continue
            up.offset = missing[digest]
            self._pump_upload(up)

    def _pump_upload(self, up: Upload) -> None:
        chunk = 256 * 1024
        while up.inflight < ASSET_WINDOW and up.offset < len(up.blob):
            data = up.blob[up.offset:up.offset + chunk]
            self._send(protocol.ASSET_PUT, {"hash": up.digest, "size": len(up.blob), "offset": up.offset}, [data])
            up.offset += len(data)
            up.inflight += 1

    def _on_asset_ack(self, body: dict[str, Any]) -> None:
        up = self.uploads.get(body["hash"])
        if up is None:
            return
        up.inflight = max(0, up.inflight - 1)
        if body.get("error"):
            del self.uploads[up.digest]
            self.emit(ev.ErrorReported(protocol.E_ASSET, f"upload failed: {body['error']}"))
            return
        done = body["offset"]
        self.emit(ev.AssetProgress(up.digest, "up", done, len(up.blob)))
        if done >= len(up.blob):
            del self.uploads[up.digest]
        else:
            self._pump_upload(up)

    def _pump_downloads(self, now: float) -> None:
        if self.state != "live":
            return
        chunk = 256 * 1024
        for dl in list(self.downloads.values()):
            if dl.retry_at > now:
                continue
            while dl.inflight < ASSET_WINDOW and ((dl.size < 0 and dl.inflight == 0) or 0 <= dl.next_offset < dl.size):
                self._send(protocol.ASSET_GET, {"hash": dl.digest, "offset": dl.next_offset})
                dl.inflight += 1
                dl.next_offset += chunk
                if dl.size < 0:
                    break  # learn the size from the first reply before pipelining

    def _on_asset_data(self, body: dict[str, Any], blobs: list[bytes]) -> None:
        dl = self.downloads.get(body["hash"])
        if dl is None:
            return
        dl.inflight = max(0, dl.inflight - 1)
        now = time.monotonic()
        if body.get("error"):
            # Not on the server yet (still being uploaded by its author): retry later.
            if now - dl.since > ASSET_GIVE_UP:
                del self.downloads[dl.digest]
                self.emit(ev.ErrorReported(protocol.E_ASSET, f"mesh {dl.digest[:12]}… unavailable: {body['error']}"))
                return
            if dl.inflight == 0:
                dl.retry_at = now + ASSET_RETRY
                dl.next_offset = self.assets.partial_size(dl.digest)
                dl.size = -1
            return
        dl.size = body["size"]
        data = blobs[0] if blobs else b""
        try:
            done = self.assets.append(dl.digest, body["offset"], data, dl.size)
        except ValueError as exc:
            log.warning("asset %s: %s; restarting the download", dl.digest[:12], exc)
            if dl.inflight == 0:
                dl.next_offset = self.assets.partial_size(dl.digest)
                dl.size = -1
                dl.retry_at = now + ASSET_RETRY
            return
        if done:
            del self.downloads[dl.digest]
            self.emit(ev.AssetArrived(dl.digest))
            return
        self.emit(ev.AssetProgress(dl.digest, "down", body["offset"] + len(data), dl.size))
        dl.next_offset = max(dl.next_offset, body["offset"] + len(data))
        self._pump_downloads(now)

    # -- timers -----------------------------------------------------------------------------
    def _timers(self, now: float) -> None:
        if self.sock is None:
            if now >= self.next_attempt and not self._stopping:
                self._connect()
            return
        age = now - self.state_since
        if self.state == "connecting" and age > HELLO_TIMEOUT:
            self._reconnect("no answer from the server")
        elif self.state == "syncing" and age > SNAPSHOT_TIMEOUT:
            if self.join_tries < 2:
                self._join()
            else:
                self._reconnect("the server did not send the room")
        elif self.state == "live":
            if now - self.last_rx > max(3 * self.hb_s, 1.5):
                self._reconnect("lost contact with the server")
                return
            if self.catchup_at is not None and now - self.catchup_at > CATCHUP_TIMEOUT:
                self._join()  # a catch-up that never came back: start over from a snapshot
                return
            if self.resend_at is not None and now >= self.resend_at:
                self._pump_submits()
            if now - self.last_ping >= PING_EVERY:
                self.last_ping = now
                self.reported_seq = self.seq
                body: dict[str, Any] = {"t": now, "head_seq": self.progress()}
                if self.rtt_ms is not None:
                    body["rtt_ms"] = self.rtt_ms
                self._send(protocol.HEARTBEAT, body)
            if self.presence_dirty and now - self.presence_sent >= 1 / 30:
                self.presence_dirty = False
                self.presence_sent = now
                self._send(protocol.PRESENCE, dict(self.presence))
            if self.downloads:
                self._pump_downloads(now)
