"""Fixtures for the headless session tier: a small real plant, no display needed."""

from __future__ import annotations

import pytest

from tests.plant import small_plant
from twin_app.core.document import Document


@pytest.fixture
def plant() -> tuple[Document, dict[str, bytes]]:
    return small_plant()
