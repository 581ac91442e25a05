"""One page of the table and its exact total: the engine behind ``GET /optimization/sessions``.

Filtering, sorting, paging and counting happen in the database; Python only shapes the rows of
one page. Deep pages are read from the nearer end, over the indexes first (:func:`build_page_select`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.engine import Connection

from core.query.clauses import (
    build_count,
    build_select,
    filter_clauses,
    needs_models,
    order_clauses,
    order_terms,
    row_columns,
    sort_column,
)
from core.query.filter import SessionFilter
from core.query.rows import Page, SessionRow, row_from_mapping
from core.query.search import TrigramMatches, contains, matching_models, of_models, trigram_matches
from core.speed import tables as copy
from core.speed.capabilities import Capabilities, capabilities
from core.speed.expressions import timestamp_key
from core.store.engine import statement_timeout_suspended
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S

# Pages at least this deep, of a status-only filter sorted by creation time, skip whole days
# through the rollups' per-day counts instead of walking every index entry before them.
DAY_SKIP_MIN_OFFSET = 5_000


def _page_window(f: SessionFilter, total: int) -> tuple[int, int, bool]:
    """(offset, limit, reversed): past the middle, the page is read from the other end."""
    if total and f.skip > total // 2:
        end = min(total, f.skip + f.limit)
        return total - end, max(0, end - f.skip), True
    return f.skip, f.limit, False


PagePlan = str  # "index", "walk" or "collect"; see build_page_select


def build_page_select(
    f: SessionFilter,
    caps: Capabilities,
    total: int,
    *,
    plan: PagePlan = "index",
    matched: TrigramMatches | None = None,
    days: DaySpan | None = None,
) -> Select[Any]:
    """One page: the keys are paged over the indexes first, then only those rows are enriched.

    A deep OFFSET over joined, enriched rows reads and discards every skipped row; paging the
    bare ``session_id`` over a covering index is far cheaper. Past the middle, the same page is
    read from the other end with the order reversed.

    ``plan`` (for search and technique filters, chosen by :func:`page_plan`): ``"walk"`` reads
    the sort's index in order and tests each row until the page is full (many matches);
    ``"collect"`` gathers all matches through the search/technique indexes first, then sorts
    them (few matches); ``"index"`` leaves the choice to the database's planner.
    ``matched``: see :func:`core.query.search.search_clauses`; ``days``: see :func:`day_span`.
    """
    offset, limit, reverse = _page_window(f, total)
    where = filter_clauses(f, caps, indexed=plan != "walk", matched=matched)
    if days is not None and plan == "index":
        # Only the days the page lies in; the rows of every day before them are skipped whole.
        low, high = sorted((days.first, days.last))
        created = timestamp_key("created_at", caps)
        where += [created >= low + " ", created < high + "!"]  # "YYYY-MM-DD HH:MM:SS.SSS" keys
        offset -= days.before
    source = S.outerjoin(M, M.c.model_id == S.c.model_id) if needs_models(f) else S
    if plan == "collect":
        matches = (
            select(S.c.session_id.label("sid"), sort_column(f.sort, caps).label("sort_key"))
            .select_from(source)
            .where(*where)
            .cte("matches")
            .prefix_with("MATERIALIZED")  # an optimisation fence: gather first, then sort
        )
        keys = (
            select(matches.c.sid)
            .order_by(*order_terms(matches.c.sort_key, matches.c.sid, f, caps, reverse=reverse))
            .limit(limit)
            .offset(offset)
        )
    else:
        keys = (
            select(S.c.session_id)
            .select_from(source)
            .where(*where)
            .order_by(*order_clauses(f, caps, reverse=reverse))
            .limit(limit)
            .offset(offset)
        )
    return (
        select(*row_columns(caps))
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(S.c.session_id.in_(keys.scalar_subquery()) if limit else false())
        .order_by(*order_clauses(f, caps))
    )


def page_plan(connection: Connection, f: SessionFilter, total: int) -> PagePlan:
    """How to read one page of a search or technique filter, from the number of matches.

    Walking the sort's index costs about (rows before the page) x (table / matches) row tests;
    collecting costs about one lookup per match plus a sort. Walk only when clearly cheaper:
    matches may cluster (a date in a session id), which makes a walk longer than estimated.
    """
    caps = capabilities(connection)
    if not (f.search or f.techniques) or not total or not caps.status_counts:
        return "index"
    everything = count_sessions(connection, SessionFilter())  # O(1) from the status counts
    offset, limit, _ = _page_window(f, total)
    walk = (offset + limit) * everything / total
    return "walk" if walk * 4 < total else "collect"


@dataclass(frozen=True)
class DaySpan:
    """The creation days (``YYYY-MM-DD``) holding a page's first and last rows, and how many
    matches come before the first of those days in the page's reading order."""

    first: str
    last: str
    before: int


def day_span(connection: Connection, f: SessionFilter, total: int) -> DaySpan | None:
    """Where a deep page of a status-only filter sorted by creation time lies, from the
    rollups' exact sessions per day and status, so the page query walks one or two days
    instead of every index entry before them.

    SQLite only (its creation key is text whose first ten characters are the rollups' day;
    PostgreSQL reads such pages fast enough). ``None`` where it does not apply: another
    filter or sort, a shallow page, or a page touching sessions whose creation time does
    not parse (their day is ``''``).
    """
    caps = capabilities(connection)
    if caps.dialect != "sqlite" or not caps.rollups or f.sort != "created_at" or not f.status_only:
        return None
    offset, limit, reverse = _page_window(f, total)
    if offset < DAY_SKIP_MIN_OFFSET or not limit:
        return None
    day = copy.agg_counts.c.day
    descending = (f.order == "desc") != reverse
    # '' (no parsable creation time) sorts first, as SQLite sorts the NULL keys of those rows.
    statement = (
        select(day, func.sum(copy.agg_counts.c.sessions))
        .where(copy.agg_counts.c.technique == "")
        .group_by(day)
        .order_by(day.desc() if descending else day.asc())
    )
    if f.statuses:
        statement = statement.where(copy.agg_counts.c.status.in_(f.statuses))
    before = 0
    first: tuple[str, int] | None = None
    for current, sessions in connection.execute(statement):
        before += int(sessions)
        if first is None and before > offset:
            first = (current, before - int(sessions))
        if first is not None and before >= offset + limit:
            if "" in (first[0], current):
                return None
            return DaySpan(first=first[0], last=current, before=first[1])
    return None  # fewer sessions than the page needs: leave it to the plain page query


def count_sessions(connection: Connection, f: SessionFilter, *, matched: TrigramMatches | None = None) -> int:
    """The exact number of sessions matching ``f`` (paging ignored).

    Where init-db keeps per-status counts (counting every index entry is slow on a big
    table), a filter on nothing but the status reads them instead. ``matched``: see
    :func:`core.query.search.search_clauses`.
    """
    caps = capabilities(connection)
    if caps.status_counts and f.status_only:
        statement = select(func.coalesce(func.sum(copy.session_counts.c.sessions), 0))
        if f.statuses:
            statement = statement.where(copy.session_counts.c.status.in_(f.statuses))
        return int(connection.execute(statement).scalar_one())
    if caps.dialect == "postgresql" and f.search and caps.search_index:
        return int(connection.execute(_search_count_pg(f, caps)).scalar_one())
    if (
        matched is not None
        and matched.ids is not None
        and not matched.models
        and not f.statuses
        and replace(f, search="").status_only
    ):
        # Nothing but a search, matching session ids only: the trigram index holds one row
        # per live session (kept by triggers), so the ids are the matches.
        return len(matched.ids)
    return int(connection.execute(build_count(f, caps, matched=matched)).scalar_one())


def _search_count_pg(f: SessionFilter, caps: Capabilities) -> Select[Any]:
    """The search total on PostgreSQL as two disjoint counts.

    One OR over the trigram indexes and the model_id index is a bitmap scan that visits every
    matching row in the table (a broad model-name match: tens of thousands of rows). Split, the
    sessions of matching models are counted on the model_id index alone, and the text matches
    (usually few) apart: same total, a fraction of the reads.
    """
    others = filter_clauses(replace(f, search=""), caps)
    of_named_models = of_models(S.c.model_id, matching_models(f.search, caps), caps)
    text_match = contains(S.c.session_id, f.search, caps)
    if not caps.rollups:
        text_match = or_(text_match, contains(S.c.model_id, f.search, caps))
    by_model = select(func.count()).select_from(S).where(*others, of_named_models)
    by_text = select(func.count()).select_from(S).where(*others, text_match, ~of_named_models)
    return select(by_model.scalar_subquery() + by_text.scalar_subquery())


def fetch_page(connection: Connection, f: SessionFilter) -> Page:
    """One page of enriched rows and the exact total, in the filter's order."""
    caps = capabilities(connection)
    matched = trigram_matches(connection, f)
    total = count_sessions(connection, f, matched=matched)
    if f.skip >= total:
        return Page(rows=(), total=total, skip=f.skip, limit=f.limit)
    plan = page_plan(connection, f, total)
    statement = build_page_select(
        f, caps, total, plan=plan, matched=matched, days=day_span(connection, f, total)
    )
    result = connection.execute(statement).mappings()
    return Page(rows=tuple(row_from_mapping(r) for r in result), total=total, skip=f.skip, limit=f.limit)


def list_sessions(connection: Connection, f: SessionFilter) -> dict[str, Any]:
    """The original endpoint's response: ``{"sessions": [...], "total", "skip", "limit"}``."""
    return fetch_page(connection, f).to_response()


def iter_sessions(
    connection: Connection, f: SessionFilter, *, batch_size: int = 2000
) -> Iterator[SessionRow]:
    """Every match of ``f`` in its order, streamed in batches (memory does not grow with rows).

    This is the table's own query without the limit, so an export matches the screen.
    """
    caps = capabilities(connection)
    with statement_timeout_suspended(connection):
        # Per statement: Connection.execution_options() would change the connection itself,
        # and every later query on it would open a server-side cursor.
        result = connection.execute(
            build_select(f, caps), execution_options={"stream_results": True, "yield_per": batch_size}
        )
        for row in result.mappings():
            yield row_from_mapping(row)
