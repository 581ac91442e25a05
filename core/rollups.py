"""Exact aggregates from the rollup tables init-db keeps by triggers (see core.schema).

``agg_counts`` (per technique, created day and status), ``agg_values`` (how many completed
sessions per metric value, technique and created week) and ``agg_models`` (per model and
status) answer the filters that only restrict status, whole UTC days of ``created_at`` and
(for some aggregates) one technique. Medians and quartiles are read off the value histogram
with ``percentile_cont``'s rule; days of a range that do not make a whole week of the
histogram (the edges) are counted from the sessions themselves. Any other filter (models,
free text, several techniques, a bound inside a day) takes the plain queries.

Called by :mod:`core.aggregates`, which decides per filter whether a rollup answers it
(:func:`rollup_plan`) or the plain queries run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    tuple_,
    union_all,
)
from sqlalchemy import values as values_list
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from core.aggregate_types import (
    MetricStats,
    ModelRank,
    ModelRanking,
    Summary,
    TechniqueStats,
)
from core.filters import SessionFilter
from core.query import M, S, filter_clauses
from core.schema import (
    AGG_COUNTS,
    AGG_MODELS,
    AGG_VALUES,
    Capabilities,
    capabilities,
    derived,
    timestamp_key,
)
from core.stats_sql import (
    FACTS_INDEX,
    Granularity,
    IndexedBy,
    floor_to_bucket,
    has_facts_index,
    technique_source,
)
from core.store import STATUSES

counts_table = table(AGG_COUNTS, column("technique"), column("day"), column("status"),
                     *(column(c) for c in ("sessions", "size_sum", "size_n", "speed_sum",
                                           "speed_n", "both_n", "saved_sum", "saved_n")))
values_table = table(AGG_VALUES, column("metric"), column("technique"), column("value"),
                     column("week"), column("n"))
_models_table = table(AGG_MODELS, column("model_id"), column("status"), column("sessions"),
                      column("best_size"), column("best_speed"), column("last"))
_METRIC_NAMES = {"size": "size_reduction", "speed": "speed_improvement"}


@dataclass(frozen=True)
class Plan:
    """A filter the rollups answer: statuses, whole days ``[start, end)`` and one scope."""

    scope: str  # '' for every session, else the one technique filtered on
    start: date | None
    end: date | None  # exclusive
    statuses: tuple[str, ...]

    @property
    def completed(self) -> bool:
        """Whether completed sessions (the only ones with metrics) are selected at all."""
        return not self.statuses or "completed" in self.statuses

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def _whole_day(value: datetime | None) -> date | bool | None:
    """The date of a midnight bound, None for no bound, False for a bound inside a day."""
    if value is None:
        return None
    if value.time() != datetime.min.time():
        return False
    return value.date()


def rollup_plan(connection: Connection, f: SessionFilter, *, techniques: int = 1) -> Plan | None:
    """How the rollups answer ``f``; None when they cannot (the plain query then does)."""
    if (f.model_ids or f.search or len(f.techniques) > techniques
            or not capabilities(connection).rollups):
        return None
    start, end = (_whole_day(v) for v in f.created_range())
    if start is False or end is False:
        return None
    assert not isinstance(start, bool) and not isinstance(end, bool)
    return Plan(f.techniques[0] if f.techniques else "", start, end, tuple(f.statuses))


def _day_clauses(day: ColumnElement[Any], start: date | None, end: date | None
                 ) -> list[ColumnElement[bool]]:
    clauses = []
    if start is not None or end is not None:
        clauses.append(day != "")
    if start is not None:
        clauses.append(day >= start.isoformat())
    if end is not None:
        clauses.append(day < end.isoformat())
    return clauses


def counts_where(plan: Plan, *, per_technique: bool = False) -> list[ColumnElement[bool]]:
    c = counts_table.c
    where = [c.technique != "" if per_technique else c.technique == plan.scope,
             *_day_clauses(c.day, plan.start, plan.end)]
    if plan.statuses:
        where.append(c.status.in_(plan.statuses))
    return where


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weeks_and_edges(start: date | None, end: date | None
                     ) -> tuple[date | None, date | None, list[tuple[date | None, date | None]]]:
    """Whole histogram weeks ``[first, stop)`` inside ``[start, end)`` and the edge day ranges.

    ``first``/``stop`` None mean unbounded. When no whole week fits, ``first`` is returned
    after ``stop`` and the whole range is an edge.
    """
    first = None if start is None else _monday(start + timedelta(days=6))
    stop = None if end is None else _monday(end)
    if first is not None and stop is not None and first >= stop:
        return first, stop, [(start, end)]
    edges: list[tuple[date | None, date | None]] = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if end is not None and stop is not None and stop < end:
        edges.append((stop, end))
    return first, stop, edges


def _day_key(caps: Capabilities) -> ColumnElement[Any]:
    if caps.dialect == "sqlite":
        return func.substr(timestamp_key("created_at", caps), 1, 10)
    return func.to_char(S.c.created_at, literal_column("'YYYY-MM-DD'"))


def _day_bound(day: date, caps: Capabilities) -> Any:
    if caps.dialect == "sqlite":
        return f"{day.isoformat()} 00:00:00.000"
    return datetime.combine(day, datetime.min.time())


def _values_by(order: str, caps: Capabilities) -> Any:
    """``agg_values`` read in (metric, technique, value) or (metric, technique, week) order.

    SQLite's planner sees the two as equally good and may pick the one that makes it sort.
    """
    if caps.dialect != "sqlite":
        return values_table
    index = f"sqlite_autoindex_{AGG_VALUES}_1" if order == "value" else "ix_agg_values_week"
    return IndexedBy(values_table, index)  # type: ignore[arg-type]


def _edge_key(caps: Capabilities, granularity: Granularity) -> ColumnElement[Any]:
    """The bucket (``YYYY-MM-DD`` text) a session's created day falls in."""
    if caps.dialect == "sqlite":
        key = timestamp_key("created_at", caps)
        if granularity == "day":
            return func.substr(key, 1, 10)
        if granularity == "week":
            return func.date(key, literal_column("'weekday 0'"), literal_column("'-6 days'"))
        return func.substr(key, 1, 7).concat(literal_column("'-01'"))
    return func.to_char(func.date_trunc(literal_column(f"'{granularity}'"), S.c.created_at),
                        literal_column("'YYYY-MM-DD'"))


def _quantiles(connection: Connection, caps: Capabilities, plan: Plan, metric: str,
               qs: tuple[float, ...], *, per_technique: bool = False,
               granularity: Granularity | None = None, span: tuple[date, date] | None = None
               ) -> dict[Any, dict[float, float | None]]:
    """Exact ``percentile_cont`` quantiles of ``metric`` over completed sessions, per key.

    The key is None (one group), the technique (``per_technique``) or the start of the
    ``granularity`` bucket (``span`` then bounds the days). Whole histogram weeks inside the
    range (and inside one bucket) are read from ``agg_values``; the other days (the edges, and
    weeks straddling two months) from the sessions. The value counts are merged and walked
    in SQL, and only the rows at the quantiles' positions come back.
    """
    if not plan.completed:
        return {}
    start, end = span if span is not None else (plan.start, plan.end)
    first, stop, edges = _weeks_and_edges(start, end)
    v = values_table.c
    skipped: list[str] = []
    if granularity in ("day", "month") and first is not None and stop is not None:
        week = first
        while week < stop:
            if granularity == "day" or week.month != (week + timedelta(days=6)).month:
                skipped.append(week.isoformat())
                edges.append((week, week + timedelta(days=7)))
            week += timedelta(days=7)
    if per_technique:
        hist_key: ColumnElement[Any] = v.technique
    elif granularity == "month":
        hist_key = func.substr(v.week, 1, 7).concat(literal_column("'-01'"))
    elif granularity is not None:
        hist_key = v.week
    else:
        hist_key = literal_column("''")
    parts = []
    if first is None or stop is None or first < stop:
        where = [v.metric == metric,
                 v.technique != "" if per_technique else v.technique == plan.scope]
        if start is not None or end is not None:
            where.append(v.week != "")
        if first is not None:
            where.append(v.week >= first.isoformat())
        if stop is not None:
            where.append(v.week < stop.isoformat())
        if skipped:
            where.append(v.week.not_in(skipped))
        if granularity is not None:
            edge_parts = _edge_parts(connection, caps, plan, metric, edges, per_technique,
                                     granularity)
            return _binned_quantiles(connection, caps, where, edge_parts, qs, granularity)
        hist = select(hist_key.label("k"), v.value.label("value"))
        if granularity is None:
            # Grouped in the table's order (metric, technique, value, week): nothing sorted.
            group = [v.technique, v.value] if per_technique else [v.value]
            hist = (hist.add_columns(func.sum(v.n).label("n")).select_from(_values_by("value", caps))
                    .where(*where).group_by(*group).having(func.sum(v.n) != 0))
        else:
            hist = hist.add_columns(v.n.label("n")).where(*where)
        parts.append(hist)
    parts += _edge_parts(connection, caps, plan, metric, edges, per_technique, granularity)
    if not parts:
        return {}
    if granularity is not None:  # no whole week in the range: every value from the sessions
        return _binned_quantiles(connection, caps, None, parts, qs, granularity)
    if len(parts) == 1:
        counted = parts[0].subquery("counted")
    else:
        merged = union_all(*parts).subquery("parts")
        counted = (select(merged.c.k, merged.c.value, func.sum(merged.c.n).label("n"))
                   .group_by(merged.c.k, merged.c.value).having(func.sum(merged.c.n) != 0)
                   .subquery("counted"))
    walked = select(
        counted.c.k, counted.c.value, counted.c.n,
        func.sum(counted.c.n).over(partition_by=counted.c.k, order_by=counted.c.value,
                                   rows=(None, 0)).label("cum"),
        func.sum(counted.c.n).over(partition_by=counted.c.k).label("total"),
    ).subquery("walked")
    picks = []
    for q in qs:
        position = literal_column(repr(float(q)), Float) * (walked.c.total - 1)
        low_index = (cast(position, Integer) if caps.dialect == "sqlite" else func.floor(position))
        picks.append(and_(walked.c.cum - walked.c.n <= low_index + 1, walked.c.cum > low_index))
    statement = (select(walked.c.k, walked.c.value, walked.c.n, walked.c.cum, walked.c.total)
                 .where(or_(*picks)))
    found: dict[Any, list[tuple[float, int, int, int]]] = {}
    for k, found_value, n, cum, total in connection.execute(statement):
        found.setdefault(k, []).append((float(found_value), int(cum) - int(n), int(cum), int(total)))
    out: dict[Any, dict[float, float | None]] = {}
    for k, rows in found.items():
        key_out = k if per_technique else (
            date.fromisoformat(str(k)[:10]) if granularity is not None else None)
        out[key_out] = {q: _pick(rows, q) for q in qs}
    return out


def _edge_parts(connection: Connection, caps: Capabilities, plan: Plan, metric: str,
                edges: list[tuple[date | None, date | None]], per_technique: bool,
                granularity: Granularity | None) -> list[Select[Any]]:
    """(key, value, sessions) of the completed sessions created on the ``edges`` days."""
    value = derived(_METRIC_NAMES[metric], caps)
    created = timestamp_key("created_at", caps)
    scope = SessionFilter(techniques=(plan.scope,) if plan.scope else ())
    parts = []
    for low, high in edges:  # one range a statement: an OR of ranges would scan the index
        where = [S.c.status == "completed", value.is_not(None), created.is_not(None),
                 *filter_clauses(scope, caps)]
        if low is not None:
            where.append(created >= _day_bound(low, caps))
        if high is not None:
            where.append(created < _day_bound(high, caps))
        if per_technique:
            source, key = technique_source(caps, S)
        else:
            source = IndexedBy(S, FACTS_INDEX) if has_facts_index(connection) else S
            key = _edge_key(caps, granularity) if granularity else literal_column("''")
        # PostgreSQL refuses a constant in GROUP BY.
        group = [key, value] if per_technique or granularity else [value]
        parts.append(select(key.label("k"), value.label("value"), func.count().label("n"))
                     .select_from(source).where(*where).group_by(*group))
    return parts


def _bin_expression(caps: Capabilities, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A monotone integer bin of a value: truncation on SQLite (no floor there), floor else."""
    return cast(value, Integer) if caps.dialect == "sqlite" else func.floor(value)


def _bin_of(caps: Capabilities, value: float) -> int:
    return int(value) if caps.dialect == "sqlite" else math.floor(value)


def _binned_quantiles(connection: Connection, caps: Capabilities,
                      hist_where: list[ColumnElement[bool]] | None, edge_parts: list[Select[Any]],
                      qs: tuple[float, ...], granularity: Granularity
                      ) -> dict[Any, dict[float, float | None]]:
    """Quantiles per bucket: counts per value bin first, then only the values of the bins
    holding the quantiles' positions.

    A week has about as many distinct values as completed sessions: reading every (week,
    value) count of two years is the bulk of the work. Binned in SQL they are a few per week;
    the exact values are then read for one or two bins a bucket.
    """
    v = values_table.c
    bins: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    weeks: dict[date, set[str]] = defaultdict(set)
    edge_values: dict[date, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if hist_where is not None:
        b = _bin_expression(caps, v.value)
        statement = (select(v.week, b, func.sum(v.n)).select_from(_values_by("week", caps))
                     .where(*hist_where).group_by(v.week, b))
        for week, found_bin, n in connection.execute(statement).fetchall():
            bucket = floor_to_bucket(date.fromisoformat(week), granularity)
            bins[bucket][int(found_bin)] += int(n)
            weeks[bucket].add(week)
    for part in edge_parts:
        for k, found_value, n in connection.execute(part).fetchall():
            bucket = date.fromisoformat(str(k)[:10])
            found_value = float(found_value)
            edge_values[bucket][found_value] += int(n)
            bins[bucket][_bin_of(caps, found_value)] += int(n)
    # Which bin holds each needed position, and how many values come before that bin.
    targets: dict[tuple[date, int], int] = {}
    needs: dict[date, list[tuple[float, int, float]]] = {}
    for bucket, counts in bins.items():
        total = sum(counts.values())
        if total <= 0:
            continue
        positions = set()
        needs[bucket] = []
        for q in qs:
            position = q * (total - 1)
            low = int(position)
            needs[bucket].append((q, low, position - low))
            positions.add(low)
            if position - low > 0:
                positions.add(low + 1)
        seen = 0
        for found_bin in sorted(counts):
            if any(seen <= p < seen + counts[found_bin] for p in positions):
                targets[(bucket, found_bin)] = seen
            seen += counts[found_bin]
    values: dict[tuple[date, int], dict[float, int]] = defaultdict(lambda: defaultdict(int))
    wanted = sorted((week, found_bin) for bucket, found_bin in targets
                    for week in weeks.get(bucket, ()))
    if hist_where is not None and wanted:
        # One membership test a row (an OR of a term per bin would test every term).
        if caps.dialect == "sqlite":
            statement = (select(v.week, v.value, v.n).select_from(_values_by("week", caps))
                         .where(*hist_where,
                                tuple_(v.week, _bin_expression(caps, v.value)).in_(wanted)))
        else:  # a row IN list is an OR there too: join a VALUES list instead (hashed)
            bins_wanted = values_list(column("week", Text), column("bin", Float),
                                 name="bins_wanted").data(wanted)
            statement = (select(v.week, v.value, v.n)
                         .select_from(values_table.join(bins_wanted, and_(
                             v.week == bins_wanted.c.week,
                             _bin_expression(caps, v.value) == bins_wanted.c.bin)))
                         .where(*hist_where))
        for week, found_value, n in connection.execute(statement).fetchall():
            bucket = floor_to_bucket(date.fromisoformat(week), granularity)
            key = (bucket, _bin_of(caps, float(found_value)))
            if key in targets:
                values[key][float(found_value)] += int(n)
    for (bucket, found_bin) in targets:
        for found_value, n in edge_values.get(bucket, {}).items():
            if _bin_of(caps, found_value) == found_bin:
                values[(bucket, found_bin)][found_value] += n

    per_bucket: dict[date, list[tuple[int, int]]] = defaultdict(list)
    for (bucket, found_bin), before in targets.items():
        per_bucket[bucket].append((found_bin, before))

    def at(bucket: date, position: int) -> float:
        for found_bin, before in per_bucket[bucket]:
            inside = position - before
            if 0 <= inside < bins[bucket][found_bin]:
                for found_value, n in sorted(values[(bucket, found_bin)].items()):
                    if inside < n:
                        return found_value
                    inside -= n
        raise AssertionError("a quantile position outside its bucket")

    out: dict[Any, dict[float, float | None]] = {}
    for bucket, wanted_positions in needs.items():
        found: dict[float, float | None] = {}
        for q, low, fraction in wanted_positions:
            low_value = at(bucket, low)
            found[q] = (low_value + (at(bucket, low + 1) - low_value) * fraction
                        if fraction > 0 else low_value)
        out[bucket] = found
    return out


def _pick(rows: list[tuple[float, int, int, int]], q: float) -> float | None:
    """``percentile_cont(q)`` from (value, values before it, through it, all) around its spot."""
    total = rows[0][3]
    position = q * (total - 1)
    low = int(position)
    fraction = position - low

    def at(index: int) -> float:
        return next(value for value, before, through, _ in rows if before <= index < through)

    low_value = at(low)
    if fraction > 0:
        return low_value + (at(low + 1) - low_value) * fraction
    return low_value


def summary_rollup(connection: Connection, plan: Plan) -> Summary:
    caps = capabilities(connection)
    c = counts_table.c
    statement = (select(c.status, func.sum(c.sessions), func.sum(c.saved_sum), func.sum(c.saved_n))
                 .where(*counts_where(plan)).group_by(c.status))
    counts = dict.fromkeys(STATUSES, 0)
    saved, saved_n = 0.0, 0
    for status, sessions, saved_sum, n in connection.execute(statement):
        if status in counts:
            counts[status] += int(sessions)
        if n:
            saved += float(saved_sum)
            saved_n += int(n)
    medians = {metric: _quantiles(connection, caps, plan, metric, (0.5,)).get(None, {}).get(0.5)
               for metric in ("size", "speed")}
    return Summary(sessions=sum(counts.values()), **counts,
                   median_size_reduction=medians["size"],
                   median_speed_improvement=medians["speed"],
                   mb_saved=saved if saved_n else None, mb_saved_sessions=saved_n)


def period_rollup(connection: Connection, plan: Plan, granularity: Granularity,
                   first: date, last: date) -> dict[date, dict[str, Any]]:
    """Per bucket start: counts by status and median size and speed (buckets with sessions)."""
    caps = capabilities(connection)
    end = last + timedelta(days=1)
    buckets: dict[date, dict[str, Any]] = {}

    def bucket(day: date) -> date:
        return floor_to_bucket(day, granularity)

    c = counts_table.c
    where = [c.technique == plan.scope, *_day_clauses(c.day, first, end)]
    if plan.statuses:
        where.append(c.status.in_(plan.statuses))
    statement = (select(c.day, c.status, c.sessions).where(*where)
                 .where(c.sessions != 0))
    for day, status, sessions in connection.execute(statement):
        row = buckets.setdefault(bucket(date.fromisoformat(day)), dict.fromkeys(STATUSES, 0))
        if status in row:
            row[status] += int(sessions)
    for metric in ("size", "speed"):
        found = _quantiles(connection, caps, plan, metric, (0.5,), granularity=granularity,
                           span=(first, end))
        for key, values in found.items():
            row = buckets.setdefault(key, dict.fromkeys(STATUSES, 0))
            row[f"{metric}_q50"] = values[0.5]
    return buckets


def techniques_rollup(connection: Connection, plan: Plan) -> tuple[TechniqueStats, ...]:
    caps = capabilities(connection)
    c = counts_table.c
    statement = (select(c.technique, c.status, func.sum(c.sessions), func.sum(c.size_sum),
                        func.sum(c.size_n), func.sum(c.speed_sum), func.sum(c.speed_n))
                 .where(*counts_where(plan, per_technique=True))
                 .group_by(c.technique, c.status))
    rows: dict[str, dict[str, Any]] = {}
    for technique, status, sessions, size_sum, size_n, speed_sum, speed_n in \
            connection.execute(statement):
        row = rows.setdefault(technique, {**dict.fromkeys(STATUSES, 0), "size": [0.0, 0],
                                          "speed": [0.0, 0]})
        if status in STATUSES:
            row[status] += int(sessions)
        for metric, total, n in (("size", size_sum, size_n), ("speed", speed_sum, speed_n)):
            if n:
                row[metric][0] += float(total)
                row[metric][1] += int(n)
    quartiles = (0.25, 0.5, 0.75)
    values = {metric: _quantiles(connection, caps, plan, metric, quartiles, per_technique=True)
              for metric in ("size", "speed")}

    def stats(technique: str, metric: str) -> MetricStats:
        total, n = rows[technique][metric]
        found = values[metric].get(technique, {})
        p25, p50, p75 = (found.get(q) for q in quartiles)
        return MetricStats(mean=total / n if n else None, p25=p25, median=p50, p75=p75)

    out = [
        TechniqueStats(
            technique=str(technique), sessions=sum(r[s] for s in STATUSES),
            completed=r["completed"], failed=r["failed"], cancelled=r["cancelled"],
            size_reduction=stats(technique, "size"), speed_improvement=stats(technique, "speed"))
        for technique, r in rows.items() if sum(r[s] for s in STATUSES) > 0
    ]
    return tuple(sorted(out, key=lambda t: (-t.sessions, t.technique)))


def models_rollup(connection: Connection, f: SessionFilter, limit: int) -> ModelRanking:
    a = _models_table.c
    where = []
    if f.statuses:
        where.append(a.status.in_(f.statuses))
    if f.model_ids:
        where.append(a.model_id.in_(f.model_ids))
    grouped = (
        select(a.model_id, func.sum(a.sessions).label("sessions"),
               func.sum(case((a.status == "completed", a.sessions), else_=0)).label("completed"),
               func.max(a.best_size).label("best_size"), func.max(a.best_speed).label("best_speed"),
               func.max(a.last).label("last"))
        .where(*where).group_by(a.model_id).having(func.sum(a.sessions) > 0)
        .subquery("per_model")
    )
    total = int(connection.execute(select(func.count()).select_from(grouped)).scalar_one())
    statement = (
        select(grouped, M.c.name, M.c.model_id.is_not(None).label("known"))
        .select_from(grouped.outerjoin(M, M.c.model_id == grouped.c.model_id))
        .order_by(grouped.c.best_size.desc().nulls_last(),
                  grouped.c.best_speed.desc().nulls_last(), grouped.c.model_id)
        .limit(limit))
    rows = tuple(map(ModelRank.from_row, connection.execute(statement).mappings()))
    return ModelRanking(rows, total)
