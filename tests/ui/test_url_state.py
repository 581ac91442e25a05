"""The shared URL rules: which dates the widgets can show, bounds kept as written, warnings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.query.filter import SessionFilter
from ui import url_state
from ui.overview_filters import parse_params
from ui.url_state import EARLIEST, Problem, check_dates, kept_bound, latest_day, shown, utc_date
from ui.view import parse_view


def test_dates_the_widgets_cannot_show_are_dropped_with_a_problem() -> None:
    f, problems = check_dates(SessionFilter(start_date=date(1999, 1, 1), end_date=date(2099, 1, 1)))
    assert f.start_date is None and f.end_date is None
    assert [p.parameter for p in problems] == ["start_date", "end_date"]
    assert all(str(EARLIEST) in p.allowed for p in problems)


def test_dates_inside_the_range_are_kept() -> None:
    f = SessionFilter(start_date=EARLIEST, end_date=latest_day())
    assert check_dates(f) == (f, [])


def test_a_future_start_is_a_problem_only_where_the_page_asks() -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    f = SessionFilter(start_date=tomorrow)
    assert check_dates(f) == (f, [])
    dropped, problems = check_dates(f, past_start=True)
    assert dropped.start_date is None
    assert [p.parameter for p in problems] == ["start_date"]
    today = SessionFilter(start_date=datetime.now(UTC).date())
    assert check_dates(today, past_start=True) == (today, [])


def test_the_latest_day_follows_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(url_state, "today_utc", lambda: date(2026, 6, 1))
    assert latest_day() == date(2036, 12, 31)


def test_a_bound_left_alone_keeps_its_exact_form() -> None:
    instant = datetime(2026, 5, 1, 13, 30, tzinfo=UTC)
    assert kept_bound(date(2026, 5, 1), instant) is instant
    assert kept_bound(date(2026, 5, 2), instant) == date(2026, 5, 2)
    assert kept_bound(None, instant) is None
    assert utc_date(datetime(2026, 5, 1, 23, 30)) == date(2026, 5, 1)


def test_problems_quote_the_value_cut_short() -> None:
    assert shown("x" * 100) == "x" * 57 + "..."
    assert Problem("sort", "bad", "pick a column").message() == (
        "Ignored `sort=bad` in the link: pick a column."
    )


def test_both_pages_drop_the_same_bad_dates() -> None:
    link = {"start_date": ["1999-12-31"], "end_date": ["2099-01-01"]}
    view, view_problems = parse_view(link)
    f, overview_problems = parse_params(link, model_ids=[], techniques=[])
    assert view.filter.start_date is None and view.filter.end_date is None
    assert f.start_date is None and f.end_date is None
    assert [p.parameter for p in view_problems] == [p.parameter for p in overview_problems]
