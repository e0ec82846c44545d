"""The recording's own tables in a room log, and how they are written.

A room log (``sync_server.roomlog``) holds ``ops``, ``keyframes``, ``clients`` and
``meta``. For replay it also holds:

* ``presence(t_ns, session, client_id, event, data)`` — ``event`` is ``join``, ``state``
  or ``leave``; ``data`` a msgpack map (``name``, ``color``, ``role`` and, for ``state``,
  ``camera``, ``selection``, ``status``, ``follow``). Written by the room's writer at
  most ``PRESENCE_HZ`` times a second per person and only on change; rooms whose root
  has ``prop:record_presence = false`` record joins and leaves only.
* ``marks(seq, t_ns, client_id, kind, node, label)`` — timeline events
  (``twin_app.replay.marks``), written in the same transaction as their ops;
* ``activity(sec, client_id, n, first_seq, last_seq)`` — ops per person per second, so
  a timeline of a million ops is drawn from a few thousand rows;
* ``meta['index_seq']`` — the last op the two index tables cover. A log written before
  they existed is indexed on first replay (``twin_app.replay.files.ensure_index``).

Only one connection writes the index at a time: whoever holds SQLite's write lock and
finds ``index_seq`` just before its ops.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import msgpack

from twin_app.core.ops import Op
from twin_app.replay.marks import KindOf, classify

PRESENCE_HZ = 5.0
RECORD_PRESENCE = "record_presence"  # root property: False = record no cameras/selections
SCHEMA = """
CREATE TABLE IF NOT EXISTS presence (
    t_ns INTEGER NOT NULL, session TEXT NOT NULL, client_id TEXT NOT NULL,
    event TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS presence_by_session ON presence (session, t_ns);
CREATE INDEX IF NOT EXISTS presence_t ON presence (t_ns);
CREATE INDEX IF NOT EXISTS presence_events ON presence (t_ns) WHERE event != 'state';
CREATE TABLE IF NOT EXISTS marks (
    seq INTEGER NOT NULL, t_ns INTEGER NOT NULL, client_id TEXT NOT NULL,
    kind TEXT NOT NULL, node TEXT NOT NULL, label TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS marks_t ON marks (t_ns);
CREATE TABLE IF NOT EXISTS activity (
    sec INTEGER NOT NULL, client_id TEXT NOT NULL, n INTEGER NOT NULL,
    first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (sec, client_id)) WITHOUT ROWID;
"""

# One presence sample as the writer stores it.
PresenceRow = tuple[int, str, str, str, bytes]  # t_ns, session, client id, event, data


def presence_row(t_ns: int, session: str, client_id: str, event: str, data: dict[str, Any]) -> PresenceRow:
    """Pack one presence sample for ``insert_presence``."""
    return (t_ns, session, client_id, event, msgpack.packb(data, use_bin_type=True))


def insert_presence(db: sqlite3.Connection, rows: list[PresenceRow]) -> None:
    """Store presence samples (inside the caller's transaction)."""
    db.executemany("INSERT INTO presence VALUES (?, ?, ?, ?, ?)", rows)


def read_index_seq(db: sqlite3.Connection) -> int:
    """The last seq the marks and activity tables cover (0: none)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'index_seq'").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def index_entries(db: sqlite3.Connection, kind_of: KindOf,
                  entries: Iterable[tuple[int, int, str, Op]]) -> int:
    """Add marks and activity for consecutive ops ``(seq, t_ns, client id, op)``, judged
    against the document before the first of them (``kind_of``), and move ``index_seq``.
    Runs inside the caller's transaction; returns the new ``index_seq`` (0 if no entries)."""
    added: dict[str, str] = {}
    marks: list[tuple[int, int, str, str, str, str]] = []
    act: dict[tuple[int, str], list[int]] = {}
    last = 0
    for seq, t_ns, cid, op in entries:
        for kind, node, label in classify(kind_of, op, added):
            marks.append((seq, t_ns, cid, kind, node, label))
        key = (t_ns // 1_000_000_000, cid)
        a = act.get(key)
        if a is None:
            act[key] = [1, seq, seq]
        else:
            a[0] += 1
            a[2] = seq
        last = seq
    if not last:
        return 0
    if marks:
        db.executemany("INSERT INTO marks VALUES (?, ?, ?, ?, ?, ?)", marks)
    db.executemany(
        "INSERT INTO activity VALUES (?, ?, ?, ?, ?) ON CONFLICT(sec, client_id) DO UPDATE SET "
        "n = n + excluded.n, first_seq = min(first_seq, excluded.first_seq), "
        "last_seq = max(last_seq, excluded.last_seq)",
        [(sec, cid, n, a, b) for (sec, cid), (n, a, b) in act.items()])
    db.execute("INSERT OR REPLACE INTO meta VALUES ('index_seq', ?)", (last,))
    return last


def prune_presence(db: sqlite3.Connection, before_ns: int, limit: int = 5000) -> int:
    """Delete up to ``limit`` presence samples older than ``before_ns``; return how many.
    Short transactions: call repeatedly (the room's writer keeps writing in between)."""
    cur = db.execute(
        "DELETE FROM presence WHERE rowid IN (SELECT rowid FROM presence WHERE t_ns < ? LIMIT ?)",
        (before_ns, limit))
    return cur.rowcount
