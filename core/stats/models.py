"""Models ranked by their best completed session (best size reduction, then best speed)."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from core.query.filter import SessionFilter
from core.speed.capabilities import capabilities
from core.speed.expressions import timestamp_key
from core.stats.rollup_reads import models_rollup
from core.stats.sources import completed_value, filtered
from core.stats.types import ModelRank, ModelRanking
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S


def model_ranking(connection: Connection, f: SessionFilter, *, limit: int = 50) -> ModelRanking:
    """Models ranked by their best completed session: best size reduction, then best speed.

    Models with matching sessions but none completed come last. Models missing from the
    ``models`` table appear under their id (``model_known`` False).
    """
    if (
        capabilities(connection).rollups
        and not (f.search or f.techniques)
        and (f.created_range() == (None, None))
    ):
        return models_rollup(connection, f, limit)
    caps = capabilities(connection)
    size = completed_value("size_reduction", caps)
    speed = completed_value("speed_improvement", caps)
    finished_at = case((S.c.status == "completed", timestamp_key("completed_at", caps)))
    sessions, where = filtered(connection, f, caps)
    best_size = func.max(size).label("best_size")
    best_speed = func.max(speed).label("best_speed")
    grouped = (
        select(
            S.c.model_id,
            func.max(M.c.name).label("name"),
            func.count(M.c.model_id).label("known"),
            func.count().label("sessions"),
            func.count(case((S.c.status == "completed", 1))).label("completed"),
            best_size,
            best_speed,
            func.max(finished_at).label("last"),
        )
        .select_from(sessions.outerjoin(M, M.c.model_id == S.c.model_id))
        .where(*where)
        .group_by(S.c.model_id)
        .subquery("per_model")
    )
    total = int(connection.execute(select(func.count()).select_from(grouped)).scalar_one())
    statement = (
        select(grouped)
        .order_by(
            grouped.c.best_size.desc().nulls_last(),
            grouped.c.best_speed.desc().nulls_last(),
            grouped.c.model_id,
        )
        .limit(limit)
    )
    rows = tuple(map(ModelRank.from_row, connection.execute(statement).mappings()))
    return ModelRanking(rows, total)
