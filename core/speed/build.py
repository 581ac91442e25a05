"""``init_db``: add every derived structure to the dashboard's copy, in order, saying each step.

The speed layer runs it on the copy (:mod:`core.speed.mirror`), never on the platform's
tables. It adds to the copy of ``optimization_sessions`` and ``models``:

* generated columns (virtual on SQLite, stored on PostgreSQL) for the metrics, the progress,
  the techniques list, a malformed-data flag and, on SQLite, sortable UTC timestamp keys
  (:mod:`core.speed.expressions`);
* composite indexes ending in ``session_id`` (:mod:`core.speed.indexes`);
* ``session_techniques``, a trigram search index and per-status counts, kept by triggers
  (:mod:`core.speed.triggers`);
* the rollups (:mod:`core.speed.rollup_tables`) and the export cells
  (:mod:`core.speed.export_cells`).

Everything is maintained by the copy's database itself (generated columns and triggers), so the
rows each sync upserts or deletes keep them correct with no rebuild step.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection, Engine

from core.speed.capabilities import forget_capabilities, inspect_capabilities, sqlite_objects
from core.speed.export_cells import init_export_cells
from core.speed.expressions import SESSIONS, expressions, sql_type
from core.speed.indexes import create_indexes, create_sqlite_indexes, create_trigram_indexes
from core.speed.progress import reporting_to, step
from core.speed.rollup_tables import init_rollups
from core.speed.tables import (
    AGG_SESSIONS,
    COUNTS_TABLE,
    KEYS_TABLE,
    SEARCH_TABLE,
    TECHNIQUES_TABLE,
    create_tables,
    run_ddl,
    session_count_slots,
    session_counts,
    session_keys,
    session_techniques,
)
from core.speed.triggers import (
    PG_COUNTS_TRIGGER,
    PG_TECHNIQUES_TRIGGER,
    SQLITE_SEARCH_TABLE,
    SQLITE_TECHNIQUES_TRIGGER,
    backfill_techniques,
    drop_old_search_index,
    fill_pg_counts,
    pg_counts_statements,
    pg_techniques_statements,
    rebuild_sqlite_keys,
    sqlite_triggers,
)
from core.store.tables import metadata


def init_db(engine: Engine, progress: Callable[[str], None] | None = None) -> None:
    """Create the tables when missing and add every derived structure; idempotent.

    It only adds columns, indexes, tables and triggers, and fills the derived tables from the
    existing rows; ``progress`` hears of each long step.
    """
    with reporting_to(progress):
        _init_db(engine)


def _init_db(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            _init_sqlite(connection)
        else:
            # On a large table, adding stored columns rewrites the table and each index build
            # reads it: far longer than the engine's statement timeout allows interactive queries.
            # Both settings end with this transaction.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            _init_postgresql(connection)
        step("export lines (each session's CSV row)")
        init_export_cells(connection)
    if engine.dialect.name == "postgresql":
        step("VACUUM (ANALYZE)")
        _vacuum_sessions(engine)
    forget_capabilities(engine)


def _vacuum_sessions(engine: Engine) -> None:
    """VACUUM (ANALYZE) the sessions table after init-db.

    Adding stored columns rewrites the table with an empty visibility map, and a rewrite is
    not counted as inserts, so autovacuum may leave it so for a long time: every index-only
    scan (counts, deep pages, the scatter's hops) then visits the heap too, several times
    slower. On a table already vacuumed this is quick. VACUUM cannot run inside a transaction.
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
    caps = inspect_capabilities(connection)
    additions = [
        f"ADD COLUMN {name} {sql_type(dialect, name)}"
        f" GENERATED ALWAYS AS ({expression.replace('{t}', '')}) {kind}"
        for name, expression in expressions(dialect).items()
        if not caps.has(name)
    ]
    if not additions:
        return
    step(f"{len(additions)} generated columns")
    if dialect == "postgresql":
        # Stored columns rewrite the table: one ALTER TABLE rewrites it once, not once a column.
        connection.exec_driver_sql(f"ALTER TABLE {SESSIONS} {', '.join(additions)}")
        return
    for addition in additions:  # SQLite: one column a statement (virtual: no rewrite)
        connection.exec_driver_sql(f"ALTER TABLE {SESSIONS} {addition}")


def _init_sqlite(connection: Connection) -> None:
    drop_old_search_index(connection)
    tables_before = sqlite_objects(connection, "table")
    triggers_before = sqlite_objects(connection, "trigger")
    indexes_before = sqlite_objects(connection, "index")
    _add_generated_columns(connection, "VIRTUAL")
    create_indexes(connection)
    create_sqlite_indexes(connection)
    create_tables(connection, (session_techniques, session_keys, session_counts))
    run_ddl(connection, [SQLITE_SEARCH_TABLE, *sqlite_triggers()])
    changed = AGG_SESSIONS not in tables_before
    step("rollups (per day, status and technique)")
    init_rollups(connection)
    if not {KEYS_TABLE, COUNTS_TABLE, SEARCH_TABLE} <= tables_before:
        step("search index and per-status counts")
        rebuild_sqlite_keys(connection)
        changed = True
    if TECHNIQUES_TABLE not in tables_before or SQLITE_TECHNIQUES_TRIGGER not in triggers_before:
        step("techniques table")
        backfill_techniques(connection)
        changed = True
    if changed or sqlite_objects(connection, "index") != indexes_before:
        connection.exec_driver_sql("ANALYZE")


def _init_postgresql(connection: Connection) -> None:
    trigger_before = connection.exec_driver_sql(
        f"SELECT count(*) FROM pg_trigger WHERE tgname = '{PG_TECHNIQUES_TRIGGER}'"
        f" AND tgrelid = to_regclass('{SESSIONS}')"
    ).scalar_one()
    counts_before = connection.exec_driver_sql(
        f"SELECT to_regclass('{COUNTS_TABLE}') IS NOT NULL"
        f" AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{PG_COUNTS_TRIGGER}')"
    ).scalar_one()
    _add_generated_columns(connection, "STORED")
    create_indexes(connection)
    create_tables(connection, (session_techniques, session_count_slots))
    run_ddl(connection, [*pg_techniques_statements(), *pg_counts_statements()])
    init_rollups(connection)
    # After the triggers exist: creating them locked out writers, so nothing is missed.
    if not trigger_before:  # rows written before the trigger existed
        backfill_techniques(connection)
    if not counts_before:
        fill_pg_counts(connection)
    create_trigram_indexes(connection)
    connection.exec_driver_sql(f"ANALYZE {SESSIONS}")
