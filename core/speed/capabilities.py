"""Which derived structures a database has: the one probe readers ask before choosing a query.

A bare platform database has none, the dashboard's copy has all of them once ``init_db`` has
run; readers (:mod:`core.query`, :mod:`core.stats`, :mod:`core.export`) pick the fast form of a
query only for what :func:`capabilities` found, so either answers alike.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from core.speed.expressions import SESSIONS, expressions
from core.speed.indexes import FRONT_INDEX, POINTS_INDEX, SEARCH_TRIGRAM_INDEX
from core.speed.tables import COUNTS_TABLE, KEYS_TABLE, ROLLUP_TABLES, SEARCH_TABLE, TECHNIQUES_TABLE


@dataclass(frozen=True)
class Capabilities:
    """What ``init_db`` has added to this database (nothing, for a bare platform database)."""

    dialect: str
    generated_columns: frozenset[str]
    techniques_table: bool
    search_index: bool
    status_counts: bool = False  # COUNTS_TABLE: exact sessions per status, kept by triggers
    rollups: bool = False  # ROLLUP_TABLES: exact pre-aggregated facts, kept by triggers
    points_indexes: bool = False  # POINTS_INDEX and FRONT_INDEX (partial, completed with metrics)
    indexes: frozenset[str] = frozenset()  # index names on the sessions table (SQLite: all)

    def has(self, name: str) -> bool:
        return name in self.generated_columns

    def has_index(self, name: str) -> bool:
        """Whether SQLite index ``name`` exists (readers name it in ``INDEXED BY``)."""
        return self.dialect == "sqlite" and name in self.indexes


_capabilities: weakref.WeakKeyDictionary[Engine, Capabilities] = weakref.WeakKeyDictionary()


def capabilities(connection: Connection) -> Capabilities:
    """Inspect (once per engine) which derived structures exist."""
    engine = connection.engine
    found = _capabilities.get(engine)
    if found is None:
        found = inspect_capabilities(connection)
        _capabilities[engine] = found
    return found


def forget_capabilities(engine: Engine) -> None:
    """Probe ``engine`` again at its next query (``init_db`` changed what it has)."""
    _capabilities.pop(engine, None)


def override_capabilities(engine: Engine, caps: Capabilities) -> None:
    """Make ``engine`` behave as if only ``caps`` existed (tests compare paths with this)."""
    _capabilities[engine] = caps


def sqlite_objects(connection: Connection, kind: str) -> set[str]:
    """The names of SQLite's schema objects of ``kind`` (table, index, trigger)."""
    rows = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
    return {row[0] for row in rows}


def inspect_capabilities(connection: Connection) -> Capabilities:
    """What this database has now, uncached (``init_db`` asks before and after adding)."""
    dialect = connection.dialect.name
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    columns: set[str] = set()
    if SESSIONS in tables:
        columns = {c["name"] for c in inspector.get_columns(SESSIONS)}
        if dialect == "sqlite":
            # PRAGMA table_info hides generated columns; table_xinfo shows them.
            rows = connection.exec_driver_sql(f"PRAGMA table_xinfo({SESSIONS})").all()
            columns |= {row[1] for row in rows}
    wanted = set(expressions(dialect))
    if dialect == "sqlite":
        search = SEARCH_TABLE in tables
        indexes = sqlite_objects(connection, "index")
    else:
        found = inspector.get_indexes(SESSIONS) if SESSIONS in tables else []
        indexes = {str(ix["name"]) for ix in found}
        search = SEARCH_TRIGRAM_INDEX in indexes
    return Capabilities(
        dialect=dialect,
        generated_columns=frozenset(wanted & columns),
        techniques_table=TECHNIQUES_TABLE in tables,
        search_index=search,
        status_counts=COUNTS_TABLE in tables and (dialect != "sqlite" or KEYS_TABLE in tables),
        rollups=all(name in tables for name in ROLLUP_TABLES),
        points_indexes=POINTS_INDEX in indexes and FRONT_INDEX in indexes,
        indexes=frozenset(indexes),
    )
