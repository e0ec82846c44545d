"""The client's durable state: its id, its client-seq counter and unacknowledged edits.

Edits made while disconnected (or not yet acknowledged) must survive a client restart
and be sent exactly once when the connection returns. They live in ``client.db`` (SQLite)
under the client's state directory; without a state directory everything is kept in
memory (tests, benchmarks, throw-away viewers). Client seqs are never reused: the counter
is persisted, because the server treats a client seq it has seen as a duplicate.

``client.db`` carries a schema version (``PRAGMA user_version`` = ``SCHEMA_VERSION``): an
older file is migrated (``MIGRATIONS``), a newer one refused with ``StateTooNew`` before
anything in it is read or written, so unsent edits of a newer release are never lost to
an older one misreading them.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import msgpack

from twin_app.core.ids import new_id

SCHEMA_VERSION = 1  # PRAGMA user_version of a client.db written by this release


class StateTooNew(RuntimeError):
    """The client state was written by a newer release (the message says what to do)."""


def _create_v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS outbox (room TEXT, cseq INTEGER, label TEXT, op BLOB, "
        "PRIMARY KEY (room, cseq))"
    )


# MIGRATIONS[n] turns schema n into n + 1; 0 is a new file or one of 0.1.x (same tables).
MIGRATIONS = {0: _create_v1}


def open_state(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating) a client.db. Raises ``StateTooNew`` for a newer file."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            from twin_app import __version__

            raise StateTooNew(
                f"{path} was written by a newer Twinroom (client state schema {version}; "
                f"Twinroom {__version__} reads up to {SCHEMA_VERSION}). Update Twinroom, or "
                "start it with another --data-dir; unsent edits in that file are kept for "
                "the newer release.")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db


class Outbox:
    """Persistent (or in-memory) client id, cseq counter and unacked ops per room."""

    def __init__(self, state_dir: Path | None) -> None:
        self._lock = threading.Lock()
        self._mem: dict[tuple[str, int], tuple[str, bytes]] = {}
        self._db: sqlite3.Connection | None = None
        self._lock_fd = -1
        self.state_dir = state_dir
        if state_dir is None:
            self.client_id = new_id()
            self._next = 1
            return
        state_dir = self._claim(state_dir)
        self.state_dir = state_dir
        try:
            db = open_state(state_dir / "client.db")
        except BaseException:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise
        self._db = db
        row = db.execute("SELECT value FROM meta WHERE key = 'client_id'").fetchone()
        if row is None:
            self.client_id = new_id()
            db.execute("INSERT INTO meta VALUES ('client_id', ?)", (self.client_id,))
        else:
            self.client_id = row[0]
        row = db.execute("SELECT value FROM meta WHERE key = 'next_cseq'").fetchone()
        self._next = int(row[0]) if row else 1

    def _claim(self, state_dir: Path) -> Path:
        # Two running clients must never share an id and a cseq counter (the server would
        # take the second one's edits for resends). A second instance on the same state
        # directory gets its own sub-directory, reused by later second instances.
        for n in range(1, 50):
            path = state_dir if n == 1 else state_dir / f"instance-{n}"
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / "client.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lock_fd = fd
            return path
        raise RuntimeError(f"too many running clients on {state_dir}")

    @property
    def next_cseq(self) -> int:
        """The first client seq never used by this client."""
        return self._next

    def add(self, room: str, cseq: int, label: str, op_wire: list[object]) -> None:
        """Remember an edit until it is acknowledged or refused."""
        blob = msgpack.packb(op_wire, use_bin_type=True)
        with self._lock:
            self._next = max(self._next, cseq + 1)
            if self._db is None:
                self._mem[(room, cseq)] = (label, blob)
                return
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO outbox VALUES (?, ?, ?, ?)", (room, cseq, label, blob))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_cseq', ?)", (self._next,))
            self._db.execute("COMMIT")

    def remove(self, room: str, cseq: int) -> None:
        """Forget an acknowledged or refused edit."""
        with self._lock:
            if self._db is None:
                self._mem.pop((room, cseq), None)
            else:
                self._db.execute("DELETE FROM outbox WHERE room = ? AND cseq = ?", (room, cseq))

    def pending(self, room: str) -> list[tuple[int, str, list[object]]]:
        """Unacknowledged edits of ``room`` as ``(cseq, label, op wire)``, oldest first."""
        with self._lock:
            if self._db is None:
                rows = sorted((c, lab, b) for (r, c), (lab, b) in self._mem.items() if r == room)
            else:
                rows = self._db.execute(
                    "SELECT cseq, label, op FROM outbox WHERE room = ? ORDER BY cseq", (room,)
                ).fetchall()
        return [(c, lab, msgpack.unpackb(b, raw=False)) for c, lab, b in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1
