"""core.stats.periods: sessions per day, week and month on the sample (:mod:`tests.stats.sample`)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.stats.periods import period_stats
from core.store.tables import STATUSES
from tests.stats.sample import CURRENT


def test_period_stats_daily(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        series = period_stats(connection, CURRENT)
    assert series.granularity == "day"
    assert [p.start for p in series.periods] == [date(2025, 6, d) for d in range(1, 11)]
    first = series.periods[0]
    assert first.by_status["completed"] == 1 and first.sessions == 1
    assert (first.median_size_reduction, first.median_speed_improvement) == (50.0, 20.0)
    assert series.periods[3].by_status["completed"] == 1  # s04, stored as '...T10:00:00Z'
    assert series.periods[4].by_status == {**dict.fromkeys(STATUSES, 0), "failed": 1}
    assert series.periods[9].by_status["pending"] == 1  # 23:59:59.5 is still June 10th
    assert series.periods[9].median_size_reduction is None
    assert sum(p.sessions for p in series.periods) == 10


def test_period_stats_weekly_and_monthly(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        weekly = period_stats(connection, SessionFilter(), granularity="week")
        auto = period_stats(connection, SessionFilter())
        monthly = period_stats(connection, SessionFilter(), granularity="month")
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
