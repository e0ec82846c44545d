"""Test-side sensor source: an independent client that pushes samples the way the wire
protocol says (HELLO with a token, then SENSOR_PUSH), without our bridge code."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import zmq

from twin_app import protocol


class Pusher:
    """A DEALER that speaks just enough of the protocol to push samples."""

    def __init__(self, endpoint: str, token: str = "source-token", name: str = "test-source") -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.sock.connect(endpoint)
        self.name = name
        self.send(protocol.HELLO, {"token": token, "client_id": f"push{id(self):x}"[:32], "name": name})
        reply = self.recv(10.0)
        assert reply is not None and reply.type == protocol.WELCOME, reply

    def send(self, msg_type: int, body: dict, blobs: Sequence[bytes] = ()) -> None:
        self.sock.send_multipart(protocol.encode(msg_type, body, blobs))

    def recv(self, timeout: float) -> protocol.Message | None:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return protocol.decode(self.sock.recv_multipart(), protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)

    def push(self, tags: list[str], idx, t_ns, values, quality=None, **extra) -> None:
        idx = np.asarray(idx, "<u4")
        n = len(idx)
        q = np.zeros(n, np.uint8) if quality is None else np.asarray(quality, np.uint8)
        body = {"tags": tags, "n": n, "source": self.name, **extra}
        self.send(protocol.SENSOR_PUSH, body, [idx.tobytes(), np.asarray(t_ns, "<i8").tobytes(),
                                               np.asarray(values, "<f8").tobytes(), q.tobytes()])

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def now_ns() -> int:
    return time.time_ns()
