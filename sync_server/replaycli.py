"""``twin-sync sessions`` and ``twin-sync export-mcap``: recordings from the command line.

Both read the room logs directly (a running server may keep writing them: SQLite WAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from twin_app.replay.export import export_mcap as write_mcap
from twin_app.replay.files import FileRecording, room_info
from twin_app.replay.model import RecordingError

Out = Callable[[str], None]


def _when(t_ns: int) -> str:
    return datetime.fromtimestamp(t_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def sessions(data: Path, out: Out, gap_s: float) -> int:
    """Print each recorded room and its sessions; return the exit status."""
    paths = sorted((data / "rooms").glob("*.db"))
    if not paths:
        out(f"no recorded rooms in {data}")
        return 0
    failed = 0
    for path in paths:
        try:
            info = room_info(path, gap_s)
        except RecordingError as exc:
            out(f"{path.stem}\tcannot be read: {exc}")
            failed += 1
            continue
        presence = "" if info.presence_recorded else "\t(presence not recorded)"
        out(f"{info.room}\t{info.head_seq} ops\t{_when(info.t0)} – {_when(info.t1)}{presence}")
        for i, span in enumerate(info.spans, 1):
            people = ", ".join(span.people) or "nobody"
            out(f"  session {i}\t{_when(span.t0)}\t{_duration(span.duration_s)}\t{span.ops} ops\t{people}")
    return 1 if failed else 0


def parse_time(text: str | None, start_ns: int) -> int | None:
    """``+SECONDS`` from ``start_ns``, or an ISO time (local unless it has an offset)."""
    if text is None:
        return None
    if text.startswith("+"):
        return start_ns + int(float(text[1:]) * 1e9)
    return int(datetime.fromisoformat(text).timestamp() * 1e9)


def export_mcap(data: Path, room: str, out_path: Path, t_from: str | None, t_to: str | None, out: Out) -> int:
    """Write a room's recording (or a range of it) to ``out_path``; return the exit status."""
    path = data / "rooms" / f"{room}.db"
    if not path.exists():
        out(f"twin-sync: no room {room!r} in {data}")
        return 1
    try:
        rec = FileRecording(path, data / "sensors.sqlite", room)
    except RecordingError as exc:
        out(f"twin-sync: {exc}")
        return 1
    try:
        start = rec.index(bins=1).t0
        try:
            t0, t1 = parse_time(t_from, start), parse_time(t_to, start)
        except ValueError as exc:
            out(f"twin-sync: --from/--to: {exc} (use 2026-12-02T10:15:00 or +SECONDS)")
            return 2
        stats = write_mcap(rec, out_path, t0, t1)
    except (RecordingError, sqlite3.Error, OSError) as exc:
        out(f"twin-sync: cannot export {room}: {exc}")
        return 1
    finally:
        rec.close()
    counts = ", ".join(f"{n} {topic.rsplit('/', 1)[1]}" for topic, n in stats.counts.items())
    out(f"exported {room} {_when(stats.t0)} – {_when(stats.t1)}: {counts} -> {out_path}")
    return 0
