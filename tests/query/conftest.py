"""The query tests' database: the fixed data set of :mod:`tests.query.sample`, on SQLite and on
PostgreSQL (the ``empty_db_url`` fixture), read through a read-only engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.speed.build import init_db
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from tests.query.sample import MODELS, SESSIONS


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    init_db(writer)
    with writer.begin() as connection:
        connection.execute(insert(models), MODELS)
        connection.execute(insert(optimization_sessions), SESSIONS)
    writer.dispose()
    reader = make_engine(Settings(empty_db_url, "--db"), read_only=True)
    yield reader
    reader.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection
