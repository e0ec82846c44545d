"""A recording read straight from its files: a room log and the server's sensor log.

Used by the server to answer ``REPLAY_*`` requests, by ``twin-sync sessions`` and
``export-mcap``, and by tests. A live room's log can be read while its writer writes
(SQLite WAL); the newest sensor samples (those the hub has not sealed into a chunk yet,
at most ``CHUNK_S`` = 10 s) are not in the file yet.

Design notes
------------
* ``fetch`` never reads the whole history: it reads the newest keyframe at or before the
  target and the ops after it — or, when the caller's replica sits between that keyframe
  and the target (or at most ``PLAY_ON_OPS`` behind it), only the ops after the replica. ``stats`` counts the keyframes and op
  rows read, so tests can hold it to that.
* Sensor values at a moment are the newest recorded sample at or before it, found with
  two indexed lookups per tag and one chunk decode (decoded chunks are kept in a small
  LRU, so playing forward decodes each chunk once).
* ``ensure_index`` indexes a log written before the replay index existed, in slices of
  ``INDEX_SLICE`` ops per transaction so a live writer is held up only briefly.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from twin_app.core import snapshot
from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp
from twin_app.core.ops import apply, op_from_wire
from twin_app.core.samples import F32, I64, U8, decode_chunk
from twin_app.replay import logfile
from twin_app.replay.model import (
    Fetch,
    Index,
    Mark,
    OpRow,
    Participant,
    PresenceState,
    RecordingError,
    RoomInfo,
    Sample,
    SessionSpan,
)

log = logging.getLogger(__name__)

MAX_FETCH_OPS = 50_000  # ops per answer; the caller fetches again for the rest
MAX_MARKS = 50_000
PLAY_ON_OPS = 10_000  # a replica this close behind the target plays on instead of reloading
INDEX_SLICE = 20_000
SPLIT_S = 1800  # a gap this long without edits or arrivals starts a new session
SERVER_CID = "server"
_CHUNK_CACHE = 512


READS_SCHEMA = 2  # the newest room log schema this reader knows (sync_server.roomlog.SCHEMA_VERSION)


def open_log(path: Path) -> sqlite3.Connection:
    """Open a room log for reading (and for indexing it if needed). Raises ``RecordingError``."""
    if not path.exists():
        raise RecordingError(f"no recording at {path}")
    try:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > READS_SCHEMA:
            db.close()
            raise RecordingError(f"{path.name} was written by a newer Twinroom (room log schema {version}); "
                                 "update to replay it")
        db.execute("PRAGMA journal_mode=WAL")
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'ops'").fetchone():
            db.close()
            raise RecordingError(f"{path.name} is not a room log")
        db.executescript(logfile.SCHEMA)
    except sqlite3.Error as exc:
        raise RecordingError(f"cannot read {path.name}: {exc}") from exc
    return db


def _head(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT coalesce(max(seq), 0) FROM ops").fetchone()[0])


def _doc_at(db: sqlite3.Connection, seq: int) -> Document:
    row = db.execute("SELECT seq, chunks, codec FROM keyframes WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
                     (seq,)).fetchone()
    if row is None:
        raise RecordingError("the recording has no keyframe before the ops")
    doc = snapshot.decode(snapshot.unpack_chunks(row[1], row[2]))
    with snapshot.gc_paused():
        for (blob,) in db.execute("SELECT op FROM ops WHERE seq > ? AND seq <= ? ORDER BY seq", (row[0], seq)):
            apply(doc, op_from_wire(msgpack.unpackb(blob, raw=False)))
    return doc


def ensure_index(db: sqlite3.Connection) -> int:
    """Index whatever ops of the log the replay index does not cover yet (see the module
    notes); return the index position. Raises ``RecordingError`` for a damaged log."""
    indexed = logfile.read_index_seq(db)
    head = _head(db)
    if indexed >= head:
        return indexed
    t0 = time.monotonic()
    try:
        doc = _doc_at(db, indexed)
        while indexed < head:
            db.execute("BEGIN IMMEDIATE")
            try:
                if logfile.read_index_seq(db) != indexed:  # someone else indexed meanwhile
                    db.execute("ROLLBACK")
                    return ensure_index(db)
                rows = db.execute("SELECT seq, t_ns, client_id, op FROM ops WHERE seq > ? ORDER BY seq LIMIT ?",
                                  (indexed, INDEX_SLICE)).fetchall()
                if not rows:
                    db.execute("ROLLBACK")
                    break
                entries = []
                for seq, t_ns, cid, blob in rows:
                    entries.append((seq, t_ns, cid, op_from_wire(msgpack.unpackb(blob, raw=False))))

                def kind_of(nid: str) -> str | None:
                    node = doc.get(nid)
                    return node.kind if node is not None else None

                # Judge each op against the document just before it: index one at a time.
                for e in entries:
                    logfile.index_entries(db, kind_of, [e])
                    apply(doc, e[3])
                indexed = entries[-1][0]
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
    except (sqlite3.Error, InvalidOp, ValueError, snapshot.SnapshotError) as exc:
        raise RecordingError(f"the recording is damaged after seq {indexed}: {exc}") from exc
    log.info("indexed %d ops for replay in %.1f s", head, time.monotonic() - t0)
    return indexed


def _sessions(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Joins and leaves in time order: (session, client id, event, t_ns, data)."""
    return [(session, cid, event, t_ns, msgpack.unpackb(data, raw=False)) for session, cid, event, t_ns, data in
            db.execute("SELECT session, client_id, event, t_ns, data FROM presence WHERE event != 'state' "
                       "ORDER BY t_ns")]


def _participants_and_sessions(db: sqlite3.Connection) -> tuple[dict[str, Participant], list[tuple[Any, ...]]]:
    people: dict[str, Participant] = {}
    sessions = _sessions(db)
    for session, cid, event, t_ns, info in sessions:
        if event == "join":
            p = people.setdefault(cid, Participant(cid, str(info.get("name") or cid[:8])))
            p.name = str(info.get("name") or p.name)
            color = info.get("color")
            p.color = (float(color[0]), float(color[1]), float(color[2])) if color else p.color
            p.role = str(info.get("role") or p.role)
            p.sessions.append(session)
            p.first_t = t_ns if not p.first_t else min(p.first_t, t_ns)
            p.last_t = max(p.last_t, t_ns)
        elif cid in people:
            people[cid].last_t = max(people[cid].last_t, t_ns)
    for cid, n, s0, s1 in db.execute("SELECT client_id, sum(n), min(sec), max(sec) FROM activity GROUP BY client_id"):
        p = people.get(cid) or people.setdefault(
            cid, Participant(cid, "Server (alarms)" if cid == SERVER_CID else cid[:8]))
        p.ops = int(n)
        p.first_t = min(p.first_t, s0 * 1_000_000_000) if p.first_t else s0 * 1_000_000_000
        p.last_t = max(p.last_t, s1 * 1_000_000_000 + 999_999_999)
    return people, sessions


def _time_range(db: sqlite3.Connection) -> tuple[int, int]:
    first = db.execute("SELECT t_ns FROM ops ORDER BY seq LIMIT 1").fetchone()
    last = db.execute("SELECT t_ns FROM ops ORDER BY seq DESC LIMIT 1").fetchone()
    p0, p1 = db.execute("SELECT min(t_ns), max(t_ns) FROM presence").fetchone()
    lows = [x for x in (first[0] if first else None, p0) if x is not None]
    highs = [x for x in (last[0] if last else None, p1) if x is not None]
    if not lows:
        kf = db.execute("SELECT t_ns FROM keyframes ORDER BY seq LIMIT 1").fetchone()
        t = int(kf[0]) if kf else 0
        return t, t
    return int(min(lows)), int(max(highs))


def room_info(path: Path, split_s: float = SPLIT_S) -> RoomInfo:
    """One room's recording for a list: time range and sessions (stretches without a gap
    longer than ``split_s``), each with the people in it. Raises ``RecordingError``."""
    db = open_log(path)
    try:
        ensure_index(db)
        head = _head(db)
        t0, t1 = _time_range(db)
        people, sessions = _participants_and_sessions(db)
        # Moments something happened: seconds with ops (per person) and arrivals/departures.
        points: list[tuple[int, str, int, int, int]] = [
            (sec * 1_000_000_000, cid, n, a, b)
            for sec, cid, n, a, b in db.execute("SELECT sec, client_id, n, first_seq, last_seq FROM activity")]
        points += [(t, cid, 0, 0, 0) for _s, cid, _e, t, _i in sessions]
        points.sort()
        spans: list[SessionSpan] = []
        cur: list[tuple[int, str, int, int, int]] = []
        gap = int(split_s * 1e9)

        def close() -> None:
            if not cur:
                return
            seqs = [p for p in cur if p[2]]
            names = sorted({people[c].name for _t, c, _n, _a, _b in cur if c in people and c != SERVER_CID})
            spans.append(SessionSpan(cur[0][0], cur[-1][0] + (999_999_999 if cur[-1][2] else 0),
                                     sum(p[2] for p in cur), min((p[3] for p in seqs), default=0),
                                     max((p[4] for p in seqs), default=0), tuple(names)))

        for p in points:
            if cur and p[0] - cur[-1][0] > gap:
                close()
                cur = []
            cur.append(p)
        close()
        recorded = db.execute("SELECT 1 FROM presence WHERE event = 'state' LIMIT 1").fetchone() is not None
        return RoomInfo(path.stem, head, t0, t1, spans, recorded)
    except sqlite3.Error as exc:
        raise RecordingError(f"cannot read {path.name}: {exc}") from exc
    finally:
        db.close()


def list_rooms(rooms_dir: Path) -> tuple[list[RoomInfo], list[str]]:
    """Every recorded room in ``rooms_dir`` and, separately, why some could not be read."""
    rooms: list[RoomInfo] = []
    problems: list[str] = []
    for path in sorted(rooms_dir.glob("*.db")):
        try:
            rooms.append(room_info(path))
        except RecordingError as exc:
            problems.append(f"{path.stem}: {exc}")
    return rooms, problems


class SensorLog:
    """Read-only view of ``sensors.sqlite``: the recorded sample of a tag at a moment."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._ids: dict[str, int] = {}
        self._cache: OrderedDict[int, tuple[I64, F32, U8]] = OrderedDict()
        self._current: dict[str, tuple[int, int, tuple[I64, F32, U8]]] = {}  # tag -> [from, until)
        self.chunks_decoded = 0

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and self.path is not None and self.path.exists():
            try:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=5.0)
            except sqlite3.Error as exc:
                log.warning("sensor log %s: %s", self.path, exc)
        return self._db

    def stream_id(self, tag: str) -> int | None:
        db = self._conn()
        if db is None:
            return None
        if tag not in self._ids:
            row = db.execute("SELECT id FROM streams WHERE tag = ?", (tag,)).fetchone()
            if row is None:
                return None
            self._ids[tag] = int(row[0])
        return self._ids[tag]

    def _chunk(self, rowid: int, data: bytes) -> tuple[I64, F32, U8]:
        got = self._cache.get(rowid)
        if got is not None:
            self._cache.move_to_end(rowid)
            return got
        got = decode_chunk(data)
        self.chunks_decoded += 1
        self._cache[rowid] = got
        while len(self._cache) > _CHUNK_CACHE:
            self._cache.popitem(last=False)
        return got

    def at(self, tag: str, t_ns: int) -> Sample | None:
        """The newest recorded sample of ``tag`` at or before ``t_ns`` (``None``: none)."""
        sid = self.stream_id(tag)
        db = self._db
        if sid is None or db is None:
            return None
        cur = self._current.get(tag)
        if cur is not None and cur[0] <= t_ns < cur[1]:
            t, v, q = cur[2]  # playing on inside the same chunk (or before the next): no query
        else:
            try:
                row = db.execute("SELECT rowid, t0, data FROM chunks WHERE stream = ? AND t1 >= ? "
                                 "ORDER BY t1 LIMIT 1", (sid, t_ns)).fetchone()
                nxt = None
                if row is None or row[1] > t_ns:
                    nxt = row[1] if row is not None else None
                    row = db.execute("SELECT rowid, t0, data FROM chunks WHERE stream = ? AND t1 < ? "
                                     "ORDER BY t1 DESC LIMIT 1", (sid, t_ns)).fetchone()
                if row is None:
                    return None
                t, v, q = self._chunk(int(row[0]), row[2])
                # Valid from the chunk's first sample until the next chunk starts (when known).
                end = nxt if nxt is not None else int(t[-1]) + 1
                self._current[tag] = (int(t[0]), end, (t, v, q))
            except (sqlite3.Error, ValueError) as exc:
                log.warning("sensor log: %s at %d: %s", tag, t_ns, exc)
                return None
        i = int(np.searchsorted(t, t_ns, side="right")) - 1
        if i < 0:
            return None
        return Sample(tag, int(t[i]), float(v[i]), int(q[i]))

    def series(self, tag: str, t0: int, t1: int) -> tuple[I64, F32, U8]:
        """Every recorded sample of ``tag`` with ``t0 <= t <= t1``."""
        sid = self.stream_id(tag)
        db = self._db
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.uint8))
        if sid is None or db is None:
            return empty
        parts = [decode_chunk(d) for (d,) in db.execute(
            "SELECT data FROM chunks WHERE stream = ? AND t1 >= ? AND t0 <= ? ORDER BY t0", (sid, t0, t1))]
        if not parts:
            return empty
        t = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        q = np.concatenate([p[2] for p in parts])
        keep = (t >= t0) & (t <= t1)
        return t[keep], v[keep], q[keep]

    def tags(self) -> list[str]:
        db = self._conn()
        return [] if db is None else [r[0] for r in db.execute("SELECT tag FROM streams ORDER BY id")]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class FileRecording:
    """A room's recording from its log file (and the sensor log): a ``Recording``."""

    def __init__(self, path: Path, sensors: Path | None = None, room: str | None = None) -> None:
        self.path = path
        self._room = room or path.stem
        self.db = open_log(path)
        self.sensors = SensorLog(sensors)
        self.stats = {"keyframes": 0, "ops": 0}  # rows read, for tests and benchmarks
        self._sessions: list[tuple[Any, ...]] | None = None
        self._sessions_t = -1

    @property
    def room(self) -> str:
        return self._room

    def close(self) -> None:
        self.db.close()
        self.sensors.close()

    # -- the timeline -------------------------------------------------------------------
    def index(self, bins: int = 1000) -> Index:
        """The timeline (see ``Index``); indexes an old log first. Raises ``RecordingError``."""
        db = self.db
        try:
            indexed = ensure_index(db)
            head = _head(db)
            t0, t1 = _time_range(db)
            people, sessions = _participants_and_sessions(db)
            bins = max(1, min(bins, 10_000))
            width = max(1, (t1 - t0 + bins - 1) // bins)
            activity: dict[str, list[int]] = {}
            for cid, b, n in db.execute(
                    "SELECT client_id, min(?, max(0, (sec * 1000000000 - ?) / ?)), sum(n) FROM activity "
                    "GROUP BY 1, 2", (bins - 1, t0, width)):
                activity.setdefault(cid, [0] * bins)[int(b)] += int(n)
            marks = [Mark(*row) for row in db.execute(
                "SELECT seq, t_ns, client_id, kind, node, label FROM marks ORDER BY seq LIMIT ?", (MAX_MARKS,))]
            names = {p.client_id: p.name for p in people.values()}
            for session, cid, event, t_ns, _info in sessions:
                marks.append(Mark(0, t_ns, cid, event, session, f"{names.get(cid, cid[:8])} {event}s"))
            marks.sort(key=lambda m: m.t_ns)
            recorded = db.execute("SELECT 1 FROM presence WHERE event = 'state' LIMIT 1").fetchone() is not None
        except sqlite3.Error as exc:
            raise RecordingError(f"cannot read the recording of {self.room}: {exc}") from exc
        parts = sorted(people.values(), key=lambda p: (p.client_id == SERVER_CID, p.first_t))
        return Index(self.room, head, t0, t1, parts, marks, bins, activity, [], recorded, indexed)

    # -- state at a moment ------------------------------------------------------------------
    def seq_at(self, t_ns: int) -> int:
        """The last op at or before ``t_ns`` (0: before the first op)."""
        row = self.db.execute("SELECT seq FROM ops WHERE t_ns <= ? ORDER BY t_ns DESC, seq DESC LIMIT 1",
                              (t_ns,)).fetchone()
        return int(row[0]) if row else 0

    def fetch(self, have: int, *, seq: int | None = None, t_ns: int | None = None,
              tags: tuple[str, ...] = (), presence: bool = True) -> Fetch:
        """See ``Recording.fetch``. Raises ``RecordingError``."""
        db = self.db
        try:
            head = _head(db)
            if seq is None:
                target = self.seq_at(t_ns) if t_ns is not None else head
            else:
                target = max(0, min(seq, head))
            kf_row = db.execute("SELECT seq, chunks, codec FROM keyframes WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
                                (target,)).fetchone()
            if kf_row is None:
                raise RecordingError("the recording has no keyframe before the ops")
            keyframe: tuple[int, list[bytes]] | None = None
            if 0 <= have <= target and (have >= kf_row[0] or target - have <= PLAY_ON_OPS):
                # Playing on: the ops after the caller's replica, no keyframe (a keyframe
                # would cost a decode and make the views redraw everything).
                start = have
            else:
                keyframe = (int(kf_row[0]), snapshot.unpack_chunks(kf_row[1], kf_row[2]))
                self.stats["keyframes"] += 1
                start = keyframe[0]
            end = min(target, start + MAX_FETCH_OPS)
            ops: list[OpRow] = []
            damaged = ""
            for s, t, c, b in db.execute(
                    "SELECT seq, t_ns, client_id, op FROM ops WHERE seq > ? AND seq <= ? ORDER BY seq", (start, end)):
                try:
                    wire = msgpack.unpackb(b, raw=False)  # (the engine checks the op itself)
                except (ValueError, TypeError, msgpack.UnpackException) as exc:
                    damaged = f"op {s} of the recording is damaged ({exc}); it can be replayed up to op {s - 1}"
                    log.warning("%s: %s", self.path.name, damaged)
                    break
                ops.append((s, t, c, wire))
            self.stats["ops"] += len(ops)
            more = end < target and not damaged
            reached = ops[-1][0] if ops else start
            if t_ns is None or more:
                row = db.execute("SELECT t_ns FROM ops WHERE seq = ?", (reached,)).fetchone()
                at = int(row[0]) if row else (t_ns or 0)
            else:
                at = t_ns
            people = self.presence_at(at) if presence and not more else None
        except sqlite3.Error as exc:
            raise RecordingError(f"cannot read the recording of {self.room}: {exc}") from exc
        except (ValueError, zlib.error) as exc:
            raise RecordingError(f"the recording of {self.room} is damaged: {exc}") from exc
        samples = {}
        if not more:
            for tag in tags:
                s = self.sensors.at(tag, at)
                if s is not None:
                    samples[tag] = s
        return Fetch(reached, at, keyframe, ops, more, people, samples, damaged)

    def presence_at(self, t_ns: int) -> list[PresenceState]:
        """Who was in the room at ``t_ns``, with their last recorded camera and selection."""
        db = self.db
        if self._sessions is None or t_ns > self._sessions_t:
            # Joins and leaves change only while the room is being recorded: re-read them
            # only when asked about a moment after the newest presence sample read so far
            # and the log has newer ones.
            newest = db.execute("SELECT max(t_ns) FROM presence").fetchone()[0] or 0
            if self._sessions is None or newest > self._sessions_t:
                self._sessions = _sessions(db)
                self._sessions_t = newest
        joined: dict[str, tuple[str, dict[str, Any]]] = {}
        for session, cid, event, t, info in self._sessions:
            if t > t_ns:
                break
            if event == "join":
                joined[session] = (cid, info)
            else:
                joined.pop(session, None)
        out: list[PresenceState] = []
        for session, (cid, info) in joined.items():
            row = db.execute("SELECT data, t_ns FROM presence WHERE session = ? AND t_ns <= ? AND event = 'state' "
                             "ORDER BY t_ns DESC LIMIT 1", (session, t_ns)).fetchone()
            state = dict(info)
            at = 0
            if row is not None:
                state.update(msgpack.unpackb(row[0], raw=False))
                at = int(row[1])
            color = state.get("color")
            camera = state.get("camera")
            out.append(PresenceState(
                session, cid, str(state.get("name") or cid[:8]),
                (float(color[0]), float(color[1]), float(color[2])) if color else None,
                tuple(float(c) for c in camera) if camera else None,
                tuple(str(s) for s in state.get("selection") or ()), at))
        return out
