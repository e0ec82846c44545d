"""The Qt tier's fixtures (a window joined to a real server) for the replay tests."""

from tests.qt.conftest import demo_server, join, plant, room_server  # noqa: F401
