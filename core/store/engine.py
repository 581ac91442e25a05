"""The sessions store: the tables agreed with the optimization platform, and how to open them.

The platform writes ``models`` and ``optimization_sessions``; the dashboard reads them. The
column types here are tolerant on purpose: rows written by someone else may carry timestamps
with a ``T`` separator or a ``Z`` suffix, or JSON that does not parse, and reading them must not
fail. Derived structures that make queries fast (generated columns, search and technique
indexes) live in :mod:`core.speed.derived`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine, create_engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import DateTime, TypeDecorator

from core.config import Settings

STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "cancelled")
PG_READ_WORK_MEM = "32MB"  # per sort or bitmap of a dashboard query (see make_engine)


class Malformed:
    """A JSON cell that does not parse; keeps the raw text so the detail view can show it."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"Malformed({self.raw!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Malformed) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


class _SQLiteTimestampText(String):
    """A string on SQLite that is still declared ``TIMESTAMP`` in DDL."""


@compiles(_SQLiteTimestampText, "sqlite")
def _compile_sqlite_timestamp(type_: _SQLiteTimestampText, compiler: Any, **kw: Any) -> str:
    return "TIMESTAMP"


class _SQLiteJSONText(Text):
    """A text column on SQLite declared ``JSON`` in DDL (as SQLAlchemy's JSON type does)."""


@compiles(_SQLiteJSONText, "sqlite")
def _compile_sqlite_json(type_: _SQLiteJSONText, compiler: Any, **kw: Any) -> str:
    return "JSON"


_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def parse_timestamp(value: str | datetime | None) -> datetime | None:
    """Parse a stored timestamp into an aware UTC datetime, whatever separator or suffix it has.

    Naive values are UTC by contract. Unparseable text gives ``None`` rather than an error.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class UTCTimestamp(TypeDecorator[datetime]):
    """UTC timestamps: ``TIMESTAMP`` text on SQLite, ``timestamp without time zone`` elsewhere.

    Values are written the way SQLAlchemy writes SQLite datetimes (``YYYY-MM-DD HH:MM:SS.ffffff``)
    and read back as aware UTC datetimes, including rows another writer stored as
    ``2024-05-01T10:00:00Z`` or with ``+00:00``.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteTimestampText())
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_timestamp(value)
            if value is None:
                raise ValueError("timestamp is not ISO 8601")
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if dialect.name == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return parse_timestamp(value)


class TolerantJSON(TypeDecorator[Any]):
    """JSON that reads malformed cells as :class:`Malformed` instead of raising.

    JSONB on PostgreSQL, text declared ``JSON`` on SQLite, generic ``JSON`` elsewhere.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteJSONText())
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Malformed):
            if dialect.name == "sqlite":
                return value.raw
            raise ValueError("malformed JSON can only be stored in SQLite")
        if dialect.name == "sqlite":
            return json.dumps(value, separators=(",", ":"))
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str | bytes) and dialect.name == "sqlite":
            try:
                return json.loads(value)
            except ValueError:
                return Malformed(value if isinstance(value, str) else value.decode(errors="replace"))
        return value


metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("model_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("framework", Text, nullable=True),
    Column("original_size_mb", Float, nullable=True),
    Column("created_at", UTCTimestamp, nullable=True),
)

optimization_sessions = Table(
    "optimization_sessions",
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("model_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("criteria", TolerantJSON, nullable=True),
    Column("total_steps", Integer, nullable=True),
    Column("completed_steps", Integer, nullable=True),
    Column("results", TolerantJSON, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    Column("completed_at", UTCTimestamp, nullable=True),
)


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
        # The dashboard's reads: PostgreSQL's default 4 MB work_mem makes the bitmap of a broad
        # match (a search whose models hold 200,000 sessions) lossy, and every row of every
        # page is then checked again: 5-10 s per aggregate at 1,000,000 sessions, 0.2-1 s here.
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

    The timeout guards interactive queries; an export of a million rows legitimately streams
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


def backend_name(engine_or_connection: Any) -> str:
    """``sqlite`` or ``postgresql`` (the two backends this project supports)."""
    return engine_or_connection.dialect.name
