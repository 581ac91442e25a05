"""A small in-process cache for aggregate results: keyed by filter, bounded, short-lived.

Aggregates are full scans; the dashboard asks for the same ones on every rerun. Entries are
keyed by the function, the database, the filter without sort or paging (:func:`aggregate_filter`),
the keyword arguments and a *data version* (:func:`data_version`: row counts and the latest
``updated_at``), so a write by the platform makes the old entries unreachable at once. The data
version itself is re-read at most every ``version_ttl`` seconds, which keeps a hit cheap; entries
also expire after ``ttl`` seconds and the oldest are dropped beyond ``max_entries``.

Why not ``st.cache_data``: it pickles and unpickles on every hit and knows nothing about the
data version; results here are small frozen dataclasses, safe to share between sessions
(everyone signed in sees the same data). Nothing in this module imports Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Connection, Engine

from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.capabilities import capabilities
from core.speed.expressions import timestamp_key
from core.store.engine import statement_timeout_suspended
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S

T = TypeVar("T")


def aggregate_filter(f: SessionFilter) -> SessionFilter:
    """``f`` without sort and paging: what every aggregate depends on (the cache key)."""
    return replace(
        SessionFilter(),
        statuses=f.statuses,
        model_ids=f.model_ids,
        start_date=f.start_date,
        end_date=f.end_date,
        search=f.search,
        techniques=f.techniques,
    )


def data_version(connection: Connection) -> tuple[Any, ...]:
    """A cheap fingerprint that changes when sessions or models are written.

    The latest ``updated_at`` catches updates (the platform bumps it on every change); the
    number of sessions catches inserts and deletes: from the per-status counts init-db keeps
    when they exist; else SQLite's highest ``rowid`` (counting every row there is slow; the
    rowid grows with every insert, a delete then shows only when the cache entry expires) and
    PostgreSQL's ``count(*)``. Each part is its own scalar subquery, answered from an index or
    a tiny table.
    """
    caps = capabilities(connection)
    latest = select(func.max(timestamp_key("updated_at", caps))).select_from(S).scalar_subquery()
    if caps.status_counts:
        rows = select(func.coalesce(func.sum(copy.session_counts.c.sessions), 0))
    elif caps.dialect == "sqlite":
        rows = select(func.max(literal_column("optimization_sessions.rowid"))).select_from(S)
    else:
        rows = select(func.count()).select_from(S)
    model_count = select(func.count()).select_from(M).scalar_subquery()
    row = connection.execute(select(rows.scalar_subquery(), latest, model_count)).one()
    return (row[0], str(row[1]), int(row[2]))


class AggregateCache:
    """Time-to-live plus least-recently-used cache of ``fn(connection, filter, **kwargs)``."""

    def __init__(
        self,
        *,
        ttl: float = 60.0,
        max_entries: int = 256,
        version_ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.version_ttl = version_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._versions: dict[str, tuple[float, Hashable]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _database(engine: Engine) -> str:
        return engine.url.render_as_string(hide_password=True)

    def _known_version(self, engine: Engine) -> Hashable | None:
        """The data version read less than ``version_ttl`` seconds ago, else None."""
        with self._lock:
            known = self._versions.get(self._database(engine))
        if known is not None and self._clock() - known[0] < self.version_ttl:
            return known[1]
        return None

    def version(self, engine: Engine, connection: Connection) -> Hashable:
        """The engine's data version, re-read when older than ``version_ttl`` seconds."""
        value = self._known_version(engine)
        if value is None:
            value = data_version(connection)
            with self._lock:
                self._versions[self._database(engine)] = (self._clock(), value)
        return value

    def _lookup(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry[0] < self.ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                return True, entry[1]
        return False, None

    def call(
        self,
        engine: Engine,
        fn: Callable[..., T],
        f: SessionFilter,
        *,
        on_miss: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(connection, f, **kwargs)``, from the cache when fresh.

        A hit while the data version is fresh touches no database at all; otherwise one
        connection serves the version check and, on a miss, the computation. ``on_miss`` is
        called on a miss just before computing (the dashboard lets the browser paint first).
        """
        f = aggregate_filter(f)
        base = (fn.__module__, fn.__qualname__, self._database(engine), f, tuple(sorted(kwargs.items())))
        version = self._known_version(engine)
        if version is not None:
            found, value = self._lookup((*base, version))
            if found:
                return value
        with engine.connect() as connection:
            key = (*base, self.version(engine, connection))
            found, value = self._lookup(key)
            if found:
                return value
            if on_miss is not None:
                on_miss()
            # An aggregate is a deliberate full scan (slow on a big SQLite table), run
            # once per filter and data version: the interactive statement timeout would cut it.
            with statement_timeout_suspended(connection):
                result = fn(connection, f, **kwargs)
        now = self._clock()
        with self._lock:
            self.misses += 1
            self._entries[key] = (now, result)
            self._entries.move_to_end(key)
            self._purge(now)
        return result

    def _purge(self, now: float) -> None:
        for key in [k for k, (at, _) in self._entries.items() if now - at >= self.ttl]:
            del self._entries[key]
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._versions.clear()

    def __len__(self) -> int:
        return len(self._entries)


default_cache = AggregateCache()


def cached(
    engine: Engine,
    fn: Callable[..., T],
    f: SessionFilter,
    *,
    on_miss: Callable[[], None] | None = None,
    **kwargs: Any,
) -> T:
    """``fn(connection, f, **kwargs)`` through the process-wide :data:`default_cache`.

    Example: ``cached(engine, core.stats.summary.summary, f)``.
    """
    return default_cache.call(engine, fn, f, on_miss=on_miss, **kwargs)
