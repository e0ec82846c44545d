"""The Twinroom wire protocol: message types, frame layout, limits and the codec.

Every message is one ZeroMQ multipart message. Its first frame is a 4-byte header —
the signature ``b"TW"``, the protocol version (``VERSION``) and the message type — followed
by a msgpack map (the body). Binary payloads (snapshot chunks, mesh data) travel as extra
frames after it, never inside msgpack. On the server's ROUTER socket the peer's routing id
precedes these frames. See docs/protocol.md for every message and the sequences.

Design notes
------------
* Sizes are checked before anything is decoded (``MAX_HEADER_FRAME``, ``MAX_BLOB``,
  ``MAX_BLOBS``); the body is decoded with msgpack limits and no extension types, then
  checked against the message's schema. Anything wrong raises ``ProtocolError`` with a
  stable ``code`` — never another exception — so the server can answer and carry on.
* Message type numbers are assigned by hand and never reused.
* No pickle, ever: bodies are plain msgpack maps of strings, numbers, lists and maps.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from twin_app.core.samples import ArraySample, Frame

SIGNATURE = b"TW"
HEADER = struct.Struct(">2sBB")

# -- versions (docs/protocol.md, "Versions") -------------------------------------------------
# ``VERSION``, the header byte, changes only when a message could be misread by the other
# side; peers of different VERSIONs cannot talk, and the side that refuses answers with an
# ERROR (``bad_version``) written in the *peer's* VERSION: ERROR's body (code, reason) is
# frozen, so every release can read any release's refusal and show which side to update.
# ``REVISION`` counts compatible additions within a VERSION (new optional fields, new
# message types a peer only sends once the other side's revision has them). HELLO and
# WELCOME carry it as ``proto``; a peer that sends none is revision 1 (release 0.1).
VERSION = 1
REVISION = 2
MIN_REVISION = 1  # the oldest peer revision this release still talks to

MAX_HEADER_FRAME = 8 * 1024 * 1024  # what a server accepts from a client
MAX_SERVER_FRAME = 512 * 1024 * 1024  # what a client accepts from its server (snapshots)
MAX_BLOB = 4 * 1024 * 1024
MAX_BLOBS = 4096

# Hand-numbered message types. Never renumber; retire numbers instead.
HELLO = 1
WELCOME = 2
JOIN = 3
SNAPSHOT = 4
SUBMIT = 5
ACK = 6
NACK = 7
OPS = 8
CATCHUP = 9
PRESENCE = 10
HEARTBEAT = 11
ERROR = 12
BYE = 13
ASSET_HAVE = 20
ASSET_MISSING = 21
ASSET_PUT = 22
ASSET_GET = 23
ASSET_DATA = 24
ASSET_ACK = 25
# The sensor lane (see docs/protocol.md, "Sensors"): never mixed with the op stream.
SENSOR_SUB = 30
SENSOR_STREAMS = 31
SENSOR_FRAME = 32
SENSOR_CREDIT = 33
SENSOR_PUSH = 34
SENSOR_QUERY = 35
SENSOR_DATA = 36
SENSOR_SOURCE = 37

NAMES = {
    HELLO: "HELLO", WELCOME: "WELCOME", JOIN: "JOIN", SNAPSHOT: "SNAPSHOT",
    SUBMIT: "SUBMIT", ACK: "ACK", NACK: "NACK", OPS: "OPS", CATCHUP: "CATCHUP",
    PRESENCE: "PRESENCE", HEARTBEAT: "HEARTBEAT", ERROR: "ERROR", BYE: "BYE",
    ASSET_HAVE: "ASSET_HAVE", ASSET_MISSING: "ASSET_MISSING", ASSET_PUT: "ASSET_PUT",
    ASSET_GET: "ASSET_GET", ASSET_DATA: "ASSET_DATA", ASSET_ACK: "ASSET_ACK",
    SENSOR_SUB: "SENSOR_SUB", SENSOR_STREAMS: "SENSOR_STREAMS", SENSOR_FRAME: "SENSOR_FRAME",
    SENSOR_CREDIT: "SENSOR_CREDIT", SENSOR_PUSH: "SENSOR_PUSH", SENSOR_QUERY: "SENSOR_QUERY",
    SENSOR_DATA: "SENSOR_DATA", SENSOR_SOURCE: "SENSOR_SOURCE",
}

# Error / nack codes (stable strings; see docs/protocol.md).
E_BAD_FRAME = "bad_frame"
E_BAD_VERSION = "bad_version"
E_UNKNOWN_TYPE = "unknown_type"
E_BAD_BODY = "bad_body"
E_TOO_LARGE = "too_large"
E_AUTH = "auth_failed"
E_FORBIDDEN = "forbidden"
E_NOT_JOINED = "not_joined"
E_NO_SESSION = "no_session"
E_RATE = "rate_limited"
E_BAD_ROUTING_ID = "bad_routing_id"
E_NO_ROOM = "no_such_room"
E_STORAGE = "storage_unavailable"
E_INTERNAL = "internal"
E_ASSET = "asset_error"
E_SHUTDOWN = "server_stopping"  # the server is stopping (SIGTERM): reconnect, with back-off
# Refusals that say "not now", not "no": the client keeps the edit and resends it later.
TRANSIENT = frozenset({E_RATE, E_STORAGE, E_NOT_JOINED})


class ProtocolError(ValueError):
    """A message that breaks the protocol; ``code`` is one of the ``E_*`` strings."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Message:
    """A decoded message: its type number, its body and its binary frames."""

    type: int
    body: dict[str, Any]
    blobs: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The message type's name (for logs)."""
        return NAMES.get(self.type, str(self.type))


# -- schema -----------------------------------------------------------------------------
Check = Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 64)


def _uint(v: Any) -> bool:
    return _int(v) and v >= 0


def _str(limit: int) -> Check:
    return lambda v: isinstance(v, str) and len(v) <= limit


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _list(check: Check, limit: int) -> Check:
    return lambda v: isinstance(v, list) and len(v) <= limit and all(check(x) for x in v)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _vec(n: int) -> Check:
    """Exactly ``n`` finite numbers (a colour, a camera): receivers index them blindly."""
    return lambda v: (
        isinstance(v, list) and len(v) == n and all(_num(x) and math.isfinite(x) for x in v)
    )


def _unit3(v: Any) -> bool:
    """A colour: exactly 3 finite numbers in 0..1."""
    return _vec(3)(v) and all(0.0 <= x <= 1.0 for x in v)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _map(v: Any) -> bool:
    return isinstance(v, dict)


def _any(v: Any) -> bool:
    return True


_ID = _str(64)
_HASH = _str(128)
# Schemas: field -> (check, required). Unknown fields are ignored (forward compatibility).
SCHEMAS: dict[int, dict[str, tuple[Check, bool]]] = {
    HELLO: {
        "token": (_str(256), True),
        "client_id": (_ID, True),
        "name": (_str(64), True),
        "color": (_opt(_unit3), False),
        "proto": (_uint, False), "release": (_str(64), False),
    },
    WELCOME: {
        "session": (_ID, True), "epoch": (_uint, True), "role": (_str(32), True),
        "hb_ms": (_uint, True), "limits": (_map, True), "server": (_str(64), False),
        "proto": (_uint, False),
    },
    JOIN: {"room": (_str(64), True)},
    SNAPSHOT: {
        "room": (_str(64), True), "epoch": (_uint, True), "seq": (_uint, True),
        "hash": (_HASH, True), "nodes": (_uint, True), "chunks": (_uint, True),
        "ops": (_list(_any, 1 << 24), True), "cseq": (_uint, False),
    },
    # Any op value passes the schema: a malformed op is refused with a NACK naming the
    # cseq (code ``malformed``), which the client can match to its edit.
    SUBMIT: {"cseq": (_uint, True), "op": (_any, True)},
    ACK: {"cseq": (_uint, True), "seq": (_opt(_uint), True), "dup": (_bool, False)},
    NACK: {"cseq": (_uint, True), "code": (_str(64), True), "reason": (_str(1024), True)},
    OPS: {"epoch": (_uint, True), "first_seq": (_uint, True), "ops": (_list(_any, 1 << 20), True)},
    CATCHUP: {"from_seq": (_uint, True), "to_seq": (_uint, True)},
    PRESENCE: {
        "selection": (_list(_ID, 1000), False),
        "camera": (_opt(_vec(9)), False),
        "status": (_str(128), False),
        "peers": (_list(_map, 10_000), False),
        "left": (_list(_ID, 10_000), False),
        "follow": (_opt(_ID), False),
        "follow_ok": (_list(_ID, 100), False),
        "present": (_bool, False),
    },
    HEARTBEAT: {
        "t": (_num, False), "epoch": (_uint, False), "head_seq": (_uint, False),
        "rtt_ms": (_num, False), "storage_error": (_opt(_str(1024)), False),
        "durable_seq": (_uint, False), "hash": (_HASH, False), "hash_seq": (_uint, False),
    },
    ERROR: {"code": (_str(64), True), "reason": (_str(1024), True)},
    BYE: {},
    ASSET_HAVE: {"hashes": (_list(_HASH, 10_000), True)},
    ASSET_MISSING: {"hashes": (_list(_HASH, 10_000), True), "offsets": (_list(_uint, 10_000), True)},
    ASSET_PUT: {
        "hash": (_HASH, True), "size": (_uint, True), "offset": (_uint, True),
    },
    ASSET_GET: {"hash": (_HASH, True), "offset": (_uint, True)},
    ASSET_DATA: {
        "hash": (_HASH, True), "size": (_uint, True), "offset": (_uint, True),
        "error": (_str(256), False),
    },
    ASSET_ACK: {"hash": (_HASH, True), "offset": (_uint, True), "error": (_str(256), False)},
    # Sensor lane. Columns travel as little-endian binary frames (see docs/protocol.md).
    SENSOR_SUB: {"on": (_bool, True), "hz": (_num, False)},
    SENSOR_STREAMS: {
        "streams": (_list(_list(_any, 5), 1 << 20), True),
        "sources": (_list(_map, 10_000), False),
    },
    SENSOR_FRAME: {
        "fseq": (_uint, True), "t": (_int, True), "n": (_uint, True),
        "arrays": (_list(_list(_any, 4), 4096), False),
    },
    SENSOR_CREDIT: {"fseq": (_uint, True)},
    SENSOR_PUSH: {
        "tags": (_list(_str(256), 1 << 16), True),
        "n": (_uint, True),
        "arrays": (_list(_list(_any, 4), 4096), False),
        "units": (_list(_str(32), 1 << 16), False),
    },
    SENSOR_QUERY: {
        "req": (_uint, True), "tags": (_list(_str(256), 64), True),
        "t0": (_int, True), "t1": (_int, True), "points": (_uint, True),
    },
    SENSOR_DATA: {
        "req": (_uint, True), "series": (_list(_list(_any, 3), 64), True),
        "error": (_str(1024), False),
    },
    SENSOR_SOURCE: {
        "name": (_str(128), True), "online": (_bool, True), "detail": (_str(1024), False),
    },
}


def validate(msg_type: int, body: Any) -> dict[str, Any]:
    """Check ``body`` against the schema of ``msg_type``; return it or raise."""
    schema = SCHEMAS.get(msg_type)
    if schema is None:
        raise ProtocolError(E_UNKNOWN_TYPE, f"unknown message type {msg_type}")
    if not isinstance(body, dict):
        raise ProtocolError(E_BAD_BODY, f"{NAMES[msg_type]}: the body must be a map")
    for key, (check, required) in schema.items():
        if key in body:
            if not check(body[key]):
                raise ProtocolError(E_BAD_BODY, f"{NAMES[msg_type]}: bad value for {key!r}")
        elif required:
            raise ProtocolError(E_BAD_BODY, f"{NAMES[msg_type]}: missing {key!r}")
    return body


# -- codec ------------------------------------------------------------------------------
def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(E_BAD_BODY, "msgpack extension types are not allowed")


# msgpack decodes extension type -1 (timestamp) itself without calling ``ext_hook``, so
# timestamps are caught as they land in their container (one check per list or map).
def _no_timestamp(values: Iterable[Any]) -> None:
    for x in values:
        if type(x) is msgpack.Timestamp:
            raise ProtocolError(E_BAD_BODY, "msgpack extension types are not allowed")


def _no_timestamp_list(items: list[Any]) -> list[Any]:
    _no_timestamp(items)
    return items


def _no_timestamp_map(items: dict[Any, Any]) -> dict[Any, Any]:
    _no_timestamp(items.values())
    return items


def encode(
    msg_type: int, body: dict[str, Any], blobs: Sequence[bytes] = (), version: int = VERSION
) -> list[bytes]:
    """Return the frames of a message (header+body frame, then the blobs).

    ``version`` other than ``VERSION`` is only for an ERROR refusing a peer of that version.
    """
    head = HEADER.pack(SIGNATURE, version, msg_type) + msgpack.packb(body, use_bin_type=True)
    return [head, *blobs]


def header_version(frames: Sequence[bytes]) -> int | None:
    """The VERSION byte of a message's header, or ``None`` if it has no Twinroom header."""
    if not frames or len(frames[0]) < HEADER.size or frames[0][:2] != SIGNATURE:
        return None
    return int(frames[0][2])


def peer_revision(body: dict[str, Any]) -> int:
    """The protocol revision a HELLO or WELCOME announces (1 if it predates ``proto``)."""
    value = body.get("proto")
    return value if isinstance(value, int) and value > 0 else 1


def version_refusal(peer: str, peer_version: int, peer_revision: int, peer_release: str,
                    release: str) -> str | None:
    """Why this side (of ``release``) cannot talk to its ``peer``, or ``None`` if it can.

    ``peer`` is ``"app"`` on the server and ``"server"`` in the app. The reason is written
    for the person using the app and names the side to update: the older one.
    """
    ours = f"Twinroom {release} (protocol {VERSION}.{REVISION})"
    level = f"{peer_version}.{peer_revision}" if peer_revision else str(peer_version)
    theirs = f"{peer_release or 'another Twinroom release'} (protocol {level})"
    older = (peer_version, peer_revision) < (VERSION, MIN_REVISION)
    if not older and peer_version <= VERSION:
        return None
    if peer == "app":
        if older:
            return (f"This app is {theirs}; the server runs {ours} and needs a newer app: "
                    f"update Twinroom to {release} or later.")
        return (f"This app is {theirs}; the server runs {ours}, which is too old for it: ask "
                f"the server's administrator to update twin-sync (or use Twinroom {release}).")
    if older:
        return (f"The server runs {theirs}, too old for this app, {ours}: ask its "
                f"administrator to update twin-sync to {release} or later.")
    return (f"The server runs {theirs}, newer than this app, {ours}, understands: "
            "update this app.")


def decode(
    frames: Sequence[bytes], max_header: int = MAX_HEADER_FRAME, max_blob: int = MAX_BLOB
) -> Message:
    """Decode and validate the frames of one message. Raises ``ProtocolError``.

    ``max_header`` and ``max_blob`` bound the body frame and each binary frame; a server
    uses the defaults for client messages, a client accepts larger frames from its server.
    """
    if not frames:
        raise ProtocolError(E_BAD_FRAME, "empty message")
    head = frames[0]
    if len(head) < HEADER.size:
        raise ProtocolError(E_BAD_FRAME, "frame too short for the header")
    if len(head) > max_header:
        raise ProtocolError(E_TOO_LARGE, f"message body larger than {max_header} bytes")
    if len(frames) - 1 > MAX_BLOBS or any(len(b) > max_blob for b in frames[1:]):
        raise ProtocolError(E_TOO_LARGE, f"too many or too large binary frames (max {max_blob} B)")
    sig, version, msg_type = HEADER.unpack_from(head)
    if sig != SIGNATURE:
        raise ProtocolError(E_BAD_FRAME, "bad signature (not a Twinroom message)")
    if version != VERSION and msg_type != ERROR:  # an ERROR reads the same in every version
        raise ProtocolError(E_BAD_VERSION, f"protocol version {version} (this side speaks {VERSION})")
    if msg_type not in SCHEMAS:
        raise ProtocolError(E_UNKNOWN_TYPE, f"unknown message type {msg_type}")
    try:
        body = msgpack.unpackb(
            memoryview(head)[HEADER.size:], raw=False, use_list=True,
            strict_map_key=True, ext_hook=_no_ext,
            list_hook=_no_timestamp_list, object_hook=_no_timestamp_map,
        )
    except ProtocolError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ProtocolError(E_BAD_BODY, f"undecodable msgpack body: {exc}") from exc
    return Message(msg_type, validate(msg_type, body), [bytes(b) for b in frames[1:]])


# -- sensor frames ------------------------------------------------------------------------
def encode_frame(fseq: int, frame: Frame) -> list[bytes]:
    """A ``SENSOR_FRAME`` message: the body, the 8 columns, one float32 frame per array."""
    arrays = [[a.stream, a.t_ns, a.quality, list(a.values.shape)] for a in frame.arrays]
    return encode(SENSOR_FRAME, {"fseq": fseq, "t": frame.t_ns, "n": len(frame), "arrays": arrays},
                  [*frame.blobs(), *(np.ascontiguousarray(a.values, "<f4").tobytes() for a in frame.arrays)])


def decode_frame(msg: Message) -> Frame:
    """The frame of a decoded ``SENSOR_FRAME``; raises ``ProtocolError`` if malformed."""
    body, blobs = msg.body, msg.blobs
    ncol = len(Frame.COLUMNS)
    arrays = body.get("arrays") or []
    if len(blobs) != ncol + len(arrays):
        raise ProtocolError(E_BAD_BODY, "SENSOR_FRAME: wrong number of binary frames")
    try:
        frame = Frame.from_blobs(blobs[:ncol], body["t"])
    except ValueError as exc:
        raise ProtocolError(E_BAD_BODY, f"SENSOR_FRAME: {exc}") from exc
    if len(frame) != body["n"]:
        raise ProtocolError(E_BAD_BODY, "SENSOR_FRAME: n does not match the columns")
    for spec, blob in zip(arrays, blobs[ncol:], strict=True):
        sid, t_ns, quality, shape = spec
        if not (_uint(sid) and _int(t_ns) and _uint(quality) and isinstance(shape, list) and len(shape) == 2
                and all(_uint(d) and 0 < d <= 4096 for d in shape) and len(blob) == 4 * shape[0] * shape[1]):
            raise ProtocolError(E_BAD_BODY, "SENSOR_FRAME: malformed array entry")
        values = np.frombuffer(blob, "<f4").astype(np.float32).reshape(shape[0], shape[1])
        frame.arrays.append(ArraySample(sid, t_ns, values, quality))
    return frame
