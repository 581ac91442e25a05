"""Completed sessions on the size/speed plane: the scatter's sample and the Pareto front.

Only completed sessions with both size reduction and speed improvement are points. Above
:data:`SCATTER_LIMIT` the scatter keeps every k-th session by id (deterministic, spread over
time); the front is always computed over every match. With the rollups and the points
indexes init-db adds, both walk an index instead of numbering or sorting the matches.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from core.query.clauses import filter_clauses
from core.query.filter import SessionFilter
from core.query.rows import optional_float
from core.speed import tables as copy
from core.speed.capabilities import Capabilities, capabilities
from core.speed.expressions import derived
from core.speed.indexes import FRONT_INDEX, POINTS_INDEX
from core.speed.tables import ALL_WEEKS
from core.stats.rollup_plan import Plan, counts_where, rollup_plan
from core.stats.sources import filtered
from core.stats.sql import IndexedBy
from core.stats.types import Scatter, SessionPoint
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S
from core.store.types import parse_techniques

# Points drawn at most. Plotly draws a point as an SVG node, and the browser's main thread
# pays for each; beyond this many the page stutters while the sample's shape stays the same.
SCATTER_LIMIT = 2000


def _point_columns(caps: Capabilities) -> list[ColumnElement[Any]]:
    return [
        S.c.session_id,
        S.c.model_id,
        func.coalesce(M.c.name, S.c.model_id).label("model_name"),
        derived("techniques_json", caps).label("techniques_json"),
        derived("size_reduction", caps).label("size"),
        derived("speed_improvement", caps).label("speed"),
        derived("accuracy_delta", caps).label("accuracy"),
    ]


def _completed_clauses(where: list[ColumnElement[bool]], caps: Capabilities) -> list[ColumnElement[bool]]:
    return [
        *where,
        S.c.status == "completed",
        derived("size_reduction", caps).is_not(None),
        derived("speed_improvement", caps).is_not(None),
    ]


def _point(row: RowMapping) -> SessionPoint:
    return SessionPoint(
        session_id=row["session_id"],
        model_id=row["model_id"],
        model_name=row["model_name"],
        techniques=parse_techniques(row["techniques_json"]),
        size_reduction=float(row["size"]),
        speed_improvement=float(row["speed"]),
        accuracy_delta=optional_float(row["accuracy"]),
    )


def scatter(connection: Connection, f: SessionFilter, *, limit: int = SCATTER_LIMIT) -> Scatter:
    """Completed sessions with both metrics; above ``limit``, every k-th by ``session_id``.

    The sample is deterministic (same data, same points) and spread evenly over the ids,
    which follow creation time. ``total`` is the true number, so the page can say
    "showing 2,000 of 412,000".
    """
    caps = capabilities(connection)
    scanned, where = filtered(connection, f, caps)
    where = _completed_clauses(where, caps)
    plan = rollup_plan(connection, f)
    if plan is not None:
        total = _points_total(connection, plan)
    else:
        total = int(connection.execute(select(func.count()).select_from(scanned).where(*where)).scalar_one())
    joined = S.outerjoin(M, M.c.model_id == S.c.model_id)
    if total <= limit:
        statement = select(*_point_columns(caps)).select_from(joined).where(*where).order_by(S.c.session_id)
        return Scatter(tuple(_point(r) for r in connection.execute(statement).mappings()), total, False)
    step = math.ceil(total / limit)
    if plan is not None and caps.points_indexes:
        picked = _every_kth(caps, f, step, limit)
    else:
        numbered = (
            select(S.c.session_id, func.row_number().over(order_by=S.c.session_id).label("rn"))
            .select_from(scanned)
            .where(*where)
            .subquery("numbered")
        )
        picked = select(numbered.c.session_id).where((numbered.c.rn - 1) % step == 0)
    statement = (
        select(*_point_columns(caps))
        .select_from(joined)
        .where(S.c.session_id.in_(picked))
        .order_by(S.c.session_id)
    )
    return Scatter(tuple(_point(r) for r in connection.execute(statement).mappings()), total, True)


def _every_kth(caps: Capabilities, f: SessionFilter, step: int, limit: int) -> Select[Any]:
    """The ids numbered 1, 1 + step, 1 + 2 step, ... among the matches, in id order.

    Hops along the partial index of completed sessions with both metrics (ids in order, the
    created key beside them): each hop skips ``step - 1`` entries from the previous id, so
    nothing is numbered or sorted (SQLite's row_number over most of the table is slow).
    """
    source = IndexedBy(S, POINTS_INDEX) if caps.dialect == "sqlite" else S
    where = [*filter_clauses(f, caps), *_points_predicate(caps)]
    first = (
        select(S.c.session_id)
        .select_from(source)
        .where(*where)
        .order_by(S.c.session_id)
        .limit(1)
        .scalar_subquery()
    )
    hops = select(first.label("id"), literal_column("1").label("i")).cte("hops", recursive=True)
    following = (
        select(S.c.session_id)
        .select_from(source)
        .where(*where, S.c.session_id > hops.c.id)
        .order_by(S.c.session_id)
        .limit(1)
        .offset(step - 1)
        .scalar_subquery()
    )
    hops = hops.union_all(select(following, hops.c.i + 1).where(hops.c.id.is_not(None), hops.c.i <= limit))
    return select(hops.c.id).where(hops.c.id.is_not(None))


def _points_predicate(caps: Capabilities) -> list[ColumnElement[bool]]:
    """The partial indexes' own WHERE, spelled as they are (SQLite matches them term by term)."""
    return [
        S.c.status == literal_column("'completed'"),
        derived("size_reduction", caps).is_not(None),
        derived("speed_improvement", caps).is_not(None),
    ]


def _points_total(connection: Connection, plan: Plan) -> int:
    """Completed sessions with both metrics, from the rollups."""
    if not plan.completed:
        return 0
    c = copy.agg_counts.c
    where = [*counts_where(plan), c.status == "completed"]
    found = connection.execute(select(func.sum(c.both_n)).where(*where)).scalar_one()
    return int(found or 0)


def pareto_front(connection: Connection, f: SessionFilter) -> tuple[SessionPoint, ...]:
    """Completed sessions no other completed session beats on both size and speed.

    Computed over all matches (never a sample) without comparing every pair: keep the best
    speed at each distinct size, then walk sizes from largest down keeping a size only when
    its best speed beats every larger size's. Sessions tied on both values are all kept.
    Sorted by size reduction, ascending.
    """
    caps = capabilities(connection)
    size, speed = derived("size_reduction", caps), derived("speed_improvement", caps)
    plan = rollup_plan(connection, f, techniques=0)
    if plan is not None and not plan.bounded and caps.points_indexes:
        return _front_walked(connection, f, caps, plan)
    sessions, where = filtered(connection, f, caps)
    completed = _completed_clauses(where, caps)
    done = (
        select(size.label("size"), speed.label("speed"))
        .select_from(sessions)
        .where(*completed)
        .subquery("done")
    )
    best = select(done.c.size, func.max(done.c.speed).label("top")).group_by(done.c.size).subquery("best")
    above = func.max(best.c.top).over(order_by=best.c.size.desc(), rows=(None, -1))
    walked = select(best.c.size, best.c.top, above.label("better")).subquery("walked")
    front = (
        select(walked.c.size, walked.c.top)
        .where(or_(walked.c.better.is_(None), walked.c.top > walked.c.better))
        .subquery("front")
    )
    statement = (
        select(*_point_columns(caps))
        .select_from(
            S.outerjoin(M, M.c.model_id == S.c.model_id).join(
                front, and_(size == front.c.size, speed == front.c.top)
            )
        )
        .where(*completed)
        .order_by(size, S.c.session_id)
    )
    return tuple(_point(r) for r in connection.execute(statement).mappings())


def _front_walked(
    connection: Connection, f: SessionFilter, caps: Capabilities, plan: Plan
) -> tuple[SessionPoint, ...]:
    """The Pareto front from the best speed at each distinct size, one index seek per size.

    The distinct sizes of completed sessions come from the value histogram; each one's best
    speed is the last entry for that size in the (size, speed) partial index. Walking sizes
    from the largest down keeps those whose best speed beats every larger size's.
    """
    if not plan.completed:
        return ()
    size, speed = derived("size_reduction", caps), derived("speed_improvement", caps)
    v = copy.agg_values.c
    sizes = (
        select(v.value.label("size"))
        .where(v.metric == "size", v.technique == "", v.week == ALL_WEEKS, v.n > 0)
        .subquery("sizes")
    )
    indexed = IndexedBy(S, FRONT_INDEX) if caps.dialect == "sqlite" else S
    top = (
        select(func.max(speed))
        .select_from(indexed)
        .where(*_points_predicate(caps), size == sizes.c.size)
        .scalar_subquery()
    )
    front: list[tuple[float, float]] = []
    for found_size, best in sorted(
        connection.execute(select(sizes.c.size, top)).all(), key=lambda r: r[0], reverse=True
    ):
        if best is not None and (not front or best > front[-1][1]):
            front.append((found_size, best))
    if not front:
        return ()
    statement = (
        select(*_point_columns(caps))
        .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(
            *_completed_clauses(filter_clauses(f, caps), caps),  # a rollup plan: no search
            or_(*(and_(size == a, speed == b) for a, b in front)),
        )
        .order_by(size, S.c.session_id)
    )
    return tuple(_point(r) for r in connection.execute(statement).mappings())
