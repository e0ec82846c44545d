"""``twin-bench replay``: open, seek and play a long recording; recording overhead.

A synthetic session is written the way the server writes one — through ``RoomLog``'s
writer thread (group commits, keyframes, thinning, the replay index) and ``SensorLog``:
the demo plant with 200 sensors, edited by 10 people (``ops`` ops spread over one hour,
an alarm raised/acknowledged/cleared/removed and a comment every 5 000 ops), their
presence sampled at 5 Hz each (what the server records of a 10 Hz stream), and the
sensors at 100 Hz for ``sensor_min`` minutes. Then, in this process:

* ``open_s`` — open the recording and build its timeline (index: marks, people, edit
  histogram), median of 5 (``open_s_first``: the first one);
* ``seek_p95_ms`` / ``seek_p50_ms`` — 60 random seeks of one replay: the document, who
  was present, and the recorded value of every bound sensor at t (headless: no frame is
  rendered);
* ``replay_ops_per_s`` — the whole log played forward through the engine (fetch, decode,
  ``ClientStore``) in 60-second steps, against ``direct_ops_per_s``: the same ops read and
  applied to a ``Document`` with nothing else (``replay_over_direct`` = their ratio);
  ``step_16x_ms`` — the mean cost of one playback step at 16× and 30 frames per second
  (0.53 s of recording, with presence and 200 sensor values);
* ``replay_peak_mb_10min`` / ``replay_peak_mb_1h`` — peak RSS of a child process that
  plays the first 10 minutes / the whole hour at 16× (0.53-second steps);
* ``record_overhead_ratio`` — ``record_ops_per_s`` ÷ ``plain_ops_per_s``: ops per second the
  room writer commits (``durability=process``, batches of 500) with the recording extras
  (the replay index, and presence of 10 people at 5 Hz in real time) and without them
  (ops only), best of two runs each, alternated.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from sync_server.roomlog import Entry, RoomLog
from sync_server.sensors.store import SensorLog
from twin_app.core import roomfile, snapshot
from twin_app.core.document import Document
from twin_app.core.ops import AddNode, Op, SetField, apply, op_from_wire, op_to_wire
from twin_app.demo import DEMO_PLANT
from twin_app.replay.engine import Replay
from twin_app.replay.files import FileRecording
from twin_app.replay.logfile import presence_row

PEOPLE = 10
SENSORS = 200
SENSOR_HZ = 100


def _people() -> list[str]:
    return [f"person{i:02d}" for i in range(PEOPLE)]


def _ops(doc: Document, n: int, rng: random.Random) -> list[tuple[str, Op]]:
    """Edits by 10 people; every 5 000 ops an alarm is raised, acknowledged, cleared and
    removed by the server, and someone comments."""
    from twin_app.core.document import Node
    from twin_app.core.ops import RemoveNode

    parts = [node for node in doc.walk() if node.kind == "part"]
    who = _people()
    out: list[tuple[str, Op]] = []
    for i in range(n):
        if i % 5000 == 0:
            aid = f"alarm{i:08d}"
            out.append(("server", AddNode(Node(aid, "root", "z", kind="alarm", name="hot", props={"level": 1}))))
            out.append((who[0], SetField(aid, "prop:ack_by", "person00")))
            out.append(("server", SetField(aid, "prop:state", "cleared")))
            out.append(("server", RemoveNode(aid)))
            out.append((who[1], AddNode(Node(f"comment{i:08d}", "root", "y", kind="comment", name="look here",
                                             props={"text": "look here"}))))
        p = parts[rng.randrange(len(parts))]
        cid = who[i % PEOPLE]
        if i % 7 == 0:
            op: Op = SetField(p.id, "color", (rng.random(), rng.random(), rng.random()))
        else:
            t = list(p.transform)
            t[0] += rng.uniform(-0.01, 0.01)
            op = SetField(p.id, "transform", tuple(t))
        out.append((cid, op))
    return out


def write_session(path: Path, sensors: Path, n_ops: int, hours: float, sensor_min: float,
                  extras: bool = True) -> dict[str, Any]:
    """Write the synthetic session; return the seed time range and write figures."""
    doc, _blobs = roomfile.read(DEMO_PLANT)
    parts = [node.id for node in doc.walk() if node.kind == "part"]
    sensor_ids = [parts[i % len(parts)] for i in range(SENSORS)]
    rng = random.Random(7)
    ops = _ops(doc, n_ops, rng)
    # A sensor node per part, so the replay has bound tags to show.
    tags = [f"bench/s{i:03d}" for i in range(min(SENSORS, len(sensor_ids)))]
    durable = [0]

    def on_event(kind: str, value: Any) -> None:
        if kind == "durable":
            durable[0] = value

    rlog = RoomLog(path, on_event)
    if not extras:
        rlog._index = lambda db, batch: None  # type: ignore[method-assign]  # the baseline: ops only
    rlog.load(doc)
    rlog.start()
    t0 = time.time_ns() - int(hours * 3600e9)
    dt = int(hours * 3600e9 / max(1, n_ops))
    seq = 0
    batch: list[Entry] = []
    cseq: dict[str, int] = {}
    sensors_ops = [AddNode(snapshot_node(sensor_ids[i], tag, i)) for i, tag in enumerate(tags)]
    started = time.perf_counter()
    presence_next = t0
    who = _people()
    for cid, op in [("setup", o) for o in sensors_ops] + ops:
        seq += 1
        cseq[cid] = cseq.get(cid, 0) + 1
        t = t0 + seq * dt
        batch.append(Entry(seq, t, cid, cseq[cid], op, op_to_wire(op)))
        if len(batch) >= 500:
            if extras:
                rows = []
                while presence_next < t:  # 10 people at 5 Hz
                    for k, person in enumerate(who):
                        rows.append(presence_row(presence_next + k, f"s{k}", person, "state", {
                            "camera": [float(k), 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
                            "selection": [], "name": person, "color": [0.5, 0.5, 0.5]}))
                    presence_next += 200_000_000
                rlog.append_presence(rows)
            rlog.append(batch)
            batch = []
            while durable[0] < seq - 5000:  # keep the writer's queue short, as acks would
                time.sleep(0.0005)
    if batch:
        rlog.append(batch)
    rlog.close()
    write_s = time.perf_counter() - started
    if extras:
        _write_sensors(sensors, tags, t0, sensor_min)
    return {"t0": t0, "t1": t0 + seq * dt, "ops": seq, "write_s": write_s, "tags": tags}


def writer_rate(path: Path, n_ops: int, extras: bool) -> float:
    """Ops/s through ``RoomLog`` as fast as it commits (batches of 500, as a busy room), with
    the recording extras (index + presence of 10 people at 5 Hz, in real time) or without."""
    doc, _blobs = roomfile.read(DEMO_PLANT)
    ops = _ops(doc, n_ops, random.Random(11))
    durable = [0]

    def on_event(kind: str, value: Any) -> None:
        if kind == "durable":
            durable[0] = value

    rlog = RoomLog(path, on_event, durability="process")
    if not extras:
        rlog._index = lambda db, batch: None  # type: ignore[method-assign]  # ops only
    rlog.load(doc)
    rlog.start()
    who = _people()
    started = time.perf_counter()
    next_presence = started
    batch: list[Entry] = []
    for seq, (cid, op) in enumerate(ops, 1):
        batch.append(Entry(seq, time.time_ns(), cid, seq, op, op_to_wire(op)))
        if len(batch) >= 500:
            now = time.perf_counter()
            if extras and now >= next_presence:
                rows = []
                while next_presence <= now:
                    rows += [presence_row(time.time_ns(), f"s{k}", p, "state", {
                        "camera": [float(k), now, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], "selection": [],
                        "name": p, "color": [0.5, 0.5, 0.5]}) for k, p in enumerate(who)]
                    next_presence += 0.2
                rlog.append_presence(rows)
            rlog.append(batch)
            batch = []
            while durable[0] < seq - 5000:
                time.sleep(0.0005)
    rlog.append(batch)
    while durable[0] < len(ops):
        time.sleep(0.0005)
    elapsed = time.perf_counter() - started
    rlog.close()
    return len(ops) / elapsed


def snapshot_node(parent: str, tag: str, i: int) -> Any:
    from twin_app.core.document import Node

    return Node(f"sensor{i:04d}bench", parent, "V", kind="sensor", name=tag,
                props={"tag": tag, "unit": "°C", "range_min": 0.0, "range_max": 100.0})


def _write_sensors(path: Path, tags: list[str], t0: int, minutes: float) -> None:
    store = SensorLog(path)
    streams = [store.add_stream(tag, "scalar", (), "°C") for tag in tags]
    n = int(minutes * 60 * SENSOR_HZ)
    step = 1_000_000_000 // SENSOR_HZ
    block = 4096
    for start in range(0, n, block):
        k = min(block, n - start)
        t = (t0 + (start + np.arange(k, dtype=np.int64)) * step).astype(np.int64)
        for j, s in enumerate(streams):
            v = (50 + 10 * np.sin((start + np.arange(k)) / 500.0 + j)).astype(np.float32)
            store.append(s.id, t, v, np.zeros(k, np.uint8), 0.0)
        store.flush_due(0.0, everything=True)
        while store._queue.qsize() > 2000:  # let the writer keep up (the hub would drop)
            time.sleep(0.01)
    store.close()


def _direct(path: Path) -> tuple[int, float]:
    """Baseline: read every op and apply it to a Document, nothing else."""
    import sqlite3

    db = sqlite3.connect(str(path))
    seq, blob, codec = db.execute("SELECT seq, chunks, codec FROM keyframes ORDER BY seq LIMIT 1").fetchone()
    from twin_app.core.snapshot import unpack_chunks

    doc = snapshot.decode(unpack_chunks(blob, codec))
    started = time.perf_counter()
    n = 0
    with snapshot.gc_paused():
        for (op,) in db.execute("SELECT op FROM ops WHERE seq > ? ORDER BY seq", (seq,)):
            apply(doc, op_from_wire(msgpack.unpackb(op, raw=False)))
            n += 1
    db.close()
    return n, time.perf_counter() - started


def _play(path: Path, sensors: Path, until_s: float, step_s: float) -> tuple[int, float]:
    rec = FileRecording(path, sensors)
    replay = Replay(rec)
    t = replay.index.t0
    end = min(replay.index.t1, t + int(until_s * 1e9))
    replay.seek(t)
    ops0 = replay.stats["ops"]
    started = time.perf_counter()
    while t < end:
        t = min(end, t + int(step_s * 1e9))
        replay.advance(t)
    elapsed = time.perf_counter() - started
    n = replay.stats["ops"] - ops0
    rec.close()
    return n, elapsed


def _peak_child(path: str, sensors: str, until_s: float, q: Any) -> None:
    _play(Path(path), Path(sensors), until_s, 16.0 / 30.0)  # 16× at 30 frames per second
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would
    # report the benchmark parent's peak (it holds the million ops it wrote).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            q.put(int(line.split()[1]) / 1024.0)
            return
    q.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def _peak_mb(path: Path, sensors: Path, until_s: float) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(str(path), str(sensors), until_s, q))
    proc.start()
    peak = float(q.get(timeout=3600))
    proc.join()
    return round(peak, 1)


def _say(text: str) -> None:
    sys.stderr.write(f"replay bench: {text}\n")
    sys.stderr.flush()


def run(quick: bool) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); ``quick``: 100 000 ops, 2 min of sensors."""
    n_ops = 100_000 if quick else 1_000_000
    sensor_min = 2.0 if quick else 60.0
    tmp = Path(tempfile.mkdtemp(prefix="twin-bench-replay-"))
    try:
        room, sensors = tmp / "bench.db", tmp / "sensors.sqlite"
        _say(f"writing {n_ops} ops over 1 h, presence, {SENSORS} sensors for {sensor_min:g} min")
        made = write_session(room, sensors, n_ops, 1.0, sensor_min)
        _say(f"written in {made['write_s']:.1f} s; measuring the recording overhead")
        rates = {True: [], False: []}  # type: dict[bool, list[float]]
        for i in range(4):  # alternate, so machine noise hits both
            extras = i % 2 == 0
            rates[extras].append(writer_rate(tmp / f"rate{i}.db", 100_000, extras))
        out: dict[str, Any] = {"replay_ops": made["ops"], "replay_write_s": round(made["write_s"], 1),
                               "replay_room_mb": round(room.stat().st_size / 1e6, 1),
                               "replay_sensor_mb": round(sensors.stat().st_size / 1e6, 1)}
        out["record_ops_per_s"] = round(max(rates[True]))
        out["plain_ops_per_s"] = round(max(rates[False]))
        out["record_overhead_ratio"] = round(max(rates[True]) / max(rates[False]), 3)
        _say("opening")
        opens = []
        for i in range(6):
            started = time.perf_counter()
            rec = FileRecording(room, sensors)
            replay = Replay(rec)
            opens.append(time.perf_counter() - started)
            if i == 0:
                out["open_s_first"] = round(opens[0], 3)
                out["replay_marks"] = len(replay.index.marks)
            rec.close()
        out["open_s"] = round(statistics.median(opens[1:]), 3)
        rec = FileRecording(room, sensors)
        replay = Replay(rec)
        replay.seek(made["t0"] + 1)
        rng = random.Random(3)
        times = []
        for _ in range(60):
            t = rng.randrange(made["t0"], made["t1"])
            started = time.perf_counter()
            replay.seek(t)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out["seek_p50_ms"] = round(times[len(times) // 2], 1)
        out["seek_p95_ms"] = round(times[int(len(times) * 0.95)], 1)
        out["seek_tags"] = len(replay.tags)
        rec.close()
        _say("playing")
        n_direct, direct_s = _direct(room)
        n_play, play_s = _play(room, sensors, 1e9, 60.0)
        _n_steps, steps_s = _play(room, sensors, 300.0, 16.0 / 30.0)
        out["step_16x_ms"] = round(steps_s / max(1, int(300 / (16.0 / 30.0))) * 1000, 2)
        out["direct_ops_per_s"] = round(n_direct / direct_s)
        out["replay_ops_per_s"] = round(n_play / play_s)
        out["replay_over_direct"] = round((n_play / play_s) / (n_direct / direct_s), 3)
        _say("peak memory")
        out["replay_peak_mb_10min"] = _peak_mb(room, sensors, 600.0)
        out["replay_peak_mb_1h"] = _peak_mb(room, sensors, 3600.0)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
