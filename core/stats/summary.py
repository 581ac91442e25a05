"""The headline numbers: sessions by status, success rate, medians, megabytes saved.

Definitions:

* success rate = completed / (completed + failed + cancelled): running and pending sessions
  have not finished, so they count neither way;
* megabytes saved = model ``original_size_mb`` x size reduction / 100, summed over completed
  sessions where both are known; size reduction and speed improvement only count for
  completed sessions (a failed run's partial numbers are not a result).

Filters that restrict only status, whole days and one technique are answered from the rollup
tables (:mod:`core.stats.rollup_reads`), the same numbers without a full scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import AliasedReturnsRows, Select

from core.query.filter import SessionFilter
from core.query.rows import optional_float
from core.speed import tables as copy
from core.speed.capabilities import Capabilities, capabilities
from core.speed.expressions import derived
from core.speed.indexes import STATUS_METRIC_INDEXES
from core.stats.rollup_plan import counts_where, rollup_plan
from core.stats.rollup_reads import summary_rollup
from core.stats.sources import completed_value, filtered, grouped, status_count_columns
from core.stats.sql import MODEL_FACTS_INDEX, IndexedBy, has_index, walked_quantile
from core.stats.types import StatusCount, Summary, SummaryChange
from core.store.tables import STATUSES
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S


def _summary_from(row: Mapping[str, Any] | None) -> Summary:
    if row is None:
        return Summary(0, 0, 0, 0, 0, 0, None, None, None, 0)
    counts = {s: int(row[s] or 0) for s in STATUSES}
    return Summary(
        sessions=sum(counts.values()),
        **counts,
        median_size_reduction=optional_float(row["size_q50"]),
        median_speed_improvement=optional_float(row["speed_q50"]),
        mb_saved=optional_float(row["saved"]),
        mb_saved_sessions=int(row["saved_n"] or 0),
    )


def _summary_base(where: list[ColumnElement[bool]], caps: Capabilities, sessions: Any) -> Select[Any]:
    size = derived("size_reduction", caps)
    saved = case((S.c.status == "completed", M.c.original_size_mb * size / 100.0))
    return (
        select(
            S.c.status,
            completed_value("size_reduction", caps).label("size"),
            completed_value("speed_improvement", caps).label("speed"),
            saved.label("saved"),
        )
        .select_from(sessions.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*where)
    )


def _summary_extras(source: AliasedReturnsRows) -> list[ColumnElement[Any]]:
    return [
        *status_count_columns(source),
        func.sum(source.c.saved).label("saved"),
        func.count(source.c.saved).label("saved_n"),
    ]


def summary(connection: Connection, f: SessionFilter) -> Summary:
    """Sessions by status, success rate, medians of completed sessions, MB saved, running now."""
    plan = rollup_plan(connection, f)
    if plan is not None:
        return summary_rollup(connection, plan)
    caps = capabilities(connection)
    sessions, where = filtered(connection, f, caps)
    base = _summary_base(where, caps, sessions)
    # Walking the (status, metric) index in value order only pays when nothing but the status
    # filters it: a date range or a technique would be checked row by row against the table,
    # slower than the grouped scan.
    walkable = f.status_only and all(
        has_index(connection, STATUS_METRIC_INDEXES[m]) for m in ("size", "speed")
    )
    # A set of models read through its own index: its sessions' completed values are few
    # enough to pick each median with a bounded sort (LIMIT 2 OFFSET k) rather than rank them
    # all with window functions.
    models_set = isinstance(sessions, IndexedBy) and sessions.index == MODEL_FACTS_INDEX
    if caps.dialect != "sqlite" or not (walkable or models_set):
        rows = grouped(connection, caps, base, [], {"size": (0.5,), "speed": (0.5,)}, _summary_extras)
        return _summary_from(rows[0] if rows else None)
    # SQLite, status filter only (or a set of models): count first, then read each median at
    # its position in the (status, metric) index (or the models' values) instead of ranking
    # every completed session.
    source = base.subquery("base")
    row = dict(
        connection.execute(
            select(
                *_summary_extras(source),
                func.count(source.c.size).label("size_n"),
                func.count(source.c.speed).label("speed_n"),
            )
        )
        .mappings()
        .one()
    )
    for metric, name in (("size", "size_reduction"), ("speed", "speed_improvement")):
        value = derived(name, caps)
        completed = [*where, S.c.status == "completed", value.is_not(None)]
        walk = IndexedBy(S, f"ix_sessions_status_{metric}") if walkable else sessions
        row[f"{metric}_q50"] = walked_quantile(
            connection, value, walk, completed, int(row[f"{metric}_n"]), 0.5
        )
    return _summary_from(row)


def summary_change(connection: Connection, f: SessionFilter, *, now: datetime | None = None) -> SummaryChange:
    """The summary of ``f`` and of the same-length period just before it.

    Without a start date there is no "previous period" (``previous`` is None). Without an end
    date the current period runs to ``now`` (naive UTC; defaults to the current time). Two
    plain summaries over disjoint ranges: grouping one scan by period cost SQLite an extra
    sort of every row, slower than the second scan.
    """
    start, end = f.created_range()
    current = summary(connection, f)
    if start is None:
        return SummaryChange(current, None, None, None)
    if end is None:
        end = (now or datetime.now(UTC)).replace(tzinfo=None)
        if not isinstance(f.start_date, datetime):
            # A start given as a date counts whole days (as the filter does): the current period
            # runs to the end of today, so "the last 90 days" compares with 90 whole days before,
            # whatever the time of day.
            end = datetime.combine(end.date() + timedelta(days=1), datetime.min.time())
    previous_start = start - (end - start)
    # An explicit end instant is inclusive: one microsecond before the current start.
    before = replace(f, start_date=previous_start, end_date=start - timedelta(microseconds=1))
    return SummaryChange(
        current=current,
        previous=summary(connection, before),
        previous_start=previous_start,
        previous_end=start,
    )


def status_counts(connection: Connection, f: SessionFilter) -> tuple[StatusCount, ...]:
    """Sessions per status (every status, zeros included), in :data:`STATUSES` order.

    With nothing but a status filter, read from the per-status counts init-db keeps (a
    handful of rows) instead of counting every index entry.
    """
    caps = capabilities(connection)
    plan = None if caps.status_counts and f.status_only else rollup_plan(connection, f)
    if plan is not None:
        c = copy.agg_counts.c
        rows = connection.execute(
            select(c.status, func.sum(c.sessions)).where(*counts_where(plan)).group_by(c.status)
        )
        found = {status: int(n) for status, n in rows}
        return tuple(StatusCount(s, found.get(s, 0)) for s in STATUSES)
    if caps.status_counts and f.status_only:
        # PostgreSQL keeps each status in several slots (one per writer backend): sum them.
        statement = select(copy.session_counts.c.status, func.sum(copy.session_counts.c.sessions)).group_by(
            copy.session_counts.c.status
        )
        if f.statuses:
            statement = statement.where(copy.session_counts.c.status.in_(f.statuses))
    else:
        statement = (
            select(S.c.status, func.count())
            .select_from(S)
            .where(*filtered(connection, f, caps)[1])
            .group_by(S.c.status)
        )
    found = {status: int(n) for status, n in connection.execute(statement)}
    return tuple(StatusCount(s, found.get(s, 0)) for s in STATUSES)
