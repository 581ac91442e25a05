"""How the dashboard opens the sessions store: read-only engines with timeouts, on both backends.

The tables themselves are in :mod:`core.store.tables`, their tolerant column types in
:mod:`core.store.types`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, create_engine, make_url

from core.config import Settings

PG_READ_WORK_MEM = "32MB"  # per sort or bitmap of a dashboard query (see make_engine)


class DatabaseMissingError(ValueError):
    """The configured SQLite file is not there (opening it read-only cannot create it)."""


def _sqlite_read_only_url(url: str) -> str:
    """``sqlite:///file:PATH?mode=ro&uri=true``: the OS-level guard against writes."""
    parsed = make_url(url)
    database = parsed.database or ""
    if database.startswith("file:") or database in ("", ":memory:"):
        return url
    return parsed.set(database=f"file:{database}", query={"mode": "ro", "uri": "true"}).render_as_string(
        hide_password=False
    )


def make_engine(
    settings: Settings, *, read_only: bool = True, search_path: str | None = None, wal: bool = True
) -> Engine:
    """Open the sessions database.

    The dashboard opens it read-only with a statement timeout: SQLite in ``mode=ro`` plus
    ``query_only``, PostgreSQL in read-only transactions. Only the CLI's writing commands
    (``init-db``, ``demo``, ``load``) and the speed layer's own copy pass ``read_only=False``.
    ``search_path`` (PostgreSQL) makes unqualified table names resolve in another schema: the
    speed layer's copy of the tables (:mod:`core.speed`) is read with the same queries.
    ``wal=False`` leaves a SQLite file's journal mode as its owner set it (``init-db`` on the
    platform's file).
    """
    url = settings.db_url
    backend = make_url(url).get_backend_name()
    timeout_ms = settings.statement_timeout_ms
    if backend == "sqlite":
        path = make_url(url).database or ""
        if read_only and path and not path.startswith("file:") and path != ":memory:":
            from pathlib import Path

            if not Path(path).exists():
                raise DatabaseMissingError(
                    f"the SQLite database {path} does not exist; create demo data with "
                    "`python -m core demo` or point SESSIONS_DB_URL at your database"
                )
        engine = create_engine(
            _sqlite_read_only_url(url) if read_only else url,
            connect_args={"timeout": 5.0, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # A writer may hold the lock briefly; wait instead of failing at once.
            cursor.execute("PRAGMA busy_timeout = 5000")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            elif wal:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()
            if read_only and timeout_ms:
                _install_sqlite_timeout(dbapi_connection, timeout_ms)
                _record.info["statement_timeout_ms"] = timeout_ms

        return engine

    options = f"-c statement_timeout={int(timeout_ms)}"
    if read_only:
        # The dashboard's reads: PostgreSQL's default work_mem makes the bitmap of a broad match
        # (a search whose models hold most sessions) lossy, and every row of every page is then
        # checked again; with more memory the bitmap stays exact.
        options += f" -c default_transaction_read_only=on -c work_mem={PG_READ_WORK_MEM}"
    if search_path:
        options += f" -c search_path={search_path}"
    return create_engine(url, pool_pre_ping=True, connect_args={"options": options})


def _install_sqlite_timeout(dbapi_connection: Any, timeout_ms: int) -> None:
    """Abort a statement that runs longer than ``timeout_ms`` (SQLite has no statement timeout).

    The progress handler is called every N virtual-machine instructions; returning non-zero
    interrupts the running statement with ``OperationalError: interrupted``.
    """
    import time

    state: dict[str, float] = {"deadline": 0.0}

    def trace(statement: str) -> None:
        state["deadline"] = time.monotonic() + timeout_ms / 1000

    def progress() -> int:
        return int(state["deadline"] and time.monotonic() > state["deadline"])

    dbapi_connection.set_trace_callback(trace)
    dbapi_connection.set_progress_handler(progress, 10_000)


@contextmanager
def statement_timeout_suspended(connection: Connection) -> Iterator[None]:
    """Lift the statement timeout for one long, deliberate read (a streamed export).

    The timeout guards interactive queries; an export of every session legitimately streams
    for longer, row batch by row batch, and must not be cut off half-way.
    """
    if connection.dialect.name == "sqlite":
        fairy = connection.connection
        timeout_ms = fairy.info.get("statement_timeout_ms")
        dbapi_connection = fairy.dbapi_connection
        if timeout_ms and dbapi_connection is not None:
            dbapi_connection.set_progress_handler(None, 0)
            try:
                yield
            finally:
                _install_sqlite_timeout(dbapi_connection, timeout_ms)
            return
        yield
        return
    if connection.dialect.name == "postgresql":
        # SET LOCAL ends with the transaction the export runs in.
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
    yield
