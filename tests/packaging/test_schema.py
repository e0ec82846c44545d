"""Upgrades: files written by earlier releases open; files of a newer release are refused.

``fixtures/<release>/`` holds a room log, a client state and a settings file written by
that release (``python -m tests.packaging.make_fixtures``). Every release must read all
of them. Files of 0.1.x (before schema versions) are built here as 0.1.x wrote them. A
file stamped with a newer schema is refused with a message that says to update, and is
left byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netutil import ServerProcess
from tests.server.roomlog_kit import write_old_format_log
from twin_app.net import SyncClient

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())


def expected(release: str) -> dict:
    return json.loads((FIXTURES / release / "expected.json").read_text())


def stamp(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


@pytest.mark.net
@pytest.mark.parametrize("release", RELEASES)
def test_a_served_room_log_of_every_release_opens(tmp_path, release):
    want = expected(release)["room"]
    data = tmp_path / "data"
    (data / "rooms").mkdir(parents=True)
    shutil.copy(FIXTURES / release / "room.db", data / "rooms" / "old.db")
    srv = ServerProcess(data).start()
    try:
        c = SyncClient(srv.endpoint, "old", "viewer-token", "Vi")
        c.start()
        assert c.wait_for(lambda: c.state == "live", 15), c.state_detail
        assert c.store.last_seq == want["seq"]
        assert c.store.doc.hash() == want["hash"]
        assert len(c.store.doc) == want["nodes"]
        c.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("release", RELEASES)
def test_client_state_and_settings_of_every_release_open(tmp_path, release, qapp):
    from PySide6.QtCore import QSettings

    from twin_app.net.outbox import Outbox
    from twin_app.qt.settings_schema import SCHEMA_VERSION, check_and_migrate

    want = expected(release)
    shutil.copytree(FIXTURES / release / "client", tmp_path / "client")
    box = Outbox(tmp_path / "client")
    try:
        assert box.client_id == want["client"]["client_id"]
        assert box.next_cseq == want["client"]["next_cseq"]
        assert [[c, label] for c, label, _op in box.pending("demo")] == want["client"]["pending"]
    finally:
        box.close()
    shutil.copy(FIXTURES / release / "settings.ini", tmp_path / "settings.ini")
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    check_and_migrate(s)
    assert s.value("user/name") == want["settings"]["user/name"]
    assert s.value("view/theme") == want["settings"]["view/theme"]
    assert int(s.value("schema/version")) == SCHEMA_VERSION


def test_files_of_0_1_without_versions_are_migrated(tmp_path, qapp):
    from PySide6.QtCore import QSettings

    from sync_server.roomlog import SCHEMA_VERSION, RoomLog, schema_version
    from twin_app.net.outbox import Outbox
    from twin_app.qt.settings_schema import check_and_migrate
    from twin_app.qt.window import recent_rooms

    room = tmp_path / "room.db"
    doc = write_old_format_log(room, keyframes=2, ops_between=50)
    rlog = RoomLog(room, lambda *_: None)
    assert rlog.load().doc.hash() == doc.hash()
    db = sqlite3.connect(room)
    assert schema_version(db) == SCHEMA_VERSION
    db.close()

    (tmp_path / "client").mkdir()
    db = sqlite3.connect(tmp_path / "client" / "client.db")  # as 0.1.x created it
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
    db.execute("CREATE TABLE outbox (room TEXT, cseq INTEGER, label TEXT, op BLOB, PRIMARY KEY (room, cseq))")
    db.execute("INSERT INTO meta VALUES ('client_id', 'old-client'), ('next_cseq', 12)")
    db.commit()
    db.close()
    box = Outbox(tmp_path / "client")
    assert (box.client_id, box.next_cseq) == ("old-client", 12)
    box.close()

    ini = tmp_path / "old.ini"
    ini.write_text("[rooms]\nrecent=tcp://b:7700\\tdemo\\tt\\t\n\n[user]\nname=Ada\n")
    s = QSettings(str(ini), QSettings.Format.IniFormat)
    check_and_migrate(s)
    assert recent_rooms(s) == ["tcp://b:7700\tdemo\tt\t"]
    assert "version=1" in ini.read_text()


@pytest.mark.net
def test_a_newer_room_log_is_refused_with_update_twin_sync_and_left_untouched(tmp_path):
    from sync_server.roomlog import SchemaError, connect

    data = tmp_path / "data"
    (data / "rooms").mkdir(parents=True)
    path = data / "rooms" / "future.db"
    shutil.copy(FIXTURES / RELEASES[-1] / "room.db", path)
    stamp(path, 99)
    before = path.read_bytes()
    with pytest.raises(SchemaError, match=r"newer Twinroom.*update twin-sync"):
        connect(path)
    srv = ServerProcess(data).start()
    try:
        c = SyncClient(srv.endpoint, "future", "owner-token", "Ada")
        errors: list[tuple[str, str]] = []
        c.on_error.append(lambda code, reason: errors.append((code, reason)))
        c.start()
        assert c.wait_for(lambda: bool(errors), 15)
        code, reason = errors[0]
        assert code == "storage_unavailable"
        assert "written by a newer Twinroom" in reason and "update twin-sync" in reason
        assert c.state != "live"
        c.close()
    finally:
        srv.stop()
    assert path.read_bytes() == before
    listing = subprocess.run([sys.executable, "-m", "sync_server", "rooms", "--data", str(data)],
                             check=False, capture_output=True, text=True, timeout=60).stdout
    assert "future\tcannot be read" in listing and "update twin-sync" in listing


def test_a_newer_client_state_is_refused_and_kept(tmp_path):
    from twin_app.net.outbox import Outbox, StateTooNew

    shutil.copytree(FIXTURES / RELEASES[-1] / "client", tmp_path / "client")
    path = tmp_path / "client" / "client.db"
    stamp(path, 99)
    before = path.read_bytes()
    with pytest.raises(StateTooNew, match=r"newer Twinroom.*Update Twinroom"):
        Outbox(tmp_path / "client")
    assert path.read_bytes() == before
    # The refusal released the directory's lock: trying again is refused the same way,
    # instead of quietly starting a second, empty instance next to the kept file.
    with pytest.raises(StateTooNew):
        Outbox(tmp_path / "client")
    assert not (tmp_path / "client" / "instance-2").exists()


@pytest.mark.qt
def test_the_app_refuses_newer_settings_with_a_message_and_keeps_them(tmp_path):
    ini = tmp_path / "settings.ini"
    shutil.copy(FIXTURES / RELEASES[-1] / "settings.ini", ini)
    ini.write_text(ini.read_text().replace("version=1", "version=7"))
    before = ini.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "twin_app.qt.app", "--settings", str(ini), "--data-dir",
         str(tmp_path / "data"), "--screenshot", str(tmp_path / "shot.png")],
        check=False, capture_output=True, text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "written by a newer Twinroom (settings schema 7" in proc.stderr
    assert "--settings FILE" in proc.stderr
    assert ini.read_bytes() == before
    assert not (tmp_path / "shot.png").exists()
