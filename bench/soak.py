"""``twin-bench soak``: a server and a desktop window under a shift's load, for minutes.

What runs, each in its own process as on real machines:

* ``twin-sync serve`` with the demo plant as room ``soak`` (power-loss durability, the
  default), rooms closing after 5 s idle;
* ``twin-app --connect`` joined to that room (a real window: on ``$DISPLAY``, or on an
  Xvfb the benchmark starts), drawing every remote edit;
* ``writers`` protocol clients editing the plant's parts at ``rate`` edits/s in total
  (moves, recolours, property changes), each reading the op stream as a client must;
* churn: a session joins and leaves the room every second, and every ten seconds one
  joins a fresh room (which the server opens, and closes again when idle).

Printed (one JSON object): ``server_rss_growth`` and ``app_rss_growth`` (RSS at the end
÷ RSS after the first minute, or after a third of a shorter run), ``server_threads_end``,
``log_bytes_per_op`` (room file size ÷ ops logged) with ``op_bytes_per_op`` (the ops' own
row bytes) and their ratio ``log_over_op_bytes``, ``acked_equals_logged`` (every edit the
server acknowledged is in the log, and nothing else is) and ``app_alive``.
Targets: both growths ≤ 1.2, acked equals logged, app alive, log ≤ 2× the ops' bytes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from bench.sync import TOKEN, Server, log_figures, received
from twin_app import protocol
from twin_app.demo import DEMO_PLANT

ROOM = "soak"


def _status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads of a process, from /proc."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    return out


def _part_ids() -> list[str]:
    from twin_app.core import roomfile

    doc, _blobs = roomfile.read(DEMO_PLANT)
    return [n.id for n in doc.walk() if n.kind == "part"]


def _edit(i: int, node: str) -> list[Any]:
    kind = i % 4
    if kind == 0:
        return ["set", node, "prop:load", float(i % 997)]
    if kind == 1:
        return ["set", node, "color", [(i % 10) / 10.0, 0.4, 0.6]]
    if kind == 2:
        return ["set", node, "prop:temperature", 20.0 + (i % 300) / 10.0]
    return ["set", node, "prop:cycle", i]


def writers(endpoint: str, token: str, room: str, n: int, rate: float, parts: list[str],
            stop: Any, stats: Any) -> None:
    """``n`` editing sessions in ``room``, in one process: ``rate`` edits/s of ``parts`` in
    total until ``stop`` is set, then wait for the acks; counts go into ``stats``."""
    ctx = zmq.Context()
    socks = []
    for i in range(n):
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(endpoint)
        s.send_multipart(protocol.encode(protocol.HELLO, {
            "token": token, "client_id": f"soak-writer-{i}-{os.getpid()}", "name": f"Site {i}"}))
        socks.append(s)
    index = {s: i for i, s in enumerate(socks)}
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    live = [False] * n
    sent = [0] * n
    acked = [0] * n
    nacked = [0] * n
    seqs = [0] * n
    t0: float | None = None
    last_hb = time.monotonic()
    per = rate / n
    draining_since: float | None = None
    while True:
        now = time.monotonic()
        if stop.is_set() and draining_since is None:
            draining_since = now
        if draining_since is not None and (acked == sent or now - draining_since > 60):
            break
        if all(live) and t0 is None:
            t0 = now
        if t0 is not None and draining_since is None:
            due = int((now - t0) * per)
            for i, s in enumerate(socks):
                while sent[i] < due:
                    sent[i] += 1
                    k = sent[i] * n + i
                    s.send_multipart(protocol.encode(protocol.SUBMIT, {
                        "cseq": sent[i], "op": _edit(k, parts[k % len(parts)])}))
        for s, _ in poller.poll(2):
            i = index[s]
            for msg in received(s, 500):
                if msg.type == protocol.WELCOME:
                    s.send_multipart(protocol.encode(protocol.JOIN, {"room": room}))
                elif msg.type == protocol.SNAPSHOT:
                    live[i] = True
                    seqs[i] = msg.body["seq"] + len(msg.body["ops"])
                elif msg.type == protocol.OPS:
                    seqs[i] = msg.body["first_seq"] + len(msg.body["ops"]) - 1
                elif msg.type == protocol.ACK:
                    acked[i] = max(acked[i], msg.body["cseq"])
                elif msg.type == protocol.NACK:
                    nacked[i] += 1
        if now - last_hb > 0.5:
            last_hb = now
            for i, s in enumerate(socks):  # report progress as real clients do
                s.send_multipart(protocol.encode(protocol.HEARTBEAT, {"head_seq": seqs[i]}))
    # A cumulative ACK covers every earlier edit that was not refused.
    stats["sent"] = sum(sent)
    stats["acked"] = sum(acked) - sum(nacked)
    stats["nacked"] = sum(nacked)
    for s in socks:
        s.send_multipart(protocol.encode(protocol.BYE, {}))
        s.close(linger=200)
    ctx.term()


def _churn(endpoint: str, stop: Any, stats: Any) -> None:
    """Join and leave the room every second; join a fresh room every ten."""
    ctx = zmq.Context()
    joins = 0
    rooms = 0
    k = 0
    while not stop.is_set():
        k += 1
        room = ROOM if k % 10 else f"churn-{k}"
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(endpoint)
        s.send_multipart(protocol.encode(protocol.HELLO, {
            "token": TOKEN, "client_id": f"churn-{os.getpid()}-{k}", "name": "Visitor"}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and s.poll(500):
            msg = protocol.decode(s.recv_multipart(), protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)
            if msg.type == protocol.WELCOME:
                s.send_multipart(protocol.encode(protocol.JOIN, {"room": room}))
            elif msg.type == protocol.SNAPSHOT:
                joins += 1
                rooms += room != ROOM
                break
        stop.wait(0.5)
        s.send_multipart(protocol.encode(protocol.BYE, {}))
        s.close(linger=100)
        stop.wait(0.5)
    stats["joins"] = joins
    stats["rooms_opened"] = rooms
    ctx.term()


class _Display:
    """``$DISPLAY`` if there is one, else an Xvfb of our own."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)
        if os.environ.get("DISPLAY"):
            return
        for n in range(90, 140):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                break
        else:
            raise RuntimeError("no free X display number for Xvfb")
        self.proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)  # waiting for another program's socket file: no event to await
        self.env["DISPLAY"] = f":{n}"
        self.env["QT_QPA_PLATFORM"] = "xcb"

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def run(minutes: float = 5.0, rate: float = 2000.0, n_writers: int = 10) -> dict[str, Any]:
    """Run the soak for ``minutes``; return the figures as one JSON-able dict."""
    tmp = Path(tempfile.mkdtemp(prefix="twin-soak-"))
    mpc = mp.get_context("spawn")
    display = _Display()
    # The demo plant's sensors run too (the built-in simulator, ~30 streams incl. two 2 kHz
    # waveforms): a shift has live sensor traffic beside the edits.
    srv = Server(tmp / "server", extra=["--seed", f"{ROOM}={DEMO_PLANT}", "--room-idle", "5", "--simulate", ROOM])
    srv.start()
    app: subprocess.Popen[bytes] | None = None
    out: dict[str, Any] = {"soak_minutes": minutes, "soak_rate": rate, "soak_writers": n_writers,
                           "durability": "power"}
    stop = mpc.Event()
    stats = mpc.Manager().dict()
    churn_stats = mpc.Manager().dict()
    try:
        assert srv.proc is not None
        app = subprocess.Popen(
            [sys.executable, "-m", "twin_app.qt.app", "--connect", srv.endpoint, "--room", ROOM,
             "--token", TOKEN, "--name", "Control room", "--data-dir", str(tmp / "app"),
             "--settings", str(tmp / "app.ini")],
            env=display.env, stdout=subprocess.DEVNULL, stderr=open(tmp / "app.log", "wb"),  # noqa: SIM115
        )
        w = mpc.Process(target=writers, args=(srv.endpoint, TOKEN, ROOM, n_writers, rate, _part_ids(), stop, stats))
        c = mpc.Process(target=_churn, args=(srv.endpoint, stop, churn_stats))
        w.start()
        c.start()
        duration = minutes * 60.0
        baseline_at = min(60.0, duration / 3)
        t0 = time.monotonic()
        base: dict[str, dict[str, int]] = {}
        last: dict[str, dict[str, int]] = {}
        while time.monotonic() - t0 < duration:
            time.sleep(1.0)  # sampling another process's /proc once a second
            if app.poll() is not None:
                break
            last = {"server": _status(srv.proc.pid), "app": _status(app.pid)}
            if not base and time.monotonic() - t0 >= baseline_at:
                base = last
        out["app_alive"] = app.poll() is None
        stop.set()
        w.join(120)
        c.join(30)
        if base and last:
            out["server_rss_growth"] = round(last["server"]["VmRSS"] / base["server"]["VmRSS"], 3)
            out["app_rss_growth"] = round(last["app"]["VmRSS"] / base["app"]["VmRSS"], 3)
            out["server_rss_mb_end"] = round(last["server"]["VmRSS"] / 1024, 1)
            out["app_rss_mb_end"] = round(last["app"]["VmRSS"] / 1024, 1)
            out["server_threads_end"] = last["server"]["Threads"]
        out["edits_sent"] = stats.get("sent", 0)  # all acknowledged or refused before the writers stop
        out["edits_acked"] = stats.get("acked", 0)
        out["edits_nacked"] = stats.get("nacked", 0)
        out["churn_joins"] = churn_stats.get("joins", 0)
        out["churn_rooms_opened"] = churn_stats.get("rooms_opened", 0)
    finally:
        if app is not None and app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(30)
            except subprocess.TimeoutExpired:
                app.kill()
        srv.stop()
        display.close()
    out.update(log_figures([tmp / "server" / "rooms" / f"{ROOM}.db"]))
    # Only the writers edit (and the server's alarm engine, whose ops are counted apart):
    # every other op in the log is one of their acknowledged edits.
    db = sqlite3.connect(tmp / "server" / "rooms" / f"{ROOM}.db")
    out["alarm_ops_logged"] = db.execute("SELECT COUNT(*) FROM ops WHERE client_id = 'server'").fetchone()[0]
    db.close()
    sdb = sqlite3.connect(tmp / "server" / "sensors.sqlite")
    out["sensor_samples_recorded"] = sdb.execute("SELECT COALESCE(SUM(n), 0) FROM chunks").fetchone()[0]
    sdb.close()
    out["acked_equals_logged"] = out["edits_acked"] == out["ops_logged"] - out["alarm_ops_logged"]
    out["edits_per_s_logged"] = round(out["ops_logged"] / (minutes * 60.0), 1)
    shutil.rmtree(tmp, ignore_errors=True)
    return out
