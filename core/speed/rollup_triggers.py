"""The rollups' trigger bodies: exact pre-aggregated facts for the aggregates, as SQL strings.

``agg_sessions`` holds, per session, exactly the facts the aggregates read (created day,
status, completed-only size and speed, megabytes saved, completion key, techniques). The
triggers subtract what it recorded for a session and add the session's new facts, so a
REPLACE on SQLite (which deletes without firing delete triggers) is undone from the record,
never from a row that is already gone. From it, in the same trigger:

* ``agg_counts``: per (technique, created day, status): sessions, sums and counts of size,
  speed and megabytes saved. ``technique = ''`` covers every session;
* ``agg_values``: per (metric, technique, value, created week): how many completed sessions
  have exactly that value, so exact medians and quartiles are read from a histogram. The
  week :data:`~core.speed.tables.ALL_WEEKS` sums every week (a range-free filter reads it alone);
* ``agg_bins``: the same counts per (metric, technique, created week, value bin), the bin
  being the value's integer part (:func:`value_bin`): a week is a few dozen bins instead of
  hundreds of values, so quantiles find their bin there and read only that bin's values
  (with the same ``ALL_WEEKS`` rows);
* ``agg_models``: per (model, status): sessions, best size and speed, last completion.

Owner: the rollup readers of core.stats (which fall back to the plain queries for filters these cannot
answer: model, free text, several techniques, a date bound that is not a whole UTC day). The
statements are assembled from the names and expressions of this package, never from input.
"""

from __future__ import annotations

from core.calendar import week_start_sql
from core.speed.expressions import SESSIONS, expressions, metric_expression
from core.speed.tables import (
    AGG_BINS,
    AGG_COUNTS,
    AGG_MODELS,
    AGG_SESSIONS,
    AGG_VALUES,
    ALL_WEEKS,
    COUNT_COLUMNS,
    ROLLUP_TABLES,
)

ROLLUP_METRICS = ("size", "speed")


def rollup_facts(dialect: str, row: str) -> dict[str, str]:
    """SQL for one session's facts, read from ``row`` (NEW, OLD or a table alias)."""
    t = f"{row}."
    size = metric_expression(dialect, "size_reduction", t)
    speed = metric_expression(dialect, "speed_improvement", t)
    completed = f"{row}.status = 'completed'"
    if dialect == "sqlite":
        day = f"coalesce(substr(strftime('%Y-%m-%d %H:%M:%f', {row}.created_at), 1, 10), '')"
        last = f"strftime('%Y-%m-%d %H:%M:%f', {row}.completed_at)"
    else:
        day = f"to_char({row}.created_at, 'YYYY-MM-DD')"
        last = f"{row}.completed_at"
    return {
        "session_id": f"{row}.session_id",
        "model_id": f"{row}.model_id",
        "day": day,
        "status": f"{row}.status",
        "size": f"CASE WHEN {completed} THEN {size} END",
        "speed": f"CASE WHEN {completed} THEN {speed} END",
        "saved": (
            f"CASE WHEN {completed} THEN (SELECT m.original_size_mb FROM models m"
            f" WHERE m.model_id = {row}.model_id) * ({size}) / 100.0 END"
        ),
        "last": f"CASE WHEN {completed} THEN {last} END",
        "techniques": expressions(dialect)["techniques_json"].replace("{t}", t),
    }


def _week_of(dialect: str, day: str) -> str:
    if dialect == "sqlite":
        return f"coalesce({week_start_sql(day, 'sqlite')}, '')"
    return (
        f"CASE WHEN {day} = '' THEN '' ELSE"
        f" to_char({week_start_sql(f'CAST({day} AS date)', 'postgresql')}, 'YYYY-MM-DD') END"
    )


def _scoped(dialect: str, where: str) -> str:
    """FROM clause: each recorded session once per distinct technique (``scope``)."""
    if dialect == "sqlite":
        inner = (
            f"SELECT DISTINCT f.session_id, j.value AS scope FROM {AGG_SESSIONS} f,"
            f" json_each(f.techniques) j WHERE j.type = 'text' AND {where}"
        )
    else:
        inner = (
            f"SELECT DISTINCT f.session_id, e #>> '{{}}' AS scope FROM {AGG_SESSIONS} f,"
            " jsonb_array_elements(CASE WHEN f.techniques IS NULL THEN '[]'::jsonb"
            " ELSE CAST(f.techniques AS jsonb) END) AS e"
            f" WHERE jsonb_typeof(e) = 'string' AND {where}"
        )
    return f"({inner}) t JOIN {AGG_SESSIONS} f ON f.session_id = t.session_id"


def _scopes(dialect: str, where: str) -> list[tuple[str, str, str, str]]:
    """(scope, its GROUP BY prefix, FROM, WHERE): every session, then per technique."""
    return [("''", "", f"{AGG_SESSIONS} f", where), ("t.scope", "t.scope, ", _scoped(dialect, where), "true")]


def add_counts(dialect: str, where: str, sign: int, *, saved_only: bool = False) -> list[str]:
    """Add ``sign`` x the recorded facts of the sessions ``where`` selects to ``agg_counts``."""

    def n(condition: str) -> str:
        return f"sum(CASE WHEN {condition} THEN {sign} ELSE 0 END)"

    def s(value: str) -> str:
        return f"sum({value})" if sign == 1 else f"-sum({value})"

    if saved_only:
        values = ["0", "0", "0", "0", "0", "0", f"coalesce({s('f.saved')}, 0)", n("f.saved IS NOT NULL")]
    else:
        values = [
            n("true"),
            f"coalesce({s('f.size')}, 0)",
            n("f.size IS NOT NULL"),
            f"coalesce({s('f.speed')}, 0)",
            n("f.speed IS NOT NULL"),
            n("f.size IS NOT NULL AND f.speed IS NOT NULL"),
            f"coalesce({s('f.saved')}, 0)",
            n("f.saved IS NOT NULL"),
        ]
    update = ", ".join(f"{c} = {AGG_COUNTS}.{c} + excluded.{c}" for c in COUNT_COLUMNS)
    return [
        f"INSERT INTO {AGG_COUNTS} (technique, day, status, {', '.join(COUNT_COLUMNS)})"
        f" SELECT {scope}, f.day, f.status, {', '.join(values)} FROM {source} WHERE {condition}"
        f" GROUP BY {group}f.day, f.status"
        f" ON CONFLICT (technique, day, status) DO UPDATE SET {update};"
        for scope, group, source, condition in _scopes(dialect, where)
    ]


def value_bin(dialect: str, value: str) -> str:
    """SQL for the bin of ``value`` in ``agg_bins``: monotone in the value, each bin one interval.

    Truncation on SQLite (``floor`` is not always compiled in), ``floor`` on PostgreSQL;
    :mod:`core.stats.rollups` mirrors both in Python.
    """
    return f"CAST({value} AS INTEGER)" if dialect == "sqlite" else f"floor({value})"


def add_histogram(
    dialect: str, table: str, column: str, where: str, sign: int, *, whole: bool = True
) -> list[str]:
    """Add ``sign`` x the sessions ``where`` selects to ``agg_values`` or ``agg_bins``.

    Each session counts in its created week and (``whole``) in the :data:`ALL_WEEKS` row:
    one statement writes both, through a two-row join.
    """
    week = _week_of(dialect, "f.day")
    levels = ""
    if whole:
        week = f"CASE WHEN lv.whole = 1 THEN '{ALL_WEEKS}' ELSE {week} END"
        levels = " CROSS JOIN (SELECT 0 AS whole UNION ALL SELECT 1 AS whole) lv"
    out = []
    for metric in ROLLUP_METRICS:
        key = f"f.{metric}" if column == "value" else value_bin(dialect, f"f.{metric}")
        out += [
            f"INSERT INTO {table} (metric, technique, {column}, week, n)"
            f" SELECT '{metric}', {scope}, {key}, {week}, {sign} * count(*)"
            f" FROM {source}{levels} WHERE {condition} AND f.{metric} IS NOT NULL"
            f" GROUP BY {group}{key}, {week}"
            f" ON CONFLICT (metric, technique, {column}, week) DO UPDATE SET n = {table}.n + excluded.n;"
            for scope, group, source, condition in _scopes(dialect, where)
        ]
    return out


def _add_values(dialect: str, where: str, sign: int) -> list[str]:
    return [
        *add_histogram(dialect, AGG_VALUES, "value", where, sign),
        *add_histogram(dialect, AGG_BINS, "bin", where, sign),
    ]


def _forget(dialect: str, sid: str) -> list[str]:
    """Undo what ``agg_sessions`` records for session ``sid``, then drop the record."""
    where = f"f.session_id = {sid}"
    best = ", ".join(
        f"{column} = (SELECT max(g.{source}) FROM {AGG_SESSIONS} g WHERE g.model_id ="
        f" {AGG_MODELS}.model_id AND g.status = {AGG_MODELS}.status AND g.session_id <> {sid})"
        for column, source in (("best_size", "size"), ("best_speed", "speed"), ("last", "last"))
    )
    return [
        *add_counts(dialect, where, -1),
        *_add_values(dialect, where, -1),
        f"UPDATE {AGG_MODELS} SET sessions = sessions - 1, {best}"
        f" WHERE model_id = (SELECT model_id FROM {AGG_SESSIONS} WHERE session_id = {sid})"
        f" AND status = (SELECT status FROM {AGG_SESSIONS} WHERE session_id = {sid});",
        f"DELETE FROM {AGG_SESSIONS} WHERE session_id = {sid};",
    ]


AGG_SESSION_COLUMNS = (
    "session_id",
    "model_id",
    "day",
    "status",
    "size",
    "speed",
    "saved",
    "last",
    "techniques",
)


def _record(dialect: str, row: str) -> list[str]:
    """Record the facts of ``row`` (NEW) and add them to the rollups."""
    facts = rollup_facts(dialect, row)
    keep = ", ".join(
        f"{c} = CASE WHEN {AGG_MODELS}.{c} IS NULL OR excluded.{c} > {AGG_MODELS}.{c}"
        f" THEN excluded.{c} ELSE {AGG_MODELS}.{c} END"
        for c in ("best_size", "best_speed", "last")
    )
    where = f"f.session_id = {row}.session_id"
    return [
        f"INSERT INTO {AGG_SESSIONS} ({', '.join(AGG_SESSION_COLUMNS)})"
        f" VALUES ({', '.join(facts[c] for c in AGG_SESSION_COLUMNS)});",
        *add_counts(dialect, where, 1),
        *_add_values(dialect, where, 1),
        f"INSERT INTO {AGG_MODELS} (model_id, status, sessions, best_size, best_speed, last)"
        f" SELECT model_id, status, 1, size, speed, last FROM {AGG_SESSIONS} f WHERE {where}"
        f" ON CONFLICT (model_id, status) DO UPDATE SET sessions = {AGG_MODELS}.sessions + 1, {keep};",
    ]


def _refresh_saved(dialect: str, model: str) -> list[str]:
    """Megabytes saved of model ``model``'s sessions, after its size changed (or it came/went)."""
    where = f"f.model_id = {model}"
    return [
        *add_counts(dialect, f"{where} AND f.saved IS NOT NULL", -1, saved_only=True),
        f"UPDATE {AGG_SESSIONS} SET saved = CASE WHEN status = 'completed' THEN (SELECT"
        f" m.original_size_mb FROM models m WHERE m.model_id = {AGG_SESSIONS}.model_id) * size"
        f" / 100.0 END WHERE model_id = {model};",
        *add_counts(dialect, f"{where} AND f.saved IS NOT NULL", 1, saved_only=True),
    ]


_SESSION_COLUMNS_READ = "session_id, model_id, status, created_at, completed_at, results, criteria"


def sqlite_rollup_triggers() -> list[str]:
    def body(*parts: list[str]) -> str:
        return " ".join(statement for part in parts for statement in part)

    forget_old, forget_new = _forget("sqlite", "OLD.session_id"), _forget("sqlite", "NEW.session_id")
    old_model, new_model = _refresh_saved("sqlite", "OLD.model_id"), _refresh_saved("sqlite", "NEW.model_id")
    names = (
        "trg_agg_insert",
        "trg_agg_update",
        "trg_agg_delete",
        "trg_agg_models_insert",
        "trg_agg_models_update",
        "trg_agg_models_delete",
    )
    return [
        *(f"DROP TRIGGER IF EXISTS {name}" for name in names),
        # REPLACE deleted the conflicting row silently: forget what was recorded for its id.
        f"CREATE TRIGGER trg_agg_insert AFTER INSERT ON {SESSIONS} BEGIN"
        f" {body(_forget('sqlite', 'NEW.session_id'), _record('sqlite', 'NEW'))} END",
        f"CREATE TRIGGER trg_agg_update AFTER UPDATE OF {_SESSION_COLUMNS_READ} ON {SESSIONS}"
        f" BEGIN {body(forget_old, forget_new, _record('sqlite', 'NEW'))} END",
        f"CREATE TRIGGER trg_agg_delete AFTER DELETE ON {SESSIONS} BEGIN"
        f" {body(_forget('sqlite', 'OLD.session_id'))} END",
        f"CREATE TRIGGER trg_agg_models_insert AFTER INSERT ON models BEGIN"
        f" {body(_refresh_saved('sqlite', 'NEW.model_id'))} END",
        f"CREATE TRIGGER trg_agg_models_update AFTER UPDATE OF model_id, original_size_mb ON models"
        f" BEGIN {body(old_model, new_model)} END",
        f"CREATE TRIGGER trg_agg_models_delete AFTER DELETE ON models BEGIN"
        f" {body(_refresh_saved('sqlite', 'OLD.model_id'))} END",
    ]


def pg_rollup_triggers() -> list[str]:
    def block(statements: list[str]) -> str:
        return " ".join(statements)

    clear = " ".join(f"DELETE FROM {name};" for name in ROLLUP_TABLES)
    return [
        "CREATE OR REPLACE FUNCTION agg_sessions_sync() RETURNS trigger AS $$ BEGIN"
        f" IF TG_OP IN ('UPDATE', 'DELETE') THEN {block(_forget('postgresql', 'OLD.session_id'))}"
        " END IF;"
        f" IF TG_OP IN ('INSERT', 'UPDATE') THEN {block(_record('postgresql', 'NEW'))} END IF;"
        " RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION agg_models_sync() RETURNS trigger AS $$ BEGIN"
        f" IF TG_OP IN ('UPDATE', 'DELETE') THEN {block(_refresh_saved('postgresql', 'OLD.model_id'))}"
        " END IF;"
        f" IF TG_OP IN ('INSERT', 'UPDATE') THEN {block(_refresh_saved('postgresql', 'NEW.model_id'))}"
        " END IF; RETURN NULL; END $$ LANGUAGE plpgsql",
        f"CREATE OR REPLACE FUNCTION agg_sessions_truncate() RETURNS trigger AS $$ BEGIN {clear}"
        " RETURN NULL; END $$ LANGUAGE plpgsql",
        *(
            f"DROP TRIGGER IF EXISTS {name} ON {table}"
            for name, table in (
                ("trg_agg_sessions", SESSIONS),
                ("trg_agg_sessions_truncate", SESSIONS),
                ("trg_agg_models", "models"),
            )
        ),
        f"CREATE TRIGGER trg_agg_sessions AFTER INSERT OR UPDATE OF {_SESSION_COLUMNS_READ}"
        f" OR DELETE ON {SESSIONS} FOR EACH ROW EXECUTE FUNCTION agg_sessions_sync()",
        f"CREATE TRIGGER trg_agg_sessions_truncate AFTER TRUNCATE ON {SESSIONS}"
        " FOR EACH STATEMENT EXECUTE FUNCTION agg_sessions_truncate()",
        "CREATE TRIGGER trg_agg_models AFTER INSERT OR UPDATE OF model_id, original_size_mb"
        " OR DELETE ON models FOR EACH ROW EXECUTE FUNCTION agg_models_sync()",
    ]
