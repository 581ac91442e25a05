"""core.stats.models: models ranked by their best completed session, on :mod:`tests.stats.sample`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from core.stats.models import model_ranking
from tests.stats.sample import CURRENT


def test_model_ranking(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        ranking = model_ranking(connection, CURRENT)
        top = model_ranking(connection, CURRENT, limit=1)
    assert ranking.total_models == 3
    assert [(r.model_id, r.model_name, r.model_known) for r in ranking.rows] == [
        ("m1", "alpha", True),
        ("ghost", "ghost", False),
        ("m2", "beta", True),
    ]
    alpha = ranking.rows[0]
    assert (alpha.sessions, alpha.completed) == (7, 4)
    assert (alpha.best_size_reduction, alpha.best_speed_improvement) == (80.0, 35.0)
    assert alpha.last_optimized is not None
    assert alpha.last_optimized.replace(tzinfo=None) == datetime(2025, 6, 9, 11)
    ghost = ranking.rows[1]
    assert ghost.last_optimized is not None
    assert ghost.last_optimized.replace(tzinfo=None) == datetime(2025, 6, 4, 11)
    assert len(top.rows) == 1 and top.total_models == 3
