"""The calendar of the charts: which buckets (day, week, month) a time range uses, and where each
begins. Weeks begin on Monday, in UTC, everywhere: the SQL bucket expressions
(:func:`core.stats.sql.bucket_expression`), the copy's week column and the rollups all follow
:func:`week_start`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

Granularity = Literal["day", "week", "month"]
DAY_MAX_DAYS = 45  # up to about six weeks, one bar per day reads well
WEEK_MAX_DAYS = 740  # up to about two years, one bar per week; beyond that, months


def week_start(day: date) -> date:
    """The Monday of the week ``day`` falls in."""
    return day - timedelta(days=day.weekday())


def choose_granularity(start: datetime, end: datetime) -> Granularity:
    """Days for short ranges, weeks up to about two years, months beyond."""
    days = (end - start).total_seconds() / 86400
    if days <= DAY_MAX_DAYS:
        return "day"
    if days <= WEEK_MAX_DAYS:
        return "week"
    return "month"


def bucket_start(value: Any) -> date:
    """A bucket value from either backend as a ``date``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def floor_to_bucket(day: date, granularity: Granularity) -> date:
    if granularity == "week":
        return week_start(day)
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_bucket(day: date, granularity: Granularity) -> date:
    if granularity == "day":
        return day + timedelta(days=1)
    if granularity == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucket_range(first: date, last: date, granularity: Granularity) -> list[date]:
    """Every bucket start from the one holding ``first`` to the one holding ``last``."""
    current = floor_to_bucket(first, granularity)
    stop = floor_to_bucket(last, granularity)
    out: list[date] = []
    while current <= stop:
        out.append(current)
        current = next_bucket(current, granularity)
    return out
