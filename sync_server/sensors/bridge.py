"""``twin-sync bridge``: run sensor sources in their own process and feed a server.

    twin-sync bridge --config mapping.toml --connect tcp://server:7700 --token T [--server-key K]

The sources of the mapping file deliver into a ``ServerSink``, which sends their samples
to the server's sensor hub as ``SENSOR_PUSH`` messages and their online state as
``SENSOR_SOURCE`` messages, over one DEALER socket (the same protocol as the desktop
client: ``HELLO`` with the token first, see docs/protocol.md). The token's role must be
``source`` (or ``owner``).

* Samples are gathered and sent every ``BATCH_S`` (15 ms): one message carries every
  sample that arrived meanwhile, in columns (uint32 tag index, int64 time, float64 value,
  uint8 quality), at most ``MAX_PER_MESSAGE`` samples each.
* The queue is bounded (``max_queued`` samples). While the server is unreachable, the
  oldest samples are dropped and counted — live values matter more than a backlog — and
  the count is logged when the server answers again.
* The connection is checked with pings; after three pings' worth of silence, a dropped
  connection, or when the server forgets the session, the sink reconnects with a fresh
  socket and a new ``HELLO`` after a doubling back-off, and sends every source's latest
  state again.
* What was sent is kept until the answer to a later ping shows the server has it; after a
  reconnect it is sent again (the hub drops what it already had), so a server restart
  loses no samples the bridge had sent.

Several bridge processes can feed one server; with MQTT 5 shared subscriptions they split
one broker's load (docs/sensors.md).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq
from zmq.utils.monitor import recv_monitor_message

from sync_server.sensors import F64, I64, U8, U32, Source, Tags
from sync_server.sensors.config import ConfigError, load_sources
from twin_app import protocol
from twin_app.protocol import ProtocolError

log = logging.getLogger(__name__)

BATCH_S = 0.015
MAX_PER_MESSAGE = 100_000
HELLO_TIMEOUT = 3.0
PING_EVERY = 1.0
CONFIRM_EVERY = 0.2
BACKOFF_MAX = 5.0
LE_U4, LE_I8, LE_F8, LE_F4 = np.dtype("<u4"), np.dtype("<i8"), np.dtype("<f8"), np.dtype("<f4")


@dataclass
class _Batch:
    tags: list[str]
    idx: U32
    t: I64
    v: F64
    q: U8
    units: list[str] | None
    source: str = ""


@dataclass
class _Array:
    tag: str
    t_ns: int
    values: npt.NDArray[np.float32]
    quality: int
    source: str = ""


class _SourceSink:
    """What one source of the bridge delivers into: its samples carry its name, so the
    server knows which streams go offline when the source does."""

    def __init__(self, sink: ServerSink, name: str) -> None:
        self._sink = sink
        self.name = name

    def push(self, tags: Tags, idx: U32, t_ns: I64, values: F64, quality: U8,
             units: Sequence[str] | None = None) -> None:
        self._sink.push(tags, idx, t_ns, values, quality, units, source=self.name)

    def push_array(self, tag: str, t_ns: int, values: npt.NDArray[np.float32], quality: int) -> None:
        self._sink.push_array(tag, t_ns, values, quality, source=self.name)

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        self._sink.source_status(self.name, online, detail)


class ServerSink:
    """A ``Sink`` that delivers to a Twinroom server over ZeroMQ (module docstring)."""

    def __init__(self, endpoint: str, token: str, server_key: str | None = None,
                 name: str | None = None, max_queued: int = 2_000_000,
                 ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        self.endpoint = endpoint
        self.report = report or (lambda text: None)  # one line per change a person cares about
        self.token = token
        self.server_key = server_key.encode() if server_key else None
        self.name = name or f"bridge {socket.gethostname()}:{os.getpid()}"
        self.client_id = f"bridge-{os.urandom(6).hex()}"
        self.max_queued = max_queued
        self.ctx = ctx or zmq.Context.instance()
        self._lock = threading.Lock()
        self._queue: deque[_Batch | _Array | tuple[str, bool, str]] = deque()
        self._queued = 0
        self._sources: dict[str, tuple[bool, str]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bridge-sender", daemon=True)
        self.state = "connecting"
        self.role = ""
        self.fatal: str | None = None  # the server refused us for good (e.g. a bad token)
        self.counts = {"sent": 0, "messages": 0, "dropped": 0, "reconnects": 0, "errors": 0,
                       "resent": 0}
        self._dropped_unreported = 0
        self._flush_until = 0.0
        self._monitor: zmq.Socket[bytes] | None = None
        # Sent but not yet known to have reached the server: message contents, and the
        # pings sent after them. A ping's answer confirms everything sent before it (one
        # connection keeps its order); after a reconnect the rest is sent again. A sample
        # that did arrive twice is dropped by the hub (not newer than its stream's newest).
        self._unconfirmed: deque[list[_Batch | _Array | tuple[str, bool, str]] | float] = deque()
        self._unconfirmed_n = 0
        self._pings: set[float] = set()
        self.connected = threading.Event()

    # -- Sink (any thread; never blocks) ---------------------------------------------------
    def for_source(self, name: str) -> _SourceSink:
        """The sink to start the source ``name`` with."""
        return _SourceSink(self, name)

    def push(self, tags: Tags, idx: U32, t_ns: I64, values: F64, quality: U8,
             units: Sequence[str] | None = None, source: str = "") -> None:
        if not len(idx):
            return
        b = _Batch(list(tags), idx, t_ns, values, quality, list(units) if units is not None else None,
                   source)
        with self._lock:
            self._queue.append(b)
            self._queued += len(idx)
            self._trim()

    def push_array(self, tag: str, t_ns: int, values: npt.NDArray[np.float32], quality: int,
                   source: str = "") -> None:
        with self._lock:
            self._queue.append(_Array(tag, t_ns, values, quality, source))
            self._queued += 1
            self._trim()

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        with self._lock:
            changed = self._sources.get(name) != (online, detail)
            self._sources[name] = (online, detail)
            self._queue.append((name, online, detail))
        self._wake.set()
        if changed:
            self.report(f"source {name}: {'online' if online else 'OFFLINE'}" + (f" ({detail})" if detail else ""))

    def _trim(self) -> None:
        """Drop the oldest samples past the bound (the lock is held)."""
        while self._queued > self.max_queued:
            i = next((k for k, item in enumerate(self._queue) if not isinstance(item, tuple)), None)
            if i is None:
                return
            item = self._queue[i]
            del self._queue[i]
            n = len(item.idx) if isinstance(item, _Batch) else 1
            self._queued -= n
            self.counts["dropped"] += n
            self._dropped_unreported += n

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, flush_s: float = 2.0) -> None:
        """Send what is queued (for up to ``flush_s`` if connected), say BYE, close."""
        self._flush_until = time.monotonic() + flush_s
        self._stop.set()
        self._wake.set()
        self._thread.join(flush_s + 5)

    # -- sender thread -------------------------------------------------------------------------
    def _run(self) -> None:
        sock: zmq.Socket[bytes] | None = None
        backoff = 0.2
        next_try = 0.0
        hello_at = 0.0
        last_rx = 0.0
        last_ping = 0.0
        hb_s = 0.5
        try:
            while True:
                now = time.monotonic()
                if self._stop.is_set() and (sock is None or self.state != "live" or not self._queue
                                            or now > self._flush_until):
                    break
                if sock is None:
                    if self.fatal is not None or now < next_try:
                        self._stop.wait(min(0.05, max(next_try - now, 0.0)) if self.fatal is None else 0.2)
                        continue
                    sock = self._connect()
                    hello_at = last_rx = now
                    self.state = "connecting"
                # Inbound: WELCOME, pings, errors.
                while sock.poll(0):
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                    last_rx = time.monotonic()
                    try:
                        msg = protocol.decode(frames, protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)
                    except ProtocolError as exc:
                        log.warning("dropped a malformed message from the server: %s", exc)
                        continue
                    if msg.type == protocol.WELCOME:
                        self._welcomed(msg.body)
                        hb_s = max(msg.body["hb_ms"] / 1000.0, 0.1)
                        backoff = 0.2
                        with self._lock:  # the server may be new: tell it every source's state
                            self._queue.extendleft(
                                reversed([(n, on, d) for n, (on, d) in self._sources.items()]))
                    elif msg.type == protocol.HEARTBEAT and msg.body.get("t") in self._pings:
                        self._confirm(msg.body["t"])
                    elif msg.type == protocol.ERROR:
                        self._on_error(msg.body["code"], msg.body["reason"])
                        if msg.body["code"] in (protocol.E_NO_SESSION, protocol.E_AUTH, protocol.E_FORBIDDEN):
                            self._drop(sock)
                            sock = None
                            next_try = time.monotonic() + backoff
                            break
                if sock is None:
                    continue
                if self._disconnected():
                    # The TCP connection dropped (e.g. the server restarted): say HELLO on a
                    # fresh socket at once instead of pushing into a session that is gone.
                    log.info("connection to %s dropped; reconnecting", self.endpoint)
                    self.report(f"lost the server at {self.endpoint}; reconnecting")
                    self._drop(sock)
                    sock = None
                    next_try = time.monotonic()
                    continue
                now = time.monotonic()
                if (self.state == "connecting" and now - hello_at > HELLO_TIMEOUT) or \
                        (self.state == "live" and now - last_rx > max(3 * hb_s, 3 * PING_EVERY)):
                    log.info("server %s silent; reconnecting", self.endpoint)
                    if self.state == "live":
                        self.report(f"the server at {self.endpoint} stopped answering; reconnecting")
                    self._drop(sock)
                    sock = None
                    next_try = now + backoff * (0.5 + random.random())
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                if self.state == "live":
                    self._send_queued(sock)
                    # Ping every second, and soon after sending so what was sent is confirmed.
                    if now - last_ping >= (CONFIRM_EVERY if self._unconfirmed_n else PING_EVERY):
                        t = time.time()
                        if self._send(sock, protocol.HEARTBEAT, {"t": t}):
                            self._pings.add(t)
                            self._unconfirmed.append(t)
                        last_ping = now
                self._wake.wait(BATCH_S)
                self._wake.clear()
        except Exception:  # the process must report, not hang silently
            log.exception("the bridge's sender failed")
            self.fatal = "internal error in the bridge (see the log)"
        finally:
            if sock is not None:
                if self.state == "live":
                    self._send(sock, protocol.BYE, {})
                self._close_monitor(sock)
                sock.close(linger=200)
            self.state = "closed"

    def _connect(self) -> zmq.Socket[bytes]:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        sock.setsockopt(zmq.SNDHWM, 1000)
        if self.server_key is not None:
            pub, sec = zmq.curve_keypair()
            sock.setsockopt(zmq.CURVE_SERVERKEY, self.server_key)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, pub)
            sock.setsockopt(zmq.CURVE_SECRETKEY, sec)
        self._monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.connect(self.endpoint)
        self._send(sock, protocol.HELLO, {"token": self.token, "client_id": self.client_id,
                                          "name": self.name[:64]})
        return sock

    def _disconnected(self) -> bool:
        mon = self._monitor
        if mon is None:
            return False
        seen = False
        while mon.poll(0):
            event = recv_monitor_message(mon, zmq.NOBLOCK)
            seen |= event["event"] == zmq.EVENT_DISCONNECTED
        return seen

    def _close_monitor(self, sock: zmq.Socket[bytes]) -> None:
        if self._monitor is not None:
            try:
                sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(linger=0)
            self._monitor = None

    def _confirm(self, t: float) -> None:
        """The server answered the ping ``t``: everything sent before it arrived."""
        while self._unconfirmed:
            entry = self._unconfirmed.popleft()
            if isinstance(entry, float):
                self._pings.discard(entry)
                if entry == t:
                    return
            else:
                self._unconfirmed_n -= _samples(entry)

    def _requeue_unconfirmed(self) -> None:
        """After a lost connection: send again what may not have arrived, before the rest.
        Source states are left out: the current ones are sent after every WELCOME."""
        items = [i for entry in self._unconfirmed if not isinstance(entry, float)
                 for i in entry if not isinstance(i, tuple)]
        self._unconfirmed.clear()
        self._unconfirmed_n = 0
        self._pings.clear()
        if items:
            with self._lock:
                self._queue.extendleft(reversed(items))
                self._queued += _samples(items)
                self.counts["resent"] += _samples(items)
                self._trim()

    def _drop(self, sock: zmq.Socket[bytes]) -> None:
        """Close a connection that went wrong (the caller forgets the socket)."""
        self._requeue_unconfirmed()
        self._close_monitor(sock)
        sock.close(linger=0)
        if self.state == "live":
            self.counts["reconnects"] += 1
        self.state = "offline"
        self.connected.clear()

    def _welcomed(self, body: dict[str, Any]) -> None:
        self.role = body["role"]
        self.state = "live"
        self.connected.set()
        log.info("connected to %s as %s (role %s)", self.endpoint, self.name, self.role)
        self.report(f"connected to {self.endpoint} as {self.name!r} (role {self.role})")
        if self._dropped_unreported:
            log.warning("dropped %d samples while the server was unreachable", self._dropped_unreported)
            self._dropped_unreported = 0

    def _on_error(self, code: str, reason: str) -> None:
        self.counts["errors"] += 1
        if code == protocol.E_AUTH:
            self.fatal = f"the server refused the token: {reason}"
            log.error("%s", self.fatal)
        elif code == protocol.E_FORBIDDEN:
            self.fatal = (f"the token's role ({self.role or 'unknown'}) may not push sensor samples; "
                          f"use a token with the role source: {reason}")
            log.error("%s", self.fatal)
        elif self.counts["errors"] <= 5 or self.counts["errors"] % 1000 == 0:
            log.warning("the server refused a message (%s): %s", code, reason)

    def _send(self, sock: zmq.Socket[bytes], msg_type: int, body: dict[str, Any],
              blobs: list[bytes] | None = None) -> bool:
        try:
            sock.send_multipart(protocol.encode(msg_type, body, blobs or []), zmq.NOBLOCK)
        except zmq.Again:
            return False
        self.counts["messages"] += 1
        return True

    def _send_queued(self, sock: zmq.Socket[bytes]) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                items: list[_Batch | _Array | tuple[str, bool, str]] = []
                n = 0
                # Up to the next status change (kept in order), at most one message's worth.
                while self._queue and n < MAX_PER_MESSAGE:
                    head = self._queue[0]
                    if isinstance(head, tuple):
                        if items:
                            break
                        items.append(self._queue.popleft())
                        break
                    size = len(head.idx) if isinstance(head, _Batch) else 1
                    first = items[0] if items else None
                    if first is not None and not isinstance(first, tuple) and (
                            n + size > MAX_PER_MESSAGE or head.source != first.source):
                        break  # at most MAX_PER_MESSAGE samples, of one source
                    items.append(self._queue.popleft())
                    n += size
            ok = self._send_items(sock, items)
            with self._lock:
                if not ok:  # the socket is full: keep them, in order, and try later
                    self._queue.extendleft(reversed(items))
                    return
                self._queued -= _samples(items)
            self._unconfirmed.append(items)
            self._unconfirmed_n += _samples(items)
            while self._unconfirmed_n > self.max_queued and self._unconfirmed:
                entry = self._unconfirmed.popleft()  # too much to keep: forget the oldest
                if isinstance(entry, float):
                    self._pings.discard(entry)
                else:
                    self._unconfirmed_n -= _samples(entry)

    def _send_items(self, sock: zmq.Socket[bytes], items: list[_Batch | _Array | tuple[str, bool, str]]) -> bool:
        if len(items) == 1 and isinstance(items[0], tuple):
            name, online, detail = items[0]
            return self._send(sock, protocol.SENSOR_SOURCE,
                              {"name": name[:128], "online": online, "detail": detail[:1024]})
        tags: list[str] = []
        units: list[str] = []
        where: dict[str, int] = {}

        def tag_index(tag: str, unit: str = "") -> int:
            j = where.get(tag)
            if j is None:
                j = where[tag] = len(tags)
                tags.append(tag)
                units.append(unit)
            elif unit and not units[j]:
                units[j] = unit
            return j

        idx_parts, t_parts, v_parts, q_parts = [], [], [], []
        arrays: list[list[Any]] = []
        array_blobs: list[bytes] = []
        for item in items:
            if isinstance(item, _Batch):
                remap = np.array([tag_index(tag, item.units[k] if item.units else "")
                                  for k, tag in enumerate(item.tags)], np.uint32)
                idx_parts.append(remap[item.idx])
                t_parts.append(item.t)
                v_parts.append(item.v)
                q_parts.append(item.q)
            elif isinstance(item, _Array):
                vals = np.ascontiguousarray(item.values, LE_F4)
                shape = list(vals.shape) if vals.ndim == 2 else [1, int(vals.size)]
                arrays.append([tag_index(item.tag), int(item.t_ns), int(item.quality), shape])
                array_blobs.append(vals.tobytes())
        cols: list[npt.NDArray[Any]] = [
            np.concatenate(idx_parts).astype(LE_U4) if idx_parts else np.zeros(0, LE_U4),
            np.concatenate(t_parts).astype(LE_I8) if t_parts else np.zeros(0, LE_I8),
            np.concatenate(v_parts).astype(LE_F8) if v_parts else np.zeros(0, LE_F8),
            np.concatenate(q_parts).astype(np.uint8) if q_parts else np.zeros(0, np.uint8),
        ]
        body: dict[str, Any] = {"tags": [t[:256] for t in tags], "n": len(cols[0])}
        first = items[0]
        if not isinstance(first, tuple) and first.source:
            body["source"] = first.source[:128]
        if any(units):
            body["units"] = [u[:32] for u in units]
        if arrays:
            body["arrays"] = arrays
        ok = self._send(sock, protocol.SENSOR_PUSH, body, [c.tobytes() for c in cols] + array_blobs)
        if ok:
            self.counts["sent"] += len(cols[0]) + len(arrays)
        return ok


def _samples(items: Sequence[_Batch | _Array | tuple[str, bool, str]]) -> int:
    return sum(len(i.idx) if isinstance(i, _Batch) else 1 for i in items if not isinstance(i, tuple))


def _reported_name(src: Source, bridge: str) -> str:
    """How the server names a source: an MQTT source in a shared subscription runs in
    several bridges at once, so each bridge's share is a source of its own
    (``plant@bridge-1``) and one bridge stopping does not mark the others' streams offline."""
    inner = getattr(src, "source", src)
    return f"{src.name}@{bridge}" if getattr(inner, "share", None) else src.name


def run(config: str, endpoint: str, token: str, server_key: str | None = None,
        name: str | None = None, out: Any = None) -> int:
    """The ``twin-sync bridge`` command: returns the exit status."""
    def say(text: str) -> None:
        if out is not None:
            out(text)

    try:
        sources: list[Source] = load_sources(config)
    except ConfigError as exc:
        say(f"twin-sync bridge: {exc}")
        return 2
    sink = ServerSink(endpoint, token, server_key, name, report=say)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    sink.start()
    started: list[Source] = []
    try:
        say(f"twin-sync bridge: {len(sources)} source(s) ({', '.join(s.name for s in sources)}) "
            f"-> {endpoint}")
        for src in sources:
            src.start(sink.for_source(_reported_name(src, sink.name)))
            started.append(src)
        while not stop.wait(0.2):
            if sink.fatal is not None:
                say(f"twin-sync bridge: {sink.fatal}")
                return 1
    finally:
        for src in reversed(started):
            try:
                src.stop()
            except Exception:  # stop the others all the same
                log.exception("stopping source %s failed", src.name)
        sink.stop()
    return 0
