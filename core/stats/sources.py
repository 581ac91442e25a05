"""What every aggregate reads and how it groups: the scanned and filtered sessions, grouped
quantiles and the streamed per-group histograms.

:func:`filtered` gives the sessions table as a scan should read it with the table's own WHERE
clauses (:func:`core.query.clauses.filter_clauses`), so a chart covers exactly the rows the
Sessions table and the CLI list for the same filter. :func:`grouped` and :func:`streamed`
return counts by status and exact quantiles per group on both backends: PostgreSQL's
``percentile_cont``, or on SQLite the quantile read off a histogram (:func:`histogram_quantile`)
with the same rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import case, func, literal, null, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import AliasedReturnsRows, Select

from core.query.clauses import filter_clauses
from core.query.filter import SessionFilter
from core.query.search import trigram_matches
from core.speed.capabilities import Capabilities
from core.speed.expressions import derived
from core.stats.sql import FACTS_INDEX, MODEL_FACTS_INDEX, IndexedBy, has_facts_index, has_index, quantile
from core.store.tables import STATUSES
from core.store.tables import optimization_sessions as S

_METRIC_OF = {"size_reduction": "size", "speed_improvement": "speed"}


def _scanned(
    connection: Connection, f: SessionFilter, *, few: bool = False, models_only: bool = False
) -> Any:
    """The sessions table as a full-scan aggregate should read it.

    On SQLite with the facts index, through that index (no JSON parsed per row; it holds the
    ids a search tests too). A filter that keeps a set of models (named, or a search that
    matched model names and no session id: ``models_only``) reads the model-first copy of it
    instead, only those models' entries, far fewer than the table's rows or the whole facts
    index.
    ``few`` (a search the trigram index resolved to a short list of ids) selects few rows,
    which the planner finds faster through its own indexes.
    """
    if (f.model_ids or models_only) and has_index(connection, MODEL_FACTS_INDEX):
        return IndexedBy(S, MODEL_FACTS_INDEX)
    if f.model_ids or few or not has_facts_index(connection):
        return S
    return IndexedBy(S, FACTS_INDEX)


def filtered(
    connection: Connection, f: SessionFilter, caps: Capabilities
) -> tuple[Any, list[ColumnElement[bool]]]:
    """The sessions table as a scan should read it, and the table's WHERE clauses for ``f``.

    The search's trigram MATCH runs once (SQLite): a fragment most sessions contain
    ("opt-2025") becomes a scan of the facts index instead of an IN list of hundreds of
    thousands of ids read row by row.
    """
    matched = trigram_matches(connection, f)
    few = matched is not None and matched.ids is not None
    models_only = few and not matched.ids and bool(matched.models)  # type: ignore[union-attr]
    return (
        _scanned(connection, f, few=few, models_only=models_only),
        filter_clauses(f, caps, matched=matched),
    )


def completed_value(name: str, caps: Capabilities) -> ColumnElement[Any]:
    """Derived column ``name`` for completed sessions, NULL for the others (their metrics are no result)."""
    return case((S.c.status == "completed", derived(name, caps)))


def status_count_columns(source: AliasedReturnsRows) -> list[ColumnElement[Any]]:
    """One count column per status, named after it."""
    return [func.count(case((source.c.status == s, 1))).label(s) for s in STATUSES]


def _quantile_name(metric: str, q: float) -> str:
    """The column holding quantile ``q`` of ``metric`` (``size_q50``)."""
    return f"{metric}_q{round(q * 100)}"


def grouped(
    connection: Connection,
    caps: Capabilities,
    base: Select[Any],
    keys: list[str],
    metrics: dict[str, tuple[float, ...]],
    extras: Callable[[AliasedReturnsRows], list[ColumnElement[Any]]],
) -> list[dict[str, Any]]:
    """Group ``base`` by ``keys``: ``extras`` aggregates plus exact quantiles of ``metrics``.

    Quantile columns are named ``<metric>_q<percent>`` (``size_q50``). PostgreSQL does it all
    in one statement. SQLite has no ``percentile_cont``: the database returns each metric's
    histogram per group (every distinct value with its count, a few thousand rows) and the
    quantiles are read off it with ``percentile_cont``'s rule, as :mod:`core.stats.rollup_quantiles` reads
    the stored histograms; ranking every value with window functions instead costs several
    times more, since every value is sorted per group. The base rows
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


def streamed(
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
