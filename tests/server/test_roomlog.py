"""The room log keeps what joins and replay need and no more: keyframes cost a bounded
fraction of the ops, every moment has a keyframe within a bounded tail, old logs load."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from sync_server.roomlog import (
    THIN_RATIO,
    Entry,
    RoomLog,
    connect,
    read_keyframe,
    read_ops,
    thin_keyframes,
)
from tests.server.roomlog_kit import plant, write_old_format_log
from twin_app.core import SetField, snapshot
from twin_app.core.document import Document
from twin_app.core.ops import apply, op_to_wire


class Writer:
    """A RoomLog driven as the server drives it: append batches, wait until durable."""

    def __init__(self, path: Path, seed: Document | None = None, **kw) -> None:
        self.durable = 0
        self.closed = threading.Event()
        self.cond = threading.Condition()
        self.log = RoomLog(path, self._on_event, **kw)
        self.rec = self.log.load(seed)
        self.head = self.rec.head_seq
        self.log.start()

    def _on_event(self, kind: str, value: object) -> None:
        with self.cond:
            if kind == "durable":
                self.durable = value  # type: ignore[assignment]
            elif kind == "closed":
                self.closed.set()
            self.cond.notify_all()

    def edit(self, ops: list) -> None:
        entries = []
        for op in ops:
            self.head += 1
            entries.append(Entry(self.head, time.time_ns(), "c1", self.head, op, op_to_wire(op)))
        self.log.append(entries)

    def wait_durable(self, timeout: float = 60.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.durable >= self.head, timeout), "never durable"


def op_bytes(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT sum(length(op)) FROM ops").fetchone()[0])
    finally:
        db.close()


def keyframes(path: Path) -> list[tuple[int, int, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, log_bytes, length(chunks) FROM keyframes ORDER BY seq").fetchall()
    finally:
        db.close()


def test_keyframes_cost_a_bounded_fraction_and_every_moment_has_one_close_by(tmp_path):
    path = tmp_path / "room.db"
    w = Writer(path, plant(3000), min_keyframe_ops=500)
    # Batches of 500 ops, as a busy room's loop turns hand them to the writer.
    for round_ in range(160):
        w.edit([SetField(f"p{(round_ * 500 + i) % 3000}", "prop:temp", float(i)) for i in range(500)])
        w.wait_durable()
    w.log.close()
    assert w.closed.is_set()

    kfs = keyframes(path)
    ops_total = op_bytes(path)
    kf_total = sum(size for _seq, _pos, size in kfs)
    newest = kfs[-1][2]
    # Keyframes (beyond the newest) cost about 1/THIN_RATIO of the ops' bytes, not a full
    # snapshot every N ops.
    assert len(kfs) >= 3, kfs
    assert kf_total - newest <= ops_total / THIN_RATIO * 1.5, (kf_total, ops_total)
    # Any moment of the log is within a bounded tail of a keyframe before it.
    positions = [pos for _seq, pos, _size in kfs] + [ops_total]
    worst_gap = max(b - a for a, b in itertools.pairwise(positions))
    assert worst_gap <= (THIN_RATIO + 1.5) * max(size for *_x, size in kfs), (worst_gap, kfs)
    # The keyframes are the document at their seq (compressed, and still exact).
    db = connect(path)
    try:
        for seq, _pos, _size in kfs:
            kf = read_keyframe(db, seq)
            assert kf is not None and kf.seq == seq
            doc = snapshot.decode(kf.chunks)
            assert doc.hash() == kf.hash
        # Replaying from any keyframe reaches the same head document.
        first = read_keyframe(db, kfs[1][0])
        assert first is not None
        doc = snapshot.decode(first.chunks)
        for e in read_ops(db, first.seq + 1):
            apply(doc, e.op)
        head = read_keyframe(db)
        assert head is not None
    finally:
        db.close()
    again = Writer(path)
    assert again.rec.doc.hash() == doc.hash()
    assert again.rec.head_seq == w.head
    again.log.close()


def test_a_small_room_is_not_snapshotted_on_every_batch(tmp_path):
    path = tmp_path / "room.db"
    w = Writer(path, plant(5))
    for i in range(900):
        w.edit([SetField("p1", "prop:temp", float(i))])
    w.wait_durable()
    w.log.close()
    assert len(keyframes(path)) == 1  # only the initial one: fewer than MIN_KEYFRAME_OPS ops


def test_a_log_written_before_compression_loads_and_is_thinned(tmp_path):
    path = tmp_path / "old.db"
    doc = write_old_format_log(path)
    w = Writer(path)
    assert w.rec.doc.hash() == doc.hash()
    w.log.close()
    db = connect(path)
    try:
        dropped = thin_keyframes(db)
        rows = db.execute("SELECT seq, log_bytes FROM keyframes ORDER BY seq").fetchall()
    finally:
        db.close()
    assert dropped > 0
    assert rows[0][0] == 0 and rows[-1][0] == 1500  # first and newest stay
    assert all(pos is not None for _seq, pos in rows)


def test_power_durability_is_the_default_and_process_is_explicit(tmp_path):
    full = connect(tmp_path / "a.db")
    normal = connect(tmp_path / "b.db", durability="process")
    try:
        assert full.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert normal.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        full.close()
        normal.close()
    with pytest.raises(ValueError, match="durability"):
        connect(tmp_path / "c.db", durability="sometimes")
