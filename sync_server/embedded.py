"""A local sync server for the desktop app: the same server, in a child process.

``twin-app`` with no arguments starts one on a per-user data directory so a designer can
work alone at once and let colleagues join later:

* **This machine only until you share.** It listens on ``127.0.0.1`` (port 7700 if free).
  ``share()`` restarts it on every network interface, on the same port, so colleagues
  can join; clients (this window too) reconnect within a second and lose nothing.
* **Encrypted.** CurveZMQ is on: a key pair is made on first start in ``keys/`` (the
  secret key readable by this user only) and the share details carry the public key.
* **Two tokens**: one for the local owner, one to share (designer role). ``tokens.toml``
  holds only their hashes; the secrets themselves, which the app must show again, live in
  ``local-tokens.json`` (0600) next to it.

The child process watches its parent and exits if the app dies, so no orphan server
keeps the port. ``start``, ``restart`` and ``share`` wait for the child's "listening" line
(seconds on a big room): call them off the GUI thread.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import zmq.auth

from sync_server.config import add_token, load_tokens, token_hash
from sync_server.server import data_dir_holder

DEFAULT_PORT = 7700
LOCAL_HOST = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (only after the user chose to share)
LISTENING = "twin-sync listening on"


class EmbeddedServerError(RuntimeError):
    """The local server could not start (the message says why)."""


def read_listening_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """Wait up to ``timeout`` s for ``twin-sync serve``'s first stdout line; return it.

    Returns ``""`` if none came in time. The one place that parses a starting server.
    """
    out: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: out.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0].strip() if out else ""


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


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
        self.server_key = ""  # Z85 public key clients need (CurveZMQ)
        self.shared = False  # listening on every interface
        self.log_path = data_dir / "server.log"
        self.attached = False  # True when another window's server was already running
        self._lock = threading.Lock()  # one start/restart at a time

    # -- first start: keys and tokens -----------------------------------------------------
    @property
    def secret_key_file(self) -> Path:
        """The server's CurveZMQ secret key (made on first start, 0600)."""
        return self.data_dir / "keys" / "server.key_secret"

    def _keys(self) -> None:
        if not self.secret_key_file.exists():
            keys = _private_dir(self.data_dir / "keys")
            _, secret = zmq.auth.create_certificates(str(keys), "server")
            os.chmod(secret, 0o600)
        public, _ = zmq.auth.load_certificate(str(self.secret_key_file))
        self.server_key = public.decode()

    def _tokens(self) -> None:
        path = self.data_dir / "tokens.toml"
        local = self.data_dir / "local-tokens.json"
        mine: dict[str, str] = json.loads(local.read_text("utf-8")) if local.exists() else {}
        if not mine and path.exists():
            mine = _legacy_tokens(path)  # plain tokens of an older version: keep using them
        grants = load_tokens(path)  # (migrates plain tokens to hashes)
        for key, role, label in (("owner", "owner", "local owner"), ("share", "designer", "shared")):
            value = mine.get(key, "")
            if not value or token_hash(value) not in grants:
                mine[key] = add_token(path, role, None, label)
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(mine, fh)
        self.owner_token, self.share_token = mine["owner"], mine["share"]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it listens. Raises ``EmbeddedServerError``.

        If a server already runs on this data directory (another window of the app),
        attach to it instead of starting a second one.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._keys()
        self._tokens()
        running = data_dir_holder(self.data_dir)
        if running:
            self._set_addresses(running)
            self.attached = True
            return
        with self._lock:
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        if self.bind:
            binds = [self.bind]
        else:
            binds = [f"tcp://{LOCAL_HOST}:{DEFAULT_PORT}", f"tcp://{LOCAL_HOST}:*"]
        errors = []
        for bind in binds:
            line = self._spawn(bind, timeout)
            if line.startswith(LISTENING):
                self._set_addresses(line.split()[3])
                return
            errors.append(line or "no output")
        raise EmbeddedServerError("the local server did not start: " + "; ".join(errors) + f" (log: {self.log_path})")

    def _set_addresses(self, bound: str) -> None:
        host, port = bound.removeprefix("tcp://").rsplit(":", 1)
        self.shared = host != LOCAL_HOST
        self.endpoint = f"tcp://{LOCAL_HOST}:{port}"
        self.share_address = f"tcp://{socket.gethostname()}:{port}"
        # A restart keeps the address (and the reach) people have.
        self.bind = f"tcp://{ALL_INTERFACES if self.shared else LOCAL_HOST}:{port}"

    def alive(self) -> bool:
        """True unless the child this object started has exited (never blocks)."""
        return self.attached or self.proc is None or self.proc.poll() is None

    def ensure_running(self) -> bool:
        """Restart the server if it died (crash, OOM kill); True if it had to.

        Clients reconnect by themselves to the same address, and the room log brings back
        every acknowledged edit. Blocks while the child starts: not on the GUI thread.
        """
        if self.alive():
            return False
        with self._lock:
            self.proc = None
            self._start(30.0)
        return True

    def share(self, timeout: float = 30.0) -> None:
        """Listen on every network interface (same port, still encrypted) from now on.

        Restarts the child; connected clients reconnect. Raises ``EmbeddedServerError``.
        Blocks while the child starts: not on the GUI thread.
        """
        if self.shared:
            return
        if self.attached:
            raise EmbeddedServerError("the local server belongs to another Twinroom window; share from there")
        with self._lock:
            port = self.bind.rsplit(":", 1)[1] if self.bind else str(DEFAULT_PORT)
            self._stop()
            self.bind = f"tcp://{ALL_INTERFACES}:{port}"
            try:
                self._start(timeout)
            except EmbeddedServerError:
                self.bind = f"tcp://{LOCAL_HOST}:{port}"  # keep working on this machine
                self._start(timeout)
                raise

    def _spawn(self, bind: str, timeout: float) -> str:
        args = [
            sys.executable, "-m", "sync_server", "serve", "--bind", bind,
            "--data", str(self.data_dir), "--parent-pid", str(os.getpid()),
            "--curve-secret", str(self.secret_key_file),
        ]
        if self.seed_demo:
            args.append("--demo")
        log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        line = read_listening_line(self.proc, timeout)
        if not line.startswith(LISTENING):
            self._stop()
        return line

    def stop(self) -> None:
        """Stop the server (flushes its logs) and wait for it."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _legacy_tokens(path: Path) -> dict[str, str]:
    # Before tokens were hashed, tokens.toml held the app's own two tokens in plain text,
    # told apart by their labels. Read them once so existing invitations keep working.
    import tomllib

    found: dict[str, str] = {}
    try:
        entries = tomllib.loads(path.read_text("utf-8")).get("token", [])
    except (OSError, tomllib.TOMLDecodeError):
        return found
    for entry in entries:
        value, label = entry.get("value"), entry.get("label")
        if isinstance(value, str) and label == "local owner" and entry.get("role") == "owner":
            found.setdefault("owner", value)
        elif isinstance(value, str) and label == "shared" and entry.get("role") == "designer":
            found.setdefault("share", value)
    return found
