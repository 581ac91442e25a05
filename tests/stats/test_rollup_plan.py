"""core.stats.rollup_plan: which filters the rollups answer (statuses, whole days, one technique)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.stats.rollup_plan import rollup_plan


def test_whole_days_only(engines: tuple[Engine, Engine, Engine, str]) -> None:
    """A bound inside a day, several techniques or a model take the plain queries."""
    _, reader, _, _ = engines
    from datetime import datetime

    with reader.connect() as conn:
        assert rollup_plan(conn, SessionFilter(start_date=date(2024, 3, 2))) is not None
        assert rollup_plan(conn, SessionFilter(start_date=datetime(2024, 3, 2, 6))) is None
        assert rollup_plan(conn, SessionFilter(techniques=("a", "b"))) is None
        assert rollup_plan(conn, SessionFilter(model_ids=("m-01",))) is None
        assert rollup_plan(conn, SessionFilter(search="opt")) is None
