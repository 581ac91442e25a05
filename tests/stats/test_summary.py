"""core.stats.summary: counts by status, medians, megabytes saved and the change against the
previous period, on :mod:`tests.stats.sample`."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.stats.summary import status_counts, summary, summary_change
from tests.stats.sample import CURRENT


def test_summary(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        s = summary(connection, CURRENT)
    assert s.by_status == {"pending": 1, "running": 1, "completed": 6, "failed": 1, "cancelled": 1}
    assert s.sessions == 10
    assert s.success_rate == pytest.approx(6 / 8)
    assert s.completed_share == pytest.approx(0.6)
    assert s.median_size_reduction == pytest.approx(65.0)  # 30 50 60 70 70 80
    assert s.median_speed_improvement == pytest.approx(30.0)  # 10 20 30 35 40
    assert s.mb_saved == pytest.approx(270.0)  # alpha 100 MB x (50 + 70 + 70 + 80) %
    assert s.mb_saved_sessions == 4


def test_summary_empty(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        s = summary(connection, SessionFilter(start_date="2020-01-01", end_date="2020-01-31"))
    assert s.sessions == 0
    assert s.success_rate is None and s.completed_share is None
    assert s.median_size_reduction is None and s.mb_saved is None


def test_summary_change_previous_period(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        change = summary_change(connection, CURRENT)
        assert change.current == summary(connection, CURRENT)
    assert change.previous_start == datetime(2025, 5, 22)
    assert change.previous_end == datetime(2025, 6, 1)
    previous = change.previous
    assert previous is not None
    assert (previous.sessions, previous.completed, previous.failed) == (2, 1, 1)
    assert previous.success_rate == pytest.approx(0.5)
    assert previous.median_size_reduction == pytest.approx(40.0)
    assert previous.median_speed_improvement == pytest.approx(10.0)
    assert previous.mb_saved == pytest.approx(40.0)


def test_summary_change_open_range(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        assert summary_change(connection, SessionFilter()).previous is None
        open_end = summary_change(
            connection, SessionFilter(start_date="2025-06-01"), now=datetime(2025, 6, 11)
        )
    # [06-01, 06-11 "now") against [05-22, 06-01); o02 at 06-11 00:00 is in the open current range.
    assert open_end.current.sessions == 11
    assert open_end.previous is not None and open_end.previous.sessions == 2


def test_status_counts_follow_filters(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        counts = status_counts(
            connection,
            SessionFilter(statuses=("completed", "failed"), start_date="2025-06-01", end_date="2025-06-10"),
        )
        by_technique = summary(
            connection, SessionFilter(techniques=("pruning",), start_date="2025-06-01", end_date="2025-06-10")
        )
        by_model = summary(connection, SessionFilter(model_ids=("ghost",)))
    assert [(c.status, c.sessions) for c in counts] == [
        ("pending", 0),
        ("running", 0),
        ("completed", 6),
        ("failed", 1),
        ("cancelled", 0),
    ]
    assert by_technique.sessions == 3  # s02 s03 s05
    assert by_model.completed == 1 and by_model.mb_saved is None


def test_status_counts_from_the_counts_table_match_a_count(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        fast = status_counts(connection, SessionFilter(statuses=("completed", "failed")))
        counted = status_counts(
            connection, SessionFilter(statuses=("completed", "failed"), end_date="2030-01-01")
        )
    assert fast == counted
    assert [(c.status, c.sessions) for c in fast if c.sessions] == [("completed", 9), ("failed", 2)]


@pytest.mark.parametrize("statuses", [(), ("completed", "failed")])
def test_summary_medians_without_a_date_range(sample_engine: Engine, statuses: tuple[str, ...]) -> None:
    """Status-only filters take SQLite's index-walk path; the numbers must not change."""
    with sample_engine.connect() as connection:
        s = summary(connection, SessionFilter(statuses=statuses))
    assert s.median_size_reduction == pytest.approx(70.0)  # 30 40 50 60 70 70 80 99 99
    assert s.median_speed_improvement == pytest.approx(32.5)  # 10 10 20 30 | 35 40 99 99
    assert s.completed == 9


def test_summary_medians_of_nothing_completed(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        s = summary(connection, SessionFilter(statuses=("failed",)))
    assert s.failed == 2 and s.median_size_reduction is None and s.median_speed_improvement is None
