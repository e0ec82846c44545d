"""Recording presence, answering replay requests, and retention — off the server loop.

* ``PresenceRecorder`` (one per room, loop thread): turns presence updates into samples
  for the room's writer — at most ``PRESENCE_HZ`` per person, only when something
  changed, the last state always written (trailing). Joins and leaves are always
  recorded (who was there); cameras and selections only while the room's root does not
  say ``prop:record_presence = false``, which everyone in the room can see and owners
  and designers can change.
* ``ReplayService`` (its own thread): answers ``REPLAY_LIST``/``REPLAY_OPEN``/
  ``REPLAY_RANGE`` from the room log files and the sensor log (``twin_app.replay.files``)
  and hands the encoded answers back to the loop, which only sends them; it keeps a few
  recordings open (LRU). Indexing an old log on first open happens here too.
* Retention (same thread): with ``retain_days`` > 0, presence samples and sensor history
  older than that are deleted in short transactions (a few thousand rows each) every
  ``RETAIN_EVERY_S``, so the room writers and the sensor log never wait long. Ops are
  never deleted: they are the rooms' recording.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twin_app import protocol
from twin_app.core.ids import ROOT_ID
from twin_app.replay.files import FileRecording, list_rooms
from twin_app.replay.logfile import (
    PRESENCE_HZ,
    RECORD_PRESENCE,
    PresenceRow,
    presence_row,
    prune_presence,
)
from twin_app.replay.model import RecordingError

log = logging.getLogger(__name__)

RETAIN_EVERY_S = 3600.0
PRUNE_ROWS = 5000
OPEN_RECORDINGS = 8
STATE_KEYS = ("camera", "selection", "status", "follow")

Send = Callable[[bytes, list[bytes]], None]


def presence_recorded(doc: Any) -> bool:
    """True unless the room's root says not to record presence (privacy)."""
    root = doc.get(ROOT_ID)
    return root is None or root.props.get(RECORD_PRESENCE, True) is not False


class PresenceRecorder:
    """Presence samples of one room, rate-limited per session (loop thread only)."""

    def __init__(self, hz: float = PRESENCE_HZ) -> None:
        self.min_dt = 1.0 / hz
        self._last: dict[str, tuple[float, Any]] = {}  # session -> (monotonic time, state written)
        self._dirty: dict[str, tuple[str, dict[str, Any]]] = {}
        self.rows: list[PresenceRow] = []

    def joined(self, session: str, client_id: str, name: str, color: Any, role: str) -> None:
        self.rows.append(presence_row(time.time_ns(), session, client_id, "join",
                                      {"name": name, "color": color, "role": role}))

    def left(self, session: str, client_id: str, record: bool) -> None:
        if record:
            self.flush_one(session, time.monotonic(), force=True)
        self._dirty.pop(session, None)
        self._last.pop(session, None)
        self.rows.append(presence_row(time.time_ns(), session, client_id, "leave", {}))

    def changed(self, session: str, client_id: str, record: dict[str, Any]) -> None:
        state = {k: record.get(k) for k in STATE_KEYS}
        state["name"], state["color"] = record.get("name"), record.get("color")
        self._dirty[session] = (client_id, state)

    def flush_one(self, session: str, now: float, force: bool = False) -> None:
        item = self._dirty.get(session)
        if item is None:
            return
        last = self._last.get(session)
        if last is not None and not force and now - last[0] < self.min_dt:
            return  # written at the next flush after min_dt (the latest state wins)
        del self._dirty[session]
        client_id, state = item
        if last is not None and last[1] == state:
            return  # nothing changed since the last sample
        self._last[session] = (now, state)
        self.rows.append(presence_row(time.time_ns(), session, client_id, "state", state))

    def take(self, now: float, record: bool) -> list[PresenceRow]:
        """Samples due now (joins/leaves always; states only if ``record``)."""
        if record:
            for session in list(self._dirty):
                self.flush_one(session, now)
        else:
            self._dirty.clear()
        rows, self.rows = self.rows, []
        return rows


class ReplayService:
    """Answers replay requests and applies retention on its own thread."""

    def __init__(self, rooms_dir: Path, sensors: Path | None, send: Send, retain_days: float = 0.0) -> None:
        self.rooms_dir = rooms_dir
        self.sensors = sensors
        self.send = send
        self.retain_days = retain_days
        self._inbox: queue.SimpleQueue[tuple[bytes, protocol.Message, frozenset[str] | None] | None] = \
            queue.SimpleQueue()
        self._open: OrderedDict[str, FileRecording] = OrderedDict()
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self._next_retain = time.monotonic() + 1.0
        self.pruned = {"presence": 0, "chunks": 0, "frames": 0}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._inbox.put(None)
        self._thread.join(timeout=10)

    def request(self, rid: bytes, msg: protocol.Message, rooms: frozenset[str] | None) -> None:
        """Queue a ``REPLAY_*`` request from a peer whose token grants ``rooms`` (``None``:
        every room) (loop thread; never blocks)."""
        self._inbox.put((rid, msg, rooms))

    # -- thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                timeout = max(0.05, self._next_retain - time.monotonic()) if self.retain_days > 0 else None
                try:
                    item = self._inbox.get(timeout=timeout)
                except queue.Empty:
                    item = ()  # type: ignore[assignment]
                if item is None:
                    break
                if item:
                    self._answer(*item)
                if self.retain_days > 0 and time.monotonic() >= self._next_retain:
                    self._next_retain = time.monotonic() + RETAIN_EVERY_S
                    self.retain()
        finally:
            for rec in self._open.values():
                rec.close()

    def _answer(self, rid: bytes, msg: protocol.Message, allowed: frozenset[str] | None) -> None:
        body = msg.body
        req = body.get("req", 0)
        try:
            if msg.type == protocol.REPLAY_LIST:
                rooms, problems = list_rooms(self.rooms_dir)
                self.send(rid, protocol.encode(protocol.REPLAY_ROOMS, {
                    "req": req, "rooms": [r.to_wire() for r in rooms if allowed is None or r.room in allowed],
                    "problems": problems if allowed is None else []}))
            elif msg.type == protocol.REPLAY_OPEN:
                index = self._recording(body["room"]).index(int(body.get("bins") or 1000))
                self.send(rid, protocol.encode(protocol.REPLAY_INDEX, {"req": req, "index": index.to_wire()}))
            elif msg.type == protocol.REPLAY_RANGE:
                rec = self._recording(body["room"])
                fetch = rec.fetch(int(body["have"]), seq=body.get("seq"), t_ns=body.get("t"),
                                  tags=tuple(body.get("tags") or ()), presence=bool(body.get("presence", True)))
                data, blobs = fetch.body()
                data["req"] = req
                self.send(rid, protocol.encode(protocol.REPLAY_DATA, data, blobs))
        except RecordingError as exc:
            self._fail(rid, msg, req, str(exc))
        except Exception as exc:  # never let a request kill the thread
            log.exception("replay request failed")
            self._fail(rid, msg, req, f"internal error: {exc}")

    def _fail(self, rid: bytes, msg: protocol.Message, req: int, reason: str) -> None:
        answer = {protocol.REPLAY_LIST: protocol.REPLAY_ROOMS, protocol.REPLAY_OPEN: protocol.REPLAY_INDEX,
                  protocol.REPLAY_RANGE: protocol.REPLAY_DATA}[msg.type]
        self.send(rid, protocol.encode(answer, {"req": req, "error": reason}))

    def _recording(self, room: str) -> FileRecording:
        rec = self._open.get(room)
        if rec is not None:
            self._open.move_to_end(room)
            return rec
        path = self.rooms_dir / f"{room}.db"
        if not path.exists():
            raise RecordingError(f"room {room!r} has no recording")
        rec = FileRecording(path, self.sensors, room)
        self._open[room] = rec
        while len(self._open) > OPEN_RECORDINGS:
            self._open.popitem(last=False)[1].close()
        return rec

    # -- retention ----------------------------------------------------------------------------
    def retain(self) -> None:
        """Delete presence samples and sensor history older than ``retain_days``."""
        cutoff = time.time_ns() - int(self.retain_days * 86400e9)
        for path in sorted(self.rooms_dir.glob("*.db")):
            try:
                db = sqlite3.connect(str(path), isolation_level=None, timeout=5.0)
                try:
                    while (n := prune_presence(db, cutoff, PRUNE_ROWS)) > 0:
                        self.pruned["presence"] += n
                        time.sleep(0.001)  # let the room's writer in between
                finally:
                    db.close()
            except sqlite3.Error as exc:
                log.warning("retention: %s: %s", path.name, exc)
        if self.sensors is not None and self.sensors.exists():
            try:
                db = sqlite3.connect(str(self.sensors), isolation_level=None, timeout=5.0)
                try:
                    for table, col, key in (("chunks", "t1", "chunks"), ("frames", "t", "frames")):
                        while True:
                            cur = db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "  # noqa: S608
                                             f"WHERE {col} < ? LIMIT ?)", (cutoff, PRUNE_ROWS))
                            if cur.rowcount <= 0:
                                break
                            self.pruned[key] += cur.rowcount
                            time.sleep(0.001)
                finally:
                    db.close()
            except sqlite3.Error as exc:
                log.warning("retention: sensor log: %s", exc)
        if any(self.pruned.values()):
            log.info("retention (%g days): deleted %s so far", self.retain_days, self.pruned)
