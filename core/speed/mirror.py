"""The dashboard's copy of the platform's tables: built once, then kept current by reading.

The copy (a file or a schema of the dashboard's own, :mod:`core.speed.location`) holds the
platform's ``models`` and ``optimization_sessions`` row for row, plus every derived structure
that :mod:`core.speed.build` adds (generated columns, indexes, rollups, search and export tables, kept by
triggers *on the copy*). The platform's tables get nothing but one index on ``updated_at``
(:mod:`core.speed.platform`), so a platform write costs what it cost before the dashboard.

How the copy stays current (:meth:`Mirror.sync`, every second or two, one transaction):

1. rows whose ``updated_at`` is at or after the watermark minus :data:`OVERLAP` are upserted,
   each only if some column differs (no change, no trigger work). The overlap covers
   transactions that committed after a later one was seen; the watermark never runs ahead
   of the wall clock, so a row stamped in the future cannot hide later ones;
2. when the row counts still differ, rows gone from the platform are deleted (an anti-join),
   and if they differ even then, every row is compared (an insert stamped in the past);
3. ``models`` (a few thousand rows) are compared whole;
4. every :data:`FULL_EVERY` seconds a comparison of every session starts, whatever its
   ``updated_at``, :data:`~core.speed.row_sync.FULL_CHUNK` sessions (by id) per sync so that
   no sync grows long: the safety net for a write that did not bump ``updated_at``.

The platform's contract is that every write of a session sets its ``updated_at``; such
writes, inserts and deletes show in the copy at the next sync. All reads of one sync see one
snapshot of the platform (one transaction), so the copy is always a state the platform was in.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    MetaData,
    Table,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from core.speed.location import MirrorLocation, platform_uri
from core.speed.row_sync import (
    MODEL_COLUMNS,
    ROWCOUNT,
    SESSION_COLUMNS,
    compare_chunk,
    counts_differ,
    delete_missing,
    upsert,
)
from core.speed.state import MIRROR_FORMAT, MirrorState, SyncReport, mirror_state
from core.store.tables import models, optimization_sessions
from core.store.types import parse_timestamp

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=60)
FULL_EVERY = 600.0  # seconds between the starts of two comparisons of every row
PLATFORM_ALIAS = "platform"  # SQLite: the schema name of the attached platform file


def _now() -> datetime:
    return datetime.now(UTC)


class Mirror:
    """Builds, syncs and describes one copy; thread-safe for one syncing thread per process."""

    def __init__(self, location: MirrorLocation) -> None:
        self.location = location
        self.dialect = location.dialect
        self._writer: Engine | None = None
        self._writer_connection: Connection | None = None
        self._sqlite_data_version: int | None = None

    # -- tables as seen from the copy's writer ----------------------------------------------

    def _tables(
        self, connection: Connection, *, mirror_schema: str | None = None
    ) -> tuple[Table, Table, Table, Table]:
        """(platform sessions, platform models, copy sessions, copy models)."""
        md = MetaData()
        if self.dialect == "sqlite":
            source_schema, target_schema = PLATFORM_ALIAS, "main"
        else:
            source_schema = self._platform_schema(connection)
            target_schema = mirror_schema or self.location.schema or ""
        return (
            optimization_sessions.to_metadata(md, schema=source_schema),
            models.to_metadata(md, schema=source_schema),
            optimization_sessions.to_metadata(md, schema=target_schema),
            models.to_metadata(md, schema=target_schema),
        )

    def _platform_schema(self, connection: Connection) -> str:
        """The schema the platform's tables are in: the first of the role's own search path."""
        found = connection.exec_driver_sql(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'optimization_sessions' AND c.relkind IN ('r', 'p')"
            " AND n.nspname NOT LIKE 'pg_%%' AND n.nspname NOT IN (%(a)s, %(b)s)"
            " ORDER BY n.nspname = 'public' DESC, n.nspname LIMIT 1",
            {"a": self.location.schema, "b": f"{self.location.schema}_building"},
        ).scalar()
        if found is None:
            raise LookupError("the platform's table optimization_sessions was not found")
        return str(found)

    # -- state --------------------------------------------------------------------------------

    @staticmethod
    def read_state(connection: Connection) -> MirrorState:
        rows = dict(connection.execute(select(mirror_state.c.key, mirror_state.c.value)).all())
        return MirrorState.from_rows(rows)

    def _write_state(self, connection: Connection, **values: datetime | str | None) -> None:
        insert = sqlite_dialect.insert if self.dialect == "sqlite" else pg_dialect.insert
        rows = [
            {"key": key, "value": value.isoformat() if isinstance(value, datetime) else value}
            for key, value in values.items()
        ]
        statement = insert(mirror_state).values(rows)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[mirror_state.c.key], set_={"value": statement.excluded.value}
            )
        )

    # -- the writer connection ----------------------------------------------------------------

    def _connect_writer(self, *, building: bool = False) -> tuple[Engine, Connection]:
        engine = self.location.write_engine(building=building)
        connection = engine.connect()
        if self.dialect == "sqlite":
            connection.exec_driver_sql(
                f"ATTACH DATABASE ? AS {PLATFORM_ALIAS}", (platform_uri(self.location),)
            )
            connection.commit()
        return engine, connection

    def _writer_conn(self) -> Connection:
        if self._writer_connection is None or self._writer_connection.closed:
            self._writer, self._writer_connection = self._connect_writer()
        return self._writer_connection

    def close(self) -> None:
        if self._writer_connection is not None:
            self._writer_connection.close()
            self._writer_connection = None
        if self._writer is not None:
            self._writer.dispose()
            self._writer = None

    # -- build --------------------------------------------------------------------------------

    def build(self, progress: Callable[[str], None] = lambda _: None) -> None:
        """Copy the platform's rows and add every derived structure, out of readers' sight.

        The copy is built under another name (a file beside it, or a ``_building`` schema)
        and put in place in one step; until then readers use the copy they had, or the plain
        path. Writes the platform makes during the build are caught by the first sync (its
        watermark is the moment the rows were read).
        """
        from core.speed.build import init_db

        self.close()
        self._drop_build()
        engine, connection = self._connect_writer(building=True)
        try:
            started = _now()
            if self.dialect == "postgresql":
                connection.exec_driver_sql(f'CREATE SCHEMA "{self.location.build_schema}"')
                connection.commit()
            # The copy's tables named in its own schema: unqualified, PostgreSQL would find the
            # platform's through the search path and create nothing.
            target = self.location.build_schema if self.location.schema else "main"
            copy_metadata = MetaData()
            for table in (models, optimization_sessions, mirror_state):
                table.to_metadata(copy_metadata, schema=target)
            copy_metadata.create_all(connection)
            connection.commit()
            with connection.begin():
                if self.dialect == "postgresql":
                    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                src_s, src_m, dst_s, dst_m = self._tables(
                    connection, mirror_schema=self.location.schema and self.location.build_schema
                )
                progress("copying the platform's models and sessions")
                connection.execute(
                    dst_m.insert().from_select(MODEL_COLUMNS, select(*[src_m.c[c] for c in MODEL_COLUMNS]))
                )
                copied = connection.execute(
                    dst_s.insert().from_select(
                        SESSION_COLUMNS, select(*[src_s.c[c] for c in SESSION_COLUMNS])
                    ),
                    execution_options=ROWCOUNT,
                ).rowcount
                progress(f"copied {copied:,} sessions")
                self._write_state(
                    connection,
                    format=MIRROR_FORMAT,
                    platform=self.location.platform_identity,
                    built_at=started,
                    synced_at=started,
                    watermark=started,
                    full_at=started,
                )
        finally:
            connection.close()
            engine.dispose()  # its pooled connection has the platform attached: not for init_db
        progress("adding indexes, rollups, search and export tables to the copy")
        engine = self.location.write_engine(building=True)
        try:
            init_db(engine, progress=lambda step: progress(f"  {step}"))
        finally:
            engine.dispose()
        self._swap_in()
        progress(f"the copy is ready: {self.location.description}")

    def _drop_build(self) -> None:
        if self.location.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = self.location.build_path.with_name(self.location.build_path.name + suffix)
                path.unlink(missing_ok=True)
            return
        engine = self.location.write_engine()
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.location.build_schema}" CASCADE')
        finally:
            engine.dispose()

    def _swap_in(self) -> None:
        if self.location.path is not None:
            build = self.location.build_path
            engine = self.location.write_engine(building=True)
            try:
                with engine.begin() as connection:
                    # One file, no WAL side files, before it is moved into place.
                    connection.exec_driver_sql("PRAGMA journal_mode = DELETE")
            finally:
                engine.dispose()
            os.replace(build, self.location.path)
            for suffix in ("-wal", "-shm"):
                self.location.path.with_name(self.location.path.name + suffix).unlink(missing_ok=True)
            return
        engine = self.location.write_engine()
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.location.schema}" CASCADE')
                connection.exec_driver_sql(
                    f'ALTER SCHEMA "{self.location.build_schema}" RENAME TO "{self.location.schema}"'
                )
        finally:
            engine.dispose()

    def remove(self) -> bool:
        """Delete the copy (and a half-built one); True when there was something to delete."""
        self.close()
        self._drop_build()
        if self.location.path is not None:
            found = self.location.path.exists()
            for suffix in ("", "-wal", "-shm", "-journal"):
                self.location.path.with_name(self.location.path.name + suffix).unlink(missing_ok=True)
            directory = self.location.path.parent
            if directory.exists() and not any(directory.iterdir()):
                shutil.rmtree(directory, ignore_errors=True)
            return found
        engine = self.location.write_engine()
        try:
            with engine.begin() as connection:
                found = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_namespace WHERE nspname = %(s)s", {"s": self.location.schema}
                ).scalar_one()
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.location.schema}" CASCADE')
        finally:
            engine.dispose()
        return bool(found)

    # -- sync ---------------------------------------------------------------------------------

    def sync(self, *, full: bool = False) -> SyncReport:
        """Bring the copy up to the platform's current state (see the module docstring)."""
        started = time.monotonic()
        now = _now()
        connection = self._writer_conn()
        try:
            with connection.begin():
                return self._sync_in(connection, now, started, full)
        except Exception:
            self.close()  # a broken connection is opened again by the next sync
            raise

    def _sync_in(self, connection: Connection, now: datetime, started: float, full: bool) -> SyncReport:
        if self.dialect == "postgresql":
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            locked = connection.execute(
                select(
                    func.pg_try_advisory_xact_lock(func.hashtext(f"dashboard mirror {self.location.schema}"))
                )
            ).scalar_one()
            if not locked:
                return SyncReport(
                    0, 0, 0, False, time.monotonic() - started, skipped="another process is syncing this copy"
                )
        state = self.read_state(connection)
        comparing = state.full_cursor is not None or self._full_due(state, now)
        if self.dialect == "sqlite" and not full:
            version = connection.exec_driver_sql(f"PRAGMA {PLATFORM_ALIAS}.data_version").scalar_one()
            unchanged = version == self._sqlite_data_version
            self._sqlite_data_version = version
            if unchanged and not comparing:
                self._write_state(connection, synced_at=now)
                return SyncReport(
                    0, 0, 0, False, time.monotonic() - started, skipped="the platform's file has not changed"
                )
        full = full or state.watermark is None
        src_s, src_m, dst_s, dst_m = self._tables(connection)
        written = upsert(
            connection, src_s, dst_s, SESSION_COLUMNS, "session_id", None if full else self._since(state)
        )
        deleted = 0
        values: dict[str, datetime | str | None] = {"synced_at": now}
        if full:
            deleted = delete_missing(connection, src_s, dst_s, "session_id")
            values.update(full_at=now, full_cursor=None)
        else:
            if counts_differ(connection, src_s, dst_s):
                deleted = delete_missing(connection, src_s, dst_s, "session_id")
                if counts_differ(connection, src_s, dst_s):  # an insert stamped in the past
                    written += upsert(connection, src_s, dst_s, SESSION_COLUMNS, "session_id", None)
            if comparing:
                cursor, chunk_written, chunk_deleted = compare_chunk(
                    connection, src_s, dst_s, state.full_cursor or ""
                )
                written, deleted = written + chunk_written, deleted + chunk_deleted
                values.update(full_cursor=cursor)
                if cursor is None:
                    values.update(full_at=now)
        models_changed = upsert(connection, src_m, dst_m, MODEL_COLUMNS, "model_id", None)
        models_changed += delete_missing(connection, src_m, dst_m, "model_id")
        newest = connection.execute(select(func.max(self._copy_updated_key())).select_from(dst_s)).scalar()
        values["watermark"] = min(filter(None, (parse_timestamp(newest), now)))
        self._write_state(connection, **values)
        report = SyncReport(written, deleted, models_changed, full, time.monotonic() - started)
        if report.changed:
            log.debug("mirror sync: %s", report)
        return report

    @staticmethod
    def _full_due(state: MirrorState, now: datetime) -> bool:
        return state.full_at is None or (now - state.full_at).total_seconds() >= FULL_EVERY

    def _copy_updated_key(self) -> ColumnElement[Any]:
        """The copy's newest ``updated_at``, read off its own index (``ix_sessions_updated``)."""
        if self.dialect == "sqlite":
            return literal_column("main.optimization_sessions.updated_key")
        return literal_column(f'"{self.location.schema}".optimization_sessions.updated_at')

    @staticmethod
    def _since(state: MirrorState) -> datetime | None:
        return None if state.watermark is None else state.watermark - OVERLAP

    # -- status -------------------------------------------------------------------------------

    def state(self, connection: Connection) -> MirrorState | None:
        """The copy's recorded state, or None when there is no usable copy at all."""
        try:
            return self.read_state(connection)
        except Exception:
            connection.rollback()
            return None
