"""core.stats.points: the scatter's sample and the Pareto front on the sample (:mod:`tests.stats.sample`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.stats.points import pareto_front, scatter
from core.store.tables import optimization_sessions
from tests.stats.sample import CURRENT, session_row


def test_scatter_and_sampling(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        full = scatter(connection, CURRENT)
        sample = scatter(connection, CURRENT, limit=2)
    assert (full.total, full.sampled) == (5, False)
    assert [p.session_id for p in full.points] == ["s01", "s02", "s03", "s04", "s09"]
    s02 = full.points[1]
    assert (s02.model_name, s02.combination) == ("alpha", "pruning + quantization")
    assert full.points[3].model_name == "ghost"  # unknown model: its id
    assert (sample.total, sample.sampled) == (5, True)
    assert [p.session_id for p in sample.points] == ["s01", "s04"]  # every 3rd by id


def test_pareto_front(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        front = pareto_front(connection, CURRENT)
        none = pareto_front(connection, SessionFilter(statuses=("failed",)))
    # s09 (70, 35) beats s02 (70, 10) and s04 (60, 30); s04 beats s01 (50, 20).
    assert [p.session_id for p in front] == ["s03", "s09"]
    assert none == ()


def test_pareto_front_ties(sample_engine: Engine) -> None:
    extra = [
        ("t1", "m1", "completed", ["pruning"], 30, 40, datetime(2025, 6, 3, 11)),  # = s03
        ("t2", "m1", "completed", ["pruning"], 20, 40, datetime(2025, 6, 3, 12)),  # beaten by s03
        ("t3", "m1", "completed", ["pruning"], 75, 35, datetime(2025, 6, 3, 13)),  # beats s09
    ]
    with sample_engine.begin() as connection:
        connection.execute(insert(optimization_sessions), [session_row(*r) for r in extra])
    with sample_engine.connect() as connection:
        front = pareto_front(connection, CURRENT)
    assert [p.session_id for p in front] == ["s03", "t1", "t3"]
