"""``twin-sync sessions`` and ``twin-sync export-mcap`` on a real recording, read back with
the ``mcap`` library."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from mcap.reader import make_reader

from tests.replay.kit import TAG, record_session
from twin_app.replay.files import FileRecording

pytestmark = pytest.mark.net


def twin_sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync_server", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_sessions_and_mcap_export_of_a_recorded_session(server, make_client, room_name, tmp_path):
    s = record_session(server, make_client, room_name)
    for c in s.clients:
        c.close()
    server.stop()
    data = server.data
    run = twin_sync("sessions", "--data", str(data))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    room_line = next(i for i, line in enumerate(lines) if line.startswith(room_name + "\t"))
    assert "ops" in lines[room_line]
    assert lines[room_line + 1].strip().startswith("session 1")
    assert "Ana" in lines[room_line + 1] and "Olu" in lines[room_line + 1]

    out = tmp_path / "session.mcap"
    run = twin_sync("export-mcap", "--data", str(data), room_name, str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    rec = FileRecording(data / "rooms" / f"{room_name}.db", data / "sensors.sqlite")
    index = rec.index()
    db = sqlite3.connect(str(data / "rooms" / f"{room_name}.db"))
    n_presence = db.execute("SELECT count(*) FROM presence").fetchone()[0]
    db.close()
    with out.open("rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics is not None
        counts: dict[str, int] = {}
        ops, samples, alarms = [], [], []
        for _schema, channel, message in reader.iter_messages(log_time_order=True):
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            body = json.loads(message.data)
            if channel.topic == "/twinroom/ops":
                ops.append(body)
            elif channel.topic == "/twinroom/sensors":
                samples.append((message.log_time, body["tag"], body["value"]))
            elif channel.topic == "/twinroom/alarms":
                alarms.append(body["kind"])
    assert counts["/twinroom/ops"] == index.head_seq
    assert [o["seq"] for o in ops] == list(range(1, index.head_seq + 1))
    assert {o["author"] for o in ops} >= {"Ana", "Olu"}
    assert counts["/twinroom/presence"] == n_presence
    assert alarms[:2] == ["alarm_raise", "alarm_ack"]
    assert [(t, v) for t, _tag, v in samples] == [(t, pytest.approx(v)) for t, v in s.samples]
    assert counts[f"/twinroom/sensors/{TAG}"] == len(s.samples)
    st = summary.statistics
    assert index.t0 <= st.message_start_time and st.message_end_time <= index.t1
    assert st.message_count == sum(counts.values())

    # A time range: only what happened in it.
    cut = (s.samples[2][0] - index.t0) / 1e9
    part = tmp_path / "part.mcap"
    run = twin_sync("export-mcap", "--data", str(data), "--from", f"+{cut}", room_name, str(part))
    assert run.returncode == 0, run.stdout + run.stderr
    with part.open("rb") as fh:
        times = [m.log_time for _s, _c, m in make_reader(fh).iter_messages()]
    assert min(times) >= s.samples[2][0] - 1000 and len(times) < st.message_count

    bad = twin_sync("export-mcap", "--data", str(data), "--from", "yesterday", room_name, str(part))
    assert bad.returncode == 2 and "--from" in bad.stdout
    missing = twin_sync("export-mcap", "--data", str(data), "nosuchroom", str(part))
    assert missing.returncode == 1 and "no room" in missing.stdout
