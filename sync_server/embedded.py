"""A local sync server for the desktop app: the same server, in a child process.

``twin-app`` with no arguments starts one on a per-user data directory so a designer can
work alone at once and let colleagues join: it listens on all interfaces (port 7700 if
free), and keeps two tokens in ``tokens.toml`` — one for the local owner, one to share
with others (designer role). The child process watches its parent and exits if the app
dies, so no orphan server keeps the port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from sync_server.config import add_token, load_tokens
from sync_server.server import data_dir_holder

DEFAULT_PORT = 7700


class EmbeddedServerError(RuntimeError):
    """The local server could not start (the message says why)."""


class EmbeddedServer:
    """Run ``twin-sync serve`` for the local user; see the module docstring."""

    def __init__(self, data_dir: Path, bind: str | None = None, seed_demo: bool = True) -> None:
        self.data_dir = data_dir
        self.bind = bind
        self.seed_demo = seed_demo
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.share_address = ""
        self.owner_token = ""
        self.share_token = ""
        self.log_path = data_dir / "server.log"
        self.attached = False  # True when another window's server was already running

    def _tokens(self) -> None:
        path = self.data_dir / "tokens.toml"
        grants = load_tokens(path)
        owners = [t for t, g in grants.items() if g.role == "owner" and g.label == "local owner"]
        shares = [t for t, g in grants.items() if g.role == "designer" and g.label == "shared"]
        self.owner_token = owners[0] if owners else add_token(path, "owner", None, "local owner")
        self.share_token = shares[0] if shares else add_token(path, "designer", None, "shared")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it listens. Raises ``EmbeddedServerError``.

        If a server already runs on this data directory (another window of the app),
        attach to it instead of starting a second one.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._tokens()
        running = data_dir_holder(self.data_dir)
        if running:
            self._set_addresses(running)
            self.attached = True
            return
        binds = [self.bind] if self.bind else [f"tcp://0.0.0.0:{DEFAULT_PORT}", "tcp://0.0.0.0:*"]
        errors = []
        for bind in binds:
            line = self._spawn(bind, timeout)
            if line.startswith("twin-sync listening on"):
                self._set_addresses(line.split()[3])
                return
            errors.append(line or "no output")
        raise EmbeddedServerError("the local server did not start: " + "; ".join(errors) + f" (log: {self.log_path})")

    def _set_addresses(self, bound: str) -> None:
        port = bound.rsplit(":", 1)[1]
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.share_address = f"tcp://{socket.gethostname()}:{port}"
        self.bind = f"tcp://0.0.0.0:{port}"  # a restart keeps the address people have

    def ensure_running(self) -> bool:
        """Restart the server if it died (crash, OOM kill); True if it had to.

        The app calls this now and then: clients reconnect by themselves to the same
        address, and the room log brings back every acknowledged edit.
        """
        if self.attached or self.proc is None or self.proc.poll() is None:
            return False
        self.proc = None
        self.start()
        return True

    def _spawn(self, bind: str, timeout: float) -> str:
        args = [
            sys.executable, "-m", "sync_server", "serve", "--bind", bind,
            "--data", str(self.data_dir), "--parent-pid", str(os.getpid()),
        ]
        if self.seed_demo:
            args.append("--demo")
        log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        out: list[str] = []
        stdout = self.proc.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = out[0].strip() if out else ""
        if not line.startswith("twin-sync listening on"):
            self.stop()
        return line

    def stop(self) -> None:
        """Stop the server (flushes its logs) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
