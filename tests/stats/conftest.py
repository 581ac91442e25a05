"""The engines the stats tests share: the small fixed dataset (:mod:`tests.stats.sample`) and the
random one with and without the rollups (:mod:`tests.stats.rollup_engines`), on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine

from core.speed.build import init_db
from core.store.tables import models, optimization_sessions
from tests.stats.rollup_engines import loaded_engines
from tests.stats.sample import ROWS, session_row


@pytest.fixture
def sample_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_db_url)
    init_db(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(models),
            [
                {"model_id": "m1", "name": "alpha", "framework": "onnx", "original_size_mb": 100.0},
                {"model_id": "m2", "name": "beta", "framework": "jax", "original_size_mb": None},
            ],
        )
        connection.execute(insert(optimization_sessions), [session_row(*r) for r in ROWS])
        # Another writer's timestamp format: 'T' separator and a 'Z' suffix, plain SQL.
        connection.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria, total_steps,"
                " completed_steps, results, created_at, updated_at, completed_at) VALUES ('s04', 'ghost',"
                " 'completed', '{\"techniques\": [\"quantization\"]}', 10, 10,"
                ' \'{"size_reduction_percent": 60, "speed_improvement_percent": 30}\','
                " '2025-06-04T10:00:00Z', '2025-06-04T11:00:00Z', '2025-06-04T11:00:00Z')"
            )
        )
    yield engine
    engine.dispose()


@pytest.fixture
def engines(empty_db_url: str) -> Iterator[tuple[Engine, Engine, Engine, str]]:
    yield from loaded_engines(empty_db_url)
