"""Fixtures for the sensor sources: a real Mosquitto broker and a recording sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sensors.kit import Broker, RecordingSink


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()
