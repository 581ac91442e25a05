"""Exact quantiles off the rollup histograms (``agg_bins``, ``agg_values``) and the edge days.

``percentile_cont``'s rule, per key (one group, a technique or a bucket start): whole histogram
weeks inside the range (and inside one bucket) are counted from ``agg_bins``, a few bins a week
where ``agg_values`` has many values; the other days (the edges, and weeks straddling two
months) are counted from the sessions. The bins say which bin holds each quantile's position;
only those bins' values are then read from ``agg_values``, one index range each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from core.calendar import Granularity, floor_to_bucket
from core.query.clauses import filter_clauses
from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.capabilities import Capabilities
from core.speed.expressions import derived, timestamp_key
from core.speed.tables import ALL_WEEKS
from core.stats.rollup_bins import bin_of, bin_values, hist_key, raw_key, walk_bins
from core.stats.rollup_plan import Plan, weeks_and_edges
from core.stats.sql import FACTS_INDEX, IndexedBy, bucket_expression, has_facts_index, technique_source
from core.store.tables import optimization_sessions as S

_METRIC_NAMES = {"size": "size_reduction", "speed": "speed_improvement"}

Targets = dict[tuple[Any, float], int]  # (key, bin) -> sessions before that bin


@dataclass(frozen=True)
class _Scope:
    """The histogram rows one quantile read covers: metric, technique scope and weeks."""

    plan: Plan
    metric: str
    per_technique: bool
    techniques: list[str] | None
    granularity: Granularity | None
    first: date | None
    stop: date | None
    every_week: bool
    skipped: list[str]

    def where(self, t: Any) -> list[ColumnElement[bool]]:
        """The WHERE of ``agg_bins`` or ``agg_values`` (``t``: its columns) for this scope."""
        where = [
            t.metric == self.metric,
            t.technique != "" if self.per_technique else t.technique == self.plan.scope,
        ]
        if self.per_technique and self.techniques is not None:
            where[1] = t.technique.in_(self.techniques)  # index lookups, not a scan past ''
        if self.every_week:
            where.append(t.week == ALL_WEEKS)  # every week summed already
        else:
            where.append(t.week.not_in(["", ALL_WEEKS]))
        if self.first is not None:
            where.append(t.week >= self.first.isoformat())
        if self.stop is not None:
            where.append(t.week < self.stop.isoformat())
        if self.skipped:
            where.append(t.week.not_in(self.skipped))
        return where

    def key(self, t: Any) -> ColumnElement[Any] | None:
        return hist_key(t, self.per_technique, self.granularity)


def rollup_quantiles(
    connection: Connection,
    caps: Capabilities,
    plan: Plan,
    metric: str,
    qs: tuple[float, ...],
    *,
    per_technique: bool = False,
    techniques: list[str] | None = None,
    granularity: Granularity | None = None,
    span: tuple[date, date] | None = None,
) -> dict[Any, dict[float, float | None]]:
    """Exact ``percentile_cont`` quantiles of ``metric`` over completed sessions, per key.

    The key is None (one group), the technique (``per_technique``; ``techniques`` may list
    the ones with sessions) or the start of the ``granularity`` bucket (``span`` then bounds
    the days). Reading only the bins that hold a quantile, not every value of every week,
    keeps a long range cheap.
    """
    if not plan.completed:
        return {}
    start, end = span if span is not None else (plan.start, plan.end)
    first, stop, edges = weeks_and_edges(start, end)
    whole = first is None or stop is None or first < stop
    every_week = start is None and end is None and granularity is None
    skipped = _split_weeks(granularity, first, stop, edges)
    scope = _Scope(plan, metric, per_technique, techniques, granularity, first, stop, every_week, skipped)
    key_out = _key_reader(per_technique, granularity)
    edge_values, edge_bins = _edge_histograms(connection, caps, scope, edges, key_out)
    hist = None
    if whole:
        b = copy.agg_bins.c
        key = scope.key(b)
        hist = select(
            (key if key is not None else literal_column("''")).label("k"), b.bin.label("bin"), b.n.label("n")
        ).where(*scope.where(b))
    # one row per (key, bin) already: no grouping
    unique = not edge_bins and (every_week or granularity == "week")
    # The bins holding each needed position, with the sessions before them and in all.
    counts: dict[Any, dict[float, int]] = defaultdict(dict)
    targets: Targets = {}
    totals: dict[Any, int] = {}
    for k, found_bin, n, through, total in walk_bins(connection, caps, hist, edge_bins, qs, unique=unique):
        k, found_bin = key_out(k), float(found_bin)
        counts[k][found_bin] = int(n)
        targets[(k, found_bin)] = int(through) - int(n)
        totals[k] = int(total)
    values = _target_values(connection, caps, scope, whole, targets, edge_values, key_out)
    return _read_quantiles(qs, totals, counts, targets, values)


def _split_weeks(
    granularity: Granularity | None,
    first: date | None,
    stop: date | None,
    edges: list[tuple[date | None, date | None]],
) -> list[str]:
    """The whole weeks a bucket does not hold entirely (every week for days; those straddling
    two months for months): added to ``edges`` (counted from the sessions) and returned."""
    skipped: list[str] = []
    if granularity in ("day", "month") and first is not None and stop is not None:
        week = first
        while week < stop:
            if granularity == "day" or week.month != (week + timedelta(days=6)).month:
                skipped.append(week.isoformat())
                edges.append((week, week + timedelta(days=7)))
            week += timedelta(days=7)
    return skipped


def _key_reader(per_technique: bool, granularity: Granularity | None) -> Callable[[Any], Any]:
    """The group key from its raw form in a row, memoised: a few hundred distinct keys come
    back over tens of thousands of rows."""
    keys: dict[Any, Any] = {}

    def key_out(raw: Any) -> Any:
        found = keys.get(raw, keys)
        if found is keys:
            if per_technique:
                found = str(raw)
            elif granularity is not None:
                found = floor_to_bucket(date.fromisoformat(str(raw)[:10]), granularity)
            else:
                found = None
            keys[raw] = found
        return found

    return key_out


def _edge_histograms(
    connection: Connection,
    caps: Capabilities,
    scope: _Scope,
    edges: list[tuple[date | None, date | None]],
    key_out: Callable[[Any], Any],
) -> tuple[dict[Any, dict[float, int]], dict[tuple[str, float], int]]:
    """The edge days' sessions per key and value, and per raw key and bin."""
    edge_values: dict[Any, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    edge_bins: dict[tuple[str, float], int] = defaultdict(int)
    parts = _edge_parts(
        connection, caps, scope.plan, scope.metric, edges, scope.per_technique, scope.granularity
    )
    for part in parts:
        for k, found_value, n in connection.execute(part).all():
            found_value = float(found_value)
            edge_values[key_out(k)][found_value] += int(n)
            edge_bins[(raw_key(key_out(k)), bin_of(caps, found_value))] += int(n)
    return edge_values, edge_bins


def _target_values(
    connection: Connection,
    caps: Capabilities,
    scope: _Scope,
    whole: bool,
    targets: Targets,
    edge_values: dict[Any, dict[float, int]],
    key_out: Callable[[Any], Any],
) -> dict[tuple[Any, float], dict[float, int]]:
    """Sessions per value inside each target bin: from ``agg_values`` plus the edge days."""
    values: dict[tuple[Any, float], dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if whole and targets:
        v = copy.agg_values.c
        for k, found_value, n in bin_values(connection, caps, scope.where(v), scope.key(v), list(targets)):
            found_value = float(found_value)
            target = (key_out(k), bin_of(caps, found_value))
            if target in targets:
                values[target][found_value] += int(n)
    for k, found_bin in targets:
        for found_value, n in edge_values.get(k, {}).items():
            if bin_of(caps, found_value) == found_bin:
                values[(k, found_bin)][found_value] += n
    return values


def _read_quantiles(
    qs: tuple[float, ...],
    totals: dict[Any, int],
    counts: dict[Any, dict[float, int]],
    targets: Targets,
    values: dict[tuple[Any, float], dict[float, int]],
) -> dict[Any, dict[float, float | None]]:
    """Each key's quantiles at their positions, read off the target bins' values."""
    per_key: dict[Any, list[tuple[float, int]]] = defaultdict(list)
    for (k, found_bin), before in targets.items():
        per_key[k].append((found_bin, before))

    def at(k: Any, position: int) -> float:
        for found_bin, before in per_key[k]:
            inside = position - before
            if 0 <= inside < counts[k][found_bin]:
                for found_value, n in sorted(values[(k, found_bin)].items()):
                    if inside < n:
                        return found_value
                    inside -= n
        raise AssertionError("a quantile position outside its group")

    out: dict[Any, dict[float, float | None]] = {}
    for k, total in totals.items():
        found: dict[float, float | None] = {}
        for q in qs:
            position = q * (total - 1)
            low, fraction = int(position), position - int(position)
            low_value = at(k, low)
            found[q] = low_value + (at(k, low + 1) - low_value) * fraction if fraction > 0 else low_value
        out[k] = found
    return out


def _day_bound(day: date, caps: Capabilities) -> Any:
    if caps.dialect == "sqlite":
        return f"{day.isoformat()} 00:00:00.000"
    return datetime.combine(day, datetime.min.time())


def _edge_key(caps: Capabilities, granularity: Granularity) -> ColumnElement[Any]:
    """The bucket (``YYYY-MM-DD`` text) a session's created day falls in."""
    if caps.dialect == "sqlite":
        return bucket_expression(granularity, caps)
    return func.to_char(bucket_expression(granularity, caps), literal_column("'YYYY-MM-DD'"))


def _edge_parts(
    connection: Connection,
    caps: Capabilities,
    plan: Plan,
    metric: str,
    edges: list[tuple[date | None, date | None]],
    per_technique: bool,
    granularity: Granularity | None,
) -> list[Select[Any]]:
    """(key, value, sessions) of the completed sessions created on the ``edges`` days."""
    value = derived(_METRIC_NAMES[metric], caps)
    created = timestamp_key("created_at", caps)
    scope = SessionFilter(techniques=(plan.scope,) if plan.scope else ())
    parts = []
    for low, high in edges:  # one range a statement: an OR of ranges would scan the index
        where = [
            S.c.status == "completed",
            value.is_not(None),
            created.is_not(None),
            *filter_clauses(scope, caps),
        ]
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
        parts.append(
            select(key.label("k"), value.label("value"), func.count().label("n"))
            .select_from(source)
            .where(*where)
            .group_by(*group)
        )
    return parts
