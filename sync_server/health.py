"""``twin-sync health``: is a server's loop answering? (container HEALTHCHECK, monitoring)

The probe is a real client exchange that needs no token: it sends a HEARTBEAT without a
session and expects the server's ERROR ``no_session``, which only its event loop sends.
A server with CurveZMQ needs its public key (``--server-key``, or the key file's public
half); the probe uses a throw-away client key pair, so a server restricted to known client
keys (``--curve-allow``) refuses it: give such a probe's key a place in that directory.
"""

from __future__ import annotations

import time
from pathlib import Path

import zmq
import zmq.auth

from twin_app import protocol


def probe(connect: str | None, data: Path | None, server_key: str | None,
          secret_file: Path | None, timeout: float) -> tuple[str, str]:
    """Ask a server to answer; return ``(endpoint, "N ms")``. Raises ``RuntimeError``."""
    from sync_server.server import data_dir_holder

    endpoint = connect
    if endpoint is None:
        if data is None:
            raise RuntimeError("give --data DIR or --connect ENDPOINT")
        bound = data_dir_holder(data)
        if bound is None:
            raise RuntimeError(f"no server runs on {data}")
        host, port = bound.removeprefix("tcp://").rsplit(":", 1)
        local = "127.0.0.1" if host in ("0.0.0.0", "*") else host  # noqa: S104
        endpoint = f"tcp://{local}:{port}"
    if "://" not in endpoint:
        endpoint = f"tcp://{endpoint}"
    if server_key is None and secret_file is not None:
        public, _secret = zmq.auth.load_certificate(str(secret_file))
        server_key = public.decode()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if server_key:
            pub, sec = zmq.curve_keypair()
            sock.setsockopt(zmq.CURVE_SERVERKEY, server_key.encode())
            sock.setsockopt(zmq.CURVE_PUBLICKEY, pub)
            sock.setsockopt(zmq.CURVE_SECRETKEY, sec)
        sock.connect(endpoint)
        t0 = time.perf_counter()
        sock.send_multipart(protocol.encode(protocol.HEARTBEAT, {}))
        if not sock.poll(int(timeout * 1000)):
            raise RuntimeError(f"{endpoint} did not answer within {timeout:g} s")
        msg = protocol.decode(sock.recv_multipart(), protocol.MAX_SERVER_FRAME)
        ms = (time.perf_counter() - t0) * 1000
        if msg.type != protocol.ERROR or msg.body.get("code") != protocol.E_NO_SESSION:
            raise RuntimeError(f"{endpoint} answered {msg.name} {msg.body}, not a Twinroom server's no_session")
        return endpoint, f"{ms:.1f} ms"
    except (zmq.ZMQError, protocol.ProtocolError) as exc:
        raise RuntimeError(f"{endpoint}: {exc}") from exc
    finally:
        sock.close(0)
        ctx.term()
