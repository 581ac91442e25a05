"""Aggregates against hand-computed values on a small fixed dataset, on SQLite and PostgreSQL.

The dataset (current period 2025-06-01..2025-06-10, previous period 2025-05-22..05-31):

    id   model  status     techniques                 size  speed  created
    s01  m1     completed  quantization                 50     20  06-01
    s02  m1     completed  quantization, pruning        70     10  06-02
    s03  m2     completed  pruning                      30     40  06-03
    s04  ghost  completed  quantization                 60     30  06-04 (text with T/Z)
    s05  m1     failed     pruning                       -      -  06-05
    s06  m2     cancelled  quantization                  -      -  06-06
    s07  m1     running    distillation                  -      -  06-07
    s08  m1     pending    (none)                        -      -  06-10 23:59:59.5
    s09  m1     completed  distillation                 70     35  06-08
    s10  m1     completed  distillation                 80      -  06-09
    p01  m1     completed  quantization                 40     10  05-25
    p02  m1     failed     quantization                  -      -  05-26
    o01  m1     completed  quantization                 99     99  05-01 (outside both)
    o02  m1     completed  quantization                 99     99  06-11 00:00 (after the end)

m1 "alpha" is 100 MB, m2 "beta" has no size, "ghost" is missing from ``models``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, text, update
from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.speed.derived import init_db
from core.stats import aggregates as A
from core.store.tables import models, optimization_sessions

CURRENT = SessionFilter(start_date="2025-06-01", end_date="2025-06-10")

ROWS = [
    # id, model, status, techniques, size, speed, created
    ("s01", "m1", "completed", ["quantization"], 50, 20, datetime(2025, 6, 1, 10)),
    ("s02", "m1", "completed", ["quantization", "pruning"], 70, 10, datetime(2025, 6, 2, 10)),
    ("s03", "m2", "completed", ["pruning"], 30, 40, datetime(2025, 6, 3, 10)),
    ("s05", "m1", "failed", ["pruning"], None, None, datetime(2025, 6, 5, 10)),
    ("s06", "m2", "cancelled", ["quantization"], None, None, datetime(2025, 6, 6, 10)),
    ("s07", "m1", "running", ["distillation"], None, None, datetime(2025, 6, 7, 10)),
    ("s08", "m1", "pending", [], None, None, datetime(2025, 6, 10, 23, 59, 59, 500000)),
    ("s09", "m1", "completed", ["distillation"], 70, 35, datetime(2025, 6, 8, 10)),
    ("s10", "m1", "completed", ["distillation"], 80, None, datetime(2025, 6, 9, 10)),
    ("p01", "m1", "completed", ["quantization"], 40, 10, datetime(2025, 5, 25, 10)),
    ("p02", "m1", "failed", ["quantization"], None, None, datetime(2025, 5, 26, 10)),
    ("o01", "m1", "completed", ["quantization"], 99, 99, datetime(2025, 5, 1, 10)),
    ("o02", "m1", "completed", ["quantization"], 99, 99, datetime(2025, 6, 11)),
]


def _row(
    session_id: str,
    model: str,
    status: str,
    techniques: list[str],
    size: float | None,
    speed: float | None,
    created: datetime,
) -> dict[str, object]:
    results = None
    if status == "completed":
        results = {"size_reduction_percent": size}
        if speed is not None:
            results["speed_improvement_percent"] = speed
    finished = status in ("completed", "failed", "cancelled")
    return {
        "session_id": session_id,
        "model_id": model,
        "status": status,
        "criteria": {"techniques": techniques},
        "total_steps": 10,
        "completed_steps": 10 if status == "completed" else 3,
        "results": results,
        "error_message": "boom" if status == "failed" else None,
        "created_at": created,
        "updated_at": created + timedelta(hours=1),
        "completed_at": created + timedelta(hours=1) if finished else None,
    }


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
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
        connection.execute(insert(optimization_sessions), [_row(*r) for r in ROWS])
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


def test_summary(engine: Engine) -> None:
    with engine.connect() as connection:
        s = A.summary(connection, CURRENT)
    assert s.by_status == {"pending": 1, "running": 1, "completed": 6, "failed": 1, "cancelled": 1}
    assert s.sessions == 10
    assert s.success_rate == pytest.approx(6 / 8)
    assert s.completed_share == pytest.approx(0.6)
    assert s.median_size_reduction == pytest.approx(65.0)  # 30 50 60 70 70 80
    assert s.median_speed_improvement == pytest.approx(30.0)  # 10 20 30 35 40
    assert s.mb_saved == pytest.approx(270.0)  # alpha 100 MB x (50 + 70 + 70 + 80) %
    assert s.mb_saved_sessions == 4


def test_summary_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        s = A.summary(connection, SessionFilter(start_date="2020-01-01", end_date="2020-01-31"))
    assert s.sessions == 0
    assert s.success_rate is None and s.completed_share is None
    assert s.median_size_reduction is None and s.mb_saved is None


def test_summary_change_previous_period(engine: Engine) -> None:
    with engine.connect() as connection:
        change = A.summary_change(connection, CURRENT)
        assert change.current == A.summary(connection, CURRENT)
    assert change.previous_start == datetime(2025, 5, 22)
    assert change.previous_end == datetime(2025, 6, 1)
    previous = change.previous
    assert previous is not None
    assert (previous.sessions, previous.completed, previous.failed) == (2, 1, 1)
    assert previous.success_rate == pytest.approx(0.5)
    assert previous.median_size_reduction == pytest.approx(40.0)
    assert previous.median_speed_improvement == pytest.approx(10.0)
    assert previous.mb_saved == pytest.approx(40.0)


def test_summary_change_open_range(engine: Engine) -> None:
    with engine.connect() as connection:
        assert A.summary_change(connection, SessionFilter()).previous is None
        open_end = A.summary_change(
            connection, SessionFilter(start_date="2025-06-01"), now=datetime(2025, 6, 11)
        )
    # [06-01, 06-11 "now") against [05-22, 06-01); o02 at 06-11 00:00 is in the open current range.
    assert open_end.current.sessions == 11
    assert open_end.previous is not None and open_end.previous.sessions == 2


def test_status_counts_follow_filters(engine: Engine) -> None:
    with engine.connect() as connection:
        counts = A.status_counts(
            connection,
            SessionFilter(statuses=("completed", "failed"), start_date="2025-06-01", end_date="2025-06-10"),
        )
        by_technique = A.summary(
            connection, SessionFilter(techniques=("pruning",), start_date="2025-06-01", end_date="2025-06-10")
        )
        by_model = A.summary(connection, SessionFilter(model_ids=("ghost",)))
    assert [(c.status, c.sessions) for c in counts] == [
        ("pending", 0),
        ("running", 0),
        ("completed", 6),
        ("failed", 1),
        ("cancelled", 0),
    ]
    assert by_technique.sessions == 3  # s02 s03 s05
    assert by_model.completed == 1 and by_model.mb_saved is None


def test_technique_stats(engine: Engine) -> None:
    with engine.connect() as connection:
        stats = A.technique_stats(connection, CURRENT)
    assert [t.technique for t in stats] == ["quantization", "distillation", "pruning"]
    q, d, p = stats
    assert (q.sessions, q.completed, q.cancelled, q.success_rate) == (4, 3, 1, 0.75)
    assert q.size_reduction == A.MetricStats(mean=60.0, p25=55.0, median=60.0, p75=65.0)
    assert q.speed_improvement == A.MetricStats(mean=20.0, p25=15.0, median=20.0, p75=25.0)
    assert (p.sessions, p.completed, p.failed) == (3, 2, 1)
    assert p.success_rate == pytest.approx(2 / 3)
    assert p.size_reduction == A.MetricStats(mean=50.0, p25=40.0, median=50.0, p75=60.0)
    assert p.speed_improvement == A.MetricStats(mean=25.0, p25=17.5, median=25.0, p75=32.5)
    assert (d.sessions, d.completed, d.success_rate) == (3, 2, 1.0)
    assert d.size_reduction == A.MetricStats(mean=75.0, p25=72.5, median=75.0, p75=77.5)
    assert d.speed_improvement == A.MetricStats(mean=35.0, p25=35.0, median=35.0, p75=35.0)


def test_period_stats_daily(engine: Engine) -> None:
    with engine.connect() as connection:
        series = A.period_stats(connection, CURRENT)
    assert series.granularity == "day"
    assert [p.start for p in series.periods] == [date(2025, 6, d) for d in range(1, 11)]
    first = series.periods[0]
    assert first.by_status["completed"] == 1 and first.sessions == 1
    assert (first.median_size_reduction, first.median_speed_improvement) == (50.0, 20.0)
    assert series.periods[3].by_status["completed"] == 1  # s04, stored as '...T10:00:00Z'
    assert series.periods[4].by_status == {**dict.fromkeys(A.STATUSES, 0), "failed": 1}
    assert series.periods[9].by_status["pending"] == 1  # 23:59:59.5 is still June 10th
    assert series.periods[9].median_size_reduction is None
    assert sum(p.sessions for p in series.periods) == 10


def test_period_stats_weekly_and_monthly(engine: Engine) -> None:
    with engine.connect() as connection:
        weekly = A.period_stats(connection, SessionFilter(), granularity="week")
        auto = A.period_stats(connection, SessionFilter())
        monthly = A.period_stats(connection, SessionFilter(), granularity="month")
    # Weeks start on Monday: 2025-04-28 holds May 1st; 2025-06-09 holds June 9-11.
    assert weekly.periods[0].start == date(2025, 4, 28)
    assert weekly.periods[-1].start == date(2025, 6, 9)
    by_week = {p.start: p for p in weekly.periods}
    assert by_week[date(2025, 5, 19)].sessions == 1  # p01 on Sunday 05-25
    assert by_week[date(2025, 5, 26)].sessions == 2  # p02 05-26, s01 on Sunday 06-01
    assert by_week[date(2025, 6, 2)].sessions == 7  # s02-s07 and s09 on Sunday 06-08
    assert by_week[date(2025, 5, 5)].sessions == 0  # empty weeks are kept
    assert sum(p.sessions for p in weekly.periods) == 14
    assert auto.granularity == "day"  # the data spans 41 days: days, chosen automatically
    assert len(auto.periods) == 42
    assert [(p.start, p.sessions) for p in monthly.periods] == [(date(2025, 5, 1), 3), (date(2025, 6, 1), 11)]


def test_scatter_and_sampling(engine: Engine) -> None:
    with engine.connect() as connection:
        full = A.scatter(connection, CURRENT)
        sample = A.scatter(connection, CURRENT, limit=2)
    assert (full.total, full.sampled) == (5, False)
    assert [p.session_id for p in full.points] == ["s01", "s02", "s03", "s04", "s09"]
    s02 = full.points[1]
    assert (s02.model_name, s02.combination) == ("alpha", "pruning + quantization")
    assert full.points[3].model_name == "ghost"  # unknown model: its id
    assert (sample.total, sample.sampled) == (5, True)
    assert [p.session_id for p in sample.points] == ["s01", "s04"]  # every 3rd by id


def test_pareto_front(engine: Engine) -> None:
    with engine.connect() as connection:
        front = A.pareto_front(connection, CURRENT)
        none = A.pareto_front(connection, SessionFilter(statuses=("failed",)))
    # s09 (70, 35) beats s02 (70, 10) and s04 (60, 30); s04 beats s01 (50, 20).
    assert [p.session_id for p in front] == ["s03", "s09"]
    assert none == ()


def test_pareto_front_ties(engine: Engine) -> None:
    extra = [
        ("t1", "m1", "completed", ["pruning"], 30, 40, datetime(2025, 6, 3, 11)),  # = s03
        ("t2", "m1", "completed", ["pruning"], 20, 40, datetime(2025, 6, 3, 12)),  # beaten by s03
        ("t3", "m1", "completed", ["pruning"], 75, 35, datetime(2025, 6, 3, 13)),  # beats s09
    ]
    with engine.begin() as connection:
        connection.execute(insert(optimization_sessions), [_row(*r) for r in extra])
    with engine.connect() as connection:
        front = A.pareto_front(connection, CURRENT)
    assert [p.session_id for p in front] == ["s03", "t1", "t3"]


def test_model_ranking(engine: Engine) -> None:
    with engine.connect() as connection:
        ranking = A.model_ranking(connection, CURRENT)
        top = A.model_ranking(connection, CURRENT, limit=1)
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


def test_data_version_changes_with_writes(engine: Engine) -> None:
    with engine.connect() as connection:
        before = A.data_version(connection)
    with engine.begin() as connection:
        connection.execute(
            update(optimization_sessions)
            .where(optimization_sessions.c.session_id == "s07")
            .values(status="completed", updated_at=datetime(2025, 7, 1))
        )
    with engine.connect() as connection:
        after = A.data_version(connection)
        assert after != before
        assert A.summary(connection, CURRENT).running == 0


def test_aggregate_filter_drops_sort_and_paging() -> None:
    f = SessionFilter(statuses=("failed",), sort="status", order="asc", skip=100, limit=10)
    assert A.aggregate_filter(f) == SessionFilter(statuses=("failed",))


def test_status_counts_from_the_counts_table_match_a_count(engine: Engine) -> None:
    with engine.connect() as connection:
        fast = A.status_counts(connection, SessionFilter(statuses=("completed", "failed")))
        counted = A.status_counts(
            connection, SessionFilter(statuses=("completed", "failed"), end_date="2030-01-01")
        )
    assert fast == counted
    assert [(c.status, c.sessions) for c in fast if c.sessions] == [("completed", 9), ("failed", 2)]


def test_data_version_sees_a_delete(engine: Engine) -> None:
    with engine.connect() as connection:
        before = A.data_version(connection)
    with engine.begin() as connection:
        connection.execute(optimization_sessions.delete().where(optimization_sessions.c.session_id == "o01"))
    with engine.connect() as connection:
        assert A.data_version(connection) != before


@pytest.mark.parametrize("statuses", [(), ("completed", "failed")])
def test_summary_medians_without_a_date_range(engine: Engine, statuses: tuple[str, ...]) -> None:
    """Status-only filters take SQLite's index-walk path; the numbers must not change."""
    with engine.connect() as connection:
        s = A.summary(connection, SessionFilter(statuses=statuses))
    assert s.median_size_reduction == pytest.approx(70.0)  # 30 40 50 60 70 70 80 99 99
    assert s.median_speed_improvement == pytest.approx(32.5)  # 10 10 20 30 | 35 40 99 99
    assert s.completed == 9


def test_summary_medians_of_nothing_completed(engine: Engine) -> None:
    with engine.connect() as connection:
        s = A.summary(connection, SessionFilter(statuses=("failed",)))
    assert s.failed == 2 and s.median_size_reduction is None and s.median_speed_improvement is None


def test_histogram_quantiles_are_percentile_cont_of_the_values_counted() -> None:
    """SQLite's quantiles are read off (value, count) histograms: equal to interpolating the
    expanded, sorted values (Python's inclusive quantiles), duplicates and integers included."""
    import random
    import statistics
    from collections import Counter

    from core.stats.aggregates import histogram_quantile

    rng = random.Random(7)
    for size in (1, 2, 3, 4, 5, 10, 101, 1000):
        values = [rng.choice([rng.randrange(0, 50), round(rng.uniform(-5, 95), 1)]) for _ in range(size)]
        histogram = sorted(Counter(values).items())
        expanded = sorted(values)
        for q in (0.25, 0.5, 0.75):
            position = q * (size - 1)
            low = int(position)
            fraction = position - low
            exact = (
                expanded[low] + (expanded[low + 1] - expanded[low]) * fraction
                if fraction > 0
                else expanded[low]
            )
            assert histogram_quantile(histogram, q) == exact
            if size > 1:
                reference = statistics.quantiles(values, n=4, method="inclusive")[round(q * 4) - 1]
                assert histogram_quantile(histogram, q) == pytest.approx(reference, abs=1e-9)
    assert histogram_quantile([], 0.5) is None
