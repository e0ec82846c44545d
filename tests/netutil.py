"""Helpers for tests that run the real sync server in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sync_server.embedded import LISTENING, read_listening_line

TOKENS = {
    "owner-token": "owner",
    "designer-token": "designer",
    "viewer-token": "viewer",
    "operator-token": "operator",
    "instructor-token": "instructor",
    "source-token": "source",
}


class ServerProcess:
    """``twin-sync serve`` in a child process, restartable on the same port and data."""

    def __init__(self, data: Path, extra: list[str] | None = None, bind: str = "tcp://127.0.0.1:*") -> None:
        self.data = data
        self.extra = extra or []
        self.bind = bind
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.epoch = 0
        self.stderr: list[str] = []

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start and wait for the "listening" line (no sleeping)."""
        args = [sys.executable, "-m", "sync_server", "serve", "--bind", self.bind, "--data", str(self.data)]
        for token, role in TOKENS.items():
            args += ["--token", f"{token}:{role}"]
        args += self.extra
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = read_listening_line(self.proc, timeout)
        if not line.startswith(LISTENING):
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"server did not start: {line!r} {err}")
        parts = line.split()
        self.endpoint, self.epoch = parts[3], int(parts[5])
        self.bind = self.endpoint  # restarts reuse the same port
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        return self

    def _pump_stderr(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stderr is not None
        for line in proc.stderr:
            self.stderr.append(line)

    def alive(self) -> bool:
        """True if the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; return the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def wait_all(clients: list, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Process events of several clients until ``predicate()`` holds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in clients:
            c.wait_for(predicate, timeout=0.02)
        if predicate():
            return True
    return False
