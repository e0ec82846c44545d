"""Rooms open at their first join and close when idle: a server that has seen many rooms
holds threads and files only for the rooms in use, and nothing is lost across a close."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import zmq

from tests.netutil import ServerProcess
from twin_app import protocol
from twin_app.core import AddNode, Node, new_id, snapshot
from twin_app.core.ops import apply, op_from_wire, op_to_wire

pytestmark = pytest.mark.net


def threads_and_fds(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def recv_until(sock: zmq.Socket, msg_type: int, timeout_s: float = 10.0) -> protocol.Message:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sock.poll(100):
            msg = protocol.decode(sock.recv_multipart(), protocol.MAX_SERVER_FRAME, protocol.MAX_SERVER_FRAME)
            if msg.type == msg_type:
                return msg
            assert msg.type not in (protocol.ERROR, protocol.NACK), msg.body
    raise AssertionError(f"no {protocol.NAMES.get(msg_type, msg_type)} within {timeout_s}s")


def session(endpoint: str) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.linger = 0
    s.connect(endpoint)
    s.send_multipart(protocol.encode(protocol.HELLO, {"token": "owner-token", "client_id": new_id(), "name": "walker"}))
    recv_until(s, protocol.WELCOME)
    return s


def wait(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling another process's /proc: there is no event to await
    return predicate()


def test_idle_rooms_close_and_reopen_with_everything(tmp_path):
    srv = ServerProcess(tmp_path / "srv", ["--room-idle", "0.3", "--hb-ms", "100"]).start()
    try:
        pid = srv.proc.pid
        base_threads, base_fds = threads_and_fds(pid)
        s = session(srv.endpoint)
        node_ids = {}
        # One person walks through 300 rooms, adding a part in each; JOIN moves them on.
        for i in range(300):
            s.send_multipart(protocol.encode(protocol.JOIN, {"room": f"line{i}"}))
            recv_until(s, protocol.SNAPSHOT)
            nid = new_id()
            node_ids[i] = nid
            op = AddNode(Node(nid, "root", "V", kind="part", name=f"Press {i}"))
            s.send_multipart(protocol.encode(protocol.SUBMIT, {"cseq": i + 1, "op": op_to_wire(op)}))
            recv_until(s, protocol.ACK)
        # Every room but the one still joined closes: threads and files come back down.
        assert wait(lambda: threads_and_fds(pid)[0] <= base_threads + 2), threads_and_fds(pid)
        assert wait(lambda: threads_and_fds(pid)[1] <= base_fds + 6), threads_and_fds(pid)
        # A closed room reopens at the next join with its acknowledged edit.
        for i in (0, 137, 298):
            s.send_multipart(protocol.encode(protocol.JOIN, {"room": f"line{i}"}))
            snap = recv_until(s, protocol.SNAPSHOT)
            doc = snapshot.decode(list(snap.blobs))
            for _cid, _cseq, wire in snap.body["ops"]:
                apply(doc, op_from_wire(wire))
            assert node_ids[i] in doc, (i, snap.body)
        s.close()
        assert srv.alive()
        assert not any("Traceback" in line for line in srv.stderr), srv.stderr
    finally:
        srv.stop()
