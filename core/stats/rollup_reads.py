"""The aggregates answered from the rollup tables: summary, periods, techniques and models.

The same numbers as the plain queries for the filters a :class:`~core.stats.rollup_plan.Plan`
covers, from a handful of pre-aggregated rows instead of a scan of the sessions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from core.calendar import Granularity, floor_to_bucket, week_start
from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.capabilities import capabilities
from core.stats.rollup_plan import Plan, counts_where
from core.stats.rollup_quantiles import rollup_quantiles
from core.stats.types import MetricStats, ModelRank, ModelRanking, Summary, TechniqueStats
from core.store.tables import STATUSES
from core.store.tables import models as M


def summary_rollup(connection: Connection, plan: Plan) -> Summary:
    """:func:`core.stats.summary.summary` from the per-day counts and the value histograms."""
    caps = capabilities(connection)
    c = copy.agg_counts.c
    statement = (
        select(c.status, func.sum(c.sessions), func.sum(c.saved_sum), func.sum(c.saved_n))
        .where(*counts_where(plan))
        .group_by(c.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    saved, saved_n = 0.0, 0
    for status, sessions, saved_sum, n in connection.execute(statement):
        if status in counts:
            counts[status] += int(sessions)
        if n:
            saved += float(saved_sum)
            saved_n += int(n)
    medians = {
        metric: rollup_quantiles(connection, caps, plan, metric, (0.5,)).get(None, {}).get(0.5)
        for metric in ("size", "speed")
    }
    return Summary(
        sessions=sum(counts.values()),
        **counts,
        median_size_reduction=medians["size"],
        median_speed_improvement=medians["speed"],
        mb_saved=saved if saved_n else None,
        mb_saved_sessions=saved_n,
    )


def period_rollup(
    connection: Connection, plan: Plan, granularity: Granularity, first: date, last: date
) -> dict[date, dict[str, Any]]:
    """Per bucket start: counts by status and median size and speed (buckets with sessions)."""
    caps = capabilities(connection)
    end = last + timedelta(days=1)
    buckets: dict[date, dict[str, Any]] = {}

    def bucket(day: date) -> date:
        return floor_to_bucket(day, granularity)

    c = copy.agg_counts.c
    where = counts_where(replace(plan, start=first, end=end))
    statement = select(c.day, c.status, c.sessions).where(*where).where(c.sessions != 0)
    for day, status, sessions in connection.execute(statement):
        row = buckets.setdefault(bucket(date.fromisoformat(day)), dict.fromkeys(STATUSES, 0))
        if status in row:
            row[status] += int(sessions)
    # An open end of the filter means ``first``/``last`` are the data's own: no completed
    # session in scope lies beyond them, so the quantiles may read the whole week around
    # each (from the histogram) instead of counting its days from the sessions.
    span = (
        week_start(first) if plan.start is None else first,
        week_start(end + timedelta(days=6)) if plan.end is None else end,
    )
    for metric in ("size", "speed"):
        found = rollup_quantiles(connection, caps, plan, metric, (0.5,), granularity=granularity, span=span)
        for key, values in found.items():
            row = buckets.setdefault(key, dict.fromkeys(STATUSES, 0))
            row[f"{metric}_q50"] = values[0.5]
    return buckets


def techniques_rollup(connection: Connection, plan: Plan) -> tuple[TechniqueStats, ...]:
    """:func:`core.stats.techniques.technique_stats` from the per-technique counts, sums and
    histograms (means are the sums over the counts)."""
    caps = capabilities(connection)
    c = copy.agg_counts.c
    statement = (
        select(
            c.technique,
            c.status,
            func.sum(c.sessions),
            func.sum(c.size_sum),
            func.sum(c.size_n),
            func.sum(c.speed_sum),
            func.sum(c.speed_n),
        )
        .where(*counts_where(plan, per_technique=True))
        .group_by(c.technique, c.status)
    )
    rows: dict[str, dict[str, Any]] = {}
    for technique, status, sessions, size_sum, size_n, speed_sum, speed_n in connection.execute(statement):
        row = rows.setdefault(technique, {**dict.fromkeys(STATUSES, 0), "size": [0.0, 0], "speed": [0.0, 0]})
        if status in STATUSES:
            row[status] += int(sessions)
        for metric, total, n in (("size", size_sum, size_n), ("speed", speed_sum, speed_n)):
            if n:
                row[metric][0] += float(total)
                row[metric][1] += int(n)
    quartiles = (0.25, 0.5, 0.75)
    values = {
        metric: rollup_quantiles(
            connection, caps, plan, metric, quartiles, per_technique=True, techniques=sorted(rows)
        )
        for metric in ("size", "speed")
    }

    def stats(technique: str, metric: str) -> MetricStats:
        total, n = rows[technique][metric]
        found = values[metric].get(technique, {})
        p25, p50, p75 = (found.get(q) for q in quartiles)
        return MetricStats(mean=total / n if n else None, p25=p25, median=p50, p75=p75)

    out = [
        TechniqueStats(
            technique=str(technique),
            sessions=sum(r[s] for s in STATUSES),
            completed=r["completed"],
            failed=r["failed"],
            cancelled=r["cancelled"],
            size_reduction=stats(technique, "size"),
            speed_improvement=stats(technique, "speed"),
        )
        for technique, r in rows.items()
        if sum(r[s] for s in STATUSES) > 0
    ]
    return tuple(sorted(out, key=lambda t: (-t.sessions, t.technique)))


def models_rollup(connection: Connection, f: SessionFilter, limit: int) -> ModelRanking:
    """:func:`core.stats.models.model_ranking` from the per-model, per-status rows."""
    a = copy.agg_models.c
    where = []
    if f.statuses:
        where.append(a.status.in_(f.statuses))
    if f.model_ids:
        where.append(a.model_id.in_(f.model_ids))
    grouped = (
        select(
            a.model_id,
            func.sum(a.sessions).label("sessions"),
            func.sum(case((a.status == "completed", a.sessions), else_=0)).label("completed"),
            func.max(a.best_size).label("best_size"),
            func.max(a.best_speed).label("best_speed"),
            func.max(a.last).label("last"),
        )
        .where(*where)
        .group_by(a.model_id)
        .having(func.sum(a.sessions) > 0)
        .subquery("per_model")
    )
    total = int(connection.execute(select(func.count()).select_from(grouped)).scalar_one())
    statement = (
        select(grouped, M.c.name, M.c.model_id.is_not(None).label("known"))
        .select_from(grouped.outerjoin(M, M.c.model_id == grouped.c.model_id))
        .order_by(
            grouped.c.best_size.desc().nulls_last(),
            grouped.c.best_speed.desc().nulls_last(),
            grouped.c.model_id,
        )
        .limit(limit)
    )
    rows = tuple(map(ModelRank.from_row, connection.execute(statement).mappings()))
    return ModelRanking(rows, total)
