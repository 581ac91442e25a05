"""What the speed layer installs in the platform's own database: one index, versioned by Alembic.

Everything else lives in the dashboard's copy (:mod:`core.speed.mirror`). In the platform's
database there is exactly:

* ``ix_dashboard_changed``, an index on the sessions' ``updated_at`` (and ``session_id``),
  which lets each sync find the rows changed since the last one without a full scan. It is
  the only thing a platform write pays for (an index entry when ``updated_at`` changes);
* ``dashboard_speed_version``, Alembic's one-row record of the installed revision (the
  numbered steps in ``core/speed/migrations/versions``).

PostgreSQL builds the index ``CONCURRENTLY``: the platform's writes go on during the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Index, MetaData, func, inspect, literal_column
from sqlalchemy.engine import Connection, Engine

from core.store.tables import optimization_sessions

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "dashboard_speed_version"
CHANGED_INDEX = "ix_dashboard_changed"
SQLITE_TIME_FORMAT = "'%Y-%m-%d %H:%M:%f'"

# A detached copy of the table: the index must never join ``core.store.tables.metadata`` (whose
# ``create_all`` also makes the copy's tables and test databases).
_sessions = optimization_sessions.to_metadata(MetaData())


def _changed_index(dialect: str) -> Index:
    if dialect == "sqlite":
        return Index(
            CHANGED_INDEX,
            func.strftime(literal_column(SQLITE_TIME_FORMAT), _sessions.c.updated_at),
            _sessions.c.session_id,
        )
    return Index(CHANGED_INDEX, _sessions.c.updated_at, _sessions.c.session_id, postgresql_concurrently=True)


def changed_rows_index(connection: Connection) -> None:
    """Create the index (PostgreSQL: ``connection`` in autocommit, for CONCURRENTLY)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql("SET statement_timeout = 0")
        valid = connection.exec_driver_sql(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %(n)s AND pg_table_is_visible(c.oid)",
            {"n": CHANGED_INDEX},
        ).scalar()
        if valid is True:
            return
        if valid is False:  # left by an interrupted concurrent build: unusable, never finished
            connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{CHANGED_INDEX}"')
    elif _has_changed_index(connection):
        return
    _changed_index(dialect).create(connection)


def _has_changed_index(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":  # the inspector skips expression indexes there
        return (
            connection.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (CHANGED_INDEX,)
            ).scalar_one()
            > 0
        )
    return (
        connection.exec_driver_sql(
            "SELECT count(*) FROM pg_class WHERE relname = %(n)s AND relkind = 'i'"
            " AND pg_table_is_visible(oid)",
            {"n": CHANGED_INDEX},
        ).scalar_one()
        > 0
    )


def drop_changed_rows_index(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{CHANGED_INDEX}"')
    else:
        connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{CHANGED_INDEX}"')


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def installed_revision(connection: Connection) -> str | None:
    """The revision recorded in the platform's database; None when nothing is installed."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


@dataclass(frozen=True)
class Step:
    """One numbered upgrade (or downgrade) step and what it will do to this database."""

    revision: str
    title: str
    details: tuple[str, ...]


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def pending_steps(connection: Connection) -> list[Step]:
    """The steps ``install`` would run, oldest first, each described from this database."""
    current = installed_revision(connection)
    script = _script()
    revisions = list(script.iterate_revisions("head", current or "base"))
    steps = []
    for revision in reversed(revisions):
        module: Any = revision.module
        details = module.describe(connection) if hasattr(module, "describe") else []
        steps.append(Step(revision.revision, (revision.doc or "").strip().splitlines()[0], tuple(details)))
    return steps


def install_platform_objects(engine: Engine) -> list[Step]:
    """Run every pending step; returns what was run. Idempotent."""
    with engine.connect() as connection:
        steps = pending_steps(connection)
        connection.rollback()
        if steps:
            command.upgrade(_config(connection), "head")
            connection.commit()
    return steps


def remove_platform_objects(engine: Engine) -> bool:
    """Undo every step and drop the version table; True when something was installed."""
    with engine.connect() as connection:
        installed = installed_revision(connection) is not None
        has_index = _has_changed_index(connection)
        connection.rollback()
        if installed:
            command.downgrade(_config(connection), "base")
            connection.commit()
    if has_index and not installed:  # the index without its record (a half-finished install)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            drop_changed_rows_index(connection)
    with engine.begin() as connection:
        if inspect(connection).has_table(VERSION_TABLE):
            connection.exec_driver_sql(f'DROP TABLE "{VERSION_TABLE}"')
    return installed or has_index
