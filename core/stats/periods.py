"""Sessions started per day, week or month by status, with medians, and the data's time span.

Buckets follow :mod:`core.calendar` (weeks begin on Monday, UTC); buckets with no sessions
are included as zeros so time axes have no silent gaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from core.calendar import Granularity, bucket_range, bucket_start, choose_granularity
from core.query.filter import SessionFilter
from core.query.rows import optional_float
from core.speed.capabilities import capabilities
from core.speed.expressions import timestamp_key
from core.speed.indexes import WEEK_INDEXES
from core.stats.rollup_plan import rollup_plan
from core.stats.rollup_reads import period_rollup
from core.stats.sources import completed_value, filtered, grouped, status_count_columns, streamed
from core.stats.sql import FACTS_INDEX, IndexedBy, bucket_expression
from core.stats.types import PeriodSeries, PeriodStats
from core.store.tables import STATUSES
from core.store.tables import optimization_sessions as S
from core.store.types import parse_timestamp


def created_span(connection: Connection, f: SessionFilter) -> tuple[datetime, datetime] | None:
    """Earliest and latest ``created_at`` (naive UTC) of the matches; None when there are none.

    Two scalar subqueries, not ``min(), max()`` in one SELECT: SQLite answers a lone min or
    max from an index in microseconds, but scans the table when both share a query.
    """
    caps = capabilities(connection)
    key = timestamp_key("created_at", caps)
    where = filtered(connection, f, caps)[1]
    first = select(func.min(key)).select_from(S).where(*where).scalar_subquery()
    last = select(func.max(key)).select_from(S).where(*where).scalar_subquery()
    row = connection.execute(select(first, last)).one()
    if row[0] is None:
        return None
    start, end = (parse_timestamp(v) for v in row)
    assert start is not None and end is not None
    return start.replace(tzinfo=None), end.replace(tzinfo=None)


def period_stats(
    connection: Connection, f: SessionFilter, *, granularity: Granularity | None = None
) -> PeriodSeries:
    """Sessions started per day/week/month by status, with medians of completed sessions.

    The granularity follows the length of the filter's date range (or of the data when the
    range is open): see :func:`core.stats.sql.choose_granularity`. Buckets with no sessions
    are included as zeros so time axes have no silent gaps.
    """
    caps = capabilities(connection)
    span = created_span(connection, f)
    if span is None:
        return PeriodSeries(granularity or "day", ())
    start, end = f.created_range()
    first = start if start is not None else span[0]
    last = end - timedelta(microseconds=1) if end is not None else span[1]  # inclusive
    granularity = granularity or choose_granularity(first, last)
    plan = rollup_plan(connection, f)
    if plan is not None:
        found = period_rollup(connection, plan, granularity, first.date(), last.date())
        return _period_series(granularity, first, last, found)
    sessions, where = filtered(connection, f, caps)
    if (
        granularity == "week"
        and isinstance(sessions, IndexedBy)
        and sessions.index == FACTS_INDEX
        and all(caps.has_index(name) for name in WEEK_INDEXES)
    ):
        rows = streamed(
            connection,
            caps,
            where,
            "created_week",
            "bucket",
            lambda week: (week,),
            WEEK_INDEXES,
            (0.5,),
            means=False,
        )
        return _period_series(granularity, first, last, {bucket_start(r["bucket"]): r for r in rows})
    base = (
        select(
            bucket_expression(granularity, caps).label("bucket"),
            S.c.status,
            completed_value("size_reduction", caps).label("size"),
            completed_value("speed_improvement", caps).label("speed"),
        )
        .select_from(sessions)
        .where(*where)
    )
    rows = grouped(
        connection, caps, base, ["bucket"], {"size": (0.5,), "speed": (0.5,)}, status_count_columns
    )
    return _period_series(granularity, first, last, {bucket_start(r["bucket"]): r for r in rows})


def _period_series(
    granularity: Granularity, first: datetime, last: datetime, found: Mapping[date, Mapping[str, Any]]
) -> PeriodSeries:
    periods = []
    for day in bucket_range(first.date(), last.date(), granularity):
        r = found.get(day)
        periods.append(
            PeriodStats(
                start=day,
                counts=tuple((s, int(r[s]) if r else 0) for s in STATUSES),
                median_size_reduction=optional_float(r.get("size_q50")) if r else None,
                median_speed_improvement=optional_float(r.get("speed_q50")) if r else None,
            )
        )
    return PeriodSeries(granularity, tuple(periods))
