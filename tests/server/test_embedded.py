"""The app's embedded server: encrypted, on this machine only until shared, tokens hashed."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from sync_server.embedded import EmbeddedServer
from sync_server.server import data_dir_holder
from twin_app.core import AddNode, Node, new_id
from twin_app.net import SyncClient

pytestmark = pytest.mark.net


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add(client: SyncClient, name: str) -> Node:
    n = Node(new_id(), "root", "V", kind="part", name=name)
    client.submit(AddNode(n), "add")
    return n


def test_first_start_is_encrypted_local_and_keeps_no_plain_token(tmp_path):
    data = tmp_path / "local"
    emb = EmbeddedServer(data, bind="tcp://127.0.0.1:*", seed_demo=False)
    emb.start()
    clients = []
    try:
        assert data_dir_holder(data).startswith("tcp://127.0.0.1:")  # this machine only
        assert not emb.shared
        assert len(emb.server_key) == 40
        assert mode(data / "keys") == 0o700 and mode(emb.secret_key_file) == 0o600
        text = (data / "tokens.toml").read_text()
        assert emb.owner_token not in text and emb.share_token not in text
        assert text.count('hash = "sha256:') == 2
        assert mode(data / "local-tokens.json") == 0o600
        good = SyncClient(emb.endpoint, "r", emb.owner_token, "me", server_key=emb.server_key)
        plain = SyncClient(emb.endpoint, "r", emb.owner_token, "eve")
        clients = [good, plain]
        for c in clients:
            c.start()
        assert good.wait_for(lambda: good.state == "live")
        assert not plain.wait_for(lambda: plain.state == "live", 2.0)  # no key, no room
    finally:
        for c in clients:
            c.close()
        emb.stop()
    again = EmbeddedServer(data, bind="tcp://127.0.0.1:*", seed_demo=False)
    again.start()  # the same keys and tokens on the next start
    try:
        assert (again.server_key, again.owner_token, again.share_token) == (
            emb.server_key, emb.owner_token, emb.share_token)
    finally:
        again.stop()


def test_plain_tokens_of_an_older_version_are_migrated_to_hashes(tmp_path):
    data = tmp_path / "local"
    data.mkdir()
    (data / "tokens.toml").write_text(
        '[[token]]\nvalue = "old-owner-secret-123"\nrole = "owner"\nrooms = ["*"]\nlabel = "local owner"\n'
        '[[token]]\nvalue = "old-shared-secret-456"\nrole = "designer"\nrooms = ["*"]\nlabel = "shared"\n'
        '[[token]]\nvalue = "site-b-secret-789"\nrole = "designer"\nrooms = ["r"]\nlabel = "Site B"\n'
    )
    emb = EmbeddedServer(data, bind="tcp://127.0.0.1:*", seed_demo=False)
    emb.start()
    viewer = SyncClient(emb.endpoint, "r", "site-b-secret-789", "Site B", server_key=emb.server_key)
    try:
        text = (data / "tokens.toml").read_text()
        assert "secret" not in text and "value" not in text
        assert mode(data / "tokens.toml") == 0o600
        # Invitations already handed out keep working.
        assert (emb.owner_token, emb.share_token) == ("old-owner-secret-123", "old-shared-secret-456")
        assert json.loads((data / "local-tokens.json").read_text())["share"] == "old-shared-secret-456"
        viewer.start()
        assert viewer.wait_for(lambda: viewer.state == "live" and viewer.role == "designer")
    finally:
        viewer.close()
        emb.stop()


def test_share_rebinds_on_every_interface_and_nobody_loses_an_edit(tmp_path):
    emb = EmbeddedServer(tmp_path / "local", bind="tcp://127.0.0.1:*", seed_demo=False)
    emb.start()
    c = SyncClient(emb.endpoint, "r", emb.owner_token, "me", state_dir=tmp_path / "me",
                   server_key=emb.server_key)
    try:
        c.start()
        assert c.wait_for(lambda: c.state == "live")
        before = add(c, "before")
        assert c.wait_for(lambda: c.unacked_count == 0)
        port = emb.endpoint.rsplit(":", 1)[1]
        emb.share()
        assert emb.shared and emb.endpoint.endswith(f":{port}")  # same port
        assert data_dir_holder(tmp_path / "local") == f"tcp://0.0.0.0:{port}"
        assert emb.share_address.endswith(f":{port}")
        after = add(c, "after")
        assert c.wait_for(lambda: c.state == "live" and c.unacked_count == 0, 30)
        assert before.id in c.store.doc and after.id in c.store.doc
    finally:
        c.close()
        emb.stop()


def test_twin_sync_token_keeps_only_its_hash(tmp_path):
    data = tmp_path / "data"
    token = subprocess.run([sys.executable, "-m", "sync_server", "token", "--data", str(data), "--role", "owner"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    text = (data / "tokens.toml").read_text()
    assert len(token) >= 20 and token not in text and "sha256:" in text
    assert mode(data / "tokens.toml") == 0o600
