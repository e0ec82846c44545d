"""Write the files this release keeps on disk, as fixtures for the upgrade tests.

    .venv/bin/python -m tests.packaging.make_fixtures

writes ``tests/packaging/fixtures/<release>/``: a room log (``room.db``), a client state
(``client.db``, one unsent edit) and a settings file (``settings.ini``), plus
``expected.json`` (what a later release must read back from them). Run it once per release
and commit the directory: every later release must open every release's files
(tests/packaging/test_schema.py).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from twin_app import __version__
from twin_app.core import AddNode, Node, SetField
from twin_app.core.document import Document
from twin_app.core.fracindex import keys_between
from twin_app.core.ops import apply, op_to_wire

HERE = Path(__file__).resolve().parent / "fixtures"


def room_log(path: Path) -> dict[str, object]:
    from sync_server.roomlog import Entry, RoomLog

    doc = Document()
    keys = keys_between(None, None, 20)
    for i in range(20):
        apply(doc, AddNode(Node(f"p{i}", "root", keys[i], kind="part", name=f"Pump {i}")))
    durable: list[int] = []
    log = RoomLog(path, lambda kind, value: durable.append(value) if kind == "durable" else None,
                  min_keyframe_ops=10)
    rec = log.load(doc)
    log.start()
    seq = rec.head_seq
    for k in range(30):
        op = SetField(f"p{k % 20}", "prop:pressure", float(k))
        apply(rec.doc, op)
        seq += 1
        log.append([Entry(seq, time.time_ns(), "fixture-client", k + 1, op, op_to_wire(op))])
    log.close()
    return {"seq": seq, "hash": rec.doc.hash(), "nodes": len(rec.doc)}


def client_state(path: Path) -> dict[str, object]:
    from twin_app.net.outbox import Outbox

    box = Outbox(path)
    op = SetField("p1", "name", "Renamed while offline")
    box.add("demo", 7, "Rename", op_to_wire(op))
    out = {"client_id": box.client_id, "next_cseq": box.next_cseq, "pending": [[7, "Rename"]]}
    box.close()
    (path / "client.lock").unlink()
    return out


def settings(path: Path) -> dict[str, object]:
    from PySide6.QtCore import QSettings

    from twin_app.qt.settings_schema import check_and_migrate

    s = QSettings(str(path), QSettings.Format.IniFormat)
    check_and_migrate(s)
    s.setValue("user/name", "Ada")
    s.setValue("user/color", [0.2, 0.4, 0.8])
    s.setValue("rooms/recent", ["tcp://plant-b:7700\tdemo\tsecret\t"])
    s.setValue("view/theme", "dark")
    s.sync()
    return {"user/name": "Ada", "view/theme": "dark", "recent": 1}


def main() -> int:
    out = HERE / __version__
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    expected = {
        "release": __version__,
        "room": room_log(out / "room.db"),
        "client": client_state(out / "client"),
        "settings": settings(out / "settings.ini"),
    }
    for junk in out.rglob("*-wal"):
        junk.unlink()
    for junk in out.rglob("*-shm"):
        junk.unlink()
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", "utf-8")
    sys.stdout.write(f"fixtures written to {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
