"""``twin-bench sensors``: the sensor lane under load, in one run.

(a) ``ingest_samples_per_s``: sources in two other processes push 1 kHz channels (batches
    of 20 ms, as a bridge does) into one server process, which records everything and fans
    out to 10 subscribed clients (other processes). A rate counts only if, afterwards, the
    sensor log holds every pushed sample exactly once and every client's frames account
    for every sample (the sum of the per-frame counts equals what was pushed). Baseline:
    the same messages pushed through a bare DEALER → ROUTER pair (``raw_zmq_samples_per_s``).
(b) ``sample_to_screen_p95_ms``: during that load, a probe sample stamped when produced →
    a client (in this process) has it in its SensorFeed and has computed the bound parts'
    colours. Painting is not included (see ``twin-bench render`` for frame times).
    Baseline: the raw ZeroMQ round trip p95 in the same run.
(c) ``recolour_5k_ms``: one frame's recolour of 5 000 bound parts in a real SceneVisual
    (``bench.sensors_render``), against the per-block colour calls it replaces.
(d) ``bytes_per_sample``: bytes of compressed chunks per stored sample (and the whole
    SQLite file per sample).
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from bench.sync import TOKEN, Server, edit_latency, pct, raw_rtt
from twin_app import protocol
from twin_app.core.ids import ROOT_ID

ROOM = "sensors"
CHANNELS = 100
BATCH_S = 0.02


def _tags(n: int) -> list[str]:
    return [f"bench/ch{i:03d}" for i in range(n)]


def _build_room(endpoint: str, n: int) -> None:
    from twin_app.core import AddNode, Batch, Node, new_id
    from twin_app.net import SyncClient

    c = SyncClient(endpoint, ROOM, TOKEN, "builder")
    c.start()
    try:
        assert c.wait_for(lambda: c.state == "live", 30), c.state_detail
        from twin_app.core.fracindex import keys_between

        ops = []
        for key, tag in zip(keys_between(None, None, n), _tags(n), strict=True):
            pid = new_id()
            ops.append(AddNode(Node(pid, ROOT_ID, key, kind="part", name=f"Part {tag}")))
            ops.append(AddNode(Node(new_id(), pid, "V", kind="sensor", name=tag, props={
                "tag": tag, "range_min": -1.0, "range_max": 1.0, "stale_s": 3600.0})))
        c.submit(Batch(tuple(ops)), "sensors")
        assert c.wait_for(lambda: c.unacked_count == 0 and not c.store.pending, 30)
    finally:
        c.close()


def _pusher(endpoint: str, tags: list[str], hz: float, seconds: float, ready: Any, go: Any, out: Any) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.SNDHWM, 100_000)
    s.connect(endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": TOKEN, "client_id": f"push{id(s):x}"[:30], "name": "bench-source"}))
    s.recv_multipart()
    ready.set()
    go.wait()
    per = int(hz * BATCH_S)
    k = len(tags)
    idx = np.repeat(np.arange(k, dtype="<u4"), per).tobytes()
    q = np.zeros(k * per, np.uint8).tobytes()
    t_start = time.time_ns()
    sent = 0
    step = int(BATCH_S * 1e9)
    n_batches = int(seconds / BATCH_S)
    t0 = time.perf_counter()
    rng = np.random.default_rng(len(tags))
    for b in range(n_batches):
        # Sample j of this batch is at t_start + b*20 ms + j/hz, for every channel.
        base = t_start + b * step + (np.arange(per, dtype=np.int64) * int(1e9 / hz))
        t = np.tile(base, k)
        v = np.sin(t / 1e8 + np.repeat(np.arange(k), per)) + rng.normal(0, 0.01, k * per)
        s.send_multipart(protocol.encode(protocol.SENSOR_PUSH, {"tags": tags, "n": k * per, "source": "bench"},
                                         [idx, t.astype("<i8").tobytes(), v.astype("<f8").tobytes(), q]))
        sent += k * per
        lag = t0 + (b + 1) * BATCH_S - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
    out.put({"sent": sent, "behind_s": round(max(0.0, time.perf_counter() - t0 - seconds), 3)})
    s.close(linger=5000)
    ctx.term()


def _subscriber(endpoint: str, ready: Any, stop: Any, out: Any) -> None:
    from twin_app.net import SyncClient

    c = SyncClient(endpoint, ROOM, TOKEN, "watcher")
    counts: dict[int, int] = {}

    def on_frame(f: Any) -> None:
        for sid, n in zip(f.ids.tolist(), f.count.tolist(), strict=True):
            counts[sid] = counts.get(sid, 0) + n

    c.sensors.on_frame.append(on_frame)
    c.start()
    c.wait_for(lambda: c.state == "live", 30)
    ready.set()
    while not stop.is_set():
        c.wait_for(lambda: False, 0.05)
    c.wait_for(lambda: False, 1.0)  # the last frames
    by_tag = {s.id: s.tag for s in c.sensors.streams.values()}
    out.put({by_tag.get(k, str(k)): v for k, v in counts.items()})
    c.close()


def _raw_capacity(messages: list[list[bytes]], seconds: float) -> float:
    """Samples/s through a bare DEALER → ROUTER pair (same process, other thread)."""
    import threading

    ctx = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    port = r.bind_to_random_port("tcp://127.0.0.1")
    d = ctx.socket(zmq.DEALER)
    d.connect(f"tcp://127.0.0.1:{port}")
    got = [0]
    done = threading.Event()

    def drain() -> None:
        while not done.is_set() or r.poll(100):
            if r.poll(100):
                frames = r.recv_multipart()
                got[0] += len(frames[2]) // 4
    th = threading.Thread(target=drain)
    th.start()
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        d.send_multipart(messages[i % len(messages)])
        i += 1
    done.set()
    th.join()
    elapsed = time.perf_counter() - t0
    d.close(0)
    r.close(0)
    ctx.term()
    return got[0] / elapsed


def _probe(endpoint: str, seconds: float) -> list[float]:
    """Sample produced → colour computed in a client, ms."""
    from twin_app.core.sensors import colormap_table, value_colors
    from twin_app.net import SyncClient

    c = SyncClient(endpoint, ROOM, TOKEN, "probe")
    table = colormap_table("turbo")
    lat: list[float] = []
    tag = "bench/ch000"

    def on_frame(f: Any) -> None:
        s = c.sensors.by_tag.get("bench/probe")
        if s is None:
            return
        hit = np.flatnonzero(f.ids == s.id)
        if len(hit):
            value_colors(f.latest.astype(np.float64), np.zeros(len(f)), np.ones(len(f)), table)
            lat.append((time.time_ns() - int(f.t_last[hit[0]])) / 1e6)

    c.sensors.on_frame.append(on_frame)
    c.start()
    c.wait_for(lambda: c.state == "live", 30)
    # The probe is one more sensor of the room: bind it like the others.
    from twin_app.core import AddNode, Node, new_id

    last = c.store.doc.nodes[c.store.doc.children(ROOT_ID)[-1]].order
    from twin_app.core.fracindex import key_between

    c.submit(AddNode(Node(new_id(), ROOT_ID, key_between(last, None), kind="sensor", name="probe", props={
        "tag": "bench/probe", "stale_s": 3600.0})), "probe")
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": TOKEN, "client_id": "probe-src", "name": "probe"}))
    s.recv_multipart()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.time_ns()
        s.send_multipart(protocol.encode(protocol.SENSOR_PUSH, {"tags": ["bench/probe"], "n": 1},
                                         [np.zeros(1, "<u4").tobytes(), np.array([t], "<i8").tobytes(),
                                          np.array([0.5], "<f8").tobytes(), b"\0"]))
        c.wait_for(lambda: False, 0.05)
    s.close(0)
    ctx.term()
    c.close()
    del tag
    return lat[3:]  # the first ones include the probe sensor's binding


def _trial(endpoint: str, hz: float, seconds: float, probe: bool, edits: bool = False) -> dict[str, Any]:
    """Push ``CHANNELS`` channels at ``hz`` for ``seconds`` to a server with 10 subscribers."""
    spawn = mp.get_context("spawn")
    stop = spawn.Event()
    q = spawn.Queue()
    readies = [spawn.Event() for _ in range(10)]
    subs = [spawn.Process(target=_subscriber, args=(endpoint, readies[i], stop, q)) for i in range(10)]
    for p in subs:
        p.start()
    for e in readies:
        e.wait(60)
    tags = _tags(CHANNELS)
    go = spawn.Event()
    pq = spawn.Queue()
    pr = [spawn.Event(), spawn.Event()]
    pushers = [spawn.Process(target=_pusher, args=(endpoint, half, hz, seconds, pr[i], go, pq))
               for i, half in enumerate((tags[:CHANNELS // 2], tags[CHANNELS // 2:]))]
    for p in pushers:
        p.start()
    for e in pr:
        e.wait(60)
    go.set()
    lat = _probe(endpoint, seconds) if probe else []
    edit = edit_latency(endpoint, "edits", 3, 200.0, 300) if edits else None
    pushed = [pq.get(timeout=300) for _ in pushers]
    for p in pushers:
        p.join(30)
    time.sleep(1.5)  # the hub's last tick reaches the clients
    stop.set()
    counts = [q.get(timeout=60) for _ in subs]
    for p in subs:
        p.join(30)
    sent = sum(p["sent"] for p in pushed)
    per_channel = sent // CHANNELS
    behind = max(p["behind_s"] for p in pushed)
    return {
        "rate": int(hz * CHANNELS), "sent": sent, "seconds": seconds + behind, "behind_s": behind,
        "clients_complete": sum(all(cnt.get(t, 0) == per_channel for t in tags) for cnt in counts),
        "lat": lat, "edit": edit,
    }


def run(quick: bool) -> dict[str, Any]:
    seconds = 6.0 if quick else 12.0
    rates_hz = [1000.0] if quick else [1000.0, 2000.0, 3000.0]
    out: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="twin-bench-sensors-"))
    srv = Server(tmp)
    srv.start()
    trials = []
    try:
        _build_room(srv.endpoint, CHANNELS)
        for i, hz in enumerate(rates_hz):
            trials.append(_trial(srv.endpoint, hz, seconds, probe=i == 0))
        # Invariant: a sensor burst never delays edits. Edit latency with and without
        # 100 000 samples/s flowing through the same server.
        quiet = edit_latency(srv.endpoint, "edits", 3, 200.0, 300)
        loaded = _trial(srv.endpoint, 1000.0, seconds, probe=False, edits=True)
        trials.append(loaded)
        out["edit_p99_ms_no_sensors"] = round(quiet["p99"], 3)
        out["edit_p99_ms_sensor_load"] = round(loaded["edit"]["p99"], 3)
        out["edit_p99_sensor_load_over_none"] = round(loaded["edit"]["p99"] / quiet["p99"], 2)
    finally:
        srv.stop()
    db = sqlite3.connect(tmp / "sensors.sqlite")
    stored, data = db.execute(
        "SELECT COALESCE(SUM(c.n), 0), COALESCE(SUM(LENGTH(c.data)), 0) FROM chunks c "
        "JOIN streams s ON s.id = c.stream WHERE s.tag LIKE 'bench/ch%'").fetchone()
    db.close()
    file_bytes = sum(p.stat().st_size for p in tmp.glob("sensors.sqlite*"))
    sent_total = sum(t["sent"] for t in trials)
    out["stored_samples"] = int(stored)
    out["stored_equals_pushed"] = int(stored) == sent_total
    lat = trials[0]["lat"]
    out["sample_to_screen_p50_ms"] = round(pct(lat, 0.5), 2) if lat else None
    out["sample_to_screen_p95_ms"] = round(pct(lat, 0.95), 2) if lat else None
    # A rate counts if every client saw every sample, the sources were not held back and
    # (checked over the whole run) the log holds exactly what was pushed.
    ok = [t for t in trials if t["clients_complete"] == 10 and t["behind_s"] < 0.5 and out["stored_equals_pushed"]]
    out["ingest_samples_per_s"] = max((round(t["sent"] / t["seconds"]) for t in ok), default=0)
    out["ingest_trials"] = [{k: v for k, v in t.items() if k not in ("lat", "edit")} for t in trials]
    out["bytes_per_sample"] = round(data / max(1, stored), 3)
    out["file_bytes_per_sample"] = round(file_bytes / max(1, stored), 3)
    # Baselines in the same run.
    per = int(1000.0 * BATCH_S)
    k = CHANNELS // 2
    msg = protocol.encode(protocol.SENSOR_PUSH, {"tags": _tags(k), "n": k * per},
                          [np.zeros(k * per, "<u4").tobytes(), np.zeros(k * per, "<i8").tobytes(),
                           np.zeros(k * per, "<f8").tobytes(), np.zeros(k * per, np.uint8).tobytes()])
    out["raw_zmq_samples_per_s"] = round(_raw_capacity([msg], 2.0))
    out["ingest_over_raw_zmq"] = round(out["ingest_samples_per_s"] / out["raw_zmq_samples_per_s"], 3)
    raw = raw_rtt(64, 2000)
    out["raw_rtt_p99_ms"] = round(raw["p99"], 4)
    if out["sample_to_screen_p95_ms"] is not None:
        out["sample_to_screen_over_raw_rtt"] = round(out["sample_to_screen_p95_ms"] / raw["p99"], 1)
    try:
        from bench import sensors_render  # the 5 000-part recolour in a real SceneVisual
    except ImportError:
        out["recolour_5k_ms"] = None
    else:
        out.update(sensors_render.recolour_5k_ms())
    shutil.rmtree(tmp, ignore_errors=True)
    return out
