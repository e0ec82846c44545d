"""Content-addressed mesh transfer: upload only what is missing, download on demand,
resume interrupted transfers, refuse corrupt data."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from tests.server.test_robustness import raw_dealer, recv
from twin_app import protocol

pytestmark = pytest.mark.net


def test_upload_then_download_by_hash(server, make_client, room_name, tmp_path):
    a = make_client(room_name, state_dir=tmp_path / "a")
    b = make_client(room_name, state_dir=tmp_path / "b")
    assert a.wait_for(lambda: a.state == "live") and b.wait_for(lambda: b.state == "live")
    blob = os.urandom(1_500_000)  # six chunks
    digest = a.assets.put(blob)
    assert digest == hashlib.sha256(blob).hexdigest()
    assert a.assets.get(digest) == blob  # local at once
    arrived = []
    b.assets.on_arrived.append(arrived.append)
    b.assets.want([digest])
    assert b.wait_for(lambda: arrived, 20)
    assert b.assets.get(digest) == blob
    stored = server.data / "assets" / digest[:2] / digest
    assert stored.read_bytes() == blob


def test_upload_skips_what_the_server_has(server, make_client, room_name):
    a = make_client(room_name)
    assert a.wait_for(lambda: a.state == "live")
    blob = b"mesh" * 1000
    digest = hashlib.sha256(blob).hexdigest()
    s = raw_dealer(server.endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "owner-token", "client_id": "x", "name": "x"}))
    recv(s)
    s.send_multipart(protocol.encode(protocol.ASSET_HAVE, {"hashes": [digest]}))
    assert recv(s).body == {"hashes": [digest], "offsets": [0]}
    progress = []
    a.assets.on_progress.append(lambda h, d, done, total: progress.append((d, done, total)))
    a.assets.put(blob)
    assert a.wait_for(lambda: ("up", len(blob), len(blob)) in progress)
    s.send_multipart(protocol.encode(protocol.ASSET_HAVE, {"hashes": [digest]}))
    assert recv(s).body == {"hashes": [], "offsets": []}
    s.close()


def test_interrupted_upload_resumes_and_corrupt_upload_is_refused(server):
    blob = os.urandom(700_000)
    digest = hashlib.sha256(blob).hexdigest()
    s = raw_dealer(server.endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "owner-token", "client_id": "u", "name": "u"}))
    recv(s)
    # First 300 000 bytes, then the connection "drops".
    s.send_multipart(protocol.encode(protocol.ASSET_PUT, {"hash": digest, "size": len(blob), "offset": 0}, [blob[:300_000]]))
    assert recv(s).body["offset"] == 300_000
    s.close()
    s = raw_dealer(server.endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "owner-token", "client_id": "u", "name": "u"}))
    recv(s)
    s.send_multipart(protocol.encode(protocol.ASSET_HAVE, {"hashes": [digest]}))
    assert recv(s).body == {"hashes": [digest], "offsets": [300_000]}  # resume point
    # A chunk at the wrong offset is refused without damage.
    s.send_multipart(protocol.encode(protocol.ASSET_PUT, {"hash": digest, "size": len(blob), "offset": 0}, [blob[:10]]))
    bad = recv(s).body
    assert bad["error"] and bad["offset"] == 300_000
    s.send_multipart(protocol.encode(protocol.ASSET_PUT, {"hash": digest, "size": len(blob), "offset": 300_000}, [blob[300_000:]]))
    assert recv(s).body == {"hash": digest, "offset": len(blob)}
    s.send_multipart(protocol.encode(protocol.ASSET_GET, {"hash": digest, "offset": 0}))
    reply = recv(s)
    assert reply.body["size"] == len(blob) and reply.blobs[0] == blob[:262_144]
    # Bytes that do not match their claimed hash are discarded, never served.
    fake = hashlib.sha256(b"something else").hexdigest()
    s.send_multipart(protocol.encode(protocol.ASSET_PUT, {"hash": fake, "size": 5, "offset": 0}, [b"hello"]))
    assert "does not match" in recv(s).body["error"]
    s.send_multipart(protocol.encode(protocol.ASSET_HAVE, {"hashes": [fake]}))
    assert recv(s).body == {"hashes": [fake], "offsets": [0]}
    s.close()


def test_viewer_cannot_upload(server):
    s = raw_dealer(server.endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "viewer-token", "client_id": "v", "name": "v"}))
    recv(s)
    digest = hashlib.sha256(b"x").hexdigest()
    s.send_multipart(protocol.encode(protocol.ASSET_PUT, {"hash": digest, "size": 1, "offset": 0}, [b"x"]))
    assert "cannot upload" in recv(s).body["error"]
    s.close()


def test_interrupted_download_resumes_from_local_bytes(server, make_client, room_name, tmp_path):
    a = make_client(room_name)
    assert a.wait_for(lambda: a.state == "live")
    blob = os.urandom(900_000)
    digest = a.assets.put(blob)
    assert a.wait_for(lambda: a.unacked_count == 0 and not a._agent.uploads, 20)
    # A previous run of b got the first 400 000 bytes before it was killed.
    part = tmp_path / "b" / "assets" / digest[:2] / (digest + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(blob[:400_000])
    b = make_client(room_name, state_dir=tmp_path / "b")
    assert b.wait_for(lambda: b.state == "live")
    sizes = []
    b.assets.on_progress.append(lambda h, d, done, total: sizes.append(done))
    b.assets.want([digest])
    assert b.wait_for(lambda: b.assets.has(digest), 20)
    assert b.assets.get(digest) == blob
    assert min(sizes) > 400_000  # it never fetched the bytes it had


def test_a_bad_mesh_reference_is_a_placeholder_not_a_stop(tmp_path):
    # A room (seeded from a file, as old data can be) where one part names its mesh with
    # something that is not a content hash. A client with a disk cache still gets every
    # other mesh, and is told once about the bad one.
    from tests.netutil import ServerProcess
    from twin_app.core import meshblob, roomfile
    from twin_app.core.document import Document, Node
    from twin_app.core.ids import ROOT_ID
    from twin_app.net import SyncClient

    blob = meshblob.encode(np.zeros((3, 3), "f4"), np.array([[0, 1, 2]], "u4"))
    good = meshblob.digest(blob)
    doc = Document()
    doc.insert(Node("bad", ROOT_ID, "V", kind="part", name="Odd", mesh="ab" * 16))
    doc.insert(Node("good", ROOT_ID, "W", kind="part", name="Fine", mesh=good))
    roomfile.write(tmp_path / "seed.twinroom", doc, {good: blob}, "seeded")
    srv = ServerProcess(tmp_path / "data", ["--seed", f"seeded={tmp_path / 'seed.twinroom'}"]).start()
    c = SyncClient(srv.endpoint, "seeded", "owner-token", "me", state_dir=tmp_path / "me")
    notices: list[str] = []
    c.on_error.append(lambda code, reason: notices.append(reason))
    try:
        c.start()
        assert c.wait_for(lambda: c.state == "live" and c.assets.has(good), 20)
        assert c.assets.get("ab" * 16) is None and not c.assets.has("ab" * 16)
        assert len(notices) == 1 and "drawn as a box" in notices[0]
        c.resync()  # told once, not at every snapshot
        assert c.wait_for(lambda: c.counters["joins"] >= 2 and c.state == "live", 10)
        assert len(notices) == 1
    finally:
        c.close()
        srv.stop()
