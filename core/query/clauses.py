"""The SQL of a filter: WHERE clauses, sort keys and ORDER BY, and the table's own query.

SQL is built with SQLAlchemy Core: small functions return lists of clauses,
:func:`build_select` assembles them. Sort keys come from an allowlist; every order ends with
``session_id``; no user text reaches ``text()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from core.fields import NULLABLE_SORT_KEYS
from core.query.filter import SessionFilter
from core.query.search import TrigramMatches, search_clauses, unindexed
from core.speed import tables as copy
from core.speed.capabilities import Capabilities
from core.speed.expressions import derived, timestamp_key
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S


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
        return [(S.c.session_id if indexed else unindexed(S.c.session_id)).in_(matching)]
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
    ``matched``: see :func:`core.query.search.search_clauses`.
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
    return order_terms(sort_column(f.sort, caps), S.c.session_id, f, caps, reverse=reverse)


def order_terms(
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


def needs_models(f: SessionFilter) -> bool:
    return f.sort == "model_name"


def build_select(f: SessionFilter, caps: Capabilities) -> Select[Any]:
    """All matching rows, enriched and sorted (no paging): the table's and the export's query."""
    return (
        select(*row_columns(caps))
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*filter_clauses(f, caps))
        .order_by(*order_clauses(f, caps))
    )


def row_columns(caps: Capabilities) -> list[ColumnElement[Any]]:
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


def build_count(
    f: SessionFilter, caps: Capabilities, *, matched: TrigramMatches | None = None
) -> Select[Any]:
    return select(func.count()).select_from(S).where(*filter_clauses(f, caps, matched=matched))
