"""What versions before the speed layer's copy installed *inside* the platform's tables.

Earlier ``init-db`` runs added generated columns, indexes, triggers, functions and derived
tables to the platform's database, which made every platform write 3-15 times dearer. The
first upgrade step (revision ``0001``) finds them by their exact names and drops them; an
object the platform made itself is never matched (no pattern, no prefix: names only).

Dropping is gentle on a live PostgreSQL: indexes ``CONCURRENTLY``; triggers and generated
columns (catalogue changes, no rewrite) under a short ``lock_timeout``, retried, so a long
platform transaction makes the step wait its turn instead of queueing every writer behind it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

SESSIONS = "optimization_sessions"
MODELS = "models"

_SESSION_COLUMNS = (
    "size_reduction",
    "speed_improvement",
    "accuracy_delta",
    "progress",
    "techniques_json",
    "data_issue",
    "created_key",
    "updated_key",
    "completed_key",
    "created_week",
    "export_pre",
    "export_post",
)
_MODEL_COLUMNS = ("export_name",)
_INDEXES = (
    "ix_sessions_created",
    "ix_sessions_status_created",
    "ix_sessions_model_created",
    "ix_sessions_updated",
    "ix_sessions_completed",
    "ix_sessions_status_session",
    "ix_sessions_model_session",
    "ix_sessions_size",
    "ix_sessions_status_size",
    "ix_sessions_speed",
    "ix_sessions_status_speed",
    "ix_sessions_accuracy",
    "ix_sessions_progress",
    "ix_sessions_status_progress",
    "ix_sessions_techniques",
    "ix_sessions_facts",
    "ix_sessions_model_facts",
    "ix_sessions_data_issue",
    "ix_sessions_points",
    "ix_sessions_front",
    "ix_sessions_session_id_trgm",
    "ix_sessions_model_id_trgm",
    "ix_models_name",
    "ix_models_name_trgm",
    # Never installed in the platform's tables by a release, but init_db makes them wherever it
    # runs; dropping the columns they index would fail while they exist.
    "ix_sessions_technique_size",
    "ix_sessions_technique_speed",
    "ix_sessions_week_size",
    "ix_sessions_week_speed",
)
_TRIGGERS = (
    "trg_search_insert",
    "trg_search_update",
    "trg_search_delete",
    "trg_techniques_insert",
    "trg_techniques_update",
    "trg_techniques_delete",
    "trg_keys_insert",
    "trg_keys_update",
    "trg_keys_delete",
    "trg_session_counts_insert",
    "trg_session_counts_delete",
    "trg_session_counts_update",
    "trg_session_counts_truncate",
    "trg_session_techniques",
    "trg_agg_insert",
    "trg_agg_update",
    "trg_agg_delete",
    "trg_agg_sessions",
    "trg_agg_sessions_truncate",
    "trg_agg_models",
    "trg_agg_models_insert",
    "trg_agg_models_update",
    "trg_agg_models_delete",
    "trg_export_cells_insert",
    "trg_export_cells_update",
    "trg_export_cells_delete",
    "trg_export_cells_model_insert",
    "trg_export_cells_model_update",
    "trg_export_cells_model_delete",
)
_TABLES = (
    "session_techniques",
    "session_search",
    "session_keys",
    "session_counts",
    "agg_sessions",
    "agg_counts",
    "agg_values",
    "agg_bins",
    "agg_models",
    "export_cells",
)
_FUNCTIONS = (
    "session_counts_insert",
    "session_counts_delete",
    "session_counts_update",
    "session_counts_truncate",
    "sync_session_techniques",
    "agg_sessions_sync",
    "agg_models_sync",
    "agg_sessions_truncate",
    "export_post_v1",
)


@dataclass(frozen=True)
class LegacyObjects:
    """The earlier in-table structures present in one database."""

    triggers: tuple[tuple[str, str], ...] = ()  # (trigger, table)
    indexes: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # (table, column)
    tables: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list, compare=False)

    def __bool__(self) -> bool:
        return bool(self.triggers or self.indexes or self.columns or self.tables or self.functions)

    def describe(self) -> list[str]:
        parts = [
            (len(self.triggers), "triggers"),
            (len(self.indexes), "indexes"),
            (len(self.columns), "generated columns"),
            (len(self.tables), "derived tables"),
            (len(self.functions), "functions"),
        ]
        return [f"{count} {what}" for count, what in parts if count]


def find_legacy(connection: Connection) -> LegacyObjects:
    """The earlier version's objects that exist here, by exact name."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('trigger', 'index', 'table')"
        ).all()
        triggers = tuple((n, t) for kind, n, t in rows if kind == "trigger" and n in _TRIGGERS)
        indexes = tuple(n for kind, n, _ in rows if kind == "index" and n in _INDEXES)
        tables = tuple(n for kind, n, _ in rows if kind == "table" and n in _TABLES)
        columns = tuple(
            (table, row[1])
            for table, wanted in ((SESSIONS, _SESSION_COLUMNS), (MODELS, _MODEL_COLUMNS))
            for row in connection.exec_driver_sql(f"PRAGMA table_xinfo({table})").all()
            # hidden 2/3: a generated column (virtual/stored); a platform column is never one
            if row[1] in wanted and row[6] in (2, 3)
        )
        return LegacyObjects(triggers, indexes, columns, tables)
    schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    triggers = tuple(
        connection.exec_driver_sql(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s"
            " AND NOT t.tgisinternal AND t.tgname = ANY(%(names)s)",
            {"s": schema, "names": list(_TRIGGERS)},
        ).all()
    )
    indexes = tuple(
        r[0]
        for r in connection.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %(s)s AND indexname = ANY(%(names)s)",
            {"s": schema, "names": list(_INDEXES)},
        )
    )
    columns = tuple(
        connection.exec_driver_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %(s)s"
            " AND is_generated = 'ALWAYS' AND ((table_name = %(t)s AND column_name = ANY(%(sc)s))"
            " OR (table_name = %(m)s AND column_name = ANY(%(mc)s)))",
            {
                "s": schema,
                "t": SESSIONS,
                "m": MODELS,
                "sc": list(_SESSION_COLUMNS),
                "mc": list(_MODEL_COLUMNS),
            },
        ).all()
    )
    existing = set(inspect(connection).get_table_names())
    tables = tuple(t for t in _TABLES if t in existing)
    functions = tuple(
        r[0]
        for r in connection.exec_driver_sql(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %(s)s AND p.proname = ANY(%(names)s)",
            {"s": schema, "names": list(_FUNCTIONS)},
        )
    )
    return LegacyObjects(triggers, indexes, columns, tables, tuple(sorted(set(functions))))


def drop_legacy(connection: Connection, found: LegacyObjects) -> None:
    """Drop ``found``. On PostgreSQL ``connection`` must be in autocommit (CONCURRENTLY)."""
    if connection.dialect.name == "sqlite":
        for trigger, _ in found.triggers:
            connection.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{trigger}"')
        for index in found.indexes:
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index}"')
        for table in found.tables:
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        # Dropping a VIRTUAL generated column changes the schema only: no row is rewritten.
        for table, column in found.columns:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        return
    connection.exec_driver_sql("SET statement_timeout = 0")
    for trigger, table in found.triggers:
        _briefly(connection, f'DROP TRIGGER IF EXISTS "{trigger}" ON "{table}"')
    for index in found.indexes:
        connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"')
    by_table: dict[str, list[str]] = {}
    for table, column in found.columns:
        by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        drops = ", ".join(f'DROP COLUMN IF EXISTS "{c}"' for c in columns)
        _briefly(connection, f'ALTER TABLE "{table}" {drops} CASCADE')
    for table in found.tables:
        _briefly(connection, f'DROP TABLE IF EXISTS "{table}" CASCADE')
    for function in found.functions:
        connection.exec_driver_sql(f'DROP FUNCTION IF EXISTS "{function}" CASCADE')


def _briefly(connection: Connection, statement: str, *, attempts: int = 60) -> None:
    """Run a statement that needs a moment's exclusive lock without queueing writers for long.

    Waiting for the lock, it would hold up every platform write that arrives after it; with a
    0.5 s ``lock_timeout`` it gives up instead, lets them pass, and tries again.
    """
    for attempt in range(attempts):
        try:
            connection.exec_driver_sql("SET lock_timeout = '500ms'")
            connection.exec_driver_sql(statement)
            return
        except OperationalError as error:
            if "lock timeout" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.1 * 2 ** min(attempt, 4)))
        finally:
            connection.exec_driver_sql("RESET lock_timeout")
