"""A room's durable log: SQLite in WAL mode, written by a dedicated writer thread.

Design notes
------------
* One database file per room (``rooms/<name>.db``) with tables ``ops`` (one row per
  sequenced op: seq, time, client id, client seq, msgpack op), ``keyframes`` (whole-document
  snapshots as compressed snapshot chunks, with the log position they were taken at) and ``clients`` (the last
  client seq seen from each client id, for idempotent resubmission across restarts).
* **Acked means durable.** The server's loop hands each accepted op to ``append`` (a
  queue put, never a disk wait); the writer thread commits whatever has queued up in one
  transaction (group commit) and then reports the new durable seq through ``on_event``;
  only then does the server send the ACKs. Measured in the protocol notes: committing
  inline in the loop pushes p99 to ~8 ms at 10 000 edits/s; a writer thread keeps ~1 ms.
* The writer keeps its own replica of the document (applying the same ops with the same
  reducer) and writes keyframes from it, chunk by chunk, so the loop never serialises the
  whole document. A keyframe is also what a joining client receives.
* **Keyframes cost a fixed fraction of the log.** A keyframe is written once the op bytes
  logged since the last one reach ``keyframe_ratio`` × that keyframe's stored size (and at
  least ``MIN_KEYFRAME_OPS`` ops), so a big document with light editing is not snapshotted
  every N ops; keyframes are stored zlib-compressed (~8× smaller). Old keyframes are then
  thinned: walking from the oldest, one is kept once the op bytes since the previous kept
  one reach ``THIN_RATIO`` × its size. Any moment of the log therefore has a keyframe
  before it within (``THIN_RATIO`` + ``keyframe_ratio``) × one keyframe's size of ops —
  a replay seek or a join reads at most a few keyframes' worth — while keyframes cost at
  most about 1/``THIN_RATIO`` of the ops' own bytes (plus the newest one). Deleted
  keyframe pages are reused by SQLite; ``twin-sync compact`` also returns them to the OS.
* A failing commit (disk full, I/O error, locked database) is retried with back-off; the
  batch stays queued, nothing acked is lost and ``durable_seq`` simply stops advancing
  (the server reports the lag and refuses new edits once the queue is too long).
* **Schema version.** The file's ``PRAGMA user_version`` is ``SCHEMA_VERSION``. Opening
  an older file runs the migrations in ``MIGRATIONS`` (0 = written before versions, by
  0.1.x) in one transaction; a newer file is refused with ``SchemaError`` before anything
  in it is touched, so an older server never misreads (or rewrites) a newer release's log.
  tests/packaging/fixtures holds logs written by each release for the migration tests.
* **The recording.** Beside the ops the file holds what replay needs
  (``twin_app.replay.logfile``): presence samples (``append_presence``, written with the
  next commit, never acknowledged), and an index of timeline events (``marks``) and ops per
  person per second (``activity``) written in the same transaction as their ops, judged
  against the writer's replica as it was before them.
* **Durability.** ``durability="power"`` (the default) commits with ``synchronous=FULL``:
  one fsync of the WAL per group commit, so an ACK survives a power cut. ``"process"``
  uses ``synchronous=NORMAL``: an ACK survives the server process being killed, but a
  power cut can lose the commits since the last checkpoint. Group commit keeps the fsync
  cost per commit, not per edit.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from twin_app.core import snapshot
from twin_app.core.changes import DISCARD
from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp
from twin_app.core.ops import Op, apply, op_from_wire
from twin_app.replay import logfile
from twin_app.replay.logfile import PresenceRow

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (
    seq INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL, client_id TEXT NOT NULL,
    cseq INTEGER NOT NULL, op BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS ops_t ON ops(t_ns);
CREATE TABLE IF NOT EXISTS keyframes (
    seq INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL, hash TEXT NOT NULL,
    nodes INTEGER NOT NULL, chunks BLOB NOT NULL,
    codec TEXT NOT NULL DEFAULT 'msgpack', log_bytes INTEGER);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, last_cseq INTEGER NOT NULL, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
"""

SCHEMA_VERSION = 2  # PRAGMA user_version of a room log written by this release


class SchemaError(ValueError):
    """A room log written by a newer release (the message says to update twin-sync)."""


KEYFRAME_RATIO = 1.0  # write a keyframe after this many times its size in op bytes
THIN_RATIO = 4.0  # keep old keyframes this many times their size in op bytes apart
MIN_KEYFRAME_OPS = 1000
MAX_BATCH_ROWS = 5000
CHECKPOINT_BYTES = 4 * 1024 * 1024  # written between checkpoints (about SQLite's default)
DURABILITY = {"power": "FULL", "process": "NORMAL"}


@dataclass
class Keyframe:
    """A whole-document snapshot at ``seq`` in snapshot-chunk form."""

    seq: int
    hash: str
    nodes: int
    chunks: list[bytes]


@dataclass
class Entry:
    """One sequenced op as the log stores it."""

    seq: int
    t_ns: int
    client_id: str
    cseq: int
    op: Op
    wire: list[Any]
    item: list[Any] = field(init=False, repr=False)  # [client id, cseq, op] as broadcast

    def __post_init__(self) -> None:
        self.item = [self.client_id, self.cseq, self.wire]


@dataclass
class Recovered:
    """What ``RoomLog.load`` found on disk."""

    doc: Document
    head_seq: int
    keyframe: Keyframe
    tail: list[Entry] = field(default_factory=list)
    clients: dict[str, tuple[int, int]] = field(default_factory=dict)


def connect(path: Path, max_bytes: int = 0, durability: str = "power") -> sqlite3.Connection:
    """Open a room database with the pragmas every connection needs.

    ``max_bytes`` > 0 caps the database size (a per-room disk quota); writes beyond it
    fail exactly like a full disk (SQLITE_FULL). ``durability`` is ``"power"`` (fsync per
    commit) or ``"process"`` (see the module notes); raises ``ValueError`` for others.
    """
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, not {durability!r}")
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
    try:
        check_schema(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={DURABILITY[durability]}")
        migrate(db)
    except BaseException:
        db.close()
        raise
    if max_bytes > 0:
        page = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page)}")
    return db


def schema_version(db: sqlite3.Connection) -> int:
    """The schema version a room log was written with (0: before versions existed)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Raise ``SchemaError`` if ``db`` was written by a newer release than this one."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        from twin_app import __version__

        raise SchemaError(
            f"{path.name} was written by a newer Twinroom (room log schema {version}; "
            f"twin-sync {__version__} reads up to {SCHEMA_VERSION}): update twin-sync to open it")


def migrate(db: sqlite3.Connection) -> None:
    """Bring a room log (new, or of an older schema) to ``SCHEMA_VERSION`` in one transaction."""
    version = schema_version(db)
    if version == SCHEMA_VERSION and db.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'ops'"
    ).fetchone():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)  # another connection may have migrated meanwhile
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _migrate_0(db: sqlite3.Connection) -> None:
    # Logs written before keyframes were compressed: their rows stay readable as 'msgpack'.
    cols = {row[1] for row in db.execute("PRAGMA table_info(keyframes)")}
    if "codec" not in cols:
        db.execute("ALTER TABLE keyframes ADD COLUMN codec TEXT NOT NULL DEFAULT 'msgpack'")
    if "log_bytes" not in cols:
        db.execute("ALTER TABLE keyframes ADD COLUMN log_bytes INTEGER")


def _migrate_1(db: sqlite3.Connection) -> None:
    # The recording's tables for replay: presence samples, timeline marks, activity.
    for statement in logfile.SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


# MIGRATIONS[n] turns schema n into n + 1. Never edit a released step; add the next one.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0, 1: _migrate_1}


def insert_keyframe(db: sqlite3.Connection, kf: Keyframe, log_bytes: int | None) -> int:
    """Store ``kf`` (replacing one at the same seq); return its stored size in bytes.

    ``log_bytes`` is the total size of the ops logged up to ``kf.seq`` (for thinning).
    """
    blob = snapshot.pack_chunks(kf.chunks)
    db.execute(
        "INSERT OR REPLACE INTO keyframes (seq, t_ns, hash, nodes, chunks, codec, log_bytes) "
        "VALUES (?, ?, ?, ?, ?, 'zlib', ?)",
        (kf.seq, time.time_ns(), kf.hash, kf.nodes, blob, log_bytes),
    )
    return len(blob)


def ops_bytes(db: sqlite3.Connection, first: int = 1, last: int | None = None) -> int:
    """Total stored size of the ops with ``first <= seq <= last``."""
    hi = last if last is not None else (1 << 62)
    return int(db.execute(
        "SELECT coalesce(sum(length(op)), 0) FROM ops WHERE seq BETWEEN ? AND ?", (first, hi),
    ).fetchone()[0])


def thin_keyframes(db: sqlite3.Connection, ratio: float = THIN_RATIO) -> int:
    """Delete old keyframes that replay does not need; return how many were deleted.

    Keeps the first and the newest keyframe, and walking from the oldest, each keyframe
    whose distance (in op bytes) from the previous kept one reaches ``ratio`` × its own
    stored size. Keyframes without a recorded position are given one first.
    """
    rows = db.execute(
        "SELECT seq, log_bytes, length(chunks) FROM keyframes ORDER BY seq"
    ).fetchall()
    if len(rows) <= 2:
        return 0
    positions: list[int] = []
    running, prev = 0, 0
    for seq, stored, _size in rows:
        running += ops_bytes(db, prev + 1, seq) if stored is None else 0
        if stored is None:
            db.execute("UPDATE keyframes SET log_bytes = ? WHERE seq = ?", (running, seq))
        else:
            running = stored
        positions.append(running)
        prev = seq
    drop: list[int] = []
    kept = positions[0]
    for (seq, _pos, size), pos in zip(rows[1:-1], positions[1:-1], strict=True):
        if pos - kept >= ratio * size:
            kept = pos
        else:
            drop.append(seq)
    db.executemany("DELETE FROM keyframes WHERE seq = ?", [(s,) for s in drop])
    return len(drop)


def read_keyframe(db: sqlite3.Connection, at_or_before: int | None = None) -> Keyframe | None:
    """Return the newest keyframe (at or before a seq), or ``None``."""
    row = db.execute(
        "SELECT seq, hash, nodes, chunks, codec FROM keyframes WHERE seq <= ? "
        "ORDER BY seq DESC LIMIT 1",
        (at_or_before if at_or_before is not None else (1 << 62),),
    ).fetchone()
    if row is None:
        return None
    return Keyframe(row[0], row[1], row[2], snapshot.unpack_chunks(row[3], row[4]))


def read_ops(db: sqlite3.Connection, first: int, last: int | None = None) -> list[Entry]:
    """Return logged ops with ``first <= seq <= last`` in seq order."""
    hi = last if last is not None else (1 << 62)
    out: list[Entry] = []
    for seq, t_ns, cid, cseq, blob in db.execute(
        "SELECT seq, t_ns, client_id, cseq, op FROM ops WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (first, hi),
    ):
        wire = msgpack.unpackb(blob, raw=False)
        out.append(Entry(seq, t_ns, cid, cseq, op_from_wire(wire), wire))
    return out


def read_head(db: sqlite3.Connection) -> tuple[Document, int, Keyframe]:
    """Return the document at the head of the log, its seq and the keyframe it started from.

    Raises ``ValueError`` if the log has no keyframe, ``sqlite3.Error`` if unreadable.
    """
    kf = read_keyframe(db)
    if kf is None:
        raise ValueError("the room log has no keyframe")
    doc = snapshot.decode(kf.chunks)
    head = kf.seq
    with snapshot.gc_paused():
        for e in read_ops(db, kf.seq + 1):
            apply(doc, e.op)
            head = e.seq
    return doc, head, kf


def compact(path: Path) -> tuple[int, int]:
    """Make a closed room log as small as replay allows; return its size before and after.

    Writes a keyframe at the head (so the next open replays nothing), re-compresses
    keyframes stored by older releases, thins old keyframes (``thin_keyframes``) and
    vacuums the file. Ops are never removed: they are the room's recording. The caller
    must make sure no server has the room open (``twin-sync compact`` takes the data
    directory's lock). Raises ``sqlite3.Error``/``ValueError`` for an unreadable log.
    """
    def size() -> int:
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())

    before = size()
    db = connect(path)
    try:
        doc, head, kf = read_head(db)
        db.execute("BEGIN")
        if head != kf.seq:
            insert_keyframe(db, Keyframe(head, doc.hash(), len(doc), snapshot.encode(doc)), ops_bytes(db))
        for seq, blob, codec in db.execute(
            "SELECT seq, chunks, codec FROM keyframes WHERE codec != 'zlib'"
        ).fetchall():
            db.execute("UPDATE keyframes SET chunks = ?, codec = 'zlib' WHERE seq = ?",
                       (snapshot.pack_chunks(snapshot.unpack_chunks(blob, codec)), seq))
        thin_keyframes(db)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return before, size()


@dataclass
class _Presence:
    rows: list[PresenceRow]


class RoomLog:
    """The durable log of one room and its writer thread.

    ``on_event(kind, value)`` is called from the writer thread with ``("durable", seq)``,
    ``("keyframe", Keyframe)``, ``("error", message)`` or, as its last call once the
    thread has flushed and closed the database, ``("closed", None)``; it must be cheap
    and thread-safe.
    """

    def __init__(
        self,
        path: Path,
        on_event: Callable[[str, Any], None],
        *,
        keyframe_ratio: float = KEYFRAME_RATIO,
        min_keyframe_ops: int = MIN_KEYFRAME_OPS,
        max_bytes: int = 0,
        durability: str = "power",
    ) -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be one of {', '.join(DURABILITY)}, not {durability!r}")
        self.path = path
        self.max_bytes = max_bytes
        self.durability = durability
        self.on_event = on_event
        self.keyframe_ratio = keyframe_ratio
        self.min_keyframe_ops = min_keyframe_ops
        self._queue: queue.SimpleQueue[list[Entry] | _Presence | None] = queue.SimpleQueue()
        self._index_seq = 0  # the last op the replay index (marks, activity) covers
        self._thread: threading.Thread | None = None
        self._replica: Document | None = None
        self._recovered: tuple[Keyframe, list[Entry]] | None = None
        self._replica_seq = 0
        self._last_keyframe = 0
        self._log_bytes = 0  # stored bytes of every op up to _replica_seq
        self._kf_log_bytes = 0  # ... up to the newest keyframe
        self._kf_size = 0  # stored size of the newest keyframe

    # -- startup -----------------------------------------------------------------------
    def load(self, seed: Document | None = None) -> Recovered:
        """Read the room from disk (or create it, from ``seed`` if given).

        Returns the document at the head of the log and the ops after its keyframe.
        Must be called once, before ``start``. Raises ``sqlite3.Error`` if the file
        cannot be read and ``RuntimeError`` if its ops do not replay.
        """
        db = connect(self.path, durability=self.durability)
        try:
            kf = read_keyframe(db)
            if kf is None:
                doc = seed if seed is not None else Document()
                kf = Keyframe(0, doc.hash(), len(doc), snapshot.encode(doc))
                size = insert_keyframe(db, kf, 0)
                kf_pos = 0
            else:
                size, pos = db.execute(
                    "SELECT length(chunks), log_bytes FROM keyframes WHERE seq = ?", (kf.seq,)
                ).fetchone()
                kf_pos = pos if pos is not None else ops_bytes(db, 1, kf.seq)
            tail = read_ops(db, kf.seq + 1)
            tail_bytes = ops_bytes(db, kf.seq + 1)
            clients = {
                cid: (cseq, seq)
                for cid, cseq, seq in db.execute("SELECT client_id, last_cseq, last_seq FROM clients")
            }
            self._index_seq = logfile.read_index_seq(db)
        finally:
            db.close()
        doc = self._replay(kf, tail)
        head = tail[-1].seq if tail else kf.seq
        # The writer's replica is rebuilt the same way in the writer thread, so the room
        # serves as soon as the loop's copy is ready.
        self._recovered = (kf, tail)
        self._replica_seq = head
        self._last_keyframe = kf.seq
        self._kf_log_bytes = kf_pos
        self._kf_size = size
        self._log_bytes = kf_pos + tail_bytes
        return Recovered(doc, head, kf, tail, clients)

    def _replay(self, kf: Keyframe, tail: list[Entry]) -> Document:
        doc = snapshot.decode(kf.chunks)
        with snapshot.gc_paused():
            for e in tail:
                try:
                    apply(doc, e.op)
                except InvalidOp as exc:  # the log only holds ops that applied
                    raise RuntimeError(f"{self.path}: op {e.seq} does not replay: {exc}") from exc
        return doc

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name=f"writer-{self.path.stem}", daemon=True)
        self._thread.start()

    def append(self, entries: list[Entry]) -> None:
        """Queue accepted ops (in seq order) for the durable log (never blocks)."""
        self._queue.put(entries)

    def append_presence(self, rows: list[PresenceRow]) -> None:
        """Queue presence samples; they are written with the next commit (never blocks)."""
        if rows:
            self._queue.put(_Presence(rows))

    def close_soon(self) -> None:
        """Ask the writer to flush what is queued and stop; ``("closed", None)`` follows."""
        self._queue.put(None)

    def close(self) -> None:
        """Flush what is queued, then stop the writer thread (blocks until it has)."""
        if self._thread is not None:
            self._queue.put(None)
            self.join()

    def join(self, timeout: float = 30.0) -> None:
        """Wait for a writer asked to stop (``close_soon``) to finish."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    # -- writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self.on_event("closed", None)

    def _serve(self) -> None:
        if self._recovered is not None:
            self._replica = self._replay(*self._recovered)
            self._recovered = None
        db = connect(self.path, self.max_bytes, self.durability)
        # Checkpoint after acknowledging, not inside a COMMIT (SQLite's automatic
        # checkpoint runs in the commit that crosses its threshold and, with
        # synchronous=FULL, fsyncs the database file before that commit returns).
        db.execute("PRAGMA wal_autocheckpoint=0")
        since_checkpoint = 0  # bytes committed since the last checkpoint
        pending: list[Entry] = []
        presence: list[PresenceRow] = []
        stopping = False
        backoff = 0.05
        try:
            while not (stopping and not pending and not presence):
                if not pending and not presence:
                    item = self._queue.get()
                    if item is None:
                        stopping = True
                        continue
                    _take(item, pending, presence)
                while len(pending) < MAX_BATCH_ROWS:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    _take(item, pending, presence)
                try:
                    written = self._commit(db, pending, presence)
                except sqlite3.Error as exc:
                    # Disk full, I/O error, locked: keep the batch and retry. Nothing is
                    # acknowledged until it is on disk.
                    log.error("room log %s: commit failed (%s); retrying", self.path.name, exc)
                    self.on_event("error", str(exc))
                    if stopping:
                        # Shutting down and the disk still refuses: these ops were never
                        # acknowledged, so their authors still hold them and resend them.
                        log.error("room log %s: %d unacknowledged ops not written", self.path.name, len(pending))
                        break
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.05
                presence = []
                if not pending:
                    continue
                self._log_bytes += written
                self.on_event("durable", pending[-1].seq)
                since_checkpoint += self._advance_replica(db, pending) + written * 2  # rows + index
                pending = []
                if since_checkpoint >= CHECKPOINT_BYTES:
                    since_checkpoint = 0
                    self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the WAL keeps everything; retried later
            log.warning("room log %s: checkpoint failed (%s)", self.path.name, exc)

    def _commit(self, db: sqlite3.Connection, batch: list[Entry], presence: list[PresenceRow]) -> int:
        pack = msgpack.packb
        last: dict[str, tuple[int, int]] = {}
        for e in batch:
            last[e.client_id] = (e.cseq, e.seq)
        rows = [(e.seq, e.t_ns, e.client_id, e.cseq, pack(e.wire, use_bin_type=True)) for e in batch]
        db.execute("BEGIN")
        if batch:
            db.executemany("INSERT INTO ops VALUES (?, ?, ?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO clients VALUES (?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET "
                "last_cseq = max(last_cseq, excluded.last_cseq), last_seq = excluded.last_seq",
                [(cid, cseq, seq) for cid, (cseq, seq) in last.items()],
            )
        indexed = self._index(db, batch) if batch else None
        if presence:
            logfile.insert_presence(db, presence)
        db.execute("COMMIT")
        if indexed is not None:
            self._index_seq = indexed
        return sum(len(r[4]) for r in rows)

    def _index(self, db: sqlite3.Connection, batch: list[Entry]) -> int | None:
        """Index ``batch`` for replay, judged against the replica (still just before it);
        return the new index position, or ``None`` if the index lags behind the log."""
        first = batch[0].seq
        if self._index_seq != first - 1:
            # A log from before the index (or one indexed elsewhere meanwhile): the
            # replay reader indexes the backlog; once it has, this writer carries on.
            self._index_seq = logfile.read_index_seq(db)
            if self._index_seq != first - 1:
                return None
        replica = self._replica
        assert replica is not None

        def kind_of(nid: str) -> str | None:
            node = replica.get(nid)
            return node.kind if node is not None else None

        return logfile.index_entries(db, kind_of, ((e.seq, e.t_ns, e.client_id, e.op) for e in batch))

    def _advance_replica(self, db: sqlite3.Connection, batch: list[Entry]) -> int:
        """Apply ``batch`` to the replica; write a keyframe if due. Returns bytes written."""
        replica = self._replica
        assert replica is not None
        for e in batch:
            apply(replica, e.op, DISCARD)
            self._replica_seq = e.seq
        if (self._replica_seq - self._last_keyframe >= self.min_keyframe_ops
                and self._log_bytes - self._kf_log_bytes >= self.keyframe_ratio * self._kf_size):
            try:
                self.write_keyframe(db)
                thin_keyframes(db)
            except sqlite3.Error as exc:  # a keyframe is an optimisation: retry later
                log.error("room log %s: keyframe failed (%s)", self.path.name, exc)
            else:
                return self._kf_size
        return 0

    def write_keyframe(self, db: sqlite3.Connection) -> Keyframe:
        """Snapshot the replica at its seq into the keyframes table (writer thread)."""
        replica = self._replica
        assert replica is not None
        kf = Keyframe(self._replica_seq, replica.hash(), len(replica), snapshot.encode(replica))
        self._kf_size = insert_keyframe(db, kf, self._log_bytes)
        self._kf_log_bytes = self._log_bytes
        self._last_keyframe = kf.seq
        self.on_event("keyframe", kf)
        return kf


def _take(item: list[Entry] | _Presence, pending: list[Entry], presence: list[PresenceRow]) -> None:
    if isinstance(item, _Presence):
        presence.extend(item.rows)
    else:
        pending.extend(item)
