"""Cached access to the sessions database for the pages: one engine, small cached results.

Why caches look the way they do:

* The engine is a connection pool, safe to share between visitors: ``st.cache_resource``,
  keyed by the settings. The embedded demo database is created here, before the first engine,
  so a fresh clone shows data on its first start.
* Query results are small (one page of at most 100 rows, a few counts) and keyed by the frozen
  :class:`~core.query.filter.SessionFilter`, so two visitors looking at the same view share one
  query. Every cache has a ``ttl`` and ``max_entries``: Streamlit frees expired entries only
  on access, and an unbounded cache grows with every filter anyone ever tried.
* A page of rows lives only a few seconds: running sessions change, and the auto-refresh
  must see new progress. Lists for the filter widgets (models, techniques) change rarely.

Every database failure leaves here as :class:`DatabaseUnavailable`, whose message names the
database with its password masked; pages show it with a Retry button instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, load_settings
from core.query.filter import SessionFilter
from core.query.lookups import count_data_issues, distinct_techniques, find_session, model_choices
from core.query.pages import fetch_page
from core.query.rows import Page
from core.speed import SpeedLayer, dispose_layers, speed_layer
from core.speed.install import ensure_demo_database
from core.stats.cache import cached, default_cache
from core.stats.periods import period_stats
from core.stats.points import pareto_front, scatter
from core.stats.summary import status_counts, summary
from core.stats.techniques import technique_stats
from core.stats.types import PeriodSeries, Scatter, SessionPoint, Summary, TechniqueStats
from core.store.engine import DatabaseMissingError
from ui import cancel, pacing

T = TypeVar("T")

PAGE_TTL_S = 2  # a page is re-read at least this often (auto-refresh of running sessions)
COUNTS_TTL_S = 4  # a platform write shows within 5 s
CHOICES_TTL_S = 300
MAX_ENTRIES = 256
TIMEOUT_REASON = "the query took too long"


class DatabaseUnavailable(Exception):
    """The database could not be opened or a query failed or timed out."""

    def __init__(self, settings: Settings, error: BaseException) -> None:
        self.masked_url = settings.masked_db_url
        self.reason = _describe(error)
        self.timed_out = self.reason.startswith(TIMEOUT_REASON)
        super().__init__(f"{self.masked_url}: {self.reason}")


def _describe(error: BaseException) -> str:
    """One readable line: no SQL, no parameters, no password (SQLAlchemy puts SQL in str())."""
    if isinstance(error, DatabaseMissingError):
        return str(error)
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip().splitlines()
    first = text[0] if text else ""
    if "interrupted" in first or "statement timeout" in first or "canceling statement" in first:
        return f"{TIMEOUT_REASON} and was stopped (statement timeout)"
    return f"{type(original or error).__name__}: {first}"[:300]


def _log(settings: Settings, what: str, error: BaseException) -> None:
    """Operators see failures in the terminal; a cancelled, abandoned view is not one."""
    if cancel.abandoned():
        return
    print(f"[dashboard] {what} failed on {settings.masked_db_url}: {error!r}", file=sys.stderr, flush=True)


def current_settings() -> Settings:
    """The database settings (environment, then secrets.toml, then the demo default)."""
    return load_settings()


@st.cache_resource(show_spinner=False, max_entries=4)
def get_layer(settings: Settings) -> SpeedLayer:
    """One speed layer per database (pools, the copy's sync thread); the demo database is
    written on the very first start."""
    ensure_demo_database(settings)
    return speed_layer(settings, engine_hook=cancel.install)


def get_engine(settings: Settings) -> Engine:
    """The engine that answers now: the speed layer's copy when current, else the platform."""
    return get_layer(settings).reader()


@contextmanager
def database_errors(settings: Settings, what: str) -> Iterator[None]:
    """Any database failure inside becomes :class:`DatabaseUnavailable` (logged for operators)."""
    try:
        yield
    except (SQLAlchemyError, DatabaseMissingError, OSError) as error:
        _log(settings, what, error)
        cancel.leave_if_abandoned()
        raise DatabaseUnavailable(settings, error) from None


@contextmanager
def connect(settings: Settings) -> Iterator[Connection]:
    """A short read connection; any database failure becomes :class:`DatabaseUnavailable`."""
    with database_errors(settings, "query"):
        engine = get_engine(settings)
        with engine.connect() as connection:
            yield connection


def _run(settings: Settings, query: Callable[[Connection], T]) -> T:
    with connect(settings) as connection:
        return query(connection)


@st.cache_data(show_spinner=False, ttl=PAGE_TTL_S, max_entries=MAX_ENTRIES)
def load_page(settings: Settings, session_filter: SessionFilter) -> Page:
    """One page of rows plus the exact number of matches."""
    return _run(settings, lambda c: fetch_page(c, session_filter))


@st.cache_data(show_spinner=False, ttl=COUNTS_TTL_S, max_entries=MAX_ENTRIES)
def load_data_issue_count(settings: Settings, session_filter: SessionFilter) -> int:
    """Matches whose criteria or results are not valid JSON (paging ignored)."""
    return _run(settings, lambda c: count_data_issues(c, session_filter.without_paging()))


def _aggregate(settings: Settings, fn: Callable[..., T], session_filter: SessionFilter, **kwargs: Any) -> T:
    """An aggregate through :mod:`core.stats.cache` (keyed by filter and data version, bounded)."""
    with database_errors(settings, f"aggregate {fn.__name__}"):
        return cached(get_engine(settings), fn, session_filter, on_miss=pacing.wait_for_paint, **kwargs)


def load_status_counts(settings: Settings, session_filter: SessionFilter) -> dict[str, int]:
    """Sessions per status under every other filter: the numbers beside the status choices."""
    others = replace(session_filter, statuses=())
    return {c.status: c.sessions for c in _aggregate(settings, status_counts, others)}


def load_summary(settings: Settings, session_filter: SessionFilter) -> Summary:
    """Counts by status and medians of the completed matches: the metric cards."""
    return _aggregate(settings, summary, session_filter)


def load_scatter(settings: Settings, session_filter: SessionFilter) -> Scatter:
    """Completed matches on the size/speed plane (sampled in SQL above a few thousand)."""
    return _aggregate(settings, scatter, session_filter)


def load_technique_stats(settings: Settings, session_filter: SessionFilter) -> tuple[TechniqueStats, ...]:
    return _aggregate(settings, technique_stats, session_filter)


def load_period_stats(settings: Settings, session_filter: SessionFilter) -> PeriodSeries:
    return _aggregate(settings, period_stats, session_filter)


@st.cache_data(show_spinner=False, ttl=CHOICES_TTL_S, max_entries=16)
def load_model_choices(settings: Settings) -> list[tuple[str, str]]:
    """``(model_id, label)`` for the model filter, ids of models without metadata included."""
    return _run(settings, model_choices)


@st.cache_data(show_spinner=False, ttl=CHOICES_TTL_S, max_entries=16)
def load_techniques(settings: Settings) -> list[str]:
    """Every technique that appears in some session."""
    return _run(settings, distinct_techniques)


def load_session(settings: Settings, session_id: str) -> dict[str, Any] | None:
    """Everything about one session, read fresh (the detail view shows live progress)."""
    return _run(settings, lambda c: find_session(c, session_id))


def clear_caches() -> None:
    """Forget this module's cached results and engine (the Retry button after a failure)."""
    for function in (load_page, load_data_issue_count, load_model_choices, load_techniques, get_layer):
        function.clear()
    dispose_layers()
    default_cache.clear()


def load_pareto_front(settings: Settings, session_filter: SessionFilter) -> tuple[SessionPoint, ...]:
    """Completed matches no other beats on both size and speed (over all matches)."""
    return _aggregate(settings, pareto_front, session_filter)
