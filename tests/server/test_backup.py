"""`twin-sync backup` while the server is serving a burst of edits, and `twin-sync restore`.

The backup is taken the way an operator does it — the command, in its own process, next to
a running server — while a client keeps editing. It must restore into a fresh server as a
consistent room: exactly the original room at one seq (the hash a client sees after the
restore equals the original log replayed to that seq), every acknowledged edit up to it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from tests.netutil import ServerProcess
from twin_app.core import AddNode, Node, SetField, snapshot
from twin_app.core.fracindex import keys_between
from twin_app.core.ops import apply
from twin_app.net import SyncClient

pytestmark = pytest.mark.net

ROOM = "line-4"


def twin_sync(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync_server", *args], capture_output=True,
                          text=True, check=check, timeout=120)


def replay_to(path, seq: int) -> str:
    """The hash of a room log's document at ``seq`` (read straight from the file)."""
    from sync_server.roomlog import connect, read_keyframe, read_ops

    db = connect(path)
    try:
        kf = read_keyframe(db, seq)
        assert kf is not None
        doc = snapshot.decode(kf.chunks)
        for e in read_ops(db, kf.seq + 1, seq):
            apply(doc, e.op)
    finally:
        db.close()
    return doc.hash()


def test_backup_during_a_burst_restores_to_a_consistent_room(tmp_path):
    data, out, restored = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    srv = ServerProcess(data).start()
    try:
        c = SyncClient(srv.endpoint, ROOM, "owner-token", "Ada")
        c.start()
        assert c.wait_for(lambda: c.state == "live")
        keys = keys_between(None, None, 50)
        for i in range(50):
            c.submit(AddNode(Node(f"valve{i}", "root", keys[i], kind="part", name=f"Valve {i}")), "add")
        assert c.wait_for(lambda: c.unacked_count == 0, 20)
        # The burst: edits keep going in while the backup command runs next to the server.
        proc = subprocess.Popen([sys.executable, "-m", "sync_server", "backup", "--data", str(data),
                                 str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sent = 0
        while proc.poll() is None or sent < 400:
            c.submit(SetField(f"valve{sent % 50}", "prop:opening", float(sent)), "open")
            sent += 1
            c.process_events()
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stdout + stderr
        assert c.wait_for(lambda: c.unacked_count == 0, 30)
        live_head = c.store.last_seq
        c.close()
    finally:
        srv.stop()

    manifest = json.loads((out / "backup.json").read_text())
    room = manifest["rooms"][ROOM]
    assert f"{ROOM}\tseq {room['seq']}" in stdout
    # A consistent cut: the original log at the backup's seq is the backed-up room.
    # Edits went in before the copy and after it: the backup was taken mid-burst.
    assert 50 < room["seq"] < live_head, (room["seq"], live_head, sent)
    assert replay_to(data / "rooms" / f"{ROOM}.db", room["seq"]) == room["hash"]
    assert (out / "tokens.toml").exists() or not (data / "tokens.toml").exists()

    result = twin_sync("restore", str(out), "--data", str(restored))
    assert "every hash checked" in result.stdout
    fresh = ServerProcess(restored).start()
    try:
        c = SyncClient(fresh.endpoint, ROOM, "owner-token", "Bo")
        c.start()
        assert c.wait_for(lambda: c.state == "live" and c.store.last_seq == room["seq"], 20)
        assert c.store.doc.hash() == room["hash"]
        assert len(c.store.doc) == room["nodes"]
        # The restored room is a working room: editing goes on from its head.
        c.submit(SetField("valve0", "name", "Valve 0 (restored)"), "rename")
        assert c.wait_for(lambda: c.unacked_count == 0, 20)
        assert c.store.last_seq == room["seq"] + 1
        c.close()
    finally:
        fresh.stop()


def test_restore_refuses_a_damaged_backup_and_a_used_directory(tmp_path):
    data, out = tmp_path / "data", tmp_path / "backup"
    srv = ServerProcess(data).start()
    try:
        c = SyncClient(srv.endpoint, ROOM, "owner-token", "Ada")
        c.start()
        assert c.wait_for(lambda: c.state == "live")
        c.submit(AddNode(Node("pump", "root", "V", kind="part", name="Pump")), "add")
        c.submit(SetField("pump", "name", "Feed pump"), "rename")
        assert c.wait_for(lambda: c.unacked_count == 0, 20)
        c.close()
        twin_sync("backup", "--data", str(data), str(out))
        # A running server's data directory is never overwritten.
        busy = twin_sync("restore", str(out), "--data", str(data), check=False)
        assert busy.returncode == 1 and "in use" in busy.stdout, busy.stdout
    finally:
        srv.stop()
    again = twin_sync("backup", "--data", str(data), str(out), check=False)
    assert again.returncode == 1 and "not empty" in again.stdout

    db = sqlite3.connect(out / "rooms" / f"{ROOM}.db")
    db.execute("DELETE FROM ops WHERE seq = (SELECT max(seq) FROM ops)")  # lose the last edit
    db.commit()
    db.close()
    target = tmp_path / "restored"
    bad = twin_sync("restore", str(out), "--data", str(target), check=False)
    assert bad.returncode == 1
    assert "damaged" in bad.stdout and ROOM in bad.stdout
    assert not target.exists() or not any(target.iterdir())
