"""The query engine behind ``GET /optimization/sessions``: filter, sort, page, count, export.

SQL is built here and only here, with SQLAlchemy Core: small functions return lists of
clauses, :func:`build_select` assembles them. Sort keys come from an allowlist; every order
ends with ``session_id``; no user text reaches ``text()``. Filtering, sorting, paging and
counting happen in the database; Python only shapes the 50 rows of a page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, any_, cast, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from core.fields import NULLABLE_SORT_KEYS, RESPONSE_FIELDS
from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.derived import (
    SEARCH_TABLE,
    Capabilities,
    capabilities,
    derived,
    timestamp_key,
)
from core.store.engine import statement_timeout_suspended
from core.store.tables import models, optimization_sessions
from core.store.types import parse_techniques

S = optimization_sessions
M = models
MIN_TRIGRAM = 3  # trigram indexes need three characters; shorter text scans
# SQLite's trigram MATCH on a common fragment costs tens of milliseconds: fetch_page runs it
# once and hands the ids (up to this many) to both the count and the page.
MATCHED_IDS_LIMIT = 20_000
# Pages at least this deep, of a status-only filter sorted by creation time, skip whole days
# through the rollups' per-day counts instead of walking every index entry before them.
DAY_SKIP_MIN_OFFSET = 5_000


@dataclass(frozen=True)
class SessionRow:
    """One enriched session: the response fields plus what the dashboard shows besides."""

    session_id: str
    model_id: str
    model_name: str
    status: str
    progress_percentage: float
    techniques: tuple[str, ...]
    size_reduction_percent: float | None
    speed_improvement_percent: float | None
    accuracy_delta_percent: float | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    model_known: bool
    has_data_issue: bool

    @property
    def duration_seconds(self) -> float | None:
        """Created to completed for finished sessions; ``None`` while unfinished."""
        if self.created_at is None or self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.created_at).total_seconds())

    def to_response(self) -> dict[str, Any]:
        """The row exactly as the original endpoint returned it (ISO 8601 timestamps)."""
        return {key: _json_value(getattr(self, key)) for key in RESPONSE_FIELDS}


@dataclass(frozen=True)
class Page:
    """One page of rows and the exact number of all matches."""

    rows: tuple[SessionRow, ...]
    total: int
    skip: int
    limit: int

    def to_response(self) -> dict[str, Any]:
        return {
            "sessions": [row.to_response() for row in self.rows],
            "total": self.total,
            "skip": self.skip,
            "limit": self.limit,
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


# -- clause builders ---------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: ColumnElement[Any], needle: str, caps: Capabilities) -> ColumnElement[bool]:
    """Case-insensitive substring match (SQLite's LIKE is already case-insensitive for ASCII,
    and SQLAlchemy's ``ilike`` there renders a slower ``lower() LIKE lower()``)."""
    pattern = f"%{_escape_like(needle)}%"
    if caps.dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The same text, as ``column || ''``: no index serves it, so the planner walks the sort's
    index and tests each row instead (see :func:`build_page_select`)."""
    return column.concat("")


def _matching_models(search: str, caps: Capabilities) -> Select[Any]:
    """Model ids whose name contains ``search``, and, where init-db keeps ``agg_models`` (every
    session's model id, kept by triggers), model ids that contain it: a few thousand distinct
    ids are tested instead of every session's ("mdl" would be in each row's trigrams)."""
    named = select(M.c.model_id).where(_contains(M.c.name, search, caps))
    if not caps.rollups:
        return named
    return named.union(
        select(copy.agg_models.c.model_id).where(_contains(copy.agg_models.c.model_id, search, caps))
    )


def _of_models(model_id: ColumnElement[Any], models_: Select[Any], caps: Capabilities) -> ColumnElement[bool]:
    if caps.dialect == "postgresql":
        # The matching models are resolved first (small tables), into an array the planner
        # can probe the model_id index with: ``IN (subquery)`` would make it scan the sessions.
        return model_id == any_(func.array(models_.scalar_subquery()))
    return model_id.in_(models_)


def search_clauses(
    search: str, caps: Capabilities, *, indexed: bool = True, matched: TrigramMatches | None = None
) -> list[ColumnElement[bool]]:
    """Free text over session id, model id and model name.

    ``indexed=False``: the same test in a form no index drives (for walking the sort index).
    ``matched``: what SQLite's trigram index found for ``search`` (see
    :func:`trigram_matches`), used instead of running the MATCH again.
    """
    if not search:
        return []
    session_id = S.c.session_id if indexed else _unindexed(S.c.session_id)
    model_id = S.c.model_id if indexed else _unindexed(S.c.model_id)
    trigram = (matched.ids is not None) if matched is not None else _trigram_search(search, caps)
    if trigram:  # SQLite's trigram index (session ids only)
        if matched is not None and matched.ids is not None:
            each = func.json_each(json.dumps(matched.ids)).table_valued("value")
            by_session = session_id.in_(select(each.c.value))
        else:
            by_session = session_id.in_(_trigram_matches(search))
    else:  # PostgreSQL's trigram index, or a scan
        by_session = _contains(session_id, search, caps)
    if matched is not None:  # the matching models, resolved with the ids
        if not matched.models:
            return [by_session]
        each = func.json_each(json.dumps(matched.models)).table_valued("value")
        by_model = model_id.in_(select(each.c.value))
    else:
        by_model = _of_models(model_id, _matching_models(search, caps), caps)
    if not caps.rollups:
        by_model = or_(_contains(model_id, search, caps), by_model)
    if matched is not None and matched.ids is not None and not matched.ids:
        # No session id matched: an OR with an empty id list made SQLite scan every session
        # instead of probing the model index (at 1,000,000 sessions, 'whisper' cards 1.3 -> 0.9 s,
        # 'bert' page 61 -> 25 ms).
        return [by_model]
    return [or_(by_session, by_model)]


def _trigram_search(search: str, caps: Capabilities) -> bool:
    return caps.dialect == "sqlite" and caps.search_index and len(search) >= MIN_TRIGRAM


def _trigram_matches(search: str) -> Select[Any]:
    """Sessions whose id contains ``search`` (SQLite FTS5 trigram index; a database indexed by
    an earlier version also finds model ids there, which the callers match anyway)."""
    # A quoted FTS5 phrase is a substring match under the trigram tokenizer.
    phrase = '"' + search.replace('"', '""') + '"'
    return select(copy.session_search.c.session_id).where(
        copy.session_search.c[SEARCH_TABLE].op("MATCH")(phrase)
    )


@dataclass(frozen=True)
class TrigramMatches:
    """What SQLite's trigram index found for a search: the matching session ids, or ``None``
    when there are more than :data:`MATCHED_IDS_LIMIT`. Then the search is a plain ``LIKE``
    over the rows: a fragment most sessions contain ("opt-2025") reads doclists of hundreds of
    thousands of entries, and counting through the index takes seconds where a scan of the
    (model_id, session_id) index takes a few hundred milliseconds."""

    ids: tuple[str, ...] | None
    # The models whose name (or, with the rollups, id) contains the search: a few of some
    # thousands, resolved once instead of in every statement.
    models: tuple[str, ...] = ()


def trigram_matches(connection: Connection, f: SessionFilter) -> TrigramMatches | None:
    """Run ``f.search``'s trigram MATCH once (SQLite, three characters or more), and resolve
    the matching models, so the count and the page need not each do it; ``None`` where the
    filter has no such search."""
    caps = capabilities(connection)
    if not _trigram_search(f.search, caps):
        return None
    ids = connection.execute(_trigram_matches(f.search).limit(MATCHED_IDS_LIMIT + 1)).scalars().all()
    models = connection.execute(_matching_models(f.search, caps)).scalars().all()
    return TrigramMatches(tuple(ids) if len(ids) <= MATCHED_IDS_LIMIT else None, tuple(models))


def technique_clauses(
    techniques: tuple[str, ...], caps: Capabilities, *, indexed: bool = True
) -> list[ColumnElement[bool]]:
    """Sessions that apply any of ``techniques``."""
    if not techniques:
        return []
    if caps.techniques_table:
        matching = select(copy.session_techniques.c.session_id).where(
            copy.session_techniques.c.technique.in_(techniques)
        )
        return [(S.c.session_id if indexed else _unindexed(S.c.session_id)).in_(matching)]
    techniques_json = derived("techniques_json", caps)
    if caps.dialect == "sqlite":
        each = func.json_each(techniques_json).table_valued("value", "type")
        return [
            select(literal(1))
            .select_from(each)
            .where(each.c.type == "text", each.c.value.in_(techniques))
            .exists()
        ]
    # jsonb ?| text[]: does the array hold any of these strings?
    return [cast(techniques_json, JSONB).op("?|")(cast(list(techniques), ARRAY(Text)))]


def filter_clauses(
    f: SessionFilter, caps: Capabilities, *, indexed: bool = True, matched: TrigramMatches | None = None
) -> list[ColumnElement[bool]]:
    """Every WHERE clause for ``f`` except paging.

    ``indexed=False`` renders the search and technique tests so that no index drives them;
    ``matched``: see :func:`search_clauses`.
    """
    clauses: list[ColumnElement[bool]] = []
    if f.statuses:
        clauses.append(S.c.status.in_(f.statuses))
    if f.model_ids:
        clauses.append(S.c.model_id.in_(f.model_ids))
    start, end = f.created_range()
    created = timestamp_key("created_at", caps)
    if start is not None:
        clauses.append(created >= _bound(start, caps))
    if end is not None:
        clauses.append(created < _bound(end, caps))
    clauses.extend(search_clauses(f.search, caps, indexed=indexed, matched=matched))
    clauses.extend(technique_clauses(f.techniques, caps, indexed=indexed))
    return clauses


def _bound(value: datetime, caps: Capabilities) -> Any:
    if caps.dialect == "sqlite":
        # Same text form as the generated key: 'YYYY-MM-DD HH:MM:SS.SSS' (milliseconds).
        micro = value.microsecond
        if micro % 1000:
            # An exclusive bound inside a millisecond must still admit that millisecond.
            value = value.replace(microsecond=(micro // 1000 + 1) * 1000 % 1_000_000)
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return value


def sort_column(key: str, caps: Capabilities) -> ColumnElement[Any]:
    """The expression behind an allowlisted sort key."""
    columns: dict[str, ColumnElement[Any]] = {
        "session_id": S.c.session_id,
        "model_id": S.c.model_id,
        "model_name": func.coalesce(M.c.name, S.c.model_id),
        "status": S.c.status,
        "progress_percentage": derived("progress", caps),
        "techniques": derived("techniques_json", caps),
        "size_reduction_percent": derived("size_reduction", caps),
        "speed_improvement_percent": derived("speed_improvement", caps),
        "accuracy_delta_percent": derived("accuracy_delta", caps),
        "created_at": timestamp_key("created_at", caps),
        "updated_at": timestamp_key("updated_at", caps),
        "completed_at": timestamp_key("completed_at", caps),
    }
    return columns[key]


def order_clauses(f: SessionFilter, caps: Capabilities, *, reverse: bool = False) -> list[Any]:
    """ORDER BY for ``f``, always ending with ``session_id`` in the same direction.

    NULLs sort as the smallest value on both backends (SQLite's native rule; PostgreSQL is
    told so), so descending sorts put missing metrics last.
    """
    return _order_terms(sort_column(f.sort, caps), S.c.session_id, f, caps, reverse=reverse)


def _order_terms(
    key: ColumnElement[Any],
    identity: ColumnElement[Any],
    f: SessionFilter,
    caps: Capabilities,
    *,
    reverse: bool = False,
) -> list[Any]:
    descending = (f.order == "desc") != reverse
    order = []
    for expression in (key, identity):
        term = expression.desc() if descending else expression.asc()
        # Only where NULLs can occur: on a column that is never NULL the explicit placement
        # would stop PostgreSQL from reading a plain index backwards (DESC NULLS LAST is not
        # the reverse of ASC NULLS LAST), turning the default first page into a full sort.
        if caps.dialect != "sqlite" and expression is not identity and f.sort in NULLABLE_SORT_KEYS:
            term = term.nulls_last() if descending else term.nulls_first()
        order.append(term)
    return order


def _needs_models(f: SessionFilter) -> bool:
    return f.sort == "model_name"


def build_select(f: SessionFilter, caps: Capabilities) -> Select[Any]:
    """All matching rows, enriched and sorted (no paging): the table's and the export's query."""
    return (
        select(*_row_columns(caps))
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*filter_clauses(f, caps))
        .order_by(*order_clauses(f, caps))
    )


def _row_columns(caps: Capabilities) -> list[ColumnElement[Any]]:
    return [
        S.c.session_id,
        S.c.model_id,
        func.coalesce(M.c.name, S.c.model_id).label("model_name"),
        (M.c.model_id.is_not(None)).label("model_known"),
        S.c.status,
        derived("progress", caps).label("progress_percentage"),
        derived("techniques_json", caps).label("techniques_json"),
        derived("size_reduction", caps).label("size_reduction_percent"),
        derived("speed_improvement", caps).label("speed_improvement_percent"),
        derived("accuracy_delta", caps).label("accuracy_delta_percent"),
        derived("data_issue", caps).label("data_issue"),
        S.c.created_at,
        S.c.updated_at,
        S.c.completed_at,
    ]


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
    ``matched``: see :func:`search_clauses`; ``days``: see :func:`day_span`.
    """
    offset, limit, reverse = _page_window(f, total)
    where = filter_clauses(f, caps, indexed=plan != "walk", matched=matched)
    if days is not None and plan == "index":
        # Only the days the page lies in; the rows of every day before them are skipped whole.
        low, high = sorted((days.first, days.last))
        created = timestamp_key("created_at", caps)
        where += [created >= low + " ", created < high + "!"]  # "YYYY-MM-DD HH:MM:SS.SSS" keys
        offset -= days.before
    source = S.outerjoin(M, M.c.model_id == S.c.model_id) if _needs_models(f) else S
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
            .order_by(*_order_terms(matches.c.sort_key, matches.c.sid, f, caps, reverse=reverse))
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
        select(*_row_columns(caps))
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


def build_count(
    f: SessionFilter, caps: Capabilities, *, matched: TrigramMatches | None = None
) -> Select[Any]:
    return select(func.count()).select_from(S).where(*filter_clauses(f, caps, matched=matched))


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
    instead of every index entry before them (``skip=500000``: about 270,000).

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


# -- execution ---------------------------------------------------------------------------------


def optional_float(value: Any) -> float | None:
    """A database number as float, NULL as None."""
    return None if value is None else float(value)


def row_from_mapping(row: RowMapping) -> SessionRow:
    """Shape one database row into a :class:`SessionRow`."""
    return SessionRow(
        session_id=row["session_id"],
        model_id=row["model_id"],
        model_name=row["model_name"],
        status=row["status"],
        progress_percentage=round(float(row["progress_percentage"] or 0.0), 2),
        techniques=parse_techniques(row["techniques_json"]),
        size_reduction_percent=optional_float(row["size_reduction_percent"]),
        speed_improvement_percent=optional_float(row["speed_improvement_percent"]),
        accuracy_delta_percent=optional_float(row["accuracy_delta_percent"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        model_known=bool(row["model_known"]),
        has_data_issue=bool(row["data_issue"]),
    )


def count_sessions(connection: Connection, f: SessionFilter, *, matched: TrigramMatches | None = None) -> int:
    """The exact number of sessions matching ``f`` (paging ignored).

    Where init-db keeps per-status counts (counting 800,000 index entries takes tens of
    milliseconds), a filter on nothing but the status reads them instead. ``matched``: see
    :func:`search_clauses`.
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
    of_named_models = _of_models(S.c.model_id, _matching_models(f.search, caps), caps)
    text_match = _contains(S.c.session_id, f.search, caps)
    if not caps.rollups:
        text_match = or_(text_match, _contains(S.c.model_id, f.search, caps))
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


def count_data_issues(connection: Connection, f: SessionFilter) -> int:
    """How many matches have criteria or results that are not valid JSON objects/numbers."""
    caps = capabilities(connection)
    statement = (
        select(func.count()).select_from(S).where(*filter_clauses(f, caps), derived("data_issue", caps) == 1)
    )
    return int(connection.execute(statement).scalar_one())


def find_session(connection: Connection, session_id: str) -> dict[str, Any] | None:
    """Everything known about one session, for its detail view; ``None`` if it does not exist."""
    caps = capabilities(connection)
    statement = (
        select(
            *_row_columns(caps),
            S.c.criteria,
            S.c.results,
            S.c.error_message,
            S.c.total_steps,
            S.c.completed_steps,
            M.c.framework,
            M.c.original_size_mb,
        )
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(S.c.session_id == session_id)
    )
    row = connection.execute(statement).mappings().first()
    if row is None:
        return None
    detail = dict(row)
    detail["row"] = row_from_mapping(row)
    return detail


def distinct_techniques(connection: Connection) -> list[str]:
    """Every technique name that appears in some session, sorted."""
    caps = capabilities(connection)
    if caps.techniques_table:
        technique = copy.session_techniques.c.technique
        rows = connection.execute(select(technique).distinct().order_by(technique))
        return [r[0] for r in rows]
    found: set[str] = set()
    for (value,) in connection.execute(select(derived("techniques_json", caps)).select_from(S).distinct()):
        found.update(parse_techniques(value))
    return sorted(found)


def model_choices(connection: Connection) -> list[tuple[str, str]]:
    """``(model_id, label)`` for every model that has sessions or metadata, sorted by label.

    Models with sessions but no metadata appear under their id, so they can still be picked.
    """
    known = select(M.c.model_id, M.c.name)
    orphans = select(S.c.model_id, S.c.model_id).where(~S.c.model_id.in_(select(M.c.model_id))).distinct()
    rows = connection.execute(known.union(orphans)).all()
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: (r[1].lower(), r[0]))


__all__ = [
    "RESPONSE_FIELDS",
    "Page",
    "SessionRow",
    "build_count",
    "build_page_select",
    "build_select",
    "count_data_issues",
    "count_sessions",
    "distinct_techniques",
    "fetch_page",
    "find_session",
    "iter_sessions",
    "list_sessions",
    "model_choices",
    "page_plan",
]
