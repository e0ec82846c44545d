"""`twin-sync` management commands on a real data directory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.netutil import ServerProcess
from tests.server.roomlog_kit import write_old_format_log
from twin_app.core import AddNode, Node, roomfile
from twin_app.net import SyncClient

pytestmark = pytest.mark.net


def twin_sync(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "sync_server", *args], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def test_token_rooms_export(tmp_path):
    data = tmp_path / "data"
    token = twin_sync("token", "--data", str(data), "--role", "designer", "--room", "line-2").strip()
    assert len(token) >= 20
    srv = ServerProcess(data).start()  # reads tokens.toml besides the test tokens
    try:
        c = SyncClient(srv.endpoint, "line-2", token, "Designer")
        c.start()
        assert c.wait_for(lambda: c.state == "live" and c.role == "designer")
        blob = b"not really a mesh, but content-addressed all the same"
        digest = c.assets.put(blob)
        c.submit(AddNode(Node("press", "root", "V", kind="part", name="Press", mesh=digest)), "add")
        assert c.wait_for(lambda: c.unacked_count == 0 and not c._agent.uploads, 20)
        expected = c.store.doc.hash()
        c.close()
    finally:
        srv.stop()
    listing = twin_sync("rooms", "--data", str(data))
    assert "line-2" in listing and "seq 1" in listing
    out = tmp_path / "line-2.twinroom"
    twin_sync("export", "--data", str(data), "line-2", str(out))
    doc, assets = roomfile.read(out)
    assert doc.hash() == expected
    assert assets == {digest: blob}


def test_keygen_writes_a_usable_key_pair(tmp_path):
    out = twin_sync("keygen", str(tmp_path / "keys"))
    public = out.strip().split()[-1]
    assert len(public) == 40
    assert (tmp_path / "keys" / "server.key_secret").stat().st_mode & 0o077 == 0  # private


def test_compact_shrinks_a_room_and_keeps_every_op(tmp_path):
    data = tmp_path / "data"
    (data / "rooms").mkdir(parents=True)
    path = data / "rooms" / "line-3.db"
    doc = write_old_format_log(path, keyframes=20, ops_between=100)
    before = path.stat().st_size
    # Refused while a server holds the data directory: its rooms may be open.
    srv = ServerProcess(data).start()
    try:
        busy = subprocess.run([sys.executable, "-m", "sync_server", "compact", "--data", str(data)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1 and "in use by another twin-sync" in busy.stdout
    finally:
        srv.stop()
    out = twin_sync("compact", "--data", str(data))
    assert out.startswith("line-3\t")
    assert path.stat().st_size < before / 2
    # Same document, every op still there, and a client joins it as before.
    exported = tmp_path / "after.twinroom"
    twin_sync("export", "--data", str(data), "line-3", str(exported))
    assert roomfile.read(exported)[0].hash() == doc.hash()
    assert "seq 2000" in twin_sync("rooms", "--data", str(data))
    srv = ServerProcess(data).start()
    try:
        c = SyncClient(srv.endpoint, "line-3", "owner-token", "Planner")
        c.start()
        assert c.wait_for(lambda: c.state == "live" and c.store.doc.hash() == doc.hash())
        c.close()
    finally:
        srv.stop()
