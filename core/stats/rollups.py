"""Exact aggregates from the rollup tables init-db keeps by triggers (see core.speed.derived).

``agg_counts`` (per technique, created day and status), ``agg_values`` (how many completed
sessions per metric value, technique and created week, plus every week summed), ``agg_bins``
(the same per value bin) and ``agg_models`` (per model and status) answer the filters that only
restrict status, whole UTC days of ``created_at`` and (for some aggregates) one technique.
Medians and quartiles are read off the value histogram with ``percentile_cont``'s rule, the
bins saying where to look; days of a range that do not make a whole week of the histogram (the
edges) are counted from the sessions themselves. Any other filter (models, free text, several
techniques, a bound inside a day) takes the plain queries.

Called by :mod:`core.stats.aggregates`, which decides per filter whether a rollup answers it
(:func:`rollup_plan`) or the plain queries run.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from core.calendar import Granularity, floor_to_bucket, week_start
from core.query.filter import SessionFilter
from core.query.sessions import M, S, filter_clauses
from core.speed import tables as copy
from core.speed.derived import (
    ALL_WEEKS,
    Capabilities,
    capabilities,
    derived,
    timestamp_key,
)
from core.stats.sql import FACTS_INDEX, IndexedBy, has_facts_index, technique_source
from core.stats.types import (
    MetricStats,
    ModelRank,
    ModelRanking,
    Summary,
    TechniqueStats,
)
from core.store.tables import STATUSES

_EXACT_BINS = 2.0**52  # below it, bin - 1 and bin + 1 are exact doubles: an index range holds a bin
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
    if f.model_ids or f.search or len(f.techniques) > techniques or not capabilities(connection).rollups:
        return None
    start, end = (_whole_day(v) for v in f.created_range())
    if start is False or end is False:
        return None
    assert not isinstance(start, bool) and not isinstance(end, bool)
    return Plan(f.techniques[0] if f.techniques else "", start, end, tuple(f.statuses))


def _day_clauses(day: ColumnElement[Any], start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    clauses = []
    if start is not None or end is not None:
        clauses.append(day != "")
    if start is not None:
        clauses.append(day >= start.isoformat())
    if end is not None:
        clauses.append(day < end.isoformat())
    return clauses


def counts_where(plan: Plan, *, per_technique: bool = False) -> list[ColumnElement[bool]]:
    c = copy.agg_counts.c
    where = [
        c.technique != "" if per_technique else c.technique == plan.scope,
        *_day_clauses(c.day, plan.start, plan.end),
    ]
    if plan.statuses:
        where.append(c.status.in_(plan.statuses))
    return where


def _weeks_and_edges(
    start: date | None, end: date | None
) -> tuple[date | None, date | None, list[tuple[date | None, date | None]]]:
    """Whole histogram weeks ``[first, stop)`` inside ``[start, end)`` and the edge day ranges.

    ``first``/``stop`` None mean unbounded. When no whole week fits, ``first`` is returned
    after ``stop`` and the whole range is an edge.
    """
    first = None if start is None else week_start(start + timedelta(days=6))
    stop = None if end is None else week_start(end)
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


def _edge_key(caps: Capabilities, granularity: Granularity) -> ColumnElement[Any]:
    """The bucket (``YYYY-MM-DD`` text) a session's created day falls in."""
    if caps.dialect == "sqlite":
        key = timestamp_key("created_at", caps)
        if granularity == "day":
            return func.substr(key, 1, 10)
        if granularity == "week":
            return func.date(key, literal_column("'weekday 0'"), literal_column("'-6 days'"))
        return func.substr(key, 1, 7).concat(literal_column("'-01'"))
    return func.to_char(
        func.date_trunc(literal_column(f"'{granularity}'"), S.c.created_at), literal_column("'YYYY-MM-DD'")
    )


def _quantiles(
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
    the days). Whole histogram weeks inside the
    range (and inside one bucket) are counted from ``agg_bins``: a few dozen bins a week
    where ``agg_values`` has hundreds of values. The other days (the edges, and weeks
    straddling two months) are counted from the sessions. The bins give each quantile's
    position a bin; only those bins' values are then read from ``agg_values``, one index
    range each. Reading every value of two years of weeks was most of the Overview's time.
    """
    if not plan.completed:
        return {}
    start, end = span if span is not None else (plan.start, plan.end)
    first, stop, edges = _weeks_and_edges(start, end)
    whole = first is None or stop is None or first < stop
    every_week = start is None and end is None and granularity is None
    skipped: list[str] = []
    if granularity in ("day", "month") and first is not None and stop is not None:
        week = first
        while week < stop:
            if granularity == "day" or week.month != (week + timedelta(days=6)).month:
                skipped.append(week.isoformat())
                edges.append((week, week + timedelta(days=7)))
            week += timedelta(days=7)

    keys: dict[Any, Any] = {}  # a few hundred distinct keys over tens of thousands of rows

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

    def hist_where(t: Any) -> list[ColumnElement[bool]]:
        where = [t.metric == metric, t.technique != "" if per_technique else t.technique == plan.scope]
        if per_technique and techniques is not None:
            where[1] = t.technique.in_(techniques)  # index lookups, not a scan past ''
        if every_week:
            where.append(t.week == ALL_WEEKS)  # every week summed already
        else:
            where.append(t.week.not_in(["", ALL_WEEKS]))
        if first is not None:
            where.append(t.week >= first.isoformat())
        if stop is not None:
            where.append(t.week < stop.isoformat())
        if skipped:
            where.append(t.week.not_in(skipped))
        return where

    edge_values: dict[Any, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    edge_bins: dict[tuple[str, float], int] = defaultdict(int)
    for part in _edge_parts(connection, caps, plan, metric, edges, per_technique, granularity):
        for k, found_value, n in connection.execute(part).all():
            found_value = float(found_value)
            edge_values[key_out(k)][found_value] += int(n)
            edge_bins[(_raw_key(key_out(k)), _bin_of(caps, found_value))] += int(n)
    hist = None
    if whole:
        b = copy.agg_bins.c
        key = _hist_key(b, per_technique, granularity)
        hist = select(
            (key if key is not None else literal_column("''")).label("k"), b.bin.label("bin"), b.n.label("n")
        ).where(*hist_where(b))
    # one row per (key, bin) already: no grouping
    unique = not edge_bins and (every_week or granularity == "week")

    # The bins holding each needed position, with the sessions before them and in all.
    counts: dict[Any, dict[float, int]] = defaultdict(dict)
    targets: dict[tuple[Any, float], int] = {}
    totals: dict[Any, int] = {}
    for k, found_bin, n, through, total in _walk_bins(connection, caps, hist, edge_bins, qs, unique=unique):
        k, found_bin = key_out(k), float(found_bin)
        counts[k][found_bin] = int(n)
        targets[(k, found_bin)] = int(through) - int(n)
        totals[k] = int(total)
    needs: dict[Any, list[tuple[float, int, float]]] = {}
    for k, total in totals.items():
        needs[k] = []
        for q in qs:
            position = q * (total - 1)
            needs[k].append((q, int(position), position - int(position)))

    values: dict[tuple[Any, float], dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if whole and targets:
        v = copy.agg_values.c
        for k, found_value, n in _bin_values(
            connection, caps, hist_where(v), _hist_key(v, per_technique, granularity), list(targets)
        ):
            found_value = float(found_value)
            target = (key_out(k), _bin_of(caps, found_value))
            if target in targets:
                values[target][found_value] += int(n)
    for k, found_bin in targets:
        for found_value, n in edge_values.get(k, {}).items():
            if _bin_of(caps, found_value) == found_bin:
                values[(k, found_bin)][found_value] += n

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
    for k, wanted_positions in needs.items():
        found: dict[float, float | None] = {}
        for q, low, fraction in wanted_positions:
            low_value = at(k, low)
            found[q] = low_value + (at(k, low + 1) - low_value) * fraction if fraction > 0 else low_value
        out[k] = found
    return out


def _walk_bins(
    connection: Connection,
    caps: Capabilities,
    hist: Select[Any] | None,
    edge_bins: dict[tuple[str, float], int],
    qs: tuple[float, ...],
    *,
    unique: bool,
) -> list[tuple[Any, Any, Any, Any, Any]]:
    """(key, bin, sessions, sessions through it, in all) of the bins holding the quantiles.

    The running count per key is a window over the bins (``hist``, plus the edge days' bins
    as one parameter), so only a row or two per key and quantile come back: the bins of two
    years of weeks never reach Python. Not on SQLite, which sorts the rows for a window
    however they arrive: fetched and walked here they cost less (:func:`_walk_fetched`).
    """
    if caps.dialect == "sqlite":
        return _walk_fetched(connection, hist, edge_bins, qs)
    parts: list[Select[Any]] = [] if hist is None else [hist]
    if edge_bins:
        rows = [(k, found_bin, n) for (k, found_bin), n in edge_bins.items()]
        if caps.dialect == "sqlite":
            listed: Any = (
                func.json_each(bindparam("edge_bins", json.dumps(rows), type_=Text))
                .table_valued("value")
                .alias("edge_bins")
            )
            k, found_bin, n = (
                func.json_extract(listed.c.value, literal_column(f"'$[{i}]'")) for i in range(3)
            )
        else:
            columns = list(zip(*rows, strict=True))
            listed = (
                func.unnest(
                    bindparam("edge_keys", list(columns[0]), type_=ARRAY(Text)),
                    bindparam("edge_bin", list(columns[1]), type_=ARRAY(Float)),
                    bindparam("edge_n", list(columns[2]), type_=ARRAY(BigInteger)),
                )
                .table_valued("k", "bin", "n")
                .render_derived(name="edge_bins")
            )
            k, found_bin, n = listed.c.k, listed.c.bin, listed.c.n
        parts.append(select(k.label("k"), found_bin.label("bin"), n.label("n")).select_from(listed))
    if not parts:
        return []
    if unique and hist is not None and len(parts) == 1:
        # Straight off the table: SQLite then walks its primary key, already in order.
        columns = {c.name: c for c in hist.selected_columns}
        k, found_bin, n = columns["k"], columns["bin"], columns["n"]
        base = hist.where(n != 0)
    else:
        source = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("bins")
        if not unique:
            source = (
                select(source.c.k, source.c.bin, func.sum(source.c.n).label("n"))
                .group_by(source.c.k, source.c.bin)
                .subquery("summed")
            )
        k, found_bin, n = source.c.k, source.c.bin, source.c.n
        base = select(k, found_bin, n).where(n != 0)
    if caps.dialect != "sqlite":
        n = cast(n, Float)  # exact below 2**53, and summed much faster than numeric
    walked = base.with_only_columns(
        k.label("k"),
        found_bin.label("bin"),
        n.label("n"),
        func.sum(n).over(partition_by=k, order_by=found_bin, rows=(None, 0)).label("through"),
        func.sum(n).over(partition_by=k).label("total"),
    ).subquery("walked")
    picks = []
    for q in qs:
        position = literal_column(repr(float(q)), Float) * (walked.c.total - 1)
        low = cast(position, Integer) if caps.dialect == "sqlite" else func.floor(position)
        picks.append(and_(walked.c.through - walked.c.n <= low + 1, walked.c.through > low))
    statement = select(walked.c.k, walked.c.bin, walked.c.n, walked.c.through, walked.c.total).where(
        or_(*picks)
    )
    return list(connection.execute(statement).all())


def _walk_fetched(
    connection: Connection,
    hist: Select[Any] | None,
    edge_bins: dict[tuple[str, float], int],
    qs: tuple[float, ...],
) -> list[tuple[Any, Any, Any, Any, Any]]:
    """:func:`_walk_bins`'s rows, from the bins fetched (SQLite reads them in microseconds)."""
    counts: dict[Any, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if hist is not None:
        for k, found_bin, n in connection.execute(hist).all():
            if n:
                counts[k][float(found_bin)] += int(n)
    for (k, found_bin), n in edge_bins.items():
        counts[k][found_bin] += n
    out = []
    for k, bins in counts.items():
        total = sum(bins.values())
        lows = [math.floor(q * (total - 1)) for q in qs]
        last = max(lows) + 1
        through = 0
        for found_bin in sorted(bins):
            n = bins[found_bin]
            if not n:
                continue
            through += n
            if any(through - n <= low + 1 and through > low for low in lows):
                out.append((k, found_bin, n, through, total))
            if through - n > last:
                break
    return out


def _hist_key(t: Any, per_technique: bool, granularity: Granularity | None) -> ColumnElement[Any] | None:
    """The group key of a histogram row (``agg_bins`` or ``agg_values``); None: one group."""
    if per_technique:
        return t.technique  # type: ignore[no-any-return]
    if granularity == "month":
        return func.substr(t.week, 1, 7).concat(literal_column("'-01'"))
    if granularity is not None:
        return t.week  # type: ignore[no-any-return]
    return None


def _bin_values(
    connection: Connection,
    caps: Capabilities,
    where: list[ColumnElement[bool]],
    key: ColumnElement[Any] | None,
    targets: list[tuple[Any, float]],
) -> list[tuple[Any, Any, Any]]:
    """(key, value, sessions) of the ``agg_values`` rows ``where`` selects, around the target bins.

    The targets (key, bin) are one parameter, a JSON text on SQLite and arrays on PostgreSQL,
    each one index range on the value (its bin's interval, bounds included, then the exact
    bin). PostgreSQL reads each through a LATERAL subquery: as a
    join its planner hashes the whole histogram instead. Bins too large for ``bin + 1`` to be
    exact (beyond 2**52) are read by the value's sign.
    """
    v = copy.agg_values.c
    ranges = [
        (_raw_key(k), *_bin_interval(caps, found_bin), found_bin)
        for k, found_bin in targets
        if abs(found_bin) < _EXACT_BINS
    ]
    rows: list[tuple[Any, Any, Any]] = []
    shown = (key if key is not None else literal_column("''")).label("k")
    if ranges:
        if caps.dialect == "sqlite":
            listed: Any = (
                func.json_each(bindparam("targets", json.dumps(ranges), type_=Text))
                .table_valued("value")
                .alias("targets")
            )
            listed_key, low, high, listed_bin = (
                func.json_extract(listed.c.value, literal_column(f"'$[{i}]'")) for i in range(4)
            )
        else:
            columns = list(zip(*ranges, strict=True))
            listed = (
                func.unnest(
                    bindparam("target_keys", list(columns[0]), type_=ARRAY(Text)),
                    bindparam("target_lows", list(columns[1]), type_=ARRAY(Float)),
                    bindparam("target_highs", list(columns[2]), type_=ARRAY(Float)),
                    bindparam("target_bins", list(columns[3]), type_=ARRAY(Float)),
                )
                .table_valued("key", "low", "high", "bin")
                .render_derived(name="targets")
            )
            listed_key, low, high, listed_bin = (listed.c.key, listed.c.low, listed.c.high, listed.c.bin)
        # The range finds the rows; the bin keeps each in one target (the ranges touch).
        on = [v.value >= low, v.value <= high, _bin_expression(caps, v.value) == listed_bin]
        if key is not None:
            on.append(key == listed_key)
        if caps.dialect == "sqlite":
            statement = (
                select(shown, v.value, v.n).select_from(listed.join(copy.agg_values, and_(*on))).where(*where)
            )
        else:
            picked = select(shown, v.value, v.n).where(*where, *on).lateral("picked")
            statement = select(picked.c.k, picked.c.value, picked.c.n).select_from(
                listed.join(picked, literal_column("true"))
            )
        rows += connection.execute(statement).all()
    huge = [found_bin for _, found_bin in targets if abs(found_bin) >= _EXACT_BINS]
    if huge:
        sides = []
        if any(found_bin > 0 for found_bin in huge):
            sides.append(v.value >= _EXACT_BINS - 1)
        if any(found_bin < 0 for found_bin in huge):
            sides.append(v.value <= 1 - _EXACT_BINS)
        rows += connection.execute(select(shown, v.value, v.n).where(*where, or_(*sides))).all()
    return rows


def _bin_interval(caps: Capabilities, found_bin: float) -> tuple[float, float]:
    """Closed bounds around the values of a bin (SQLite truncates toward zero: bin 0 is (-1, 1))."""
    if caps.dialect != "sqlite" or found_bin > 0:
        return found_bin, found_bin + 1
    if found_bin < 0:
        return found_bin - 1, found_bin
    return -1.0, 1.0


def _raw_key(k: Any) -> str:
    """A group key as the histogram spells it (technique, bucket start text, or '')."""
    if k is None:
        return ""
    return k.isoformat() if isinstance(k, date) else str(k)


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


def _bin_expression(caps: Capabilities, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """:func:`core.speed.derived.value_bin` as an expression."""
    return cast(value, Integer) if caps.dialect == "sqlite" else func.floor(value)


_INT64_MAX = 2**63 - 1


def _bin_of(caps: Capabilities, value: float) -> float:
    """The bin the database gives ``value`` (a float, as stored)."""
    if caps.dialect == "sqlite":  # CAST AS INTEGER truncates, and saturates at 64 bits
        if value != value:
            return 0.0
        if value >= _INT64_MAX:
            return float(_INT64_MAX)
        if value <= -_INT64_MAX - 1:
            return float(-_INT64_MAX - 1)
        return float(int(value))
    return float(math.floor(value)) if math.isfinite(value) else value


def summary_rollup(connection: Connection, plan: Plan) -> Summary:
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
        metric: _quantiles(connection, caps, plan, metric, (0.5,)).get(None, {}).get(0.5)
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
    where = [c.technique == plan.scope, *_day_clauses(c.day, first, end)]
    if plan.statuses:
        where.append(c.status.in_(plan.statuses))
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
        found = _quantiles(connection, caps, plan, metric, (0.5,), granularity=granularity, span=span)
        for key, values in found.items():
            row = buckets.setdefault(key, dict.fromkeys(STATUSES, 0))
            row[f"{metric}_q50"] = values[0.5]
    return buckets


def techniques_rollup(connection: Connection, plan: Plan) -> tuple[TechniqueStats, ...]:
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
        metric: _quantiles(
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
