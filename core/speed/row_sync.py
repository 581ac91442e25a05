"""The statements one sync runs: copy the rows that differ, delete the rows that are gone.

Each compares a platform table with its copy inside one transaction (:meth:`core.speed.mirror.Mirror.sync`),
so an unchanged row is neither rewritten nor locked and the copy's triggers fire only for real
changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, exists, func, literal_column, or_, select, true
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from core.speed.platform import SQLITE_TIME_FORMAT
from core.store.tables import models, optimization_sessions

FULL_CHUNK = 5_000  # sessions compared per sync while a comparison of every row is under way
SESSION_COLUMNS = tuple(c.name for c in optimization_sessions.columns)
MODEL_COLUMNS = tuple(c.name for c in models.columns)
ROWCOUNT = {"preserve_rowcount": True}  # SQLAlchemy keeps an INSERT's row count only if asked


def updated_key(dialect: str, table: Table) -> ColumnElement[Any]:
    """``updated_at`` as it sorts: SQLite normalises the text forms the platform may write.

    The same expression as the platform's index (:mod:`core.speed.platform`), written out
    literally so SQLite matches the index to it.
    """
    if dialect == "sqlite":
        return func.strftime(literal_column(SQLITE_TIME_FORMAT), table.c.updated_at)
    return table.c.updated_at


def changed_since(dialect: str, source: Table, since: datetime) -> ColumnElement[bool]:
    """The source rows whose ``updated_at`` is at or after ``since``."""
    if dialect == "sqlite":
        return updated_key(dialect, source) >= since.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
    return source.c.updated_at >= since.replace(tzinfo=None)


def upsert(
    connection: Connection,
    source: Table,
    target: Table,
    columns: tuple[str, ...],
    key: str,
    since: datetime | None,
    where: ColumnElement[bool] | None = None,
) -> int:
    """Insert the source's rows the target lacks, update those that differ; the count."""
    dialect = connection.dialect.name
    if where is None:
        where = true() if since is None else changed_since(dialect, source, since)
    # Only rows that are new or differ reach the upsert: an unchanged row is then neither
    # rewritten nor locked (PostgreSQL locks a conflicting row even when it updates nothing).
    others = [c for c in columns if c != key]
    current = target.alias("current")
    differs = or_(current.c[key].is_(None), *[source.c[c].is_distinct_from(current.c[c]) for c in others])
    rows = (
        select(*[source.c[c] for c in columns])
        .select_from(source.outerjoin(current, current.c[key] == source.c[key]))
        .where(where, differs)
    )
    insert = sqlite_dialect.insert if dialect == "sqlite" else pg_dialect.insert
    statement = insert(target).from_select(columns, rows)
    statement = statement.on_conflict_do_update(
        index_elements=[target.c[key]], set_={c: statement.excluded[c] for c in others}
    )
    return max(connection.execute(statement, execution_options=ROWCOUNT).rowcount, 0)


def delete_missing(connection: Connection, source: Table, target: Table, key: str) -> int:
    """Delete the target's rows the source no longer has; the count."""
    gone = ~exists().where(and_(source.c[key] == target.c[key]))
    return max(connection.execute(target.delete().where(gone)).rowcount, 0)


def counts_differ(connection: Connection, source: Table, target: Table) -> bool:
    counts = connection.execute(
        select(
            select(func.count()).select_from(source).scalar_subquery(),
            select(func.count()).select_from(target).scalar_subquery(),
        )
    ).one()
    return bool(counts[0] != counts[1])


def compare_chunk(
    connection: Connection, source: Table, target: Table, after: str
) -> tuple[str | None, int, int]:
    """Compare the next :data:`FULL_CHUNK` sessions by id, whatever their ``updated_at``.

    The safety net for writes that did not bump ``updated_at``, a chunk per sync so no sync
    grows long: a whole pass takes (sessions / FULL_CHUNK) syncs. Returns the last id
    compared (None when the pass is complete) and the rows written and deleted.
    """
    upper = connection.execute(
        select(source.c.session_id)
        .where(source.c.session_id > after)
        .order_by(source.c.session_id)
        .offset(FULL_CHUNK - 1)
        .limit(1)
    ).scalar()
    in_range: list[ColumnElement[bool]] = [source.c.session_id > after]
    target_range: list[ColumnElement[bool]] = [target.c.session_id > after]
    if upper is not None:
        in_range.append(source.c.session_id <= upper)
        target_range.append(target.c.session_id <= upper)
    written = upsert(connection, source, target, SESSION_COLUMNS, "session_id", None, where=and_(*in_range))
    gone = ~exists().where(source.c.session_id == target.c.session_id)
    deleted = max(
        connection.execute(target.delete().where(*target_range, gone), execution_options=ROWCOUNT).rowcount,
        0,
    )
    return (str(upper) if upper is not None else None), written, deleted
