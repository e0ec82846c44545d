"""``twin-sync``: run the sync server and manage its data.

    twin-sync serve --bind tcp://0.0.0.0:7700 --data DIR [--token VALUE:ROLE] [--curve-secret FILE]
    twin-sync rooms --data DIR                 list rooms with their head seq and size
    twin-sync compact --data DIR [ROOM …]      shrink room logs (server stopped)
    twin-sync export --data DIR ROOM FILE      write a room (document + meshes) to a .twinroom file
    twin-sync keygen DIR                       make CurveZMQ key pairs (server + one client)
    twin-sync token --data DIR --role ROLE     make an access token, print it, keep its hash in DIR/tokens.toml
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sqlite3
import sys
import threading
from pathlib import Path

import zmq.auth

from sync_server.config import ServerConfig, add_token, load_tokens, parse_grant_arg
from sync_server.roomlog import compact, connect, read_head
from twin_app.core import roomfile
from twin_app.demo import DEMO_PLANT


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _watch_parent(pid: int, stop: threading.Event, server_stop: object) -> None:
    # An embedded server must not outlive the app that started it, even if the app was
    # killed without a chance to stop it.
    while not stop.wait(1.0):
        if os.getppid() != pid:
            logging.getLogger(__name__).warning("parent %d is gone; stopping", pid)
            server_stop()  # type: ignore[operator]
            return


def cmd_serve(args: argparse.Namespace) -> int:
    from sync_server.server import Server

    data = Path(args.data)
    cfg = ServerConfig(data_dir=data, bind=args.bind)
    cfg.grants.update(load_tokens(data / "tokens.toml"))
    for text in args.token or []:
        digest, grant = parse_grant_arg(text)
        cfg.grants[digest] = grant
    if not cfg.grants:
        _out("twin-sync: no tokens configured; add one with `twin-sync token` or --token VALUE:ROLE")
        return 2
    if args.curve_secret:
        cfg.curve_secret_file = Path(args.curve_secret)
    if args.curve_allow:
        cfg.curve_allow_dir = Path(args.curve_allow)
    for text in args.seed or []:
        room, _, path = text.partition("=")
        cfg.seeds[room] = Path(path)
    if args.demo:
        cfg.seeds.setdefault("demo", DEMO_PLANT)
    simulate = list(args.simulate or []) + (["demo"] if args.demo else [])
    cfg.simulate = tuple(dict.fromkeys(simulate))
    cfg.sensors = not args.no_sensors
    if args.sensors:
        cfg.sensor_config = Path(args.sensors)
    cfg.hb_ms = args.hb_ms
    cfg.durability = args.durability
    cfg.room_idle_s = args.room_idle
    cfg.limits.ops_per_s = args.ops_per_s
    cfg.limits.ops_burst = args.ops_per_s * 2
    cfg.limits.max_nodes = args.max_nodes
    cfg.ring_size = args.ring
    cfg.lag_limit = args.lag_limit
    cfg.session_timeout_s = args.session_timeout
    cfg.max_room_bytes = int(args.max_room_mb * 1024 * 1024)
    # The loop shares the GIL with the room writers; a short switch interval bounds how
    # long a writer's CPU work (replica updates, keyframes) can hold an edit back.
    sys.setswitchinterval(0.0005)
    server = Server(cfg)
    server.install_signal_handlers()
    stop_watch = threading.Event()
    if args.parent_pid:
        threading.Thread(
            target=_watch_parent, args=(args.parent_pid, stop_watch, server.stop), daemon=True
        ).start()
    try:
        server.open()
    except (zmq.ZMQError, OSError, ValueError, RuntimeError, roomfile.RoomFileError) as exc:
        _out(f"twin-sync: cannot start: {exc}")
        return 1
    # Rooms hold millions of long-lived objects (documents, ring buffers). A full cyclic
    # GC pass over them stalls the loop for tens of milliseconds; our data has no cycles
    # to collect, so keep what is loaded out of the collector's view and run it rarely.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        server.run(ready=lambda ep: _out(f"twin-sync listening on {ep} epoch {server.epoch}"))
    finally:
        stop_watch.set()
        server.close()
    return 0


def cmd_rooms(args: argparse.Namespace) -> int:
    rooms = sorted((Path(args.data) / "rooms").glob("*.db"))
    if not rooms:
        _out("no rooms")
    for path in rooms:
        db = connect(path)
        try:
            head = db.execute("SELECT coalesce(max(seq), 0) FROM ops").fetchone()[0]
            kf = db.execute("SELECT seq, nodes FROM keyframes ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            db.close()
        nodes = kf[1] if kf else 0
        _out(f"{path.stem}\tseq {head}\t~{nodes} nodes at keyframe {kf[0] if kf else 0}\t{path.stat().st_size // 1024} KiB")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    data = Path(args.data)
    path = data / "rooms" / f"{args.room}.db"
    if not path.exists():
        _out(f"twin-sync: no room {args.room!r} in {data}")
        return 1
    db = connect(path)
    try:
        doc, _head, _kf = read_head(db)
    except (sqlite3.Error, ValueError) as exc:
        _out(f"twin-sync: cannot read {path}: {exc}")
        return 1
    finally:
        db.close()
    assets: dict[str, bytes] = {}
    store = data / "assets"
    for node in doc.walk():
        if node.mesh and node.mesh not in assets:
            blob_path = store / node.mesh[:2] / node.mesh
            if blob_path.exists():
                assets[node.mesh] = blob_path.read_bytes()
    roomfile.write(Path(args.file), doc, assets, args.room)
    _out(f"exported {args.room}: {len(doc)} nodes, {len(assets)} meshes -> {args.file}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from sync_server.server import DataDirBusy, lock_data_dir

    data = Path(args.data)
    rooms_dir = data / "rooms"
    paths = [rooms_dir / f"{r}.db" for r in args.room] if args.room else sorted(rooms_dir.glob("*.db"))
    missing = [p.stem for p in paths if not p.exists()]
    if missing:
        _out(f"twin-sync: no room {', '.join(map(repr, missing))} in {data}")
        return 1
    try:
        lock = lock_data_dir(data)  # a running server holds it: its rooms may be open
    except DataDirBusy as exc:
        _out(f"twin-sync: {exc}; stop it first (rooms it has open are being written)")
        return 1
    failed = 0
    try:
        for path in paths:
            try:
                before, after = compact(path)
            except (sqlite3.Error, ValueError, OSError) as exc:
                _out(f"{path.stem}\tnot compacted: {exc}")
                failed += 1
                continue
            _out(f"{path.stem}\t{before // 1024} KiB -> {after // 1024} KiB")
    finally:
        os.close(lock)
    return 1 if failed else 0


FAULTS = ("bearing", "overheat", "dropout", "clear")


def cmd_fault(args: argparse.Namespace) -> int:
    """Make the simulator develop a fault on the sensors with a tag: an edit of their
    ``sim_fault`` property, so it is synced, recorded and shown like any other change."""
    from twin_app.core.ops import Batch, SetField
    from twin_app.net import SyncClient

    client = SyncClient(args.connect, args.room, args.token, "twin-sync fault", server_key=args.server_key)
    client.start()
    try:
        if not client.wait_for(lambda: client.state == "live", args.timeout):
            _out(f"twin-sync: cannot join room {args.room!r}: {client.state_detail or client.state}")
            return 1
        doc = client.store.doc
        ids = [n.id for n in doc.nodes.values() if n.kind == "sensor" and n.props.get("tag") == args.tag]
        if not ids:
            tags = sorted({str(n.props.get("tag")) for n in doc.nodes.values() if n.kind == "sensor"})
            _out(f"twin-sync: no sensor with tag {args.tag!r} in room {args.room!r}; tags: {', '.join(tags)}")
            return 1
        value = None if args.fault == "clear" else args.fault
        refused: list[str] = []
        client.on_nack.append(lambda _p, _code, reason: refused.append(reason))
        client.submit(Batch(tuple(SetField(i, "prop:sim_fault", value) for i in ids)), f"simulate {args.fault}")
        if not client.wait_for(lambda: client.unacked_count == 0 and not client.store.pending, args.timeout):
            _out("twin-sync: the server did not confirm the change in time")
            return 1
        if refused:
            _out(f"twin-sync: refused: {refused[0]}")
            return 1
        _out(f"{args.fault} on {len(ids)} sensor(s) with tag {args.tag}")
        return 0
    finally:
        client.close()


def cmd_keygen(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    pub, sec = zmq.auth.create_certificates(str(out), args.name)
    os.chmod(sec, 0o600)
    public_key, _ = zmq.auth.load_certificate(pub)
    _out(f"public key file: {pub}\nsecret key file: {sec}\npublic key (give this to clients): {public_key.decode()}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    path = Path(args.data) / "tokens.toml"
    try:
        value = add_token(path, args.role, args.room, args.label)
    except ValueError as exc:
        _out(f"twin-sync: {exc}")
        return 2
    _out(value)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``twin-sync``."""
    p = argparse.ArgumentParser(prog="twin-sync", description="Twinroom sync server")
    p.add_argument("-v", "--verbose", action="store_true", help="log every session event")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--bind", default="tcp://127.0.0.1:7700", help="ZeroMQ endpoint (port * = any free port)")
    s.add_argument("--data", required=True, help="data directory (rooms, assets, tokens.toml)")
    s.add_argument("--token", action="append", metavar="VALUE:ROLE[:ROOMS]", help="grant a token (repeatable)")
    s.add_argument("--curve-secret", metavar="FILE", help="server secret key file: enables CurveZMQ")
    s.add_argument("--curve-allow", metavar="DIR", help="only these client public keys (default: any key)")
    s.add_argument("--seed", action="append", metavar="ROOM=FILE", help="create ROOM from a .twinroom file")
    s.add_argument("--demo", action="store_true",
                   help="create room 'demo' with the demo plant and simulate its sensors")
    s.add_argument("--simulate", action="append", metavar="ROOM",
                   help="drive ROOM's sensors (by their tags) with the built-in simulator")
    s.add_argument("--sensors", metavar="FILE", help="sensor sources and tag mapping (TOML, see docs/sensors.md)")
    s.add_argument("--no-sensors", action="store_true", help="run no sensor hub")
    s.add_argument("--hb-ms", type=int, default=500, help="heartbeat interval")
    s.add_argument("--durability", choices=["power", "process"], default="power",
                   help="what an ACK survives: a power cut (fsync per commit, the default) "
                        "or only the server process being killed (faster on slow disks)")
    s.add_argument("--room-idle", type=float, default=300.0, metavar="SECONDS",
                   help="close a room (flush, release its files and thread) this long after its last member left")
    s.add_argument("--ops-per-s", type=float, default=5000.0, help="edit rate limit per client")
    s.add_argument("--ring", type=int, default=100_000, help="recent ops kept in memory for catch-up")
    s.add_argument("--lag-limit", type=int, default=50_000, help="ops a client may lag before it must repair")
    s.add_argument("--session-timeout", type=float, default=10.0, help="forget silent clients after this many seconds")
    s.add_argument("--max-room-mb", type=float, default=0, help="disk quota per room (0 = none)")
    s.add_argument("--max-nodes", type=int, default=1_000_000, help="document size limit per room")
    s.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    s.set_defaults(fn=cmd_serve)
    r = sub.add_parser("rooms", help="list rooms")
    r.add_argument("--data", required=True)
    r.set_defaults(fn=cmd_rooms)
    c = sub.add_parser("compact", help="shrink room logs: keyframe at the head, thin old keyframes, vacuum")
    c.add_argument("--data", required=True)
    c.add_argument("room", nargs="*", help="rooms to compact (default: all)")
    c.set_defaults(fn=cmd_compact)
    e = sub.add_parser("export", help="export a room to a .twinroom file")
    e.add_argument("--data", required=True)
    e.add_argument("room")
    e.add_argument("file")
    e.set_defaults(fn=cmd_export)
    f = sub.add_parser("fault", help="make the built-in simulator develop a fault on a sensor")
    f.add_argument("--connect", required=True, metavar="ENDPOINT")
    f.add_argument("--room", required=True)
    f.add_argument("--token", required=True)
    f.add_argument("--server-key", help="the server's CurveZMQ public key")
    f.add_argument("--tag", required=True, help="the sensor's tag, e.g. line1/st3/spindle/vibration")
    f.add_argument("--fault", required=True, choices=FAULTS, help="'clear' ends the fault")
    f.add_argument("--timeout", type=float, default=15.0)
    f.set_defaults(fn=cmd_fault)
    k = sub.add_parser("keygen", help="make CurveZMQ key pairs")
    k.add_argument("dir")
    k.add_argument("--name", default="server")
    k.set_defaults(fn=cmd_keygen)
    t = sub.add_parser("token", help="add an access token")
    t.add_argument("--data", required=True)
    t.add_argument("--role", required=True)
    t.add_argument("--room", action="append", help="limit to a room (repeatable; default all)")
    t.add_argument("--label", default="")
    t.set_defaults(fn=cmd_token)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``twin-sync``; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
