"""``twin-sync``: run the sync server and manage its data.

    twin-sync serve --bind tcp://0.0.0.0:7700 --data DIR [--token VALUE:ROLE] [--curve-secret FILE]
    twin-sync health --data DIR | --connect EP is the server answering? (exit 0 if so)
    twin-sync backup --data DIR OUT            copy the data directory, consistently, while it is served
    twin-sync restore BACKUP --data DIR        put a backup into a new data directory (verified)
    twin-sync rooms --data DIR                 list rooms with their head seq and size
    twin-sync compact --data DIR [ROOM …]      shrink room logs (server stopped)
    twin-sync export --data DIR ROOM FILE      write a room (document + meshes) to a .twinroom file
    twin-sync keygen DIR                       make CurveZMQ key pairs (server + one client)
    twin-sync token --data DIR --role ROLE     make an access token, print it, keep its hash in DIR/tokens.toml
    twin-sync bridge --config FILE --connect ADDR --token T   run sensor sources, feed a server

``serve`` also reads its settings from the environment (``TWIN_SYNC_*``, see
``sync_server.config.ENV``) and secret tokens from files (``--token-file``), for services
(packaging/twin-sync.service, packaging/Containerfile). SIGTERM stops it gracefully: what
was accepted is committed and acknowledged, and every client is told to reconnect.
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

from sync_server.config import (
    ServerConfig,
    add_token,
    load_token_file,
    load_tokens,
    parse_grant_arg,
    parse_token_list,
)
from sync_server.roomlog import SchemaError, compact, connect, read_head
from twin_app import version_line
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

    if not args.data:
        _out("twin-sync: no data directory: give --data DIR (or set TWIN_SYNC_DATA)")
        return 2
    data = Path(args.data)
    cfg = ServerConfig(data_dir=data, bind=args.bind)
    try:
        cfg.grants.update(load_tokens(data / "tokens.toml"))
        cfg.grants.update(parse_token_list(os.environ.get("TWIN_SYNC_TOKENS", "")))
        for path in _token_files(args.token_file):
            cfg.grants.update(load_token_file(path))
        for text in args.token or []:
            digest, grant = parse_grant_arg(text)
            cfg.grants[digest] = grant
    except (OSError, ValueError) as exc:
        _out(f"twin-sync: cannot read the tokens: {exc}")
        return 2
    if not cfg.grants:
        _out("twin-sync: no tokens configured; add one with `twin-sync token`, --token VALUE:ROLE, "
             "--token-file FILE or TWIN_SYNC_TOKENS")
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
    log = logging.getLogger("sync_server")

    def ready(endpoint: str) -> None:
        _out(f"twin-sync listening on {endpoint} epoch {server.epoch}")  # the first line, always
        log.info("%s serving %s", version_line("twin-sync"), data)

    # Rooms hold millions of long-lived objects (documents, ring buffers). A full cyclic
    # GC pass over them stalls the loop for tens of milliseconds; our data has no cycles
    # to collect, so keep what is loaded out of the collector's view and run it rarely.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        server.run(ready=ready)
    finally:
        stop_watch.set()
        server.close()
    log.info("twin-sync stopped")
    return 0


def _token_files(given: list[str] | None) -> list[Path]:
    """Token files: ``--token-file``, ``TWIN_SYNC_TOKEN_FILE``, and a systemd credential."""
    paths = [Path(p) for p in given or []]
    if os.environ.get("TWIN_SYNC_TOKEN_FILE"):
        paths.append(Path(os.environ["TWIN_SYNC_TOKEN_FILE"]))
    cred = os.environ.get("CREDENTIALS_DIRECTORY")  # systemd LoadCredential=tokens:…
    if cred and (Path(cred) / "tokens").is_file():
        paths.append(Path(cred) / "tokens")
    return paths


def cmd_health(args: argparse.Namespace) -> int:
    from sync_server.health import probe

    try:
        endpoint, detail = probe(args.connect, Path(args.data) if args.data else None,
                                 args.server_key, Path(args.curve_secret) if args.curve_secret else None,
                                 args.timeout)
    except (OSError, ValueError, RuntimeError) as exc:
        _out(f"twin-sync health: not healthy: {exc}")
        return 1
    _out(f"twin-sync health: ok: {endpoint} answered in {detail}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from sync_server.backup import BackupError, backup

    try:
        manifest = backup(Path(args.data), Path(args.out))
    except (BackupError, OSError, sqlite3.Error, ValueError) as exc:
        _out(f"twin-sync backup: {exc}")
        return 1
    for name, room in manifest["rooms"].items():
        _out(f"{name}\tseq {room['seq']}\t{room['nodes']} nodes\thash {room['hash'][:16]}")
    _out(f"backed up {len(manifest['rooms'])} rooms and {manifest['assets']} assets to {args.out}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from sync_server.backup import BackupError, restore
    from sync_server.server import DataDirBusy, lock_data_dir

    data = Path(args.data)
    lock = -1
    if data.exists():
        try:
            lock = lock_data_dir(data)
        except DataDirBusy as exc:
            _out(f"twin-sync restore: {exc}; stop it first")
            return 1
    try:
        manifest = restore(Path(args.backup), data)
    except (BackupError, OSError, sqlite3.Error) as exc:
        _out(f"twin-sync restore: {exc}")
        return 1
    finally:
        if lock >= 0:
            os.close(lock)
    _out(f"restored {len(manifest['rooms'])} rooms (every hash checked) from the backup of "
         f"{manifest['created']} into {data}")
    return 0


def cmd_rooms(args: argparse.Namespace) -> int:
    rooms = sorted((Path(args.data) / "rooms").glob("*.db"))
    if not rooms:
        _out("no rooms")
    for path in rooms:
        try:
            db = connect(path)
        except (sqlite3.Error, SchemaError) as exc:
            _out(f"{path.stem}\tcannot be read: {exc}")
            continue
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
    try:
        db = connect(path)
    except (sqlite3.Error, SchemaError) as exc:
        _out(f"twin-sync: cannot read {path}: {exc}")
        return 1
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


def cmd_bridge(args: argparse.Namespace) -> int:
    from sync_server.sensors.bridge import run

    return run(args.config, args.connect, args.token, args.server_key, args.name, _out)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``twin-sync``."""
    env = os.environ.get
    p = argparse.ArgumentParser(prog="twin-sync", description="Twinroom sync server")
    p.add_argument("--version", action="version", version=version_line("twin-sync"))
    p.add_argument("-v", "--verbose", action="store_true", help="log every session event")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   default=env("TWIN_SYNC_LOG_LEVEL"), help="log level (default warning; -v = info)")
    p.add_argument("--log-stdout", action="store_true",
                   help="log to stdout instead of stderr (services, containers)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--bind", default=env("TWIN_SYNC_BIND", "tcp://127.0.0.1:7700"),
                   help="ZeroMQ endpoint (port * = any free port; env TWIN_SYNC_BIND)")
    s.add_argument("--data", default=env("TWIN_SYNC_DATA"),
                   help="data directory: rooms, assets, tokens.toml (env TWIN_SYNC_DATA)")
    s.add_argument("--token", action="append", metavar="VALUE:ROLE[:ROOMS]", help="grant a token (repeatable)")
    s.add_argument("--token-file", action="append", metavar="FILE",
                   help="grant the tokens in FILE, one VALUE:ROLE[:ROOMS] per line (repeatable; "
                        "env TWIN_SYNC_TOKEN_FILE; also $CREDENTIALS_DIRECTORY/tokens)")
    s.add_argument("--curve-secret", metavar="FILE", default=env("TWIN_SYNC_CURVE_SECRET"),
                   help="server secret key file: enables CurveZMQ (env TWIN_SYNC_CURVE_SECRET)")
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
    h = sub.add_parser("health", help="check that a server answers (exit 0 if it does)")
    h.add_argument("--data", default=env("TWIN_SYNC_DATA"), help="the server of this data directory")
    h.add_argument("--connect", metavar="ENDPOINT", help="or this endpoint")
    h.add_argument("--server-key", help="the server's public key (CurveZMQ)")
    h.add_argument("--curve-secret", metavar="FILE", default=env("TWIN_SYNC_CURVE_SECRET"),
                   help="or the server's key file (its public half is used)")
    h.add_argument("--timeout", type=float, default=3.0)
    h.set_defaults(fn=cmd_health)
    b = sub.add_parser("backup", help="back up a data directory (also while it is served)")
    b.add_argument("--data", required=True)
    b.add_argument("out", help="a new directory for the backup")
    b.set_defaults(fn=cmd_backup)
    rs = sub.add_parser("restore", help="restore a backup into a new data directory (checks every room)")
    rs.add_argument("backup", help="a directory written by `twin-sync backup`")
    rs.add_argument("--data", required=True)
    rs.set_defaults(fn=cmd_restore)
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
    b = sub.add_parser("bridge", help="run the sensor sources of a mapping file and feed a server")
    b.add_argument("--config", required=True, metavar="FILE", help="sensor mapping file (TOML)")
    b.add_argument("--connect", required=True, metavar="ADDR", help="server endpoint, e.g. tcp://host:7700")
    b.add_argument("--token", required=True, help="access token with role source (or owner)")
    b.add_argument("--server-key", metavar="KEY", help="the server's CurveZMQ public key (Z85)")
    b.add_argument("--name", help="how the server names this bridge (default: host and pid)")
    b.set_defaults(fn=cmd_bridge)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``twin-sync``; return the exit status."""
    args = build_parser().parse_args(argv)
    level = args.log_level.upper() if args.log_level else ("INFO" if args.verbose else "WARNING")
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        _out(f"twin-sync: unknown log level {args.log_level!r} (TWIN_SYNC_LOG_LEVEL): "
             "use debug, info, warning or error")
        return 2
    logging.basicConfig(
        level=level, stream=sys.stdout if args.log_stdout else sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
