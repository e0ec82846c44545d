"""`twin-sync serve` as a service runs it: settings from the environment, tokens from a file,
a health check, logs on stdout, and SIGTERM in the middle of editing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sync_server.embedded import LISTENING, read_listening_line
from tests.netutil import ServerProcess
from twin_app.core import AddNode, Node, SetField
from twin_app.core.fracindex import keys_between
from twin_app.net import SyncClient

pytestmark = pytest.mark.net


def twin_sync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync_server", *args], check=False, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_sigterm_mid_burst_acks_what_it_accepted_and_sends_clients_to_reconnect(tmp_path):
    srv = ServerProcess(tmp_path / "data").start()
    a = SyncClient(srv.endpoint, "line-1", "owner-token", "Ada")
    b = SyncClient(srv.endpoint, "line-1", "designer-token", "Bo")
    try:
        for c in (a, b):
            c.start()
            assert c.wait_for(lambda c=c: c.state == "live")
        keys = keys_between(None, None, 20)
        for i in range(20):
            a.submit(AddNode(Node(f"p{i}", "root", keys[i], kind="part", name=f"P{i}")), "add")
        acked: list[int] = []
        a.on_ack.append(lambda cseq, seq: acked.append(cseq))
        states: list[tuple[str, str]] = []
        b.on_state.append(lambda state, detail: states.append((state, detail)))
        assert a.wait_for(lambda: a.unacked_count == 0)
        for k in range(600):
            a.submit(SetField(f"p{k % 20}", "prop:flow", float(k)), "flow")
            a.process_events()
            if k == 300:
                srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=30) == 0
        assert b.wait_for(lambda: any(s == "offline" for s, _ in states), 10)
        assert any("the server is stopping" in d for s, d in states if s == "offline")
        a.process_events()
        assert a.unacked_count > 0  # edits made after SIGTERM wait in a's outbox
        # Every edit the server acknowledged is in its log.
        db = sqlite3.connect(srv.data / "rooms" / "line-1.db")
        logged = {row[0] for row in db.execute("SELECT cseq FROM ops WHERE client_id = ?", (a.client_id,))}
        db.close()
        assert acked and set(acked) <= logged
        # Back up again on the same port: both reconnect, the rest is resent, all converge.
        srv.start()
        assert a.wait_for(lambda: a.state == "live" and a.unacked_count == 0, 30)
        assert b.wait_for(lambda: b.state == "live" and b.store.last_seq == a.store.last_seq, 30)
        assert a.store.doc.hash() == b.store.doc.hash()
        assert a.store.doc.nodes["p19"].props["flow"] == 599.0
    finally:
        a.close()
        b.close()
        srv.stop()


def test_service_settings_from_environment_and_token_file_with_health_and_stdout_logs(tmp_path):
    data = tmp_path / "data"
    secrets = tmp_path / "tokens"
    secrets.write_text("# site tokens\nsite-a-secret:designer\nviewer-secret:viewer:line-1\n")
    env = {
        **os.environ, "PYTHONUNBUFFERED": "1",
        "TWIN_SYNC_DATA": str(data), "TWIN_SYNC_BIND": "tcp://127.0.0.1:*",
        "TWIN_SYNC_TOKEN_FILE": str(secrets), "TWIN_SYNC_TOKENS": "env-owner:owner",
        "TWIN_SYNC_LOG_LEVEL": "info",
    }
    proc = subprocess.Popen([sys.executable, "-m", "sync_server", "--log-stdout", "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # With --log-stdout, log lines share stdout with the listening line, in either order.
        early = []
        while not (line := read_listening_line(proc, 30)).startswith(LISTENING):
            assert line, f"no listening line; stdout so far: {early}"
            early.append(line)
        endpoint = line.split()[3]
        health = twin_sync("health", "--data", str(data))
        assert health.returncode == 0, health.stdout
        assert f"ok: {endpoint}" in health.stdout
        for token in ("site-a-secret", "env-owner"):
            c = SyncClient(endpoint, "line-1", token, "Site A")
            c.start()
            assert c.wait_for(lambda c=c: c.state == "live"), c.state_detail
            c.close()
        proc.send_signal(signal.SIGTERM)
        # Read through the same text wrappers as the listening line: communicate() reads
        # the pipes' descriptors and would miss what the wrapper already buffered.
        proc.wait(timeout=30)
        assert proc.stdout is not None and proc.stderr is not None
        out = "\n".join(early) + "\n" + proc.stdout.read()
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "serving" in out and "stopped" in out  # logs on stdout, for the journal / container
    assert "site-a-secret" not in out + err and "env-owner" not in out + err
    assert not (data / "tokens.toml").exists()  # secrets from outside are never written down
    gone = twin_sync("health", "--data", str(data))
    assert gone.returncode == 1 and "no server runs" in gone.stdout


def test_a_bad_token_file_is_named_without_showing_its_secrets(tmp_path):
    secrets = tmp_path / "tokens"
    secrets.write_text("good-secret:designer\nvery-secret:emperor\n")
    r = twin_sync("serve", "--data", str(tmp_path / "d"), "--token-file", str(secrets))
    assert r.returncode == 2
    assert f"{secrets}, line 2: unknown role 'emperor'" in r.stdout
    assert "very-secret" not in r.stdout + r.stderr


def test_systemd_credentials_directory_is_read(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tokens").write_text("cred-secret:owner\n")
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
    proc = subprocess.Popen([sys.executable, "-m", "sync_server", "serve", "--data", str(tmp_path / "d"),
                             "--bind", "tcp://127.0.0.1:*"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = read_listening_line(proc, 30)
        assert line.startswith(LISTENING), line
        c = SyncClient(line.split()[3], "r", "cred-secret", "Ops")
        c.start()
        assert c.wait_for(lambda: c.state == "live" and c.role == "owner")
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_service_files_use_only_what_this_release_has():
    import re

    from sync_server.config import ENV

    root = Path(__file__).resolve().parents[2]
    unit = (root / "packaging" / "twin-sync.service").read_text()
    container = (root / "packaging" / "Containerfile").read_text()
    help_text = "".join(twin_sync(*cmd, "--help").stdout for cmd in ([], ["serve"], ["health"], ["backup"]))
    for text in (unit, container):
        for var in set(re.findall(r"TWIN_SYNC_[A-Z_]+", text)):
            assert var in ENV, var
        for line in text.splitlines():
            if "twin-sync" in line and not line.lstrip().startswith("#"):
                for option in re.findall(r"(?<![\w-])--[a-z][a-z-]+", line):
                    assert option in help_text, (option, line)
    assert "twin-sync health" in unit and '"health"' in container and "HEALTHCHECK" in container
    assert "VOLUME" in container and "STOPSIGNAL SIGTERM" in container
    assert "KillSignal=SIGTERM" in unit and "LoadCredential=tokens" in unit
    assert "--log-stdout" in unit and "--log-stdout" in container
