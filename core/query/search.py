"""Free-text search over session id, model id and model name, as WHERE clauses.

SQLite's trigram index (FTS5) finds session ids; PostgreSQL's trigram indexes serve ``ILIKE``.
The matching models are resolved apart: a few thousand distinct ids and names are tested
instead of every session's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select, any_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.capabilities import Capabilities, capabilities
from core.speed.tables import SEARCH_TABLE
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S

MIN_TRIGRAM = 3  # trigram indexes need three characters; shorter text scans
# A trigram MATCH on a common fragment is costly: fetch_page runs it once and hands the ids
# (up to this many) to both the count and the page.
MATCHED_IDS_LIMIT = 20_000


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: ColumnElement[Any], needle: str, caps: Capabilities) -> ColumnElement[bool]:
    """Case-insensitive substring match (SQLite's LIKE is already case-insensitive for ASCII,
    and SQLAlchemy's ``ilike`` there renders a slower ``lower() LIKE lower()``)."""
    pattern = f"%{_escape_like(needle)}%"
    if caps.dialect == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The same text, as ``column || ''``: no index serves it, so the planner walks the sort's
    index and tests each row instead (see :func:`core.query.pages.build_page_select`)."""
    return column.concat("")


def matching_models(search: str, caps: Capabilities) -> Select[Any] | CompoundSelect[Any]:
    """Model ids whose name contains ``search``, and, where init-db keeps ``agg_models`` (every
    session's model id, kept by triggers), model ids that contain it: a few thousand distinct
    ids are tested instead of every session's ("mdl" would be in each row's trigrams)."""
    named = select(M.c.model_id).where(contains(M.c.name, search, caps))
    if not caps.rollups:
        return named
    return named.union(
        select(copy.agg_models.c.model_id).where(contains(copy.agg_models.c.model_id, search, caps))
    )


def of_models(
    model_id: ColumnElement[Any], models_: Select[Any] | CompoundSelect[Any], caps: Capabilities
) -> ColumnElement[bool]:
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
    session_id = S.c.session_id if indexed else unindexed(S.c.session_id)
    model_id = S.c.model_id if indexed else unindexed(S.c.model_id)
    trigram = (matched.ids is not None) if matched is not None else _trigram_search(search, caps)
    by_session: ColumnElement[bool]
    by_model: ColumnElement[bool]
    if trigram:  # SQLite's trigram index (session ids only)
        if matched is not None and matched.ids is not None:
            each = func.json_each(json.dumps(matched.ids)).table_valued("value")
            by_session = session_id.in_(select(each.c.value))
        else:
            by_session = session_id.in_(_trigram_select(search))
    else:  # PostgreSQL's trigram index, or a scan
        by_session = contains(session_id, search, caps)
    if matched is not None:  # the matching models, resolved with the ids
        if not matched.models:
            return [by_session]
        each = func.json_each(json.dumps(matched.models)).table_valued("value")
        by_model = model_id.in_(select(each.c.value))
    else:
        by_model = of_models(model_id, matching_models(search, caps), caps)
    if not caps.rollups:
        by_model = or_(contains(model_id, search, caps), by_model)
    if matched is not None and matched.ids is not None and not matched.ids:
        # No session id matched: an OR with an empty id list made SQLite scan every session
        # instead of probing the model index.
        return [by_model]
    return [or_(by_session, by_model)]


def _trigram_search(search: str, caps: Capabilities) -> bool:
    return caps.dialect == "sqlite" and caps.search_index and len(search) >= MIN_TRIGRAM


def _trigram_select(search: str) -> Select[Any]:
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
    thousands of entries, and counting through the index costs far more than a scan of the
    (model_id, session_id) index."""

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
    ids = connection.execute(_trigram_select(f.search).limit(MATCHED_IDS_LIMIT + 1)).scalars().all()
    models = connection.execute(matching_models(f.search, caps)).scalars().all()
    return TrigramMatches(tuple(ids) if len(ids) <= MATCHED_IDS_LIMIT else None, tuple(models))
