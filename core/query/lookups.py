"""Single look-ups beside the table: one session's detail, the filters' choices, the data-issue count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from core.query.clauses import filter_clauses, row_columns
from core.query.filter import SessionFilter
from core.query.rows import row_from_mapping
from core.speed import tables as copy
from core.speed.capabilities import capabilities
from core.speed.expressions import derived
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S
from core.store.types import parse_techniques


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
            *row_columns(caps),
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
