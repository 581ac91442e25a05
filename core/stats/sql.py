"""Dialect-specific SQL building blocks for the aggregates: exact quantiles and time buckets.

PostgreSQL has ``percentile_cont`` (:func:`quantile`); SQLite has no median at all. Rather than
approximate, SQLite returns each metric's histogram (distinct values with their counts) and
the quantile is read off it (:func:`core.stats.sources.histogram_quantile`), or read at its
position in an index sorted by the value (:func:`walked_quantile`), with PostgreSQL's own
interpolation rule, so both backends return the same exact numbers:

    pos = q * (n - 1);  lo = floor(pos);  value = x[lo] + (x[lo + 1] - x[lo]) * (pos - lo)

(0-based positions in ascending order; NULLs are ignored, as ``percentile_cont`` ignores them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from core.calendar import Granularity, week_start_sql
from core.speed import tables as copy
from core.speed.capabilities import Capabilities, capabilities
from core.speed.expressions import derived, timestamp_key
from core.store.tables import optimization_sessions as S

# SQLite: an index holding every value a full-table aggregate reads (created by init-db). Its
# entries carry the generated columns already computed, so a scan through it never parses JSON.
FACTS_INDEX = "ix_sessions_facts"
MODEL_FACTS_INDEX = "ix_sessions_model_facts"  # the same, model first (a set of models)


def quantile(source: Subquery, metric: str, q: float, caps: Capabilities) -> ColumnElement[Any]:
    """The exact ``q`` quantile (``percentile_cont``) of ``metric`` per group, on PostgreSQL.

    Use in a SELECT grouped by the group keys. NULL when the group has no non-NULL value.
    SQLite reads its quantiles off histograms instead (:func:`core.stats.sources.grouped`).
    """
    if caps.dialect == "sqlite":
        raise ValueError("SQLite has no percentile_cont: read the quantile off a histogram")
    return func.percentile_cont(literal_column(repr(float(q)))).within_group(source.c[metric].asc())


# -- time buckets -----------------------------------------------------------------------------


def bucket_expression(granularity: Granularity, caps: Capabilities) -> ColumnElement[Any]:
    """The start of the day/week (Monday)/month ``created_at`` falls in.

    Text ``YYYY-MM-DD`` on SQLite (from the normalised UTC key, never the raw text another
    writer may have stored with ``T``/``Z``), a timestamp on PostgreSQL.
    """
    key = timestamp_key("created_at", caps)
    if granularity == "week":
        return _WeekStart(key)
    if caps.dialect == "sqlite":
        if granularity == "day":
            return func.substr(key, 1, 10)
        return func.substr(key, 1, 7).concat(literal_column("'-01'"))
    return func.date_trunc(literal_column(f"'{granularity}'"), key)


class _WeekStart(FunctionElement[Any]):
    """The Monday of the week of a day or timestamp expression, as :func:`week_start_sql` writes it."""

    name = "week_start"
    inherit_cache = True


@compiles(_WeekStart)
def _compile_week_start(element: _WeekStart, compiler: SQLCompiler, **kw: Any) -> str:
    return week_start_sql(compiler.process(element.clauses, **kw), compiler.dialect.name)


# -- SQLite: scan through the facts index -----------------------------------------------------


class IndexedBy(FromClause):
    """``<table> INDEXED BY <index>`` in a FROM clause (SQLite), standing in for the table.

    SQLite computes a virtual generated column from its JSON on every read of a table row
    (slow over a whole table), and its planner does not count such
    columns as covered by an index that holds them, so it never picks that index by itself.
    Naming the index makes the scan read the stored values instead, without parsing JSON.
    """

    __visit_name__ = "indexed_by"
    named_with_column = False
    inherit_cache = False

    def __init__(self, table: Table, index: str) -> None:
        self.table = table
        self.index = index

    @property
    def _hide_froms(self) -> list[FromClause]:
        return [self.table]

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self, self.table]

    def _populate_column_collection(self, *args: Any, **kwargs: Any) -> None:
        """No columns of its own: queries keep using the table's columns."""


@compiles(IndexedBy)
def _compile_indexed_by(element: IndexedBy, compiler: SQLCompiler, **kw: Any) -> str:
    rendered = compiler.process(element.table, **kw)
    if compiler.dialect.name != "sqlite":
        return str(rendered)
    return f"{rendered} INDEXED BY {element.index}"


def has_index(connection: Connection, name: str) -> bool:
    """Whether the SQLite database has index ``name`` (from the one capabilities probe)."""
    return capabilities(connection).has_index(name)


def has_facts_index(connection: Connection) -> bool:
    """Whether init-db created :data:`FACTS_INDEX` (SQLite)."""
    return has_index(connection, FACTS_INDEX)


# -- SQLite: one exact quantile by walking an index in value order -----------------------------


def walked_quantile(
    connection: Connection,
    value: ColumnElement[Any],
    sessions: Any,
    where: Sequence[ColumnElement[bool]],
    count: int,
    q: float,
) -> float | None:
    """The exact ``q`` quantile of ``value`` over ``count`` non-NULL rows matching ``where``.

    ``percentile_cont``'s rule again, but the one or two rows it needs are read at their
    position (``ORDER BY value LIMIT 2 OFFSET k``) from an index already sorted by the value
    (``sessions`` names it), so nothing is sorted: it costs a walk through part of an index
    instead of sorting every matching row. ``count`` must be the number of
    rows ``where`` selects (from a previous count).
    """
    if count <= 0:
        return None
    position = q * (count - 1)
    low = int(position)
    fraction = position - low
    picked = (
        select(value.label("v"))
        .select_from(sessions)
        .where(*where)
        .order_by(value)
        .limit(2 if fraction > 0 else 1)
        .offset(low)
        .subquery("picked")
    )
    row = connection.execute(select(func.min(picked.c.v), func.max(picked.c.v))).one()
    if row[0] is None:
        return None
    low_value, high_value = float(row[0]), float(row[1])
    return low_value + (high_value - low_value) * fraction if fraction > 0 else low_value


def technique_source(caps: Capabilities, sessions: Any) -> tuple[Any, ColumnElement[Any]]:
    """FROM clause and technique column: the derived table, else the JSON array unnested."""
    if caps.techniques_table:
        techniques = copy.session_techniques
        return (sessions.join(techniques, S.c.session_id == techniques.c.session_id), techniques.c.technique)
    techniques_json = derived("techniques_json", caps)
    if caps.dialect == "sqlite":
        each = func.json_each(techniques_json).table_valued("value", "type").alias("each")
        return S.join(each, each.c.type == "text"), each.c.value
    # Strings only, as the technique table and the technique filter count them (an array may
    # also hold numbers or nulls).
    each = func.jsonb_array_elements(cast(techniques_json, JSONB)).table_valued("value").alias("each")
    return (
        S.join(each, func.jsonb_typeof(each.c.value) == "string"),
        each.c.value.op("#>>")(literal_column("'{}'")),
    )
