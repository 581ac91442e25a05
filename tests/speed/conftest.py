"""A platform database of random sessions, and the speed layer installed over it."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from core.config import Settings
from core.speed import SpeedLayer
from core.speed.install import install
from core.store.engine import make_engine
from tests.speed.random_sessions import SEED, load


@pytest.fixture
def platform(empty_db_url: str) -> Iterator[tuple[Settings, Engine]]:
    """A platform database with 500 random sessions (malformed JSON and odd timestamps too)."""
    settings = Settings(empty_db_url, "--db")
    writer = make_engine(settings, read_only=False)
    from core.store.tables import metadata

    metadata.create_all(writer)
    load(writer, writer.dialect.name, random.Random(SEED), 500)
    yield settings, writer
    writer.dispose()


@pytest.fixture
def installed(platform: tuple[Settings, Engine]) -> Iterator[tuple[Settings, Engine, SpeedLayer]]:
    settings, writer = platform
    install(settings, progress=lambda _: None)
    layer = SpeedLayer(settings)
    yield settings, writer, layer
    layer.dispose()
