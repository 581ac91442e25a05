"""The rollup tables: created, filled from the rows as they are, and given their triggers.

The trigger bodies are :mod:`core.speed.rollup_triggers`; this module runs once per ``init_db``.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.speed.capabilities import sqlite_objects
from core.speed.expressions import SESSIONS
from core.speed.rollup_triggers import (
    AGG_SESSION_COLUMNS,
    add_counts,
    add_histogram,
    pg_rollup_triggers,
    rollup_facts,
    sqlite_rollup_triggers,
    value_bin,
)
from core.speed.tables import (
    AGG_BINS,
    AGG_MODELS,
    AGG_SESSIONS,
    AGG_VALUES,
    ALL_WEEKS,
    ROLLUP_SCHEMA,
    ROLLUP_TABLES,
    create_tables,
    run_ddl,
)


def fill_whole_and_bins(connection: Connection) -> None:
    """The :data:`ALL_WEEKS` rows and ``agg_bins`` from the weeks of ``agg_values``.

    Exact sums of what is there: far quicker than another pass over the sessions.
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


def fill_rollups(connection: Connection) -> None:
    """Fill the rollups from the rows as they are (bulk, once, right after the triggers exist)."""
    dialect = connection.dialect.name
    for name in ROLLUP_TABLES:
        connection.exec_driver_sql(f"DELETE FROM {name}")
    facts = rollup_facts(dialect, "s")
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_SESSIONS} ({', '.join(AGG_SESSION_COLUMNS)})"
        f" SELECT {', '.join(facts[c] for c in AGG_SESSION_COLUMNS)} FROM {SESSIONS} s"
    )
    weeks = add_histogram(dialect, AGG_VALUES, "value", "true", 1, whole=False)
    for statement in [*add_counts(dialect, "true", 1), *weeks]:
        connection.exec_driver_sql(statement.rstrip(";"))
    fill_whole_and_bins(connection)
    connection.exec_driver_sql(
        f"INSERT INTO {AGG_MODELS} (model_id, status, sessions, best_size, best_speed, last)"
        f" SELECT model_id, status, count(*), max(size), max(speed), max(last) FROM {AGG_SESSIONS}"
        " GROUP BY model_id, status"
    )


def init_rollups(connection: Connection) -> None:
    """Rollup tables and their triggers; filled from the existing rows the first time."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        tables = sqlite_objects(connection, "table")
        existed, bins_existed = AGG_SESSIONS in tables, AGG_BINS in tables
    else:
        existed, bins_existed = connection.exec_driver_sql(
            f"SELECT to_regclass('{AGG_SESSIONS}') IS NOT NULL, to_regclass('{AGG_BINS}') IS NOT NULL"
        ).one()
    create_tables(connection, ROLLUP_SCHEMA)
    run_ddl(connection, sqlite_rollup_triggers() if dialect == "sqlite" else pg_rollup_triggers())
    # After the triggers: on PostgreSQL creating them locked out writers until this commits.
    if not existed:
        fill_rollups(connection)
    elif not bins_existed:  # rollups of an earlier version: the bins and all-weeks rows are new
        fill_whole_and_bins(connection)
        connection.exec_driver_sql(f"ANALYZE {AGG_VALUES}")
