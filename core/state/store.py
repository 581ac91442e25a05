"""The state store's engine: read-write, migrated once per process, safe for several replicas.

SQLite (the default, a file beside the credentials file): the file is created owner-only
(0600) before SQLite opens it, so the token hashes and the audit log are never readable by
other accounts, not even for a moment; SQLite gives its ``-wal`` and ``-shm`` files the same
mode. WAL with a busy timeout lets several dashboard processes share the file, and every
transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock first, so two processes
never both read and then both write (the throttle's counts stay exact), and a waiting writer
waits for the busy timeout instead of failing with "database is locked".

PostgreSQL: a plain read-write engine. The migration runs in one transaction holding an
advisory lock, so replicas starting together run each step once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, create_engine, make_url

from core.state.settings import StateSettings, load_state_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "dashboard_state_version"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# pg_advisory_xact_lock key of the state store's migration: any constant no other code uses.
PG_MIGRATION_LOCK = 0x0D5A_7E01

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (its folder 0700) unless it exists; never widen a mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _sqlite_engine(settings: StateSettings) -> Engine:
    path = settings.sqlite_path
    if path is not None:
        create_private_file(path)
    engine = create_engine(
        settings.url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling off: SQLAlchemy's "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # WAL's safe setting: a crash loses no committed state
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def open_state_engine(settings: StateSettings) -> Engine:
    """A new read-write engine on the state store, not migrated (see :func:`state_engine`)."""
    if make_url(settings.url).get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    return create_engine(settings.url, pool_pre_ping=True)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def installed_revision(engine: Engine) -> str | None:
    """The revision recorded in the state store; None before the first migration."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def migrate(engine: Engine) -> None:
    """Run every pending step (``alembic upgrade head``) in one transaction under the migration lock.

    Idempotent, and safe when several processes call it at once: the second waits for the
    first's commit and then finds nothing to do.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": PG_MIGRATION_LOCK})
        else:
            connection.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: SQLite's write lock, held to the end
        command.upgrade(_config(connection), "head")
        connection.commit()


def state_engine(settings: StateSettings | None = None) -> Engine:
    """The state store's read-write engine, migrated to the newest schema once per process per URL.

    Cached: every caller in the process shares one engine (one pool). The lock makes two
    threads asking at once migrate once and get the same engine.
    """
    settings = settings or load_state_settings()
    with _engines_lock:
        engine = _engines.get(settings.url)
        if engine is None:
            engine = open_state_engine(settings)
            try:
                migrate(engine)
            except BaseException:
                engine.dispose()
                raise
            _engines[settings.url] = engine
        return engine


def forget_engines() -> None:
    """Dispose of the cached engines (tests, and a process that changes its state URL)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
