"""Aggregates for the metric cards and charts, computed entirely in SQL (SQLAlchemy Core).

Every function takes a connection and a :class:`~core.query.filter.SessionFilter` and returns small
frozen dataclasses, so results are cheap to cache (:mod:`core.stats.cache`) and safe to share.
All of them filter through :func:`core.query.sessions.filter_clauses`, the table's own WHERE clauses, so
a chart always covers exactly the rows the Sessions table and the CLI list for the same filter
(sort and paging are ignored). Medians and quartiles are exact on both backends
(:mod:`core.stats.sql`). Filters that restrict only status, whole days and one technique are
answered from the rollup tables init-db keeps by triggers (:mod:`core.stats.rollups`), the same
numbers without a full scan. Size reduction and speed improvement are only counted for completed
sessions: a failed run's partial numbers are not a result.

Definitions used throughout:

* success rate = completed / (completed + failed + cancelled): running and pending sessions
  have not finished, so they count neither way;
* megabytes saved = model ``original_size_mb`` x size reduction / 100, summed over completed
  sessions where both are known;
* the Pareto front = completed sessions that no other completed session beats on both size
  reduction and speed improvement (at least as good on both, better on one).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery

from core.calendar import Granularity, bucket_range, bucket_start, choose_granularity
from core.query.filter import SessionFilter
from core.query.sessions import M, S, filter_clauses, optional_float, trigram_matches
from core.speed import tables as copy
from core.speed.derived import (
    ALL_WEEKS,
    FRONT_INDEX,
    POINTS_INDEX,
    STATUS_METRIC_INDEXES,
    TECHNIQUE_SET_INDEXES,
    WEEK_INDEXES,
    Capabilities,
    capabilities,
    derived,
    timestamp_key,
)
from core.stats.rollups import (
    Plan,
    counts_where,
    models_rollup,
    period_rollup,
    rollup_plan,
    summary_rollup,
    techniques_rollup,
)
from core.stats.sql import (
    FACTS_INDEX,
    MODEL_FACTS_INDEX,
    IndexedBy,
    bucket_expression,
    has_facts_index,
    has_index,
    quantile,
    technique_source,
    walked_quantile,
)
from core.stats.types import (
    MetricStats,
    ModelRank,
    ModelRanking,
    PeriodSeries,
    PeriodStats,
    Scatter,
    SessionPoint,
    StatusCount,
    Summary,
    SummaryChange,
    TechniqueStats,
)
from core.store.tables import STATUSES
from core.store.types import parse_techniques, parse_timestamp

# Points drawn at most. Plotly draws a point as an SVG node: measured in headless Chromium,
# 3,000 points take 1.1 s of the browser's main thread, 2,000 take 0.45 s; the sample's shape
# is the same.
SCATTER_LIMIT = 2000
FINISHED = ("completed", "failed", "cancelled")


# -- shared pieces --------------------------------------------------------------------------


def aggregate_filter(f: SessionFilter) -> SessionFilter:
    """``f`` without sort and paging: what every aggregate depends on (the cache key)."""
    return replace(
        SessionFilter(),
        statuses=f.statuses,
        model_ids=f.model_ids,
        start_date=f.start_date,
        end_date=f.end_date,
        search=f.search,
        techniques=f.techniques,
    )


def _scanned(
    connection: Connection, f: SessionFilter, *, few: bool = False, models_only: bool = False
) -> Any:
    """The sessions table as a full-scan aggregate should read it.

    On SQLite with the facts index, through that index (no JSON parsed per row; it holds the
    ids a search tests too). A filter that keeps a set of models (named, or a search that
    matched model names and no session id: ``models_only``) reads the model-first copy of it
    instead, only those models' entries: at 1,000,000 sessions, 67,468 sessions of 'whisper'
    models in 0.03 s where the table's rows took 1.0 s and the whole facts index 0.46 s.
    ``few`` (a search the trigram index resolved to a short list of ids) selects few rows,
    which the planner finds faster through its own indexes.
    """
    if (f.model_ids or models_only) and has_index(connection, MODEL_FACTS_INDEX):
        return IndexedBy(S, MODEL_FACTS_INDEX)
    if f.model_ids or few or not has_facts_index(connection):
        return S
    return IndexedBy(S, FACTS_INDEX)


def _filtered(
    connection: Connection, f: SessionFilter, caps: Capabilities
) -> tuple[Any, list[ColumnElement[bool]]]:
    """The sessions table as a scan should read it, and the table's WHERE clauses for ``f``.

    The search's trigram MATCH runs once (SQLite): a fragment most sessions contain
    ("opt-2025") becomes a scan of the facts index instead of an IN list of hundreds of
    thousands of ids read row by row (5-55 s per aggregate at 1,000,000 sessions).
    """
    matched = trigram_matches(connection, f)
    few = matched is not None and matched.ids is not None
    models_only = few and not matched.ids and bool(matched.models)  # type: ignore[union-attr]
    return (
        _scanned(connection, f, few=few, models_only=models_only),
        filter_clauses(f, caps, matched=matched),
    )


def _completed_value(name: str, caps: Capabilities) -> ColumnElement[Any]:
    return case((S.c.status == "completed", derived(name, caps)))


def _status_counts(source: Subquery) -> list[ColumnElement[Any]]:
    return [func.count(case((source.c.status == s, 1))).label(s) for s in STATUSES]


def _quantile_name(metric: str, q: float) -> str:
    return f"{metric}_q{round(q * 100)}"


def _grouped(
    connection: Connection,
    caps: Capabilities,
    base: Select[Any],
    keys: list[str],
    metrics: dict[str, tuple[float, ...]],
    extras: Callable[[Subquery], list[ColumnElement[Any]]],
) -> list[dict[str, Any]]:
    """Group ``base`` by ``keys``: ``extras`` aggregates plus exact quantiles of ``metrics``.

    Quantile columns are named ``<metric>_q<percent>`` (``size_q50``). PostgreSQL does it all
    in one statement. SQLite has no ``percentile_cont``: the database returns each metric's
    histogram per group (every distinct value with its count, a few thousand rows) and the
    quantiles are read off it with ``percentile_cont``'s rule, as :mod:`core.stats.rollups` reads
    the stored histograms. Ranking every value with window functions instead cost 3-4 times
    more (at 1,000,000 sessions, per technique of the 'whisper' models: 1.9 s). The base rows
    are read once (a materialized CTE) and the parts come back as one UNION ALL.
    """
    if caps.dialect != "sqlite":
        source = base.subquery("base")
        group = [source.c[k] for k in keys]
        columns = [*group, *extras(source)]
        for metric, quantiles in metrics.items():
            columns += [quantile(source, metric, q, caps).label(_quantile_name(metric, q)) for q in quantiles]
        statement = select(*columns).group_by(*group) if keys else select(*columns)
        return [dict(r) for r in connection.execute(statement).mappings()]
    shared = base.cte("base").prefix_with("MATERIALIZED")
    group = [shared.c[k] for k in keys]
    plain = extras(shared)
    names = [c.name for c in plain] + ["hist_value", "hist_n"]

    def arm(part: int, filled: dict[str, ColumnElement[Any]], by: list[ColumnElement[Any]]) -> Select[Any]:
        statement = select(
            literal(part).label("part"), *group, *(filled.get(n, null()).label(n) for n in names)
        )
        return statement.group_by(*group, *by) if group or by else statement

    measured = list(metrics)
    arms = [arm(0, {c.name: c for c in plain}, [])]
    for part, metric in enumerate(measured, start=1):
        value = shared.c[metric]
        arms.append(
            arm(part, {"hist_value": value, "hist_n": func.count()}, [value]).where(value.is_not(None))
        )
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    histograms: dict[tuple[tuple[Any, ...], str], list[tuple[Any, int]]] = {}
    for r in connection.execute(union_all(*arms)).mappings():
        key = tuple(r[k] for k in keys)
        if r["part"] == 0:
            rows[key] = {k: r[k] for k in keys} | {c.name: r[c.name] for c in plain}
        else:
            histograms.setdefault((key, measured[r["part"] - 1]), []).append(
                (r["hist_value"], int(r["hist_n"]))
            )
    for key, row in rows.items():
        for metric, quantiles in metrics.items():
            histogram = sorted(histograms.get((key, metric), ()))
            for q in quantiles:
                row[_quantile_name(metric, q)] = histogram_quantile(histogram, q)
    return list(rows.values())


def histogram_quantile(histogram: list[tuple[Any, int]], q: float) -> Any:
    """The exact ``q`` quantile (``percentile_cont``'s rule, in the same float arithmetic as
    :func:`core.stats.sql.quantile`) of the values ``histogram`` counts, sorted by value."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    position = q * (total - 1)
    low = int(position)
    fraction = position - low

    def at(rank: int) -> Any:
        for value, n in histogram:
            if rank < n:
                return value
            rank -= n
        raise AssertionError("a quantile position outside its histogram")

    low_value = at(low)
    return low_value + (at(low + 1) - low_value) * fraction if fraction > 0 else low_value


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
            _completed_value("size_reduction", caps).label("size"),
            _completed_value("speed_improvement", caps).label("speed"),
            saved.label("saved"),
        )
        .select_from(sessions.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*where)
    )


def _summary_extras(source: Subquery) -> list[ColumnElement[Any]]:
    return [
        *_status_counts(source),
        func.sum(source.c.saved).label("saved"),
        func.count(source.c.saved).label("saved_n"),
    ]


# -- summary ----------------------------------------------------------------------------------


def summary(connection: Connection, f: SessionFilter) -> Summary:
    """Sessions by status, success rate, medians of completed sessions, MB saved, running now."""
    plan = rollup_plan(connection, f)
    if plan is not None:
        return summary_rollup(connection, plan)
    caps = capabilities(connection)
    sessions, where = _filtered(connection, f, caps)
    base = _summary_base(where, caps, sessions)
    # Walking the (status, metric) index in value order only pays when nothing but the status
    # filters it: a date range or a technique would be checked row by row against the table
    # (measured at a million rows: 2.5 s unfiltered, but 9.6 s for 90 days, against 4.7 s).
    walkable = f.status_only and all(
        has_index(connection, STATUS_METRIC_INDEXES[m]) for m in ("size", "speed")
    )
    # A set of models read through its own index: its sessions' completed values are few
    # enough to pick each median with a bounded sort (LIMIT 2 OFFSET k) rather than rank them
    # all with window functions (at 1,000,000 sessions, 52,198 values of 'whisper' models:
    # 0.06 s against 0.2 s a metric).
    models_set = isinstance(sessions, IndexedBy) and sessions.index == MODEL_FACTS_INDEX
    if caps.dialect != "sqlite" or not (walkable or models_set):
        rows = _grouped(connection, caps, base, [], {"size": (0.5,), "speed": (0.5,)}, _summary_extras)
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
    handful of rows) instead of counting a million index entries.
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
            .where(*_filtered(connection, f, caps)[1])
            .group_by(S.c.status)
        )
    found = {status: int(n) for status, n in connection.execute(statement)}
    return tuple(StatusCount(s, found.get(s, 0)) for s in STATUSES)


# -- per technique ----------------------------------------------------------------------------


def _metric_stats(row: Mapping[str, Any], metric: str) -> MetricStats:
    return MetricStats(
        mean=optional_float(row[f"{metric}_mean"]),
        p25=optional_float(row[f"{metric}_q25"]),
        median=optional_float(row[f"{metric}_q50"]),
        p75=optional_float(row[f"{metric}_q75"]),
    )


def technique_stats(connection: Connection, f: SessionFilter) -> tuple[TechniqueStats, ...]:
    """Per technique: sessions, success rate, mean and quartiles of size and speed.

    A session combining two techniques counts for both. Sorted by sessions, most first.
    """
    plan = rollup_plan(connection, f, techniques=0)
    if plan is not None:
        return techniques_rollup(connection, plan)
    caps = capabilities(connection)
    sessions, where = _filtered(connection, f, caps)
    if (
        isinstance(sessions, IndexedBy)
        and sessions.index == FACTS_INDEX
        and all(caps.has_index(name) for name in TECHNIQUE_SET_INDEXES)
    ):
        return _sorted_techniques(_by_technique_set(connection, caps, where))
    source, technique = technique_source(caps, sessions)
    base = (
        select(
            technique.label("technique"),
            S.c.status,
            _completed_value("size_reduction", caps).label("size"),
            _completed_value("speed_improvement", caps).label("speed"),
        )
        .select_from(source)
        .where(*where)
    )

    def extras(src: Subquery) -> list[ColumnElement[Any]]:
        return [
            *_status_counts(src),
            func.avg(src.c.size).label("size_mean"),
            func.avg(src.c.speed).label("speed_mean"),
        ]

    quartiles = (0.25, 0.5, 0.75)
    rows = _grouped(connection, caps, base, ["technique"], {"size": quartiles, "speed": quartiles}, extras)
    return _sorted_techniques(rows)


def _sorted_techniques(rows: list[dict[str, Any]]) -> tuple[TechniqueStats, ...]:
    out = [
        TechniqueStats(
            technique=str(r["technique"]),
            sessions=sum(int(r[s]) for s in STATUSES),
            completed=int(r["completed"]),
            failed=int(r["failed"]),
            cancelled=int(r["cancelled"]),
            size_reduction=_metric_stats(r, "size"),
            speed_improvement=_metric_stats(r, "speed"),
        )
        for r in rows
    ]
    return tuple(sorted(out, key=lambda t: (-t.sessions, t.technique)))


_METRIC_OF = {"size_reduction": "size", "speed_improvement": "speed"}


def _by_technique_set(
    connection: Connection, caps: Capabilities, where: list[ColumnElement[bool]]
) -> list[dict[str, Any]]:
    """Per technique, from the sessions grouped by their list of techniques (SQLite).

    A broad scan (half the sessions match a search) joined to the techniques table and sorted
    per metric took seconds; grouped by the list instead, each histogram streams off
    :data:`TECHNIQUE_SET_INDEXES` in (list, value) order and a few thousand rows come back.
    Each list then counts for every distinct technique named in it, exactly as the techniques
    table holds them (strings only, once per session), so counts and histograms, and the
    quartiles read off them, are those of the join; means are the histograms' sums over counts.
    """
    names: dict[Any, tuple[str, ...]] = {}

    def named(value: Any) -> tuple[str, ...]:
        if value not in names:
            try:
                items = json.loads(value) if value is not None else []
            except ValueError:
                items = []
            names[value] = tuple(
                sorted({t for t in items if isinstance(t, str)}) if isinstance(items, list) else ()
            )
        return names[value]

    return _streamed(
        connection,
        caps,
        where,
        "techniques_json",
        "technique",
        named,
        TECHNIQUE_SET_INDEXES,
        (0.25, 0.5, 0.75),
        means=True,
    )


def _streamed(
    connection: Connection,
    caps: Capabilities,
    where: list[ColumnElement[bool]],
    leading: str,
    key: str,
    keys_of: Callable[[Any], tuple[Any, ...]],
    indexes: Mapping[str, str],
    quantiles: tuple[float, ...],
    *,
    means: bool,
) -> list[dict[str, Any]]:
    """Counts by status and metric histograms grouped by the generated column ``leading``,
    each histogram read in (``leading``, value) order off its index in ``indexes``; every
    group then counts for each of ``keys_of(group)``, which name the rows (``key``)."""
    group = derived(leading, caps)
    counts = (
        select(group, S.c.status, func.count())
        .select_from(IndexedBy(S, next(iter(indexes))))
        .where(*where)
        .group_by(group, S.c.status)
    )
    found: dict[Any, dict[str, Any]] = {}
    for value, status, n in connection.execute(counts):
        for name in keys_of(value):
            row = found.setdefault(name, {key: name, **dict.fromkeys(STATUSES, 0)})
            row[status] = row.get(status, 0) + int(n)
    for index, metric_column in indexes.items():
        metric = _METRIC_OF[metric_column]
        measured = derived(metric_column, caps)
        statement = (
            select(group, measured, func.count())
            .select_from(IndexedBy(S, index))
            .where(*where, S.c.status == "completed", measured.is_not(None))
            .group_by(group, measured)
        )
        histograms: dict[Any, Counter[float]] = {}
        for value, v, n in connection.execute(statement):
            for name in keys_of(value):
                histograms.setdefault(name, Counter())[v] += int(n)
        for name, row in found.items():
            histogram = sorted(histograms.get(name, Counter()).items())
            if means:
                total = sum(n for _, n in histogram)
                row[f"{metric}_mean"] = sum(v * n for v, n in histogram) / total if total else None
            for q in quantiles:
                row[_quantile_name(metric, q)] = histogram_quantile(histogram, q)
    return list(found.values())


# -- per period -------------------------------------------------------------------------------


def created_span(connection: Connection, f: SessionFilter) -> tuple[datetime, datetime] | None:
    """Earliest and latest ``created_at`` (naive UTC) of the matches; None when there are none.

    Two scalar subqueries, not ``min(), max()`` in one SELECT: SQLite answers a lone min or
    max from an index in microseconds, but scans the table when both share a query.
    """
    caps = capabilities(connection)
    key = timestamp_key("created_at", caps)
    where = _filtered(connection, f, caps)[1]
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
    sessions, where = _filtered(connection, f, caps)
    if (
        granularity == "week"
        and isinstance(sessions, IndexedBy)
        and sessions.index == FACTS_INDEX
        and all(caps.has_index(name) for name in WEEK_INDEXES)
    ):
        rows = _streamed(
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
            _completed_value("size_reduction", caps).label("size"),
            _completed_value("speed_improvement", caps).label("speed"),
        )
        .select_from(sessions)
        .where(*where)
    )
    rows = _grouped(connection, caps, base, ["bucket"], {"size": (0.5,), "speed": (0.5,)}, _status_counts)
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


# -- completed sessions on the size/speed plane -----------------------------------------------


def _point_columns(caps: Capabilities) -> list[ColumnElement[Any]]:
    return [
        S.c.session_id,
        S.c.model_id,
        func.coalesce(M.c.name, S.c.model_id).label("model_name"),
        derived("techniques_json", caps).label("techniques_json"),
        derived("size_reduction", caps).label("size"),
        derived("speed_improvement", caps).label("speed"),
        derived("accuracy_delta", caps).label("accuracy"),
    ]


def _completed_clauses(where: list[ColumnElement[bool]], caps: Capabilities) -> list[ColumnElement[bool]]:
    return [
        *where,
        S.c.status == "completed",
        derived("size_reduction", caps).is_not(None),
        derived("speed_improvement", caps).is_not(None),
    ]


def _point(row: RowMapping) -> SessionPoint:
    return SessionPoint(
        session_id=row["session_id"],
        model_id=row["model_id"],
        model_name=row["model_name"],
        techniques=parse_techniques(row["techniques_json"]),
        size_reduction=float(row["size"]),
        speed_improvement=float(row["speed"]),
        accuracy_delta=optional_float(row["accuracy"]),
    )


def scatter(connection: Connection, f: SessionFilter, *, limit: int = SCATTER_LIMIT) -> Scatter:
    """Completed sessions with both metrics; above ``limit``, every k-th by ``session_id``.

    The sample is deterministic (same data, same points) and spread evenly over the ids,
    which follow creation time. ``total`` is the true number, so the page can say
    "showing 2,000 of 412,000".
    """
    caps = capabilities(connection)
    scanned, where = _filtered(connection, f, caps)
    where = _completed_clauses(where, caps)
    plan = rollup_plan(connection, f)
    if plan is not None:
        total = _points_total(connection, plan)
    else:
        total = int(connection.execute(select(func.count()).select_from(scanned).where(*where)).scalar_one())
    joined = S.outerjoin(M, M.c.model_id == S.c.model_id)
    if total <= limit:
        statement = select(*_point_columns(caps)).select_from(joined).where(*where).order_by(S.c.session_id)
        return Scatter(tuple(_point(r) for r in connection.execute(statement).mappings()), total, False)
    step = math.ceil(total / limit)
    if plan is not None and caps.points_indexes:
        picked = _every_kth(caps, f, step, limit)
    else:
        numbered = (
            select(S.c.session_id, func.row_number().over(order_by=S.c.session_id).label("rn"))
            .select_from(scanned)
            .where(*where)
            .subquery("numbered")
        )
        picked = select(numbered.c.session_id).where((numbered.c.rn - 1) % step == 0)
    statement = (
        select(*_point_columns(caps))
        .select_from(joined)
        .where(S.c.session_id.in_(picked))
        .order_by(S.c.session_id)
    )
    return Scatter(tuple(_point(r) for r in connection.execute(statement).mappings()), total, True)


def _every_kth(caps: Capabilities, f: SessionFilter, step: int, limit: int) -> Select[Any]:
    """The ids numbered 1, 1 + step, 1 + 2 step, ... among the matches, in id order.

    Hops along the partial index of completed sessions with both metrics (ids in order, the
    created key beside them): each hop skips ``step - 1`` entries from the previous id, so
    nothing is numbered or sorted (SQLite's row_number over 800,000 rows costs over a second).
    """
    source = IndexedBy(S, POINTS_INDEX) if caps.dialect == "sqlite" else S
    where = [*filter_clauses(f, caps), *_points_predicate(caps)]
    first = (
        select(S.c.session_id)
        .select_from(source)
        .where(*where)
        .order_by(S.c.session_id)
        .limit(1)
        .scalar_subquery()
    )
    hops = select(first.label("id"), literal_column("1").label("i")).cte("hops", recursive=True)
    following = (
        select(S.c.session_id)
        .select_from(source)
        .where(*where, S.c.session_id > hops.c.id)
        .order_by(S.c.session_id)
        .limit(1)
        .offset(step - 1)
        .scalar_subquery()
    )
    hops = hops.union_all(select(following, hops.c.i + 1).where(hops.c.id.is_not(None), hops.c.i <= limit))
    return select(hops.c.id).where(hops.c.id.is_not(None))


def _points_predicate(caps: Capabilities) -> list[ColumnElement[bool]]:
    """The partial indexes' own WHERE, spelled as they are (SQLite matches them term by term)."""
    return [
        S.c.status == literal_column("'completed'"),
        derived("size_reduction", caps).is_not(None),
        derived("speed_improvement", caps).is_not(None),
    ]


def _points_total(connection: Connection, plan: Plan) -> int:
    """Completed sessions with both metrics, from the rollups."""
    if not plan.completed:
        return 0
    c = copy.agg_counts.c
    where = [*counts_where(plan), c.status == "completed"]
    found = connection.execute(select(func.sum(c.both_n)).where(*where)).scalar_one()
    return int(found or 0)


def pareto_front(connection: Connection, f: SessionFilter) -> tuple[SessionPoint, ...]:
    """Completed sessions no other completed session beats on both size and speed.

    Computed over all matches (never a sample) without comparing every pair: keep the best
    speed at each distinct size, then walk sizes from largest down keeping a size only when
    its best speed beats every larger size's. Sessions tied on both values are all kept.
    Sorted by size reduction, ascending.
    """
    caps = capabilities(connection)
    size, speed = derived("size_reduction", caps), derived("speed_improvement", caps)
    plan = rollup_plan(connection, f, techniques=0)
    if plan is not None and not plan.bounded and caps.points_indexes:
        return _front_walked(connection, f, caps, plan)
    sessions, where = _filtered(connection, f, caps)
    completed = _completed_clauses(where, caps)
    done = (
        select(size.label("size"), speed.label("speed"))
        .select_from(sessions)
        .where(*completed)
        .subquery("done")
    )
    best = select(done.c.size, func.max(done.c.speed).label("top")).group_by(done.c.size).subquery("best")
    above = func.max(best.c.top).over(order_by=best.c.size.desc(), rows=(None, -1))
    walked = select(best.c.size, best.c.top, above.label("better")).subquery("walked")
    front = (
        select(walked.c.size, walked.c.top)
        .where(or_(walked.c.better.is_(None), walked.c.top > walked.c.better))
        .subquery("front")
    )
    statement = (
        select(*_point_columns(caps))
        .select_from(
            S.outerjoin(M, M.c.model_id == S.c.model_id).join(
                front, and_(size == front.c.size, speed == front.c.top)
            )
        )
        .where(*completed)
        .order_by(size, S.c.session_id)
    )
    return tuple(_point(r) for r in connection.execute(statement).mappings())


def _front_walked(
    connection: Connection, f: SessionFilter, caps: Capabilities, plan: Plan
) -> tuple[SessionPoint, ...]:
    """The Pareto front from the best speed at each distinct size, one index seek per size.

    The distinct sizes of completed sessions come from the value histogram; each one's best
    speed is the last entry for that size in the (size, speed) partial index. Walking sizes
    from the largest down keeps those whose best speed beats every larger size's.
    """
    if not plan.completed:
        return ()
    size, speed = derived("size_reduction", caps), derived("speed_improvement", caps)
    v = copy.agg_values.c
    sizes = (
        select(v.value.label("size"))
        .where(v.metric == "size", v.technique == "", v.week == ALL_WEEKS, v.n > 0)
        .subquery("sizes")
    )
    indexed = IndexedBy(S, FRONT_INDEX) if caps.dialect == "sqlite" else S
    top = (
        select(func.max(speed))
        .select_from(indexed)
        .where(*_points_predicate(caps), size == sizes.c.size)
        .scalar_subquery()
    )
    front: list[tuple[float, float]] = []
    for found_size, best in sorted(
        connection.execute(select(sizes.c.size, top)).all(), key=lambda r: r[0], reverse=True
    ):
        if best is not None and (not front or best > front[-1][1]):
            front.append((found_size, best))
    if not front:
        return ()
    statement = (
        select(*_point_columns(caps))
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(
            *_completed_clauses(filter_clauses(f, caps), caps),  # a rollup plan: no search
            or_(*(and_(size == a, speed == b) for a, b in front)),
        )
        .order_by(size, S.c.session_id)
    )
    return tuple(_point(r) for r in connection.execute(statement).mappings())


# -- models -----------------------------------------------------------------------------------


def model_ranking(connection: Connection, f: SessionFilter, *, limit: int = 50) -> ModelRanking:
    """Models ranked by their best completed session: best size reduction, then best speed.

    Models with matching sessions but none completed come last. Models missing from the
    ``models`` table appear under their id (``model_known`` False).
    """
    if (
        capabilities(connection).rollups
        and not (f.search or f.techniques)
        and (f.created_range() == (None, None))
    ):
        return models_rollup(connection, f, limit)
    caps = capabilities(connection)
    size = _completed_value("size_reduction", caps)
    speed = _completed_value("speed_improvement", caps)
    finished_at = case((S.c.status == "completed", timestamp_key("completed_at", caps)))
    sessions, where = _filtered(connection, f, caps)
    best_size = func.max(size).label("best_size")
    best_speed = func.max(speed).label("best_speed")
    grouped = (
        select(
            S.c.model_id,
            func.max(M.c.name).label("name"),
            func.count(M.c.model_id).label("known"),
            func.count().label("sessions"),
            func.count(case((S.c.status == "completed", 1))).label("completed"),
            best_size,
            best_speed,
            func.max(finished_at).label("last"),
        )
        .select_from(sessions.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*where)
        .group_by(S.c.model_id)
        .subquery("per_model")
    )
    total = int(connection.execute(select(func.count()).select_from(grouped)).scalar_one())
    statement = (
        select(grouped)
        .order_by(
            grouped.c.best_size.desc().nulls_last(),
            grouped.c.best_speed.desc().nulls_last(),
            grouped.c.model_id,
        )
        .limit(limit)
    )
    rows = tuple(map(ModelRank.from_row, connection.execute(statement).mappings()))
    return ModelRanking(rows, total)


# -- data version -------------------------------------------------------------------------------


def data_version(connection: Connection) -> tuple[Any, ...]:
    """A cheap fingerprint that changes when sessions or models are written.

    The latest ``updated_at`` catches updates (the platform bumps it on every change); the
    number of sessions catches inserts and deletes: from the per-status counts init-db keeps
    when they exist; else SQLite's highest ``rowid`` (counting a million rows takes about
    100 ms there; the rowid grows with every insert, a delete then shows only when the cache
    entry expires) and PostgreSQL's ``count(*)``. Each part is its own scalar subquery,
    answered from an index or a tiny table.
    """
    caps = capabilities(connection)
    latest = select(func.max(timestamp_key("updated_at", caps))).select_from(S).scalar_subquery()
    if caps.status_counts:
        rows = select(func.coalesce(func.sum(copy.session_counts.c.sessions), 0))
    elif caps.dialect == "sqlite":
        rows = select(func.max(literal_column("optimization_sessions.rowid"))).select_from(S)
    else:
        rows = select(func.count()).select_from(S)
    model_count = select(func.count()).select_from(M).scalar_subquery()
    row = connection.execute(select(rows.scalar_subquery(), latest, model_count)).one()
    return (row[0], str(row[1]), int(row[2]))


__all__ = [
    "SCATTER_LIMIT",
    "MetricStats",
    "ModelRank",
    "ModelRanking",
    "PeriodSeries",
    "PeriodStats",
    "Scatter",
    "SessionPoint",
    "StatusCount",
    "Summary",
    "SummaryChange",
    "TechniqueStats",
    "aggregate_filter",
    "created_span",
    "data_version",
    "model_ranking",
    "pareto_front",
    "period_stats",
    "scatter",
    "status_counts",
    "summary",
    "summary_change",
    "technique_stats",
]
