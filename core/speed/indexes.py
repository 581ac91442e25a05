"""The copy's indexes on the sessions table, over the generated columns of :mod:`core.speed.expressions`.

Every sort index ends in ``session_id``, the tie-breaker of every order, so a page is one
index walk. Readers name some of them (``INDEXED BY`` on SQLite), hence the public names.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.speed.expressions import SESSIONS
from core.speed.progress import step
from core.speed.tables import AGG_MODELS

# (name, columns) — created on both backends; ``*_key`` become the raw column on PostgreSQL.
SORT_INDEXES = {
    "ix_sessions_created": ("created_key", "session_id"),
    "ix_sessions_status_created": ("status", "created_key", "session_id"),
    "ix_sessions_model_created": ("model_id", "created_key", "session_id"),
    "ix_sessions_updated": ("updated_key", "session_id"),
    "ix_sessions_completed": ("completed_key", "session_id"),
    "ix_sessions_status_session": ("status", "session_id"),
    "ix_sessions_model_session": ("model_id", "session_id"),
    "ix_sessions_size": ("size_reduction", "session_id"),
    "ix_sessions_status_size": ("status", "size_reduction", "session_id"),
    "ix_sessions_speed": ("speed_improvement", "session_id"),
    "ix_sessions_status_speed": ("status", "speed_improvement", "session_id"),
    "ix_sessions_accuracy": ("accuracy_delta", "session_id"),
    "ix_sessions_progress": ("progress", "session_id"),
    "ix_sessions_status_progress": ("status", "progress", "session_id"),
    "ix_sessions_techniques": ("techniques_json", "session_id"),
}
NULLABLE_SORT_COLUMNS = {
    "size_reduction",
    "speed_improvement",
    "accuracy_delta",
    "completed_key",
    "techniques_json",
}
# The (status, metric) indexes whose value order the SQLite medians walk (core.stats.summary).
STATUS_METRIC_INDEXES = {"size": "ix_sessions_status_size", "speed": "ix_sessions_status_speed"}
# SQLite: the metrics by list of techniques (see create_sqlite_indexes), read by core.stats.techniques.
TECHNIQUE_SET_INDEXES = {
    "ix_sessions_technique_size": "size_reduction",
    "ix_sessions_technique_speed": "speed_improvement",
}
# SQLite: the metrics by week created, the same way (core.stats.periods.period_stats).
WEEK_INDEXES = {"ix_sessions_week_size": "size_reduction", "ix_sessions_week_speed": "speed_improvement"}
# Partial indexes over the completed sessions with both metrics (see create_indexes).
POINTS_INDEX = "ix_sessions_points"
FRONT_INDEX = "ix_sessions_front"
POINTS_WHERE = "status = 'completed' AND size_reduction IS NOT NULL AND speed_improvement IS NOT NULL"
# PostgreSQL: the trigram index the session search uses (its presence means search is fast).
SEARCH_TRIGRAM_INDEX = "ix_sessions_session_id_trgm"


def _sort_column(dialect: str, column: str) -> str:
    """``column`` as a sort index names it on ``dialect``."""
    if dialect != "postgresql":
        return column
    column = column.replace("_key", "_at")
    # NULLs sort as the smallest value on both backends (SQLite's native rule), so one index
    # serves ASC NULLS FIRST forwards and DESC NULLS LAST backwards.
    base = column.replace("_at", "_key")
    if column in NULLABLE_SORT_COLUMNS or base in NULLABLE_SORT_COLUMNS:
        column += " NULLS FIRST"
    return column


def create_indexes(connection: Connection) -> None:
    """The sort indexes and the partial ones, on either backend."""
    dialect = connection.dialect.name
    for index_name, columns in SORT_INDEXES.items():
        step(f"index {index_name}")
        rendered = ", ".join(_sort_column(dialect, column) for column in columns)
        connection.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index_name} ON {SESSIONS} ({rendered})")
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_data_issue ON {SESSIONS} (session_id) WHERE data_issue = 1"
    )
    connection.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_models_name ON models (name)")
    # Completed sessions with both metrics (the trade-off plane), for the aggregates: numbering
    # them by id for the scatter's even sample, and the best speed at each size for the Pareto
    # front, without reading the other rows. Owner: core/stats (the points and the front).
    created = "created_key" if dialect == "sqlite" else "created_at"
    for name, listed in (
        (POINTS_INDEX, f"session_id, {created}"),
        (FRONT_INDEX, "size_reduction, speed_improvement"),
    ):
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {SESSIONS} ({listed}) WHERE {POINTS_WHERE}"
        )


def create_sqlite_indexes(connection: Connection) -> None:
    """SQLite's covering indexes of the aggregates' scans (PostgreSQL reads the rollups instead)."""
    # The aggregates' full scans read their values here (core.stats.sql.FACTS_INDEX) instead of
    # parsing each row's JSON. Owner: core.stats.sql.
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_facts ON {SESSIONS} (status, created_key,"
        " model_id, size_reduction, speed_improvement, completed_key, session_id)"
    )
    # The same values by model first (core.stats.sql.MODEL_FACTS_INDEX): aggregates of a few
    # hundred models (a model-name search) read their sessions' entries, not every session's.
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_sessions_model_facts ON {SESSIONS} (model_id, status,"
        " created_key, size_reduction, speed_improvement, completed_key, session_id)"
    )
    # Per technique of a broad scan (core.stats.techniques.technique_stats): the values grouped by the
    # session's list of techniques, in (list, value) order, so each histogram streams off an
    # index instead of joining every session to its techniques and sorting.
    for leading, indexes in (("techniques_json", TECHNIQUE_SET_INDEXES), ("created_week", WEEK_INDEXES)):
        for name, metric in indexes.items():
            step(f"index {name}")
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {name} ON {SESSIONS} ({leading}, {metric}, status,"
                " created_key, model_id, session_id)"
            )


def create_trigram_indexes(connection: Connection) -> None:
    """PostgreSQL's ``pg_trgm`` search indexes, when the extension is there or may be created.

    pg_trgm may be unavailable to this role; search then falls back to a plain scan.
    """
    has_trgm = connection.execute(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
    ).scalar_one()
    if not has_trgm:
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            has_trgm = 1
        except Exception:
            has_trgm = 0
    if not has_trgm:
        return
    for column in ("session_id", "model_id"):
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_sessions_{column}_trgm ON {SESSIONS}"
            f" USING gin ({column} gin_trgm_ops)"
        )
    connection.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_models_name_trgm ON models USING gin (name gin_trgm_ops)"
    )
    # A search matches model ids among agg_models' distinct ones (core.query.search): without
    # this, ILIKE reads every one of its rows at each statement.
    connection.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS ix_agg_models_model_id_trgm ON {AGG_MODELS}"
        " USING gin (model_id gin_trgm_ops)"
    )
