"""A small in-process cache for aggregate results: keyed by filter, bounded, short-lived.

Aggregates are full scans (about a second at a million sessions); the dashboard asks for the
same ones on every rerun. Entries are keyed by the function, the database, the filter without
sort or paging (:func:`core.stats.aggregates.aggregate_filter`), the keyword arguments and a *data
version* (:func:`core.stats.aggregates.data_version`: row counts and the latest ``updated_at``), so
a write by the platform makes the old entries unreachable at once. The data version itself is
re-read at most every ``version_ttl`` seconds, which keeps a hit at microseconds; entries also
expire after ``ttl`` seconds and the oldest are dropped beyond ``max_entries``.

Why not ``st.cache_data``: it pickles and unpickles on every hit and knows nothing about the
data version; results here are small frozen dataclasses, safe to share between sessions
(everyone signed in sees the same data). Nothing in this module imports Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from core.query.filter import SessionFilter
from core.stats.aggregates import aggregate_filter, data_version
from core.store.engine import statement_timeout_suspended

T = TypeVar("T")


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
                return value  # type: ignore[no-any-return]
        with engine.connect() as connection:
            key = (*base, self.version(engine, connection))
            found, value = self._lookup(key)
            if found:
                return value  # type: ignore[no-any-return]
            if on_miss is not None:
                on_miss()
            # An aggregate is a deliberate full scan (seconds at a million rows on SQLite), run
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

    Example: ``cached(engine, aggregates.summary, f)``.
    """
    return default_cache.call(engine, fn, f, on_miss=on_miss, **kwargs)
