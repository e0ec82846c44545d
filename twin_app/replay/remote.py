"""A recording on a server, asked for over the wire (``REPLAY_*``, docs/protocol.md §13).

``ReplayLink`` is one connection (its own DEALER and session; it joins no room, so it
is not seen as present) that answers requests synchronously, with a timeout:

    link = ReplayLink(endpoint, token, name="Ada", server_key=key)
    rooms = link.rooms()                       # [RoomInfo]
    rec = link.recording("demo")               # a ``Recording``
    replay = Replay(rec)

The twin-app window uses the same path for its embedded server and for remote ones.
Calls raise ``RecordingError`` with a sentence (refused, timed out, damaged recording).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import zmq

from twin_app import protocol
from twin_app.core.ids import new_id
from twin_app.replay.model import Fetch, Index, RecordingError, RoomInfo

TIMEOUT_S = 20.0


class ReplayLink:
    """One connection for replay requests (not thread-safe: use it from one thread)."""

    def __init__(self, endpoint: str, token: str, *, name: str = "replay", server_key: str | None = None,
                 client_keys: tuple[bytes, bytes] | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        if server_key:
            public, secret = client_keys or zmq.curve_keypair()
            sock.setsockopt(zmq.CURVE_SERVERKEY, server_key.encode() if isinstance(server_key, str) else server_key)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        sock.connect(endpoint)
        self._sock = sock
        self._req = itertools.count(1)
        self._closed = False
        sock.send_multipart(protocol.encode(protocol.HELLO, {"token": token, "client_id": new_id(), "name": name}))
        welcome = self._wait(lambda m: m.type == protocol.WELCOME)
        self.role = str(welcome.body["role"])

    def _wait(self, match: Any) -> protocol.Message:
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000) + 1):
                raise RecordingError(f"the server at {self.endpoint} did not answer in {self.timeout_s:.0f} s")
            try:
                msg = protocol.decode(self._sock.recv_multipart(), protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)
            except protocol.ProtocolError:
                continue
            if msg.type == protocol.ERROR:
                raise RecordingError(f"the server refused: {msg.body['reason']}")
            if match(msg):
                return msg

    def _ask(self, msg_type: int, answer: int, body: dict[str, Any]) -> protocol.Message:
        if self._closed:
            raise RecordingError("the replay connection is closed")
        req = next(self._req)
        self._sock.send_multipart(protocol.encode(msg_type, {"req": req, **body}))
        msg = self._wait(lambda m: m.type == answer and m.body.get("req") == req)
        if msg.body.get("error"):
            raise RecordingError(str(msg.body["error"]))
        return msg

    def rooms(self) -> tuple[list[RoomInfo], list[str]]:
        """Recorded rooms this token may replay, and rooms that could not be read (why)."""
        msg = self._ask(protocol.REPLAY_LIST, protocol.REPLAY_ROOMS, {})
        try:
            return [RoomInfo.from_wire(r) for r in msg.body.get("rooms", [])], list(msg.body.get("problems", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"malformed room list from the server: {exc}") from exc

    def recording(self, room: str) -> RemoteRecording:
        return RemoteRecording(self, room)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._sock.send_multipart(protocol.encode(protocol.BYE, {}), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
            self._sock.close(linger=100)
            self._ctx.term()


class RemoteRecording:
    """A ``Recording`` served by a server through a ``ReplayLink``."""

    def __init__(self, link: ReplayLink, room: str) -> None:
        self.link = link
        self._room = room

    @property
    def room(self) -> str:
        return self._room

    def index(self, bins: int = 1000) -> Index:
        msg = self.link._ask(protocol.REPLAY_OPEN, protocol.REPLAY_INDEX, {"room": self._room, "bins": bins})
        try:
            return Index.from_wire(msg.body["index"])
        except (KeyError, ValueError) as exc:
            raise RecordingError(str(exc)) from exc

    def fetch(self, have: int, *, seq: int | None = None, t_ns: int | None = None,
              tags: tuple[str, ...] = (), presence: bool = True) -> Fetch:
        body: dict[str, Any] = {"room": self._room, "have": have, "tags": list(tags), "presence": presence}
        if seq is not None:
            body["seq"] = seq
        if t_ns is not None:
            body["t"] = t_ns
        msg = self.link._ask(protocol.REPLAY_RANGE, protocol.REPLAY_DATA, body)
        try:
            return Fetch.from_body(msg.body, msg.blobs)
        except ValueError as exc:
            raise RecordingError(str(exc)) from exc

    def close(self) -> None:
        """Nothing to release: the link belongs to its owner."""
