"""`twin-sync` management commands on a real data directory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.netutil import ServerProcess
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
