"""The wire codec: every message type round-trips, and anything malformed is a ProtocolError.

Valid bodies are built per schema by probing each field's check with candidate values, so
the tests follow the schema table as message types and fields are added.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin_app import protocol as p
from twin_app.core.document import Node
from twin_app.core.ops import AddNode, Batch, SetField, op_from_wire, op_to_wire
from twin_app.protocol import ProtocolError

HASH = "ab" * 32
# Candidate values, most specific first; the first one a field's check accepts is used.
CANDIDATES: list[Any] = [
    7, 0, 1.5, True, "a1b2", HASH, None, ["a1b2", "c3d4"], [HASH], [0.5, 0.5, 0.5],
    [0.0] * 9, [3, 4], [{"id": "a"}], [["set", "n1", "name", "x"]], {"k": 1}, [], {},
]
# Values of every type, to find one a field's check refuses.
WRONG: list[Any] = [
    -1, -(1 << 63), 1.5, True, "", "x" * 5000, None, b"bytes", [None], [1.0] * 20,
    ["x" * 200], {"k": 1}, [], [[]], math.nan,
]


def _check(msg_type: int, fld: str) -> Any:
    return p.SCHEMAS[msg_type][fld][0]


def valid_value(msg_type: int, fld: str) -> Any:
    check = _check(msg_type, fld)
    for v in CANDIDATES:
        if check(v):
            return v
    raise AssertionError(f"no candidate satisfies {p.NAMES[msg_type]}.{fld}")


def valid_body(msg_type: int, *, optional: bool = True) -> dict[str, Any]:
    """A body with every required field (and, if asked, every optional one) set."""
    return {
        fld: valid_value(msg_type, fld)
        for fld, (_, required) in p.SCHEMAS[msg_type].items()
        if required or optional
    }


TYPES = sorted(p.SCHEMAS)
# SUBMIT.op takes any value on purpose: a malformed op is the server's NACK "malformed"
# (with the cseq), not a codec error.
FIELDS = [(t, f) for t in TYPES for f in p.SCHEMAS[t] if (t, f) != (p.SUBMIT, "op")]
REQUIRED = [(t, f) for t in TYPES for f, (_, req) in p.SCHEMAS[t].items() if req]


def _raises(frames: Any, code: str, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        p.decode(frames, **kwargs)
    assert info.value.code == code, str(info.value)
    assert str(info.value)
    return info.value


def _frame(msg_type: int, body: Any, version: int = p.VERSION, sig: bytes = p.SIGNATURE) -> bytes:
    return p.HEADER.pack(sig, version, msg_type) + msgpack.packb(body, use_bin_type=True)


# -- round trips ----------------------------------------------------------------------
def test_every_type_has_a_name_and_distinct_number() -> None:
    assert set(p.SCHEMAS) <= set(p.NAMES)
    assert len(set(p.NAMES.values())) == len(p.NAMES)
    assert all(0 < t < 256 for t in p.SCHEMAS)


@pytest.mark.parametrize("msg_type", TYPES, ids=lambda t: p.NAMES[t])
@pytest.mark.parametrize("optional", [True, False], ids=["full", "minimal"])
def test_round_trip_every_message_type(msg_type: int, optional: bool) -> None:
    body = valid_body(msg_type, optional=optional)
    blobs = [b"", b"\x00" * 10, bytes(range(256))]
    frames = p.encode(msg_type, body, blobs)
    assert frames[0][:2] == p.SIGNATURE and frames[0][2] == p.VERSION and frames[0][3] == msg_type
    msg = p.decode(frames)
    assert msg.type == msg_type and msg.name == p.NAMES[msg_type]
    assert msg.body == body
    assert msg.blobs == blobs
    assert all(type(b) is bytes for b in msg.blobs)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    body = {**valid_body(p.JOIN), "future_field": {"nested": [1, 2]}}
    assert p.decode(p.encode(p.JOIN, body)).body == body


def test_realistic_messages() -> None:
    op = Batch((
        AddNode(Node("n1", "root", "V", "part", name="Robot",
                     props={"bbox": (0.0, 0.0, 0.0, 1.0, 1.0, 2.0), "mass": 250.0})),
        SetField("n1", "color", (1.0, 0.0, 0.0)),
    ))
    msg = p.decode(p.encode(p.SUBMIT, {"cseq": 12, "op": op_to_wire(op)}))
    assert op_to_wire(op_from_wire(msg.body["op"])) == op_to_wire(op)
    ops = p.decode(p.encode(p.OPS, {"epoch": 1, "first_seq": 100,
                                    "ops": [["c1", 12, op_to_wire(op)]]}))
    assert ops.body["ops"][0][2] == op_to_wire(op)
    hello = {"token": "t" * 256, "client_id": "0123456789abcdef", "name": "Ana",
             "color": [0.2, 0.4, 0.6]}
    assert p.decode(p.encode(p.HELLO, hello)).body == hello
    ack = p.decode(p.encode(p.ACK, {"cseq": 3, "seq": None, "dup": True}))
    assert ack.body["seq"] is None
    big = (1 << 64) - 1
    assert p.decode(p.encode(p.CATCHUP, {"from_seq": 0, "to_seq": big})).body["to_seq"] == big


def test_blob_frames_at_the_limits() -> None:
    blobs = [b"x" * p.MAX_BLOB, b""]
    assert p.decode(p.encode(p.ASSET_PUT, valid_body(p.ASSET_PUT), blobs)).blobs == blobs
    many = [b""] * p.MAX_BLOBS
    assert len(p.decode(p.encode(p.BYE, {}, many)).blobs) == p.MAX_BLOBS


def test_memoryview_and_bytearray_frames() -> None:
    frames = p.encode(p.JOIN, {"room": "r"}, [b"blob"])
    msg = p.decode([bytearray(frames[0]), memoryview(frames[1])])
    assert msg.body == {"room": "r"} and msg.blobs == [b"blob"]


# -- framing errors -------------------------------------------------------------------
def test_empty_and_short_frames() -> None:
    _raises([], p.E_BAD_FRAME)
    for n in range(p.HEADER.size):
        _raises([_frame(p.JOIN, {"room": "r"})[:n]], p.E_BAD_FRAME)


def test_truncated_body() -> None:
    frame = _frame(p.HELLO, valid_body(p.HELLO))
    for n in range(p.HEADER.size, len(frame)):
        with pytest.raises(ProtocolError) as info:
            p.decode([frame[:n]])
        assert info.value.code == p.E_BAD_BODY


@pytest.mark.parametrize("sig", [b"TX", b"tw", b"\x00\x00", b"WT"])
def test_wrong_signature(sig: bytes) -> None:
    _raises([_frame(p.JOIN, {"room": "r"}, sig=sig)], p.E_BAD_FRAME)


@pytest.mark.parametrize("version", [0, p.VERSION + 1, 255])
def test_wrong_version(version: int) -> None:
    _raises([_frame(p.JOIN, {"room": "r"}, version=version)], p.E_BAD_VERSION)


@pytest.mark.parametrize("msg_type", [*sorted(set(range(256)) - set(p.SCHEMAS))[:40], 255])
def test_unknown_type(msg_type: int) -> None:
    _raises([_frame(msg_type, {})], p.E_UNKNOWN_TYPE)
    with pytest.raises(ProtocolError) as info:
        p.validate(msg_type, {})
    assert info.value.code == p.E_UNKNOWN_TYPE


def test_oversized_header_frame_is_refused_before_decoding() -> None:
    limit = 1024
    ok = _frame(p.JOIN, {"room": "r", "pad": "x" * (limit - 20)})
    assert len(ok) <= limit
    p.decode([ok], max_header=limit)
    # Over the limit: refused even though the bytes are not msgpack at all.
    _raises([p.HEADER.pack(p.SIGNATURE, p.VERSION, p.JOIN) + b"\xc1" * limit], p.E_TOO_LARGE,
            max_header=limit)
    _raises([b"\x00" * (p.MAX_HEADER_FRAME + 1)], p.E_TOO_LARGE)


def test_oversized_or_too_many_blobs() -> None:
    head = _frame(p.ASSET_PUT, valid_body(p.ASSET_PUT))
    _raises([head, b"x" * (p.MAX_BLOB + 1)], p.E_TOO_LARGE)
    _raises([head, b"", b"x" * (p.MAX_BLOB + 1)], p.E_TOO_LARGE)
    _raises([head, *([b""] * (p.MAX_BLOBS + 1))], p.E_TOO_LARGE)
    _raises([head, b"x" * 101], p.E_TOO_LARGE, max_blob=100)


def test_limits_are_checked_before_the_signature() -> None:
    # A huge frame of garbage is refused by size, without looking inside.
    _raises([b"XX" + b"\x00" * p.MAX_HEADER_FRAME], p.E_TOO_LARGE)


# -- body errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b"",  # no body at all
        b"\xc1",  # never-used byte
        b"\x81",  # map of one entry, missing
        b"\xa4ro",  # truncated string
        msgpack.packb({"room": "r"}) + b"\x00",  # trailing data
        b"\x81\xa4room\xa2\xff\xfe",  # invalid UTF-8 in a string
        b"\x81\x01\xa1r",  # integer map key
        b"\x81\xc4\x04room\xa1r",  # bytes map key: no such field
        b"\x81\x91\x01\xa1r",  # list as a map key
        b"\x91" * 5000 + b"\xc0",  # nesting deeper than the decoder allows
        b"\x81\xa4room\xd6\xfbabcd",  # negative (reserved) extension type -5
        b"\x81\xa4room\xc7\x03\xffabc",  # timestamp extension of an invalid length
        b"\x81\xa4room\xd6\xff\x00\x00\x00\x01",  # a valid timestamp
    ],
)
def test_bad_msgpack(raw: bytes) -> None:
    _raises([p.HEADER.pack(p.SIGNATURE, p.VERSION, p.JOIN) + raw], p.E_BAD_BODY)


@pytest.mark.parametrize(
    "body", [[], [["room", "r"]], "room", 5, None, True, b"room"], ids=repr,
)
def test_body_must_be_a_map(body: Any) -> None:
    _raises([_frame(p.JOIN, body)], p.E_BAD_BODY)


@pytest.mark.parametrize(
    "ext",
    [
        msgpack.ExtType(1, b"x"),
        msgpack.ExtType(127, b""),
        msgpack.Timestamp(1, 0),  # ext type -1, decoded by msgpack itself
        msgpack.Timestamp(1 << 33, 5),
        msgpack.Timestamp(1 << 40, 7),
    ],
    ids=repr,
)
@pytest.mark.parametrize("where", ["field", "unknown field", "nested", "in a list"])
def test_extension_types_are_refused(ext: Any, where: str) -> None:
    body: dict[str, Any] = {"room": "r"}
    if where == "field":
        body["room"] = ext
    elif where == "unknown field":
        body["extra"] = ext
    elif where == "nested":
        body["extra"] = {"a": [{"b": ext}]}
    else:
        body["extra"] = [1, ext]
    _raises([_frame(p.JOIN, body)], p.E_BAD_BODY)


def test_timestamp_inside_an_op_list_is_refused() -> None:
    body = {"epoch": 1, "first_seq": 1, "ops": [["c", 1, ["set", "n", "name", msgpack.Timestamp(0, 0)]]]}
    _raises([_frame(p.OPS, body)], p.E_BAD_BODY)


@pytest.mark.parametrize("msg_type, fld", REQUIRED, ids=lambda x: p.NAMES.get(x, x) if isinstance(x, int) else x)
def test_missing_required_field(msg_type: int, fld: str) -> None:
    body = valid_body(msg_type)
    del body[fld]
    err = _raises([_frame(msg_type, body)], p.E_BAD_BODY)
    assert fld in str(err)


@pytest.mark.parametrize("msg_type, fld", FIELDS, ids=lambda x: p.NAMES.get(x, x) if isinstance(x, int) else x)
def test_wrong_field_types(msg_type: int, fld: str) -> None:
    check = _check(msg_type, fld)
    refused = [v for v in WRONG if not check(v)]
    assert refused, f"{p.NAMES[msg_type]}.{fld} accepts anything"
    for v in refused:
        body = {**valid_body(msg_type), fld: v}
        err = _raises([_frame(msg_type, body)], p.E_BAD_BODY)
        assert fld in str(err)


@pytest.mark.parametrize(
    "msg_type, fld, value",
    [
        (p.HELLO, "client_id", "x" * 65),
        (p.HELLO, "name", "x" * 65),
        (p.HELLO, "token", "x" * 257),
        (p.HELLO, "color", [1, 2]),
        (p.HELLO, "color", [1, 2, "3"]),
        (p.HELLO, "color", [1, 2, math.nan]),
        (p.HELLO, "color", []),
        (p.PRESENCE, "camera", [0.0] * 10),
        (p.PRESENCE, "camera", [0.0] * 8 + [math.inf]),
        (p.ACK, "cseq", -1),
        (p.ACK, "cseq", False),
        (p.ACK, "seq", 1.0),
        (p.NACK, "reason", "x" * 1025),
        (p.PRESENCE, "camera", [0.0] * 8),
        (p.PRESENCE, "selection", ["ok", 5]),
        (p.PRESENCE, "selection", ["x"] * 1001),
        (p.HEARTBEAT, "t", True),
        (p.HEARTBEAT, "t", "now"),
        (p.ASSET_HAVE, "hashes", [HASH, "x" * 129]),
        (p.HELLO, "color", [1.5, 0, 0]),
        (p.HELLO, "color", [0, -0.01, 0]),
    ],
)
def test_specific_limits(msg_type: int, fld: str, value: Any) -> None:
    if fld not in p.SCHEMAS[msg_type]:
        pytest.skip(f"{p.NAMES[msg_type]} has no field {fld!r} any more")
    body = {**valid_body(msg_type), fld: value}
    _raises([_frame(msg_type, body)], p.E_BAD_BODY)


# -- fuzz -----------------------------------------------------------------------------
def _decode_or_protocol_error(frames: list[bytes], **kwargs: Any) -> None:
    try:
        msg = p.decode(frames, **kwargs)
    except ProtocolError as exc:
        assert exc.code in {p.E_BAD_FRAME, p.E_BAD_VERSION, p.E_UNKNOWN_TYPE, p.E_BAD_BODY,
                            p.E_TOO_LARGE}
        return
    assert isinstance(msg.body, dict) and msg.type in p.SCHEMAS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=4))
def test_arbitrary_bytes_raise_only_protocol_error(frames: list[bytes]) -> None:
    _decode_or_protocol_error(frames)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(TYPES),
    st.binary(max_size=64),
    st.lists(st.binary(max_size=200), max_size=3),
    st.integers(50, 1000),
)
def test_valid_header_garbage_body_raises_only_protocol_error(
    msg_type: int, raw: bytes, blobs: list[bytes], max_blob: int
) -> None:
    head = p.HEADER.pack(p.SIGNATURE, p.VERSION, msg_type) + raw
    _decode_or_protocol_error([head, *blobs], max_header=200, max_blob=max_blob)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats()
    | st.text(max_size=10) | st.binary(max_size=10)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4))
    | st.builds(msgpack.Timestamp, st.integers(0, (1 << 34) - 1), st.integers(0, 999_999_999)),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.data())
def test_structured_garbage_raises_only_protocol_error(msg_type: int, data: st.DataObject) -> None:
    # Start from a valid body and replace or add fields with arbitrary values.
    body: dict[str, Any] = valid_body(msg_type, optional=data.draw(st.booleans()))
    keys = [*sorted(p.SCHEMAS[msg_type]), "extra"]
    for _ in range(data.draw(st.integers(0, 3))):
        body[data.draw(st.sampled_from(keys))] = data.draw(msgpack_values)
    frame = _frame(msg_type, body)
    try:
        msg = p.decode([frame])
    except ProtocolError as exc:
        assert exc.code == p.E_BAD_BODY
        return
    # Accepted: the decoded body holds plain msgpack data only (no extension objects).
    def plain(v: Any) -> bool:
        if isinstance(v, list):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str | bytes) and plain(x) for k, x in v.items())
        return v is None or isinstance(v, bool | int | float | str | bytes)

    assert plain(msg.body)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TYPES), st.integers(0, 10_000), st.integers(1, 255))
def test_bit_flips_raise_only_protocol_error(msg_type: int, pos: int, flip: int) -> None:
    frame = bytearray(p.encode(msg_type, valid_body(msg_type))[0])
    frame[pos % len(frame)] ^= flip
    _decode_or_protocol_error([bytes(frame)])


def test_header_struct_layout() -> None:
    assert p.HEADER.size == 4
    assert struct.unpack(">2sBB", p.encode(p.BYE, {})[0][:4]) == (b"TW", p.VERSION, p.BYE)
