"""The calendar of the charts: which buckets (day, week, month) a time range uses, and where each
begins. Weeks begin on Monday, in UTC, everywhere: the SQL bucket expressions
(:func:`core.stats.sql.bucket_expression`), the copy's week column and the rollups all follow
:func:`week_start` (Python) and :func:`week_start_sql` (its SQL form).
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


def week_start_sql(day: str, dialect: str) -> str:
    """SQL for the Monday of the week the SQL expression ``day`` falls in (:func:`week_start`).

    On SQLite ``day`` is ``YYYY-MM-DD...`` text and the result is ``YYYY-MM-DD`` text; on
    PostgreSQL it is a date or timestamp and the result a timestamp.
    """
    if dialect == "sqlite":
        # 'weekday 0' moves forward to Sunday (or stays); six days back is that week's Monday.
        return f"date({day}, 'weekday 0', '-6 days')"
    return f"date_trunc('week', {day})"


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
    """The start of the bucket ``day`` falls in."""
    if granularity == "week":
        return week_start(day)
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_bucket(day: date, granularity: Granularity) -> date:
    """The start of the bucket after the one starting on ``day``."""
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
