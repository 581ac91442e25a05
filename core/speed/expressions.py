"""The derived values of a session as SQL, per dialect, and how a query reads them.

The platform's tables hold JSON and (on SQLite) timestamps as text. The copy stores these
expressions as generated columns (:mod:`core.speed.build`); a database without them (the
platform's own) answers alike, because :func:`derived` then inlines the same expression.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Float, Integer, Text, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from core.calendar import week_start_sql

SESSIONS = "optimization_sessions"
METRICS = {
    "size_reduction": "size_reduction_percent",
    "speed_improvement": "speed_improvement_percent",
    "accuracy_delta": "accuracy_delta_percent",
}

# Expressions over the platform's columns, per dialect. ``{t}`` is replaced by the table
# qualifier when inlined in a query and by nothing in a generated-column definition.
_SQLITE_METRIC = (
    "CASE WHEN json_valid({t}results) AND json_type({t}results, '$.{key}') IN ('integer', 'real')"
    " THEN json_extract({t}results, '$.{key}') END"
)
_PG_METRIC = (
    "CASE WHEN jsonb_typeof(CAST({t}results AS jsonb) -> '{key}') = 'number'"
    " THEN CAST(CAST({t}results AS jsonb) ->> '{key}' AS double precision) END"
)
# SQLite keeps timestamps as text; another writer may use 'T' or a 'Z'/'+00:00' suffix.
# strftime() normalises all of them to UTC 'YYYY-MM-DD HH:MM:SS.SSS', which sorts as text.
_SQLITE_KEY = "strftime('%Y-%m-%d %H:%M:%f', {t}{column})"
_SQLITE_EXPRESSIONS: dict[str, str] = {
    **{name: _SQLITE_METRIC.replace("{key}", key) for name, key in METRICS.items()},
    "progress": (
        "CASE {t}status WHEN 'completed' THEN 100.0 WHEN 'pending' THEN 0.0 ELSE"
        " CASE WHEN {t}total_steps > 0 AND {t}completed_steps IS NOT NULL"
        " THEN max(0.0, min(100.0, {t}completed_steps * 100.0 / {t}total_steps)) ELSE 0.0 END END"
    ),
    "techniques_json": (
        "CASE WHEN json_valid({t}criteria) AND json_type({t}criteria, '$.techniques') = 'array'"
        " THEN json_extract({t}criteria, '$.techniques') END"
    ),
    "data_issue": (
        "CASE WHEN {t}criteria IS NOT NULL AND {t}criteria <> 'null' AND (NOT json_valid({t}criteria)"
        " OR json_type({t}criteria) <> 'object'"
        " OR coalesce(json_type({t}criteria, '$.techniques'), 'array') NOT IN ('array', 'null'))"
        " THEN 1 WHEN {t}results IS NOT NULL AND {t}results <> 'null' AND (NOT json_valid({t}results)"
        " OR json_type({t}results) <> 'object'"
        + "".join(
            f" OR coalesce(json_type({{t}}results, '$.{key}'), 'null') NOT IN ('integer', 'real', 'null')"
            for key in METRICS.values()
        )
        + ") THEN 1 ELSE 0 END"
    ),
    "created_key": _SQLITE_KEY.replace("{column}", "created_at"),
    # The Monday of its week (core.stats.sql.bucket_expression's week bucket, computed once).
    "created_week": week_start_sql(_SQLITE_KEY.replace("{column}", "created_at"), "sqlite"),
    "updated_key": _SQLITE_KEY.replace("{column}", "updated_at"),
    "completed_key": _SQLITE_KEY.replace("{column}", "completed_at"),
}
_PG_EXPRESSIONS: dict[str, str] = {
    **{name: _PG_METRIC.replace("{key}", key) for name, key in METRICS.items()},
    "progress": (
        "CASE {t}status WHEN 'completed' THEN 100.0 WHEN 'pending' THEN 0.0 ELSE"
        " CASE WHEN {t}total_steps > 0 AND {t}completed_steps IS NOT NULL"
        " THEN greatest(0.0, least(100.0, {t}completed_steps * 100.0 / {t}total_steps)) ELSE 0.0 END END"
    ),
    "techniques_json": (
        "CASE WHEN jsonb_typeof(CAST({t}criteria AS jsonb) -> 'techniques') = 'array'"
        " THEN CAST(CAST({t}criteria AS jsonb) -> 'techniques' AS text) END"
    ),
    "data_issue": (
        "CASE WHEN coalesce(jsonb_typeof(CAST({t}criteria AS jsonb)), 'null') NOT IN ('object', 'null')"
        " OR coalesce(jsonb_typeof(CAST({t}criteria AS jsonb) -> 'techniques'), 'array')"
        " NOT IN ('array', 'null')"
        " OR coalesce(jsonb_typeof(CAST({t}results AS jsonb)), 'null') NOT IN ('object', 'null')"
        + "".join(
            f" OR coalesce(jsonb_typeof(CAST({{t}}results AS jsonb) -> '{key}'), 'null')"
            " NOT IN ('number', 'null')"
            for key in METRICS.values()
        )
        + " THEN 1 ELSE 0 END"
    ),
}
TYPES: dict[str, type[TypeEngine[Any]]] = {
    "progress": Float,
    "techniques_json": Text,
    "data_issue": Integer,
    "created_key": Text,
    "updated_key": Text,
    "completed_key": Text,
    "created_week": Text,
    **{name: Float for name in METRICS},
}
_SQL_TYPES: dict[str, dict[type[TypeEngine[Any]], str]] = {
    "sqlite": {Float: "REAL", Text: "TEXT", Integer: "INTEGER"},
    "postgresql": {Float: "double precision", Text: "text", Integer: "integer"},
}


def expressions(dialect: str) -> dict[str, str]:
    """Every derived value of ``dialect`` by name, with ``{t}`` where the table qualifier goes."""
    return _SQLITE_EXPRESSIONS if dialect == "sqlite" else _PG_EXPRESSIONS


def sql_type(dialect: str, name: str) -> str:
    """The SQL type of derived value ``name`` as its generated column declares it."""
    return _SQL_TYPES[dialect][TYPES[name]]


def metric_expression(dialect: str, metric: str, qualifier: str) -> str:
    """The numeric value of ``results``' ``metric`` (a :data:`METRICS` key), NULL unless a number."""
    template = _SQLITE_METRIC if dialect == "sqlite" else _PG_METRIC
    return template.replace("{key}", METRICS[metric]).replace("{t}", qualifier)


class GeneratedColumns(Protocol):
    """What :func:`derived` needs to know of a database: its dialect and its generated columns
    (:class:`core.speed.capabilities.Capabilities` is one)."""

    @property
    def dialect(self) -> str: ...

    def has(self, name: str) -> bool: ...


def derived(name: str, caps: GeneratedColumns) -> ColumnElement[Any]:
    """The derived value ``name``: its generated column when present, else the inline expression."""
    type_ = TYPES[name]
    if caps.has(name):
        return literal_column(f"{SESSIONS}.{name}", type_)
    expression = expressions(caps.dialect)[name].replace("{t}", f"{SESSIONS}.")
    return literal_column(f"({expression})", type_)


def timestamp_key(column: str, caps: GeneratedColumns) -> ColumnElement[Any]:
    """A sortable, comparable form of ``created_at``/``updated_at``/``completed_at``."""
    if caps.dialect == "sqlite":
        return derived(column.replace("_at", "_key"), caps)
    return literal_column(f"{SESSIONS}.{column}")
