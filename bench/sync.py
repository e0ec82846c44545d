"""``twin-bench sync``: latency and throughput of the sync backbone, against raw ZeroMQ.

Everything runs on loopback in one invocation, so the figures that matter are ratios to
the baseline measured in the same run (these machines are shared and noisy):

* ``raw_rtt_*``: a DEALER ↔ ROUTER echo between two processes with a message of the size
  of one of our edit messages — the floor no protocol over ZeroMQ can beat.
* ``edit_*_ms_<n>_clients``: one client submits an edit, another client has it applied in
  its document (the full path: agent thread → server validate/sequence/broadcast → agent
  thread → store). ``n`` clients are in the room; the others are real protocol peers in a
  separate process that read every broadcast, and one of them adds 1 000 edits/s of
  background load. Edits are acknowledged durable (SQLite) as always.
* ``ops_per_s_sustained``: the highest offered edit rate at which the server acknowledged
  everything and the probe's p99 stayed under 5 ms.
* ``join_100k_s`` / ``recovery_s``: a room of 100 000 nodes with 1 000 000 logged ops
  (fewer ops with ``--quick``): a client's join into the open room until it holds the whole
  document, and a server restart until the first client holds it (rooms load at their
  first join, so this includes process start, loading the room and that join).
* ``durability``: the server's mode (``power``, the default: an ACK survives a power cut;
  ``twin-bench sync --durability process`` measures the faster mode).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import zmq

from sync_server.embedded import LISTENING, read_listening_line
from twin_app import protocol
from twin_app.core import AddNode, Node, SetField, snapshot
from twin_app.core.document import Document
from twin_app.core.fracindex import keys_between
from twin_app.core.ops import apply, op_to_wire
from twin_app.net import SyncClient

TOKEN = "bench-token"
# A server loads every room before it listens; the largest bench room takes seconds.
START_TIMEOUT_S = 300.0


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


# -- the server ----------------------------------------------------------------------------
class Server:
    """``twin-sync serve`` in a child process."""

    def __init__(self, data: Path, bind: str = "tcp://127.0.0.1:*", extra: list[str] | None = None) -> None:
        self.data = data
        self.bind = bind
        self.extra = extra or []
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self) -> float:
        """Start; return seconds until it listened (rooms loaded)."""
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync_server", "serve", "--bind", self.bind, "--data", str(self.data),
             "--token", f"{TOKEN}:owner", "--ops-per-s", "10000000", "--lag-limit", "1000000", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = read_listening_line(self.proc, START_TIMEOUT_S)
        elapsed = time.perf_counter() - t0
        if not line.startswith(LISTENING):
            raise RuntimeError(f"server failed: {line!r}")
        self.endpoint = line.split()[3]
        self.bind = self.endpoint
        return elapsed

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)


# -- (a) raw round trip ---------------------------------------------------------------------
def _echo(endpoint: str, n: int) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.bind(endpoint)
    for _ in range(n):
        s.send_multipart(s.recv_multipart())
    s.close(linger=1000)
    ctx.term()


def raw_rtt(size: int, n: int) -> dict[str, float]:
    """DEALER ↔ ROUTER echo between processes; p50/p99 in ms."""
    endpoint = "tcp://127.0.0.1:5599"
    warm = n // 10
    p = mp.get_context("spawn").Process(target=_echo, args=(endpoint, n + warm))
    p.start()
    ctx = zmq.Context()
    c = ctx.socket(zmq.DEALER)
    c.linger = 0
    c.connect(endpoint)
    msg = b"x" * size
    rtts = []
    for _ in range(n + warm):
        t0 = time.perf_counter()
        c.send(msg)
        c.recv()
        rtts.append((time.perf_counter() - t0) * 1000)
    p.join()
    c.close()
    ctx.term()
    rtts = rtts[warm:]
    return {"p50": pct(rtts, 0.5), "p99": pct(rtts, 0.99)}


# -- peers in another process ----------------------------------------------------------------
def received(sock: zmq.Socket[bytes], most: int) -> Iterator[protocol.Message]:
    """Decode up to ``most`` messages already waiting on a protocol peer's socket."""
    for _ in range(most):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        yield protocol.decode(frames, protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)


def _peers(endpoint: str, room: str, n_passive: int, rate: float, node_id: str, ready: Any, stop: Any, stats: Any) -> None:
    """``n_passive`` protocol peers that read everything, plus a loader at ``rate`` ops/s."""
    ctx = zmq.Context()
    socks = []
    for i in range(n_passive + (1 if rate > 0 else 0)):
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.rcvhwm = 0
        s.connect(endpoint)
        s.send_multipart(protocol.encode(protocol.HELLO, {"token": TOKEN, "client_id": f"peer{i}-{os.getpid()}", "name": f"peer{i}"}))
        socks.append(s)
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    joined = 0
    seqs = [0] * len(socks)
    loader = socks[-1] if rate > 0 else None
    cseq = 0
    acked = 0
    window = 2000
    t_start = None
    last_report = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if loader is not None and joined == len(socks) and t_start is not None:
            due = int((now - t_start) * rate)
            while cseq < due and cseq - acked < window:
                cseq += 1
                loader.send_multipart(protocol.encode(protocol.SUBMIT, {
                    "cseq": cseq, "op": ["set", node_id, "prop:load", cseq]}))
        for s, _ in poller.poll(1):
            i = socks.index(s)
            for msg in received(s, 1000):
                if msg.type == protocol.WELCOME:
                    s.send_multipart(protocol.encode(protocol.JOIN, {"room": room}))
                elif msg.type == protocol.SNAPSHOT:
                    joined += 1
                    seqs[i] = msg.body["seq"] + len(msg.body["ops"])
                    if joined == len(socks):
                        ready.set()
                        t_start = time.monotonic()
                elif msg.type == protocol.OPS:
                    seqs[i] = msg.body["first_seq"] + len(msg.body["ops"]) - 1
                elif msg.type == protocol.ACK and s is loader:
                    acked = max(acked, msg.body["cseq"])
        if now - last_report > 0.5:
            last_report = now
            for i, s in enumerate(socks):  # report progress like real clients do
                s.send_multipart(protocol.encode(protocol.HEARTBEAT, {"head_seq": seqs[i]}))
    stats["sent"] = cseq
    stats["acked"] = acked
    stats["elapsed"] = time.monotonic() - (t_start or time.monotonic())
    for s in socks:
        s.close(linger=0)
    ctx.term()


def _writer(endpoint: str, room: str, conn: Any) -> None:
    """The editing client, in its own process (as on a real user's machine)."""
    sys.setswitchinterval(0.0005)
    gc.set_threshold(50_000, 50, 100)
    a = SyncClient(endpoint, room, TOKEN, "writer")
    a.start()
    assert a.wait_for(lambda: a.state == "live", 30)
    if "bench-target" not in a.store.doc:
        a.submit(AddNode(Node("bench-target", "root", "V", kind="part", name="target")), "add")
    assert a.wait_for(lambda: a.unacked_count == 0, 30)
    conn.send("ready")
    sent: dict[int, float] = {}
    while True:
        i = conn.recv()  # block: no busy loop competing with the clients for the cores
        a.process_events()
        if i is None:
            break
        sent[i] = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        a.submit(SetField("bench-target", "prop:probe", i), "probe")
    a.wait_for(lambda: a.unacked_count == 0, 30)
    conn.send(sent)
    a.close()


def edit_latency(endpoint: str, room: str, n_clients: int, load_rate: float, samples: int) -> dict[str, float]:
    """Submit → applied-elsewhere latency with ``n_clients`` in the room under load.

    The writer, the reader and the other peers (with the background load) are three
    processes, like clients on three machines.
    """
    mpc = mp.get_context("spawn")
    here, there = mpc.Pipe()
    w = mpc.Process(target=_writer, args=(endpoint, room, there))
    w.start()
    assert here.poll(60) and here.recv() == "ready", "writer did not start"
    b = SyncClient(endpoint, room, TOKEN, "reader")
    b.start()
    try:
        assert b.wait_for(lambda: b.state == "live" and "bench-target" in b.store.doc, 30)
        ready, stop = mpc.Event(), mpc.Event()
        stats = mpc.Manager().dict()
        p = mpc.Process(target=_peers, args=(endpoint, room, max(0, n_clients - 2), load_rate, "bench-target", ready, stop, stats))
        p.start()
        assert ready.wait(60), "peers did not join"
        arrived: dict[int, float] = {}

        def on_change(_changes: Any) -> None:
            v = b.store.doc.nodes["bench-target"].props.get("probe")
            if isinstance(v, int) and v not in arrived:
                arrived[v] = time.perf_counter()

        b.store.subscribe(on_change)
        warm = max(20, samples // 10)
        for i in range(samples + warm):
            here.send(i)
            assert b.wait_for(lambda i=i: i in arrived, 10), "probe lost"
            # Spread the probes out so they sample the background load, not each other.
            b.wait_for(lambda: False, 0.002)
        here.send(None)
        sent = here.recv()
        w.join(30)
        stop.set()
        p.join(30)
        lat = [(arrived[i] - sent[i]) * 1000 for i in range(warm, samples + warm)]
        return {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "mean": statistics.fmean(lat),
                "load_acked": stats.get("acked", 0), "load_sent": stats.get("sent", 0),
                "load_elapsed": stats.get("elapsed", 0.0)}
    finally:
        b.close()
        if w.is_alive():
            w.kill()


def sustained(endpoint: str, rates: list[int], samples: int) -> tuple[int, list[dict[str, Any]]]:
    """Highest rate with everything acked and probe p99 < 5 ms."""
    best = 0
    trials = []
    for i, rate in enumerate(rates):
        r = edit_latency(endpoint, f"load{i}", 3, rate, samples)
        kept_up = r["load_acked"] >= 0.97 * rate * r["load_elapsed"]
        trials.append({"rate": rate, "p99_ms": round(r["p99"], 3), "acked": r["load_acked"],
                       "achieved_per_s": round(r["load_acked"] / max(r["load_elapsed"], 1e-9)), "kept_up": kept_up})
        if kept_up and r["p99"] < 5.0:
            best = rate
        else:
            break
    return best, trials


# -- what the log costs ------------------------------------------------------------------------
def log_figures(paths: list[Path]) -> dict[str, Any]:
    """Room files' size per logged op, against the ops' own row bytes (servers stopped)."""
    size = ops = own = keyframes = kf_bytes = 0
    for path in paths:
        size += sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        db = sqlite3.connect(path)
        try:
            n, b = db.execute(
                "SELECT count(*), coalesce(sum(length(op) + length(client_id) + 24), 0) FROM ops"
            ).fetchone()
            k, kb = db.execute("SELECT count(*), coalesce(sum(length(chunks)), 0) FROM keyframes").fetchone()
        finally:
            db.close()
        ops, own, keyframes, kf_bytes = ops + n, own + b, keyframes + k, kf_bytes + kb
    return {"ops_logged": ops, "log_bytes": size, "log_bytes_per_op": round(size / max(1, ops), 1),
            "op_bytes_per_op": round(own / max(1, ops), 1), "log_over_op_bytes": round(size / max(1, own), 2),
            "keyframes": keyframes, "keyframe_bytes": kf_bytes}


# -- (d, e) a big room ------------------------------------------------------------------------
def build_big_room(data: Path, nodes: int, ops: int) -> None:
    """Write a room with ``nodes`` nodes and ``ops`` logged ops straight into SQLite."""
    from sync_server.roomlog import Keyframe, connect, insert_keyframe

    rooms = data / "rooms"
    rooms.mkdir(parents=True, exist_ok=True)
    db = connect(rooms / "big.db")
    doc = Document()
    groups = 100
    per = nodes // groups
    t = time.time_ns()
    rows = []
    seq = 0
    pack = msgpack.packb
    gkeys = keys_between(None, None, groups)
    pkeys = keys_between(None, None, per)
    for g in range(groups):
        gid = f"g{g}"
        op = AddNode(Node(gid, "root", gkeys[g], kind="group", name=f"Station {g}"))
        apply(doc, op)
        seq += 1
        rows.append((seq, t, "gen", seq, pack(op_to_wire(op))))
        for p in range(per - 1):
            op = AddNode(Node(f"p{g}.{p}", gid, pkeys[p], kind="part", name=f"Part {g}.{p}",
                              transform=(p * 0.1, g * 0.1, 0, 0, 0, 0, 1, 1, 1, 1), props={"part_number": f"PN-{g}-{p}"}))
            apply(doc, op)
            seq += 1
            rows.append((seq, t, "gen", seq, pack(op_to_wire(op))))
    ids = [f"p{g}.{p}" for g in range(groups) for p in range(per - 1)]
    keyframe_at = max(seq, ops - 5000)
    i = 0
    while seq < ops:
        nid = ids[i % len(ids)]
        op = SetField(nid, "prop:temp", float(i % 1000))
        seq += 1
        i += 1
        rows.append((seq, t, "gen", seq, pack(op_to_wire(op))))
        if seq <= keyframe_at:
            apply(doc, op)
        if len(rows) >= 50_000:
            db.execute("BEGIN")
            db.executemany("INSERT INTO ops VALUES (?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
            rows = []
        if seq == keyframe_at:
            insert_keyframe(db, Keyframe(seq, doc.hash(), len(doc), snapshot.encode(doc)), None)
    if rows:
        db.execute("BEGIN")
        db.executemany("INSERT INTO ops VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    db.execute("INSERT INTO clients VALUES ('gen', ?, ?)", (seq, seq))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def big_room(quick: bool) -> dict[str, Any]:
    nodes, ops = 100_000, (300_000 if quick else 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="twin-bench-"))
    try:
        t0 = time.perf_counter()
        build_big_room(tmp, nodes, ops)
        build_s = time.perf_counter() - t0
        # Python start-up alone, to report what recovery itself costs.
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sync_server.server"], check=True)
        python_s = time.perf_counter() - t0
        srv = Server(tmp)
        listening = srv.start()
        try:
            # The first join loads the room (rooms open on demand); later ones find it open.
            joins = []
            for _ in range(3 if quick else 4):
                t0 = time.perf_counter()
                c = SyncClient(srv.endpoint, "big", TOKEN, "joiner")
                c.start()
                ok = c.wait_for(lambda c=c: c.state == "live" and len(c.store.doc) >= nodes, 60)
                joins.append(time.perf_counter() - t0)
                c.close()
                assert ok, "join failed"
        finally:
            srv.stop()
        return {"join_100k_s": round(min(joins[1:]), 3), "recovery_s": round(listening + joins[0], 3),
                "recovery_listening_s": round(listening, 3),
                "recovery_python_startup_s": round(python_s, 3), "join_room_nodes": nodes,
                "join_room_ops_logged": ops, "big_room_build_s": round(build_s, 1)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool, durability: str = "power") -> dict[str, Any]:
    """Run every sync measurement with the server in ``durability`` mode; return one dict."""
    # As the desktop app does: a short GIL switch interval keeps the network thread and
    # the GUI thread from holding each other up for the default 5 ms.
    sys.setswitchinterval(0.0005)
    gc.set_threshold(50_000, 50, 100)  # as the desktop app does
    samples = 300 if quick else 2000
    out: dict[str, Any] = {"durability": durability}
    probe_size = len(protocol.encode(protocol.SUBMIT, {"cseq": 123456, "op": ["set", "bench-target", "prop:probe", 123456]})[0])
    raw = raw_rtt(probe_size, 3000 if quick else 20000)
    out["raw_rtt_p50_ms"] = round(raw["p50"], 4)
    out["raw_rtt_p99_ms"] = round(raw["p99"], 4)
    out["raw_message_bytes"] = probe_size
    tmp = Path(tempfile.mkdtemp(prefix="twin-bench-"))
    srv = Server(tmp, extra=["--durability", durability])
    srv.start()
    try:
        for n in (2, 10, 50):
            r = edit_latency(srv.endpoint, f"edit{n}", n, 1000.0, samples)
            out[f"edit_p50_ms_{n}_clients"] = round(r["p50"], 4)
            out[f"edit_p99_ms_{n}_clients"] = round(r["p99"], 4)
        out["edit_p99_over_raw_p99_10_clients"] = round(out["edit_p99_ms_10_clients"] / out["raw_rtt_p99_ms"], 2)
        rates = [5000, 10000, 20000, 30000, 40000] if quick else [5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000]
        best, trials = sustained(srv.endpoint, rates, 150 if quick else 500)
        out["ops_per_s_sustained"] = best
        out["sustained_trials"] = trials
    finally:
        srv.stop()
    # The log the load trials left (the highest rates): bytes per op, keyframes included.
    figures = log_figures(sorted((tmp / "rooms").glob("load*.db")))
    out["log_bytes_per_op"] = figures["log_bytes_per_op"]
    out["log_over_op_bytes"] = figures["log_over_op_bytes"]
    shutil.rmtree(tmp, ignore_errors=True)
    out.update(big_room(quick))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=2))
