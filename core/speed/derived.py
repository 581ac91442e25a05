"""Derived structures that make queries fast, and the SQL expressions they are made of.

The platform's tables hold JSON and (on SQLite) timestamps as text. Sorting or filtering on
values extracted at query time scans the whole table, so ``init_db`` adds to the dashboard's
copy of those tables (:mod:`core.speed.mirror`; never to the platform's own):

* generated columns (virtual on SQLite, stored on PostgreSQL) for the metrics, the progress,
  the techniques list, a malformed-data flag and, on SQLite, sortable UTC timestamp keys;
* composite indexes ending in ``session_id`` (the tie-breaker of every order);
* ``session_techniques`` (one row per session and technique) kept by triggers;
* a trigram search index: an FTS5 ``trigram`` table kept by triggers on SQLite, ``pg_trgm``
  GIN indexes on PostgreSQL.

Everything is maintained by the copy's database itself (generated columns and triggers), so the
rows each sync upserts or deletes keep them correct with no rebuild step. A database without
them (the platform's own) answers alike: :func:`derived` then inlines the same expressions, and
:func:`capabilities` is the one probe of which structures a database has.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, Text, inspect, literal_column, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from core.store.tables import metadata

SESSIONS = "optimization_sessions"
TECHNIQUES_TABLE = "session_techniques"
SEARCH_TABLE = "session_search"
# SQLite only: one row per live session (its search-index rowid and its status), which lets the
# triggers undo what a REPLACE removed without firing delete triggers.
KEYS_TABLE = "session_keys"
# Exact sessions per status, kept by triggers (a count of 800,000 index entries takes tens of
# milliseconds). PostgreSQL spreads each status over COUNT_SLOTS rows picked by backend, so
# concurrent platform writers do not queue on one counter row; readers sum the slots.
COUNTS_TABLE = "session_counts"
COUNT_SLOTS = 16
# The (status, metric) indexes whose value order the SQLite medians walk (core.stats.aggregates).
STATUS_METRIC_INDEXES = {"size": "ix_sessions_status_size", "speed": "ix_sessions_status_speed"}
# SQLite: the metrics by list of techniques (see _init_sqlite), read by core.stats.aggregates.
TECHNIQUE_SET_INDEXES = {
    "ix_sessions_technique_size": "size_reduction",
    "ix_sessions_technique_speed": "speed_improvement",
}
# SQLite: the metrics by week created, the same way (core.stats.aggregates.period_stats).
WEEK_INDEXES = {"ix_sessions_week_size": "size_reduction", "ix_sessions_week_speed": "speed_improvement"}
# Partial indexes over the completed sessions with both metrics (see _create_indexes).
POINTS_INDEX = "ix_sessions_points"
FRONT_INDEX = "ix_sessions_front"
POINTS_WHERE = "status = 'completed' AND size_reduction IS NOT NULL AND speed_improvement IS NOT NULL"
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
    # SQLite keeps timestamps as text; another writer may use 'T' or a 'Z'/'+00:00' suffix.
    # strftime() normalises all of them to UTC 'YYYY-MM-DD HH:MM:SS.SSS', which sorts as text.
    "created_key": "strftime('%Y-%m-%d %H:%M:%f', {t}created_at)",
    # The Monday of its week (core.stats.sql.bucket_expression's week bucket, computed once).
    "created_week": "date(strftime('%Y-%m-%d %H:%M:%f', {t}created_at), 'weekday 0', '-6 days')",
    "updated_key": "strftime('%Y-%m-%d %H:%M:%f', {t}updated_at)",
    "completed_key": "strftime('%Y-%m-%d %H:%M:%f', {t}completed_at)",
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
_TYPES = {
    "progress": Float,
    "techniques_json": Text,
    "data_issue": Integer,
    "created_key": Text,
    "updated_key": Text,
    "completed_key": Text,
    "created_week": Text,
    **{name: Float for name in METRICS},
}
_SQL_TYPES = {
    "sqlite": {Float: "REAL", Text: "TEXT", Integer: "INTEGER"},
    "postgresql": {Float: "double precision", Text: "text", Integer: "integer"},
}


def _expressions(dialect: str) -> dict[str, str]:
    return _SQLITE_EXPRESSIONS if dialect == "sqlite" else _PG_EXPRESSIONS


@dataclass(frozen=True)
class Capabilities:
    """What ``init_db`` has added to this database (nothing, for a bare platform database)."""

    dialect: str
    generated_columns: frozenset[str]
    techniques_table: bool
    search_index: bool
    status_counts: bool = False  # COUNTS_TABLE: exact sessions per status, kept by triggers
    rollups: bool = False  # ROLLUP_TABLES: exact pre-aggregated facts, kept by triggers
    points_indexes: bool = False  # POINTS_INDEX and FRONT_INDEX (partial, completed with metrics)
    indexes: frozenset[str] = frozenset()  # index names on the sessions table (SQLite: all)

    def has(self, name: str) -> bool:
        return name in self.generated_columns

    def has_index(self, name: str) -> bool:
        """Whether SQLite index ``name`` exists (readers name it in ``INDEXED BY``)."""
        return self.dialect == "sqlite" and name in self.indexes


_capabilities: weakref.WeakKeyDictionary[Engine, Capabilities] = weakref.WeakKeyDictionary()


def capabilities(connection: Connection) -> Capabilities:
    """Inspect (once per engine) which derived structures exist."""
    engine = connection.engine
    found = _capabilities.get(engine)
    if found is None:
        found = _inspect_capabilities(connection)
        _capabilities[engine] = found
    return found


def forget_capabilities(engine: Engine) -> None:
    _capabilities.pop(engine, None)


def override_capabilities(engine: Engine, caps: Capabilities) -> None:
    """Make ``engine`` behave as if only ``caps`` existed (tests compare paths with this)."""
    _capabilities[engine] = caps


def _inspect_capabilities(connection: Connection) -> Capabilities:
    dialect = connection.dialect.name
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    columns: set[str] = set()
    if SESSIONS in tables:
        columns = {c["name"] for c in inspector.get_columns(SESSIONS)}
        if dialect == "sqlite":
            # PRAGMA table_info hides generated columns; table_xinfo shows them.
            rows = connection.exec_driver_sql(f"PRAGMA table_xinfo({SESSIONS})").all()
            columns |= {row[1] for row in rows}
    wanted = set(_expressions(dialect))
    if dialect == "sqlite":
        search = SEARCH_TABLE in tables
        indexes = _sqlite_objects(connection, "index")
    else:
        indexes = {ix["name"] for ix in inspector.get_indexes(SESSIONS)} if SESSIONS in tables else set()
        search = "ix_sessions_session_id_trgm" in indexes
    return Capabilities(
        dialect=dialect,
        generated_columns=frozenset(wanted & columns),
        techniques_table=TECHNIQUES_TABLE in tables,
        search_index=search,
        status_counts=COUNTS_TABLE in tables and (dialect != "sqlite" or KEYS_TABLE in tables),
        rollups=all(name in tables for name in ROLLUP_TABLES),
        points_indexes=POINTS_INDEX in indexes and FRONT_INDEX in indexes,
        indexes=frozenset(indexes),
    )


def derived(name: str, caps: Capabilities) -> ColumnElement[Any]:
    """The derived value ``name``: its generated column when present, else the inline expression."""
    type_ = _TYPES[name]
    if caps.has(name):
        return literal_column(f"{SESSIONS}.{name}", type_)
    expression = _expressions(caps.dialect)[name].replace("{t}", f"{SESSIONS}.")
    return literal_column(f"({expression})", type_)


def timestamp_key(column: str, caps: Capabilities) -> ColumnElement[Any]:
    """A sortable, comparable form of ``created_at``/``updated_at``/``completed_at``."""
    if caps.dialect == "sqlite":
        return derived(column.replace("_at", "_key"), caps)
    return literal_column(f"{SESSIONS}.{column}")


# -- init-db ---------------------------------------------------------------------------------

_SQLITE_TECHNIQUES_OF = (
    "SELECT {row}.session_id, value FROM json_each(CASE WHEN json_valid({row}.criteria)"
    " AND json_type({row}.criteria, '$.techniques') = 'array'"
    " THEN json_extract({row}.criteria, '$.techniques') ELSE '[]' END) WHERE type = 'text'"
)
_PG_TECHNIQUES_OF = (
    "SELECT {row}.session_id, e #>> '{{}}' FROM jsonb_array_elements(CASE WHEN"
    " jsonb_typeof(CAST({row}.criteria AS jsonb) -> 'techniques') = 'array'"
    " THEN CAST({row}.criteria AS jsonb) -> 'techniques' ELSE '[]'::jsonb END) AS e"
    " WHERE jsonb_typeof(e) = 'string'"
)

_INDEXES = {
    # (name, columns) — created on both backends; ``*_key`` become the raw column on PostgreSQL.
    "ix_sessions_created": ("created_key", "session_id"),
    "ix_sessions_status_created": ("status", "created_key", "session_id"),
    "ix_sessions_model_created": ("model_id", "created_key", "session_id"),
    "ix_sessions_updated": ("updated_key", "session_id"),
    "ix_sessions_completed": ("completed_key", "session_id"),
    "ix_sessions_status_session": ("status", "session_id"),
    "ix_sessions_model_session": ("model_id", "session_id"),
    "ix_sessions_size": ("size_reduction", "session_id"),
    "ix_sessions_status_size": ("status", "size_reduction", "session_id"),
    "ix_sessions_speed": ("speed_improvement", "session_id"),
    "ix_sessions_status_speed": ("status", "speed_improvement", "session_id"),
    "ix_sessions_accuracy": ("accuracy_delta", "session_id"),
    "ix_sessions_progress": ("progress", "session_id"),
    "ix_sessions_status_progress": ("status", "progress", "session_id"),
    "ix_sessions_techniques": ("techniques_json", "session_id"),
}
_NULLABLE_SORT_COLUMNS = {
    "size_reduction",
    "speed_improvement",
    "accuracy_delta",
    "completed_key",
    "techniques_json",
}


_progress: ContextVar[Callable[[str], None]] = ContextVar("init_db_progress", default=lambda _: None)


def _step(message: str) -> None:
    """Say which long step ``init_db`` starts (minutes at a million rows)."""
    _progress.get()(message)


def init_db(engine: Engine, progress: Callable[[str], None] | None = None) -> None:
    """Create the tables when missing and add every derived structure; idempotent.

    The speed layer runs it on the dashboard's copy (:mod:`core.speed.mirror`), never on the
    platform's tables. It only adds columns, indexes, tables and triggers, and fills the
    derived tables from the existing rows; ``progress`` hears of each long step.
    """
    token = _progress.set(progress or (lambda _: None))
    try:
        _init_db(engine)
    finally:
        _progress.reset(token)


def _init_db(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            _init_sqlite(connection)
        else:
            # On a platform table of a million rows, adding stored columns rewrites the table
            # and each index build reads it: minutes, not the seconds the engine's statement
            # timeout allows interactive queries. Both settings end with this transaction.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            _init_postgresql(connection)
        from core.speed.export_cells import init_export_cells  # imports this module

        _step("export lines (each session's CSV row)")
        init_export_cells(connection)
    if engine.dialect.name == "postgresql":
        _step("VACUUM (ANALYZE)")
        _vacuum_sessions(engine)
    forget_capabilities(engine)


def _vacuum_sessions(engine: Engine) -> None:
    """VACUUM (ANALYZE) the sessions table after init-db.

    Adding stored columns rewrites the table with an empty visibility map, and a rewrite is
    not counted as inserts, so autovacuum may leave it so for a long time: every index-only
    scan (counts, deep pages, the scatter's hops) then visits the heap too (measured at
    1,000,000 sessions: skip=500000 from 63 to 251 ms). On a table already vacuumed this
    takes about a second. VACUUM cannot run inside a transaction.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET statement_timeout = 0")
        try:
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {SESSIONS}")
            connection.exec_driver_sql("VACUUM (ANALYZE) models")
        finally:
            # Back to the connection's own setting before it returns to the pool.
            connection.exec_driver_sql("RESET statement_timeout")


def _add_generated_columns(connection: Connection, kind: str) -> None:
    dialect = connection.dialect.name
    caps = _inspect_capabilities(connection)
    additions = [
        f"ADD COLUMN {name} {_SQL_TYPES[dialect][_TYPES[name]]}"
        f" GENERATED ALWAYS AS ({expression.replace('{t}', '')}) {kind}"
        for name, expression in _expressions(dialect).items()
        if not caps.has(name)
    ]
    if not additions:
        return
    _step(f"{len(additions)} generated columns")
    if dialect == "postgresql":
        # Stored columns rewrite the table: one ALTER TABLE rewrites it once, not once a column.
        connection.exec_driver_sql(f"ALTER TABLE {SESSIONS} {', '.join(additions)}")
        return
    for addition in additions:  # SQLite: one column a statement (virtual: no rewrite)
        connection.exec_driver_sql(f"ALTER TABLE {SESSIONS} {addition}")


def _create_indexes(connection: Connection) -> None:
    dialect = connection.dialect.name
    for index_name, columns in _INDEXES.items():
        _step(f"index {index_name}")
        rendered = []
        for column in columns:
            if dialect == "postgresql":
                column = column.replace("_key", "_at")
                # NULLs sort as the smallest value on both backends (SQLite's native rule), so
                # one index serves ASC NULLS FIRST forwards and DESC NULLS LAST backwards.
                base = column.replace("_at", "_key")
                if column in _NULLABLE_SORT_COLUMNS or base in _NULLABLE_SORT_COLUMNS:
                    column += " NULLS FIRST"
            rendered.append(column)
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {index_name} ON {SESSIONS} ({', '.join(rendered)})"
        )
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_data_issue ON {SESSIONS} (session_id) WHERE data_issue = 1"
    )
    connection.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_models_name ON models (name)")
    # Completed sessions with both metrics (the trade-off plane), for the aggregates: numbering
    # them by id for the scatter's even sample, and the best speed at each size for the Pareto
    # front, without reading the other rows. Owner: core/aggregates.py.
    created = "created_key" if dialect == "sqlite" else "created_at"
    for name, columns in (
        (POINTS_INDEX, f"session_id, {created}"),
        (FRONT_INDEX, "size_reduction, speed_improvement"),
    ):
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {SESSIONS} ({columns}) WHERE {POINTS_WHERE}"
        )


def _sqlite_objects(connection: Connection, kind: str) -> set[str]:
    rows = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
    return {row[0] for row in rows}


# The search index, the key table and the per-status counts change together. REPLACE (and
# UPDATE OR REPLACE) delete the conflicting row without firing delete triggers, so every insert
# first undoes whatever the key table still records for the incoming session_id. The search
# index gets its own rowids (recorded in the key table), never the table's implicit rowid, which
# VACUUM may renumber.
_SQLITE_FORGET = (
    f" UPDATE {COUNTS_TABLE} SET sessions = sessions - 1"
    f" WHERE status = (SELECT status FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id);"
    f" DELETE FROM {SEARCH_TABLE}"
    f" WHERE rowid = (SELECT search_rowid FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id);"
    f" DELETE FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id;"
)
_SQLITE_RECORD = (
    f" INSERT INTO {SEARCH_TABLE} (session_id) VALUES (NEW.session_id);"
    f" INSERT INTO {KEYS_TABLE} (session_id, search_rowid, status)"
    " VALUES (NEW.session_id, last_insert_rowid(), NEW.status);"
    f" INSERT INTO {COUNTS_TABLE} (status, sessions) VALUES (NEW.status, 1)"
    " ON CONFLICT (status) DO UPDATE SET sessions = sessions + 1;"
)
_SQLITE_OLD_TRIGGERS = ("trg_search_insert", "trg_search_update", "trg_search_delete")


def _init_sqlite(connection: Connection) -> None:
    _drop_old_search_index(connection)
    tables_before = _sqlite_objects(connection, "table")
    triggers_before = _sqlite_objects(connection, "trigger")
    indexes_before = _sqlite_objects(connection, "index")
    _add_generated_columns(connection, "VIRTUAL")
    _create_indexes(connection)
    # The aggregates' full scans read their values here (core.stats.sql.FACTS_INDEX) instead of
    # parsing each row's JSON: 5-10 times faster on SQLite. Owner: core/aggregates.py.
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_facts ON {SESSIONS} (status, created_key,"
        " model_id, size_reduction, speed_improvement, completed_key, session_id)"
    )
    # The same values by model first (core.stats.sql.MODEL_FACTS_INDEX): aggregates of a few
    # hundred models (a model-name search) read their sessions' entries, not a million.
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_model_facts ON {SESSIONS} (model_id, status,"
        " created_key, size_reduction, speed_improvement, completed_key, session_id)"
    )
    # Per technique of a broad scan (core.stats.aggregates.technique_stats): the values grouped by the
    # session's list of techniques, in (list, value) order, so each histogram streams off an
    # index instead of joining every session to its techniques and sorting.
    for leading, indexes in (("techniques_json", TECHNIQUE_SET_INDEXES), ("created_week", WEEK_INDEXES)):
        for name, metric in indexes.items():
            _step(f"index {name}")
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {name} ON {SESSIONS} ({leading}, {metric}, status,"
                " created_key, model_id, session_id)"
            )
    techniques_of = _SQLITE_TECHNIQUES_OF.format(row="NEW")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TECHNIQUES_TABLE} (technique TEXT NOT NULL,"
        f" session_id TEXT NOT NULL, PRIMARY KEY (technique, session_id)) WITHOUT ROWID",
        f"CREATE INDEX IF NOT EXISTS ix_session_techniques_session ON {TECHNIQUES_TABLE} (session_id)",
        # Session ids only: model ids are few (core.query.sessions matches them in agg_models), and
        # their trigrams ("mdl", "dl-") in every row would make each search read doclists of
        # a million entries.
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5(session_id, tokenize = 'trigram')",
        f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (session_id TEXT PRIMARY KEY,"
        " search_rowid INTEGER NOT NULL, status TEXT NOT NULL) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {COUNTS_TABLE} (status TEXT PRIMARY KEY,"
        " sessions INTEGER NOT NULL) WITHOUT ROWID",
        # Triggers are replaced every time, so a database initialised by an older version gets
        # the current definitions.
        *(
            f"DROP TRIGGER IF EXISTS {name}"
            for name in (
                *_SQLITE_OLD_TRIGGERS,
                "trg_techniques_insert",
                "trg_techniques_update",
                "trg_techniques_delete",
                "trg_keys_insert",
                "trg_keys_update",
                "trg_keys_delete",
            )
        ),
        # REPLACE deletes without firing delete triggers, so inserts clear stale rows first.
        f"CREATE TRIGGER trg_techniques_insert AFTER INSERT ON {SESSIONS} BEGIN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = NEW.session_id;"
        f" INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}; END",
        # UPDATE OR REPLACE may also have removed the row that held NEW.session_id.
        f"CREATE TRIGGER trg_techniques_update AFTER UPDATE OF session_id, criteria"
        f" ON {SESSIONS} BEGIN DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id;"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = NEW.session_id;"
        f" INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}; END",
        f"CREATE TRIGGER trg_techniques_delete AFTER DELETE ON {SESSIONS} BEGIN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id; END",
        f"CREATE TRIGGER trg_keys_insert AFTER INSERT ON {SESSIONS} BEGIN"
        f"{_SQLITE_FORGET.format(row='NEW')}{_SQLITE_RECORD} END",
        f"CREATE TRIGGER trg_keys_update AFTER UPDATE OF session_id, status"
        f" ON {SESSIONS} BEGIN{_SQLITE_FORGET.format(row='OLD')}"
        f"{_SQLITE_FORGET.format(row='NEW')}{_SQLITE_RECORD} END",
        f"CREATE TRIGGER trg_keys_delete AFTER DELETE ON {SESSIONS} BEGIN"
        f"{_SQLITE_FORGET.format(row='OLD')} END",
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)
    changed = AGG_SESSIONS not in tables_before
    _step("rollups (per day, status and technique)")
    _init_rollups(connection)
    if (
        KEYS_TABLE not in tables_before
        or COUNTS_TABLE not in tables_before
        or SEARCH_TABLE not in tables_before
    ):
        _step("search index and per-status counts")
        _rebuild_sqlite_keys(connection)
        changed = True
    if TECHNIQUES_TABLE not in tables_before or "trg_techniques_insert" not in triggers_before:
        _step("techniques table")
        _backfill(connection)
        changed = True
    if changed or _sqlite_objects(connection, "index") != indexes_before:
        connection.exec_driver_sql("ANALYZE")


def _drop_old_search_index(connection: Connection) -> None:
    """Drop a search index made by an earlier version (it also indexed model ids), so it is
    built again as it is now; the dashboard reads either correctly in the meantime."""
    if SEARCH_TABLE not in _sqlite_objects(connection, "table"):
        return
    columns = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({SEARCH_TABLE})")}
    if "model_id" in columns:
        connection.exec_driver_sql(f"DROP TABLE {SEARCH_TABLE}")


def _rebuild_sqlite_keys(connection: Connection) -> None:
    """Fill the search index, key table and counts from the rows as they are (bulk, once)."""
    for name in (SEARCH_TABLE, KEYS_TABLE, COUNTS_TABLE):
        connection.exec_driver_sql(f"DELETE FROM {name}")
    connection.exec_driver_sql(
        f"INSERT INTO {SEARCH_TABLE} (rowid, session_id) SELECT rowid, session_id FROM {SESSIONS}"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {KEYS_TABLE} (session_id, search_rowid, status)"
        f" SELECT session_id, rowid, status FROM {SESSIONS}"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {COUNTS_TABLE} (status, sessions)"
        f" SELECT status, count(*) FROM {SESSIONS} GROUP BY status"
    )


def _backfill(connection: Connection) -> None:
    """Fill the technique table from rows written before its triggers existed."""
    if connection.dialect.name == "sqlite":
        techniques_of = _SQLITE_TECHNIQUES_OF.format(row="s")
        connection.exec_driver_sql(
            f"INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique)"
            f" {techniques_of.replace('FROM json_each', f'FROM {SESSIONS} s, json_each')}"
        )
    else:
        techniques_of = _PG_TECHNIQUES_OF.format(row="s")
        connection.exec_driver_sql(
            f"INSERT INTO {TECHNIQUES_TABLE} (session_id, technique)"
            f" {techniques_of.replace('FROM jsonb_array', f'FROM {SESSIONS} s, jsonb_array')}"
            " ON CONFLICT DO NOTHING"
        )


def _pg_counts_statements() -> list[str]:
    slot = f"mod(pg_backend_pid(), {COUNT_SLOTS})"
    upsert = (
        f" ON CONFLICT (status, slot) DO UPDATE SET sessions = {COUNTS_TABLE}.sessions + EXCLUDED.sessions;"
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {COUNTS_TABLE} (status text NOT NULL, slot integer NOT NULL,"
        " sessions bigint NOT NULL, PRIMARY KEY (status, slot))",
        # Statement level with transition tables: a bulk insert or delete is one update a status.
        "CREATE OR REPLACE FUNCTION session_counts_insert() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) SELECT status, {slot}, count(*)"
        f" FROM new_rows GROUP BY status{upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION session_counts_delete() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) SELECT status, {slot}, -count(*)"
        f" FROM old_rows GROUP BY status{upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        # Row level, and only when the status really changes (progress updates are frequent).
        "CREATE OR REPLACE FUNCTION session_counts_update() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) VALUES (OLD.status, {slot}, -1),"
        f" (NEW.status, {slot}, 1){upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION session_counts_truncate() RETURNS trigger AS $$ BEGIN"
        f" DELETE FROM {COUNTS_TABLE}; RETURN NULL; END $$ LANGUAGE plpgsql",
        *(
            f"DROP TRIGGER IF EXISTS {name} ON {SESSIONS}"
            for name in (
                "trg_session_counts_insert",
                "trg_session_counts_delete",
                "trg_session_counts_update",
                "trg_session_counts_truncate",
            )
        ),
        f"CREATE TRIGGER trg_session_counts_insert AFTER INSERT ON {SESSIONS}"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_insert()",
        f"CREATE TRIGGER trg_session_counts_delete AFTER DELETE ON {SESSIONS}"
        " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_delete()",
        f"CREATE TRIGGER trg_session_counts_update AFTER UPDATE OF status ON {SESSIONS} FOR EACH ROW"
        " WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION session_counts_update()",
        f"CREATE TRIGGER trg_session_counts_truncate AFTER TRUNCATE ON {SESSIONS}"
        " FOR EACH STATEMENT EXECUTE FUNCTION session_counts_truncate()",
    ]


def _init_postgresql(connection: Connection) -> None:
    trigger_before = connection.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'trg_session_techniques'"
        f" AND tgrelid = to_regclass('{SESSIONS}')"
    ).scalar_one()
    counts_before = connection.exec_driver_sql(
        f"SELECT to_regclass('{COUNTS_TABLE}') IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg_session_counts_insert')"
    ).scalar_one()
    _add_generated_columns(connection, "STORED")
    _create_indexes(connection)
    techniques_of = _PG_TECHNIQUES_OF.format(row="NEW")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TECHNIQUES_TABLE} (technique text NOT NULL,"
        " session_id text NOT NULL, PRIMARY KEY (technique, session_id))",
        f"CREATE INDEX IF NOT EXISTS ix_session_techniques_session ON {TECHNIQUES_TABLE} (session_id)",
        "CREATE OR REPLACE FUNCTION sync_session_techniques() RETURNS trigger AS $$ BEGIN"
        f" IF TG_OP IN ('UPDATE', 'DELETE') THEN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id; END IF;"
        f" IF TG_OP IN ('INSERT', 'UPDATE') THEN"
        f" INSERT INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}"
        " ON CONFLICT DO NOTHING; END IF; RETURN NULL; END $$ LANGUAGE plpgsql",
        f"DROP TRIGGER IF EXISTS trg_session_techniques ON {SESSIONS}",
        f"CREATE TRIGGER trg_session_techniques AFTER INSERT OR UPDATE OF session_id, criteria"
        f" OR DELETE ON {SESSIONS} FOR EACH ROW EXECUTE FUNCTION sync_session_techniques()",
    ]
    for statement in [*statements, *_pg_counts_statements()]:
        connection.exec_driver_sql(statement)
    _init_rollups(connection)
    # After the triggers exist: creating them locked out writers, so nothing is missed.
    if not trigger_before:  # rows written before the trigger existed
        _backfill(connection)
    if not counts_before:
        connection.exec_driver_sql(f"DELETE FROM {COUNTS_TABLE}")
        connection.exec_driver_sql(
            f"INSERT INTO {COUNTS_TABLE} (status, slot, sessions)"
            f" SELECT status, 0, count(*) FROM {SESSIONS} GROUP BY status"
        )
    # pg_trgm may be unavailable to this role; search then falls back to a plain scan.
    has_trgm = connection.execute(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
    ).scalar_one()
    if not has_trgm:
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            has_trgm = 1
        except Exception:
            has_trgm = 0
    if has_trgm:
        for column in ("session_id", "model_id"):
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_sessions_{column}_trgm ON {SESSIONS}"
                f" USING gin ({column} gin_trgm_ops)"
            )
        connection.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_models_name_trgm ON models USING gin (name gin_trgm_ops)"
        )
        # A search matches model ids among agg_models' distinct ones (core.query.sessions): ILIKE over
        # its ~10,000 rows costs 8 ms a statement without this.
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_agg_models_model_id_trgm ON {AGG_MODELS}"
            " USING gin (model_id gin_trgm_ops)"
        )
    connection.exec_driver_sql(f"ANALYZE {SESSIONS}")


# -- rollups: exact pre-aggregated facts for the aggregates, kept by triggers ---------------------
#
# ``agg_sessions`` holds, per session, exactly the facts the aggregates read (created day,
# status, completed-only size and speed, megabytes saved, completion key, techniques). The
# triggers subtract what it recorded for a session and add the session's new facts, so a
# REPLACE on SQLite (which deletes without firing delete triggers) is undone from the record,
# never from a row that is already gone. From it, in the same trigger:
#
# * ``agg_counts``: per (technique, created day, status): sessions, sums and counts of size,
#   speed and megabytes saved. ``technique = ''`` covers every session;
# * ``agg_values``: per (metric, technique, value, created week): how many completed sessions
#   have exactly that value, so exact medians and quartiles are read from a histogram. The
#   week :data:`ALL_WEEKS` sums every week (a range-free filter reads it alone);
# * ``agg_bins``: the same counts per (metric, technique, created week, value bin), the bin
#   being the value's integer part (:func:`value_bin`): a week is a few dozen bins instead of
#   hundreds of values, so quantiles find their bin there and read only that bin's values
#   (with the same :data:`ALL_WEEKS` rows);
# * ``agg_models``: per (model, status): sessions, best size and speed, last completion.
#
# Owner: core/aggregates.py (which falls back to the plain queries for filters these cannot
# answer: model, free text, several techniques, a date bound that is not a whole UTC day).
AGG_SESSIONS = "agg_sessions"
AGG_COUNTS = "agg_counts"
AGG_VALUES = "agg_values"
AGG_MODELS = "agg_models"
AGG_BINS = "agg_bins"
ALL_WEEKS = "*"  # the week of agg_values/agg_bins rows summing every week ('' is no created day)
ROLLUP_TABLES = (AGG_SESSIONS, AGG_COUNTS, AGG_VALUES, AGG_BINS, AGG_MODELS)
ROLLUP_METRICS = ("size", "speed")


def _rollup_facts(dialect: str, row: str) -> dict[str, str]:
    """SQL for one session's facts, read from ``row`` (NEW, OLD or a table alias)."""
    t = f"{row}."
    metric = _SQLITE_METRIC if dialect == "sqlite" else _PG_METRIC
    size = metric.replace("{key}", METRICS["size_reduction"]).replace("{t}", t)
    speed = metric.replace("{key}", METRICS["speed_improvement"]).replace("{t}", t)
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
        "techniques": _expressions(dialect)["techniques_json"].replace("{t}", t),
    }


def _week_of(dialect: str, day: str) -> str:
    if dialect == "sqlite":
        return f"coalesce(date({day}, 'weekday 0', '-6 days'), '')"
    return (
        f"CASE WHEN {day} = '' THEN '' ELSE"
        f" to_char(date_trunc('week', CAST({day} AS date)), 'YYYY-MM-DD') END"
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


_COUNT_COLUMNS = ("sessions", "size_sum", "size_n", "speed_sum", "speed_n", "both_n", "saved_sum", "saved_n")


def _add_counts(dialect: str, where: str, sign: int, *, saved_only: bool = False) -> list[str]:
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
    update = ", ".join(f"{c} = {AGG_COUNTS}.{c} + excluded.{c}" for c in _COUNT_COLUMNS)
    return [
        f"INSERT INTO {AGG_COUNTS} (technique, day, status, {', '.join(_COUNT_COLUMNS)})"
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


def _add_histogram(
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
        *_add_histogram(dialect, AGG_VALUES, "value", where, sign),
        *_add_histogram(dialect, AGG_BINS, "bin", where, sign),
    ]


def _fill_whole_and_bins(connection: Connection) -> None:
    """The :data:`ALL_WEEKS` rows and ``agg_bins`` from the weeks of ``agg_values``.

    Exact sums of what is there: seconds, where another pass over the sessions takes minutes.
    """
    dialect = connection.dialect.name
    connection.exec_driver_sql(f"DELETE FROM {AGG_VALUES} WHERE week = '{ALL_WEEKS}'")
    connection.exec_driver_sql(f"DELETE FROM {AGG_BINS}")
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_VALUES} (metric, technique, value, week, n)"
        f" SELECT metric, technique, value, '{ALL_WEEKS}', sum(n) FROM {AGG_VALUES}"
        f" GROUP BY metric, technique, value HAVING sum(n) <> 0"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_BINS} (metric, technique, week, bin, n)"
        f" SELECT metric, technique, week, {value_bin(dialect, 'value')}, sum(n) FROM {AGG_VALUES}"
        f" GROUP BY metric, technique, week, {value_bin(dialect, 'value')} HAVING sum(n) <> 0"
    )


def _forget(dialect: str, sid: str) -> list[str]:
    """Undo what ``agg_sessions`` records for session ``sid``, then drop the record."""
    where = f"f.session_id = {sid}"
    best = ", ".join(
        f"{column} = (SELECT max(g.{source}) FROM {AGG_SESSIONS} g WHERE g.model_id ="
        f" {AGG_MODELS}.model_id AND g.status = {AGG_MODELS}.status AND g.session_id <> {sid})"
        for column, source in (("best_size", "size"), ("best_speed", "speed"), ("last", "last"))
    )
    return [
        *_add_counts(dialect, where, -1),
        *_add_values(dialect, where, -1),
        f"UPDATE {AGG_MODELS} SET sessions = sessions - 1, {best}"
        f" WHERE model_id = (SELECT model_id FROM {AGG_SESSIONS} WHERE session_id = {sid})"
        f" AND status = (SELECT status FROM {AGG_SESSIONS} WHERE session_id = {sid});",
        f"DELETE FROM {AGG_SESSIONS} WHERE session_id = {sid};",
    ]


_AGG_SESSION_COLUMNS = (
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
    facts = _rollup_facts(dialect, row)
    keep = ", ".join(
        f"{c} = CASE WHEN {AGG_MODELS}.{c} IS NULL OR excluded.{c} > {AGG_MODELS}.{c}"
        f" THEN excluded.{c} ELSE {AGG_MODELS}.{c} END"
        for c in ("best_size", "best_speed", "last")
    )
    where = f"f.session_id = {row}.session_id"
    return [
        f"INSERT INTO {AGG_SESSIONS} ({', '.join(_AGG_SESSION_COLUMNS)})"
        f" VALUES ({', '.join(facts[c] for c in _AGG_SESSION_COLUMNS)});",
        *_add_counts(dialect, where, 1),
        *_add_values(dialect, where, 1),
        f"INSERT INTO {AGG_MODELS} (model_id, status, sessions, best_size, best_speed, last)"
        f" SELECT model_id, status, 1, size, speed, last FROM {AGG_SESSIONS} f WHERE {where}"
        f" ON CONFLICT (model_id, status) DO UPDATE SET sessions = {AGG_MODELS}.sessions + 1, {keep};",
    ]


def _refresh_saved(dialect: str, model: str) -> list[str]:
    """Megabytes saved of model ``model``'s sessions, after its size changed (or it came/went)."""
    where = f"f.model_id = {model}"
    return [
        *_add_counts(dialect, f"{where} AND f.saved IS NOT NULL", -1, saved_only=True),
        f"UPDATE {AGG_SESSIONS} SET saved = CASE WHEN status = 'completed' THEN (SELECT"
        f" m.original_size_mb FROM models m WHERE m.model_id = {AGG_SESSIONS}.model_id) * size"
        f" / 100.0 END WHERE model_id = {model};",
        *_add_counts(dialect, f"{where} AND f.saved IS NOT NULL", 1, saved_only=True),
    ]


def _rollup_tables(dialect: str) -> list[str]:
    real, integer = ("REAL", "INTEGER") if dialect == "sqlite" else ("double precision", "bigint")
    stamp = "TEXT" if dialect == "sqlite" else "timestamp"
    rowid = " WITHOUT ROWID" if dialect == "sqlite" else ""
    counts = ", ".join(f"{c} {real if c.endswith('_sum') else integer} NOT NULL" for c in _COUNT_COLUMNS)
    return [
        f"CREATE TABLE IF NOT EXISTS {AGG_SESSIONS} (session_id TEXT PRIMARY KEY,"
        f" model_id TEXT NOT NULL, day TEXT NOT NULL, status TEXT NOT NULL, size {real},"
        f" speed {real}, saved {real}, last {stamp}, techniques TEXT){rowid}",
        f"CREATE INDEX IF NOT EXISTS ix_agg_sessions_model ON {AGG_SESSIONS} (model_id, status)",
        f"CREATE TABLE IF NOT EXISTS {AGG_COUNTS} (technique TEXT NOT NULL, day TEXT NOT NULL,"
        f" status TEXT NOT NULL, {counts}, PRIMARY KEY (technique, day, status)){rowid}",
        f"CREATE TABLE IF NOT EXISTS {AGG_VALUES} (metric TEXT NOT NULL, technique TEXT NOT NULL,"
        f" value {real} NOT NULL, week TEXT NOT NULL, n {integer} NOT NULL,"
        f" PRIMARY KEY (metric, technique, value, week)){rowid}",
        # Per week in value order: the period medians bin each week's values, then read a bin.
        f"CREATE INDEX IF NOT EXISTS ix_agg_values_week ON {AGG_VALUES} (metric, technique, week, value, n)",
        f"CREATE TABLE IF NOT EXISTS {AGG_BINS} (metric TEXT NOT NULL, technique TEXT NOT NULL,"
        f" week TEXT NOT NULL, bin {real} NOT NULL, n {integer} NOT NULL,"
        f" PRIMARY KEY (metric, technique, week, bin)){rowid}",
        f"CREATE TABLE IF NOT EXISTS {AGG_MODELS} (model_id TEXT NOT NULL, status TEXT NOT NULL,"
        f" sessions {integer} NOT NULL, best_size {real}, best_speed {real}, last {stamp},"
        f" PRIMARY KEY (model_id, status)){rowid}",
    ]


def _fill_rollups(connection: Connection) -> None:
    """Fill the rollups from the rows as they are (bulk, once, right after the triggers exist)."""
    dialect = connection.dialect.name
    for name in ROLLUP_TABLES:
        connection.exec_driver_sql(f"DELETE FROM {name}")
    facts = _rollup_facts(dialect, "s")
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_SESSIONS} ({', '.join(_AGG_SESSION_COLUMNS)})"
        f" SELECT {', '.join(facts[c] for c in _AGG_SESSION_COLUMNS)} FROM {SESSIONS} s"
    )
    weeks = _add_histogram(dialect, AGG_VALUES, "value", "true", 1, whole=False)
    for statement in [*_add_counts(dialect, "true", 1), *weeks]:
        connection.exec_driver_sql(statement.rstrip(";"))
    _fill_whole_and_bins(connection)
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_MODELS} (model_id, status, sessions, best_size, best_speed, last)"
        f" SELECT model_id, status, count(*), max(size), max(speed), max(last) FROM {AGG_SESSIONS}"
        " GROUP BY model_id, status"
    )


_SESSION_COLUMNS_READ = "session_id, model_id, status, created_at, completed_at, results, criteria"


def _sqlite_rollup_triggers() -> list[str]:
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


def _pg_rollup_triggers() -> list[str]:
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


def _init_rollups(connection: Connection) -> None:
    """Rollup tables and their triggers; filled from the existing rows the first time."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        tables = _sqlite_objects(connection, "table")
        existed, bins_existed = AGG_SESSIONS in tables, AGG_BINS in tables
    else:
        existed, bins_existed = connection.exec_driver_sql(
            f"SELECT to_regclass('{AGG_SESSIONS}') IS NOT NULL, to_regclass('{AGG_BINS}') IS NOT NULL"
        ).one()
    for statement in _rollup_tables(dialect):
        connection.exec_driver_sql(statement)
    triggers = _sqlite_rollup_triggers() if dialect == "sqlite" else _pg_rollup_triggers()
    for statement in triggers:
        connection.exec_driver_sql(statement)
    # After the triggers: on PostgreSQL creating them locked out writers until this commits.
    if not existed:
        _fill_rollups(connection)
    elif not bins_existed:  # rollups of an earlier version: the bins and all-weeks rows are new
        _fill_whole_and_bins(connection)
        connection.exec_driver_sql(f"ANALYZE {AGG_VALUES}")
        connection.exec_driver_sql(f"ANALYZE {AGG_BINS}")
