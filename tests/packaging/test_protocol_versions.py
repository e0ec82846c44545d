"""Neighbouring releases talk; other protocol versions are refused with who must update.

Older and newer peers are played by real sockets sending what such a release sends: a
HELLO without ``proto`` (0.1.x), one with a higher revision and fields this release does
not know, and headers of another protocol VERSION. The app side is the real SyncClient
against a socket answering as an older or newer server would.
"""

from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from twin_app import __version__, protocol
from twin_app.net import SyncClient

pytestmark = pytest.mark.net


def hello_frames(version: int, **extra: object) -> list[bytes]:
    body = {"token": "owner-token", "client_id": "c1", "name": "Old", **extra}
    return [protocol.HEADER.pack(protocol.SIGNATURE, version, protocol.HELLO) + msgpack.packb(body)]


def ask(endpoint: str, frames: list[bytes]) -> list[bytes]:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(10_000), "the server did not answer"
        return sock.recv_multipart()
    finally:
        sock.close()


def test_an_older_app_without_revision_and_a_newer_one_are_welcomed(server):
    for extra in ({}, {"proto": protocol.REVISION + 1, "release": "Twinroom 9.9",
                       "wants": ["sensors-v2"]}):
        msg = protocol.decode(ask(server.endpoint, hello_frames(protocol.VERSION, **extra)),
                              protocol.MAX_SERVER_FRAME)
        assert msg.type == protocol.WELCOME, msg.body
        assert msg.body["proto"] == protocol.REVISION
        assert msg.body["server"] == f"twinroom/{__version__}"


@pytest.mark.parametrize(("version", "words"), [
    (protocol.VERSION + 1, "ask the server's administrator to update twin-sync"),
    (protocol.VERSION - 1, "update Twinroom to"),
])
def test_an_app_of_another_protocol_version_is_told_which_side_to_update(server, version, words):
    frames = ask(server.endpoint, hello_frames(version))
    # Answered in the app's own version, so that release can read the refusal.
    assert protocol.header_version(frames) == version
    msg = protocol.decode(frames, protocol.MAX_SERVER_FRAME)
    assert msg.type == protocol.ERROR
    assert msg.body["code"] == protocol.E_BAD_VERSION
    assert words in msg.body["reason"]
    assert f"Twinroom {__version__}" in msg.body["reason"]


class FakeServer:
    """A ROUTER answering HELLO as another release's server would (nothing more)."""

    def __init__(self, version: int, welcome: dict[str, object]) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.version, self.welcome = version, welcome
        self.seen: list[int] = []

    def serve(self, until: float) -> None:
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            if not self.sock.poll(50):
                continue
            rid, head, *_ = self.sock.recv_multipart()
            self.seen.append(head[3])
            if head[3] == protocol.HELLO:
                body = msgpack.packb(self.welcome)
                self.sock.send_multipart([rid, protocol.HEADER.pack(
                    protocol.SIGNATURE, self.version, protocol.WELCOME) + body])

    def close(self) -> None:
        self.sock.close()


WELCOME_0_1 = {"session": "s1", "epoch": 7, "role": "owner", "hb_ms": 500,
               "limits": {"edit_credit": 64}, "server": "twinroom/0.1.0"}


def test_the_app_talks_to_a_server_of_the_previous_release():
    fake = FakeServer(protocol.VERSION, WELCOME_0_1)  # 0.1.x: no "proto" in WELCOME
    c = SyncClient(fake.endpoint, "demo", "t", "Ada")
    c.start()
    try:
        fake.serve(until=1.5)
        assert protocol.JOIN in fake.seen  # welcomed, then it joins the room
        assert c.state != "failed"
    finally:
        c.close()
        fake.close()


def test_the_app_refuses_a_server_of_a_newer_protocol_and_says_update_this_app():
    fake = FakeServer(protocol.VERSION + 1, {**WELCOME_0_1, "server": "twinroom/9.0.0"})
    c = SyncClient(fake.endpoint, "demo", "t", "Ada")
    errors: list[tuple[str, str]] = []
    c.on_error.append(lambda code, reason: errors.append((code, reason)))
    c.start()
    try:
        fake.serve(until=1.0)
        assert c.wait_for(lambda: c.state == "failed", 10)
        assert "update this app" in c.state_detail
        assert errors and errors[0][0] == protocol.E_BAD_VERSION
        assert protocol.JOIN not in fake.seen
    finally:
        c.close()
        fake.close()


def test_refusal_wording_names_the_older_side(monkeypatch):
    monkeypatch.setattr(protocol, "MIN_REVISION", protocol.REVISION)  # a release that drops 1
    old_app = protocol.version_refusal("app", protocol.VERSION, protocol.REVISION - 1, "Twinroom 0.1.0", "0.3.0")
    assert old_app and "This app is Twinroom 0.1.0" in old_app and "update Twinroom to 0.3.0" in old_app
    old_server = protocol.version_refusal("server", protocol.VERSION, protocol.REVISION - 1, "Twinroom 0.1.0", "0.3.0")
    assert old_server and "ask its administrator to update twin-sync to 0.3.0" in old_server
    assert protocol.version_refusal("server", protocol.VERSION, protocol.REVISION + 5, "", "0.3.0") is None
