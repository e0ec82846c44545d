"""Shared fixtures: a real sync server process and clients connected to it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.netutil import ServerProcess

# An exception raised in a Qt slot or callback, or caught and logged by our code, fails the
# test that caused it (see tests/guard.py).
pytest_plugins = ("tests.guard", "pytester")

_room_ids = itertools.count(1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server with its own data directory."""
    srv = ServerProcess(tmp_path / "server").start()
    yield srv
    srv.stop()


@pytest.fixture
def make_client(server: ServerProcess) -> Iterator[Callable[..., object]]:
    """Factory of started SyncClients on ``server``; all are closed at the end."""
    from twin_app.net import SyncClient

    made: list[SyncClient] = []

    def make(room: str = "room", token: str = "owner-token", name: str = "user", **kw: object) -> SyncClient:
        client = SyncClient(server.endpoint, room, token, name, **kw)  # type: ignore[arg-type]
        client.start()
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture
def room_name() -> str:
    """A room name unique within the session."""
    return f"room{next(_room_ids)}"
