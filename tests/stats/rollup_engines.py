"""Engines over the random data of ``test_equivalence``, with the rollups and without them."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

from sqlalchemy.engine import Engine

from core.speed.build import init_db
from core.speed.capabilities import capabilities, override_capabilities
from tests.speed.equivalence import engines
from tests.speed.random_sessions import SEED, load


def plain_engine(url: str) -> Engine:
    """A reader that believes the rollups are absent: the plain queries, same rows."""
    _, reader = engines(url)
    with reader.connect() as conn:
        caps = capabilities(conn)
    override_capabilities(reader, dataclasses.replace(caps, rollups=False))
    return reader


def loaded_engines(url: str) -> Iterator[tuple[Engine, Engine, Engine, str]]:
    """(writer, reader with the rollups, reader without them, backend) over 600 random sessions."""
    writer, reader = engines(url)
    backend = writer.dialect.name
    init_db(writer)  # the rows below arrive through the triggers, one statement each batch
    load(writer, backend, random.Random(SEED), 600)
    plain = plain_engine(url)
    yield writer, reader, plain, backend
    for engine in (plain, reader, writer):
        engine.dispose()
