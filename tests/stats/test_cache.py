"""The aggregate cache: hits by filter, expiry, invalidation on writes, bounded size; its key (the
aggregate filter) and the data version, on the sample (:mod:`tests.stats.sample`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert, update
from sqlalchemy.engine import Connection, Engine

from core.query.filter import SessionFilter
from core.speed.build import init_db
from core.stats.cache import AggregateCache, aggregate_filter, data_version
from core.stats.points import scatter
from core.stats.rollup_plan import rollup_plan
from core.stats.summary import summary
from core.stats.techniques import technique_stats
from core.store.tables import optimization_sessions
from tests.stats.sample import CURRENT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _session(session_id: str, status: str = "completed") -> dict[str, object]:
    at = datetime(2025, 6, 1, 12)
    return {
        "session_id": session_id,
        "model_id": "m1",
        "status": status,
        "criteria": {"techniques": ["quantization"]},
        "total_steps": 1,
        "completed_steps": 1,
        "results": {"size_reduction_percent": 50.0, "speed_improvement_percent": 20.0},
        "created_at": at,
        "updated_at": at,
        "completed_at": at,
    }


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_db_url)
    init_db(engine)
    with engine.begin() as connection:
        connection.execute(insert(optimization_sessions), [_session("a"), _session("b", "failed")])
    yield engine
    engine.dispose()


def test_hits_ignore_sort_and_paging(engine: Engine) -> None:
    cache = AggregateCache(clock=Clock())
    first = cache.call(engine, summary, SessionFilter())
    again = cache.call(engine, summary, SessionFilter(sort="status", skip=50))
    assert again is first
    assert (cache.hits, cache.misses) == (1, 1)
    other = cache.call(engine, summary, SessionFilter(statuses=("failed",)))
    assert other.sessions == 1 and cache.misses == 2


def test_the_miss_hook_runs_before_a_computation_and_never_on_a_hit(engine: Engine) -> None:
    cache = AggregateCache(clock=Clock())
    calls: list[int] = []

    def on_miss() -> None:
        calls.append(cache.misses)  # before the computation is counted

    cache.call(engine, summary, SessionFilter(), on_miss=on_miss)
    cache.call(engine, summary, SessionFilter(), on_miss=on_miss)
    assert calls == [0]
    cache.call(engine, summary, SessionFilter(statuses=("failed",)), on_miss=on_miss)
    assert calls == [0, 1]


def test_a_miss_hook_that_raises_leaves_nothing_cached(engine: Engine) -> None:
    """The dashboard's hook raises when the view was abandoned meanwhile: no entry is made."""
    cache = AggregateCache(clock=Clock())

    def abandoned() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.call(engine, summary, SessionFilter(), on_miss=abandoned)
    assert len(cache) == 0 and cache.misses == 0


def test_keyword_arguments_are_part_of_the_key(engine: Engine) -> None:
    cache = AggregateCache(clock=Clock())
    small = cache.call(engine, scatter, SessionFilter(), limit=1)
    large = cache.call(engine, scatter, SessionFilter(), limit=100)
    assert small is not large and cache.misses == 2


def test_write_invalidates_after_version_ttl(engine: Engine) -> None:
    clock = Clock()
    cache = AggregateCache(clock=clock, ttl=60, version_ttl=2)
    assert cache.call(engine, summary, SessionFilter()).sessions == 2
    with engine.begin() as connection:
        connection.execute(insert(optimization_sessions), [_session("c")])
    clock.now += 1  # the version is still trusted: the old answer, no database round trip
    assert cache.call(engine, summary, SessionFilter()).sessions == 2
    clock.now += 2  # version re-read: the write is seen at once, well before the TTL
    assert cache.call(engine, summary, SessionFilter()).sessions == 3


def test_entries_expire_and_are_bounded(engine: Engine) -> None:
    clock = Clock()
    cache = AggregateCache(clock=clock, ttl=10, max_entries=2, version_ttl=100)
    calls: list[SessionFilter] = []

    def counting(connection: Connection, f: SessionFilter) -> int:
        calls.append(f)
        return summary(connection, f).sessions

    cache.call(engine, counting, SessionFilter())
    clock.now += 11
    cache.call(engine, counting, SessionFilter())
    assert len(calls) == 2  # expired, computed again
    for status in ("failed", "completed", "running"):
        cache.call(engine, counting, SessionFilter(statuses=(status,)))
    assert len(cache) == 2


def test_rollup_answers_follow_plain_sql_writes(engine: Engine) -> None:
    """Answers read from the rollups (init-db's triggers) change with the platform's writes."""
    from sqlalchemy import text

    clock = Clock()
    cache = AggregateCache(clock=clock, ttl=60, version_ttl=2)
    with engine.connect() as connection:
        assert rollup_plan(connection, SessionFilter()) is not None  # the rollups answer this
    first = cache.call(engine, summary, SessionFilter())
    assert (first.median_size_reduction, first.completed) == (50.0, 1)
    cast = "CAST(:r AS jsonb)" if engine.dialect.name == "postgresql" else ":r"
    with engine.begin() as connection:
        connection.execute(
            text(
                f"UPDATE optimization_sessions SET results = {cast}, updated_at = :t WHERE session_id = 'a'"
            ),
            {
                "r": '{"size_reduction_percent": 70, "speed_improvement_percent": 5}',
                "t": datetime(2025, 6, 2),
            },
        )
    clock.now += 3
    changed = cache.call(engine, summary, SessionFilter())
    assert (changed.median_size_reduction, changed.median_speed_improvement) == (70.0, 5.0)
    techniques = cache.call(engine, technique_stats, SessionFilter())
    assert techniques[0].size_reduction.median == 70.0
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM optimization_sessions WHERE session_id = 'a'"))
    clock.now += 3
    gone = cache.call(engine, summary, SessionFilter())
    assert (gone.sessions, gone.completed, gone.median_size_reduction) == (1, 0, None)


def test_data_version_changes_with_writes(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        before = data_version(connection)
    with sample_engine.begin() as connection:
        connection.execute(
            update(optimization_sessions)
            .where(optimization_sessions.c.session_id == "s07")
            .values(status="completed", updated_at=datetime(2025, 7, 1))
        )
    with sample_engine.connect() as connection:
        after = data_version(connection)
        assert after != before
        assert summary(connection, CURRENT).running == 0


def test_aggregate_filter_drops_sort_and_paging() -> None:
    f = SessionFilter(statuses=("failed",), sort="status", order="asc", skip=100, limit=10)
    assert aggregate_filter(f) == SessionFilter(statuses=("failed",))


def test_data_version_sees_a_delete(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        before = data_version(connection)
    with sample_engine.begin() as connection:
        connection.execute(optimization_sessions.delete().where(optimization_sessions.c.session_id == "o01"))
    with sample_engine.connect() as connection:
        assert data_version(connection) != before
