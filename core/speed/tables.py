"""The copy's own tables and their indexes, declared once: ``init_db`` creates them, readers select from them.

These are the structures :mod:`core.speed.build` adds to the dashboard's copy (and that
triggers keep there); readers in :mod:`core.query`, :mod:`core.stats` and :mod:`core.export`
select from these tables instead of each declaring its own. The FTS5 search table is a
virtual table SQLAlchemy cannot declare: :data:`session_search` is only a handle to read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import DDL, REAL, BigInteger, Column, Index, Integer, MetaData, Table, Text, column, table
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, TIMESTAMP
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from core.speed.export_cells import CELLS_TABLE

TECHNIQUES_TABLE = "session_techniques"
SEARCH_TABLE = "session_search"
# SQLite only: one row per live session (its search-index rowid and its status), which lets the
# triggers undo what a REPLACE removed without firing delete triggers.
KEYS_TABLE = "session_keys"
# Exact sessions per status, kept by triggers, so a count reads a few rows instead of an index.
# PostgreSQL spreads each status over COUNT_SLOTS rows picked by backend, so concurrent
# writers do not queue on one counter row; readers sum the slots.
COUNTS_TABLE = "session_counts"
COUNT_SLOTS = 16

# The rollups (:mod:`core.speed.rollup_triggers`): exact pre-aggregated facts, kept by triggers.
AGG_SESSIONS = "agg_sessions"
AGG_COUNTS = "agg_counts"
AGG_VALUES = "agg_values"
AGG_MODELS = "agg_models"
AGG_BINS = "agg_bins"
ALL_WEEKS = "*"  # the week of agg_values/agg_bins rows summing every week ('' is no created day)
ROLLUP_TABLES = (AGG_SESSIONS, AGG_COUNTS, AGG_VALUES, AGG_BINS, AGG_MODELS)
COUNT_COLUMNS = ("sessions", "size_sum", "size_n", "speed_sum", "speed_n", "both_n", "saved_sum", "saved_n")

# The copy's tables, apart from ``core.store.tables.metadata`` (the platform's): created by
# :func:`create_tables`, never by that metadata's ``create_all``.
copy_metadata = MetaData()
# PostgreSQL's layout of the counts (slots); SQLite's is :data:`session_counts`.
pg_metadata = MetaData()

_REAL: TypeEngine[float] = REAL().with_variant(DOUBLE_PRECISION(), "postgresql")
_COUNT: TypeEngine[int] = Integer().with_variant(BigInteger(), "postgresql")
# SQLite keeps timestamps as text (the copy's normalised keys), PostgreSQL as timestamps.
_STAMP: TypeEngine[Any] = Text().with_variant(TIMESTAMP(), "postgresql")

session_techniques = Table(
    TECHNIQUES_TABLE,
    copy_metadata,
    Column("technique", Text, primary_key=True),
    Column("session_id", Text, primary_key=True),
    Index("ix_session_techniques_session", "session_id"),
    sqlite_with_rowid=False,
)
session_keys = Table(  # SQLite only
    KEYS_TABLE,
    copy_metadata,
    Column("session_id", Text, primary_key=True),
    Column("search_rowid", Integer, nullable=False),
    Column("status", Text, nullable=False),
    sqlite_with_rowid=False,
)
session_counts = Table(
    COUNTS_TABLE,
    copy_metadata,
    Column("status", Text, primary_key=True),
    Column("sessions", Integer, nullable=False),
    sqlite_with_rowid=False,
)
session_count_slots = Table(
    COUNTS_TABLE,
    pg_metadata,
    Column("status", Text, primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("sessions", BigInteger, nullable=False),
)
session_search = table(SEARCH_TABLE, column("session_id"), column(SEARCH_TABLE))
export_cells = table(CELLS_TABLE, column("session_id"), column("line"))

agg_sessions = Table(
    AGG_SESSIONS,
    copy_metadata,
    Column("session_id", Text, primary_key=True),
    Column("model_id", Text, nullable=False),
    Column("day", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("size", _REAL),
    Column("speed", _REAL),
    Column("saved", _REAL),
    Column("last", _STAMP),
    Column("techniques", Text),
    Index("ix_agg_sessions_model", "model_id", "status"),
    sqlite_with_rowid=False,
)
agg_counts = Table(
    AGG_COUNTS,
    copy_metadata,
    Column("technique", Text, primary_key=True),
    Column("day", Text, primary_key=True),
    Column("status", Text, primary_key=True),
    *(Column(c, _REAL if c.endswith("_sum") else _COUNT, nullable=False) for c in COUNT_COLUMNS),
    sqlite_with_rowid=False,
)
agg_values = Table(
    AGG_VALUES,
    copy_metadata,
    Column("metric", Text, primary_key=True),
    Column("technique", Text, primary_key=True),
    Column("value", _REAL, primary_key=True),
    Column("week", Text, primary_key=True),
    Column("n", _COUNT, nullable=False),
    # Per week in value order: the period medians bin each week's values, then read a bin.
    Index("ix_agg_values_week", "metric", "technique", "week", "value", "n"),
    sqlite_with_rowid=False,
)
agg_bins = Table(
    AGG_BINS,
    copy_metadata,
    Column("metric", Text, primary_key=True),
    Column("technique", Text, primary_key=True),
    Column("week", Text, primary_key=True),
    Column("bin", _REAL, primary_key=True),
    Column("n", _COUNT, nullable=False),
    sqlite_with_rowid=False,
)
agg_models = Table(
    AGG_MODELS,
    copy_metadata,
    Column("model_id", Text, primary_key=True),
    Column("status", Text, primary_key=True),
    Column("sessions", _COUNT, nullable=False),
    Column("best_size", _REAL),
    Column("best_speed", _REAL),
    Column("last", _STAMP),
    sqlite_with_rowid=False,
)
ROLLUP_SCHEMA = (agg_sessions, agg_counts, agg_values, agg_bins, agg_models)


def create_tables(connection: Connection, tables: tuple[Table, ...]) -> None:
    """Create ``tables`` and their indexes where missing, in this order.

    ``CREATE ... IF NOT EXISTS`` rather than ``create_all``: on PostgreSQL the latter looks for
    an existing table along the whole search path, where the platform's schema may hold one of
    an older in-table install, and would then create nothing in the copy's schema.
    """
    for found in tables:
        connection.execute(CreateTable(found, if_not_exists=True))
        for index in sorted(found.indexes, key=lambda ix: str(ix.name)):
            connection.execute(CreateIndex(index, if_not_exists=True))


def run_ddl(connection: Connection, statements: Iterable[str]) -> None:
    """Run trigger, function and virtual-table statements SQLAlchemy has no construct for.

    Each is assembled from this package's names and expressions, never from input; ``%`` is
    doubled because :class:`~sqlalchemy.schema.DDL` formats its text (SQLite's ``strftime``).
    """
    for statement in statements:
        connection.execute(DDL(statement.replace("%", "%%")))
