"""Mesh blobs and room files: exact round trips, typed errors on corrupt input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.core.core_kit import MESH_A, plant
from twin_app.core import meshblob, roomfile, snapshot
from twin_app.core.meshblob import MeshBlobError
from twin_app.core.ops import SetField, apply
from twin_app.core.roomfile import RoomFileError

CUBE_V = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=np.float64,
)
CUBE_F = np.array(
    [[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
     [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]],
    dtype=np.int64,
)


# -- mesh blobs -----------------------------------------------------------------------
def test_cube_round_trip_and_bounds() -> None:
    blob = meshblob.encode(CUBE_V, CUBE_F)
    assert blob.startswith(meshblob.MAGIC)
    v, f = meshblob.decode(blob)
    assert v.dtype == np.float32 and f.dtype == np.uint32
    np.testing.assert_array_equal(v, CUBE_V.astype(np.float32))
    np.testing.assert_array_equal(f, CUBE_F.astype(np.uint32))
    assert meshblob.bounds(v) == (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
    assert meshblob.bounds(np.zeros((0, 3), np.float32)) == (0.0,) * 6


def test_digest_names_content() -> None:
    blob = meshblob.encode(CUBE_V, CUBE_F)
    d = meshblob.digest(blob)
    assert len(d) == 64 and d == d.lower()
    assert meshblob.digest(meshblob.encode(CUBE_V, CUBE_F)) == d  # deterministic
    assert meshblob.digest(meshblob.encode(CUBE_V * 2, CUBE_F)) != d
    # The digest is a valid mesh reference for a node.
    doc = plant()
    apply(doc, SetField("robot", "mesh", d))


def test_empty_mesh() -> None:
    v, f = meshblob.decode(meshblob.encode(np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
    assert v.shape == (0, 3) and f.shape == (0, 3)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_meshes_round_trip(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 40))
    v = data.draw(hnp.arrays(np.float32, (n, 3), elements=st.floats(-1e6, 1e6, width=32)))
    f = data.draw(hnp.arrays(np.uint32, (data.draw(st.integers(0, 40)), 3),
                             elements=st.integers(0, n - 1)))
    v2, f2 = meshblob.decode(meshblob.encode(v, f))
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(f2, f)


def test_encode_refuses_dangling_faces() -> None:
    with pytest.raises(MeshBlobError):
        meshblob.encode(CUBE_V, np.array([[0, 1, 8]]))


def _blob_with(body: Any) -> bytes:
    return meshblob.MAGIC + msgpack.packb(body, use_bin_type=True)


V_BYTES = CUBE_V.astype("<f4").tobytes()
F_BYTES = CUBE_F.astype("<u4").tobytes()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"TWM",
        b"TWM2" + b"\x80",
        b"GLTF....",
        meshblob.MAGIC,
        meshblob.MAGIC + b"\xc1",
        _blob_with([V_BYTES, F_BYTES]),
        _blob_with({"v": V_BYTES}),
        _blob_with({"f": F_BYTES}),
        _blob_with({"v": "text", "f": F_BYTES}),
        _blob_with({"v": V_BYTES, "f": list(range(36))}),
        _blob_with({"v": V_BYTES[:-1], "f": F_BYTES}),  # not a whole number of vertices
        _blob_with({"v": V_BYTES, "f": F_BYTES[:-4]}),  # not a whole number of triangles
        _blob_with({"v": V_BYTES[:-12], "f": F_BYTES}),  # a face refers to a missing vertex
        _blob_with({"v": np.full((8, 3), np.nan, "<f4").tobytes(), "f": F_BYTES}),
        _blob_with({"v": np.full((8, 3), np.inf, "<f4").tobytes(), "f": F_BYTES}),
        _blob_with(5),
        _blob_with(None),
        meshblob.MAGIC + msgpack.packb({"v": V_BYTES, "f": F_BYTES}) + b"x",  # trailing data
        meshblob.MAGIC + msgpack.packb({"v": msgpack.ExtType(1, b"x"), "f": F_BYTES}),
        meshblob.MAGIC + b"\x82\xa1v\xc4\x0c" + b"\xff\xfe" * 6 + b"\xa1f\xc0",
        meshblob.MAGIC + b"\x81\xa2\xff\xfe\x01",  # invalid UTF-8 key
    ],
)
def test_corrupt_blobs_raise_mesh_blob_error(blob: bytes) -> None:
    with pytest.raises(MeshBlobError):
        meshblob.decode(blob)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_garbage_blobs_raise_only_mesh_blob_error(tail: bytes, magic: bool) -> None:
    try:
        meshblob.decode((meshblob.MAGIC if magic else b"") + tail)
    except MeshBlobError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_bit_flipped_blobs_decode_or_raise_mesh_blob_error(pos: int, flip: int) -> None:
    blob = bytearray(meshblob.encode(CUBE_V, CUBE_F))
    blob[pos % len(blob)] ^= flip
    try:
        v, f = meshblob.decode(bytes(blob))
    except MeshBlobError:
        return
    # Whatever decodes is a usable mesh: finite vertices, faces within range.
    assert np.isfinite(v).all()
    assert len(f) == 0 or int(f.max()) < len(v)


# -- room files -----------------------------------------------------------------------
def _room() -> tuple[Any, dict[str, bytes]]:
    doc = plant()
    blob = meshblob.encode(CUBE_V, CUBE_F)
    h = meshblob.digest(blob)
    apply(doc, SetField("robot", "mesh", h))
    return doc, {h: blob}


def test_room_file_round_trip(tmp_path: Path) -> None:
    doc, assets = _room()
    path = tmp_path / "plant.twinroom"
    roomfile.write(path, doc, assets, name="Plant")
    assert not (tmp_path / "plant.twinroom.tmp").exists()
    loaded, loaded_assets = roomfile.read(path)
    assert loaded.hash() == doc.hash()
    assert loaded.nodes == doc.nodes
    assert loaded_assets == assets
    mesh = loaded.nodes["robot"].mesh
    assert mesh is not None
    v, _ = meshblob.decode(loaded_assets[mesh])
    assert len(v) == 8


def test_room_file_overwrite_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "plant.twinroom"
    doc, assets = _room()
    roomfile.write(path, doc, assets)
    roomfile.write(path, plant(), {})
    loaded, loaded_assets = roomfile.read(path)
    assert loaded.hash() == plant().hash() and loaded_assets == {}


def test_missing_room_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        roomfile.read(tmp_path / "nope.twinroom")


def _body() -> dict[str, Any]:
    doc, assets = _room()
    body = msgpack.unpackb(roomfile.dumps(doc, assets, "Plant"), raw=False)
    assert isinstance(body, dict)
    return body


def _with(**changes: Any) -> bytes:
    body = _body()
    for k, v in changes.items():
        if v is _DROP:
            del body[k]
        else:
            body[k] = v
    return msgpack.packb(body, use_bin_type=True)


_DROP = object()


def test_asset_hash_mismatch_is_detected() -> None:
    body = _body()
    (h, blob), = body["assets"].items()
    body["assets"] = {h: blob[:-1] + bytes([blob[-1] ^ 1])}
    with pytest.raises(RoomFileError, match="does not match its hash"):
        roomfile.loads(msgpack.packb(body, use_bin_type=True))
    body["assets"] = {MESH_A: blob}  # right blob, wrong name
    with pytest.raises(RoomFileError, match="does not match its hash"):
        roomfile.loads(msgpack.packb(body, use_bin_type=True))


def test_document_hash_mismatch_is_detected() -> None:
    other = plant()
    apply(other, SetField("robot", "name", "tampered"))
    with pytest.raises(RoomFileError, match="hash mismatch"):
        roomfile.loads(_with(chunks=snapshot.encode(other)))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all",
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"format": "something-else", "version": 1}),
        msgpack.packb({1: 2}),
    ],
)
def test_not_a_room_file(data: bytes) -> None:
    with pytest.raises(RoomFileError):
        roomfile.loads(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"version": _DROP},
        {"format": _DROP},
        {"chunks": _DROP},
        {"chunks": []},
        {"chunks": 5},
        {"chunks": [b"\xc1"]},
        {"chunks": ["text"]},
        {"assets": [1, 2]},
        {"assets": {"ab": "not bytes"}},
        {"assets": {"ab": 5}},
        {"assets": "x"},
    ],
    ids=repr,
)
def test_corrupt_room_files_raise_room_file_error(changes: dict[str, Any]) -> None:
    with pytest.raises(RoomFileError):
        roomfile.loads(_with(**changes))


def test_truncated_room_file() -> None:
    data = _with()
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(RoomFileError):
            roomfile.loads(data[:cut])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_bit_flipped_room_files_raise_only_room_file_error(pos: int, flip: int) -> None:
    data = bytearray(_with())
    data[pos % len(data)] ^= flip
    try:
        doc, assets = roomfile.loads(bytes(data))
    except RoomFileError:
        return
    # A flip that survives every check must not corrupt anything: the document is intact
    # and no damaged mesh is accepted. (A flip in the key "assets" or "hash" drops that
    # optional entry; the format has no whole-file checksum.)
    assert doc.hash() == _room()[0].hash()
    assert assets.items() <= _room()[1].items()
