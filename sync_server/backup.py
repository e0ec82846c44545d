"""Backup and restore of a server's data directory, while the server runs.

``twin-sync backup --data DIR OUT`` writes a new directory ``OUT`` that is itself a data
directory (``twin-sync serve --data OUT`` serves it) plus ``backup.json``, a manifest with
every room's head seq and document hash:

* **Rooms** are copied with SQLite's online backup API from a separate read connection.
  The copy is one read transaction: under WAL the server's writers go on committing, and
  the copy is exactly the room as of one commit — a prefix of the log, never half a batch.
  Everything the copy holds was acknowledged (acked means committed), so a restore loses at
  most the edits made after the backup started.
* **Assets** are content-addressed and never change once complete: they are copied after
  the rooms (so every mesh a copied room refers to and the server had is there) and
  checked against their names; partial uploads (``.part``) are left out.
* The sensor log (``sensors.sqlite``) is copied the same way as the rooms.
* ``tokens.toml`` (hashes only) and ``keys/`` (the server's CurveZMQ key pair) come along,
  private to the user, so clients keep their tokens and the server key they trust.

``twin-sync restore BACKUP --data DIR`` copies a backup into an empty data directory and
re-checks every room's hash against the manifest before anything is served from it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_server.roomlog import connect, read_head
from twin_app import __version__

MANIFEST = "backup.json"
FORMAT = 1


class BackupError(RuntimeError):
    """A backup or restore that cannot be done (the message says why)."""


@dataclass
class RoomCopy:
    """One room in a backup: its head seq, node count and document hash."""

    name: str
    seq: int
    nodes: int
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"seq": self.seq, "nodes": self.nodes, "hash": self.hash}


def room_state(path: Path) -> RoomCopy:
    """Replay a room log to its head; return what the manifest records about it.

    Raises ``sqlite3.Error``/``ValueError`` (including a newer schema) if it cannot be read.
    """
    db = connect(path)
    try:
        doc, head, _kf = read_head(db)
    finally:
        db.close()
    return RoomCopy(path.stem, head, len(doc), doc.hash())


def _copy_room(src_path: Path, dst_path: Path) -> None:
    # A plain connection, not roomlog.connect (which creates tables and migrates): the
    # source belongs to the running server and is only read. (Not ``mode=ro``: a read-only
    # connection cannot open a WAL database whose -shm file does not exist yet.)
    src = sqlite3.connect(str(src_path), timeout=30.0)
    dst = sqlite3.connect(str(dst_path))
    try:
        src.backup(dst)  # pages=-1: the whole file in one step, one read transaction
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _private_copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o600)


def backup(data: Path, out: Path) -> dict[str, Any]:
    """Back up the data directory ``data`` (served or not) into the new directory ``out``.

    Returns the manifest. Raises ``BackupError`` if ``out`` is not empty or ``data`` holds
    no server data, ``sqlite3.Error``/``OSError`` for storage trouble.
    """
    rooms_dir = data / "rooms"
    if not rooms_dir.is_dir():
        raise BackupError(f"{data} is not a twin-sync data directory (no rooms/)")
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; back up into a new directory")
    t0 = time.time()
    (out / "rooms").mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    rooms: dict[str, dict[str, Any]] = {}
    for path in sorted(rooms_dir.glob("*.db")):
        target = out / "rooms" / path.name
        _copy_room(path, target)
        rooms[path.stem] = room_state(target).as_json()
    sensors = data / "sensors.sqlite"  # the sensor log (full-rate samples), same treatment
    if sensors.exists():
        _copy_room(sensors, out / sensors.name)
    assets = 0
    src_assets = data / "assets"
    if src_assets.is_dir():
        from twin_app.core.ids import content_hash

        for blob in sorted(src_assets.glob("*/*")):
            if blob.suffix == ".part" or not blob.is_file():
                continue
            if content_hash(blob.read_bytes()) != blob.name:
                continue  # not a complete, intact asset
            dst = out / "assets" / blob.parent.name / blob.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, dst)
            assets += 1
    if (data / "tokens.toml").exists():
        _private_copy(data / "tokens.toml", out / "tokens.toml")
    if (data / "keys").is_dir():
        (out / "keys").mkdir(mode=0o700, exist_ok=True)
        for key in (data / "keys").iterdir():
            if key.is_file():
                _private_copy(key, out / "keys" / key.name)
    manifest = {
        "format": FORMAT, "release": __version__, "source": str(data.resolve()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "rooms": rooms, "assets": assets, "sensor_log": sensors.exists(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a backup directory. Raises ``BackupError`` if missing or newer."""
    try:
        manifest = json.loads((path / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is not a twin-sync backup ({MANIFEST}: {exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("rooms"), dict):
        raise BackupError(f"{path / MANIFEST} is not a backup manifest")
    if int(manifest.get("format", 0)) > FORMAT:
        raise BackupError(
            f"{path} was written by a newer twin-sync ({manifest.get('release')}): "
            f"update twin-sync (this is {__version__}) to restore it")
    return manifest


def verify(path: Path, manifest: dict[str, Any]) -> list[str]:
    """Rooms in ``path`` whose head does not match the manifest (empty if all match)."""
    bad = []
    for name, want in manifest["rooms"].items():
        db_path = path / "rooms" / f"{name}.db"
        try:
            got = room_state(db_path).as_json() if db_path.exists() else None
        except (sqlite3.Error, ValueError) as exc:
            bad.append(f"{name}: unreadable ({exc})")
            continue
        if got != want:
            bad.append(f"{name}: expected seq {want['seq']} hash {want['hash'][:12]}…, found {got}")
    return bad


def restore(src: Path, data: Path) -> dict[str, Any]:
    """Copy the backup ``src`` into the empty (or new) data directory ``data``; verify it.

    Returns the manifest. Raises ``BackupError`` if ``data`` is in use or not empty, or if
    a room does not match its manifest entry (then ``data`` is left as it was: empty).
    """
    manifest = read_manifest(src)
    if data.exists() and any(p.name != "server.lock" for p in data.iterdir()):
        raise BackupError(f"{data} is not empty; restore into a new data directory")
    staging = data.with_name(data.name + ".restoring")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(src, staging, ignore=shutil.ignore_patterns(MANIFEST))
    bad = verify(staging, manifest)
    if bad:
        shutil.rmtree(staging)
        raise BackupError("the backup is damaged: " + "; ".join(bad))
    if data.exists():
        shutil.rmtree(data)
    staging.rename(data)
    data.chmod(0o700)
    return manifest
