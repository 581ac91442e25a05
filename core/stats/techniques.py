"""Per technique: sessions, success counts, mean and quartiles of size and speed.

A session combining two techniques counts for both. One technique or none (with statuses and
whole days) is answered from the rollups (:func:`core.stats.rollup_reads.techniques_rollup`);
a broad scan on SQLite groups by the list of techniques first (:func:`_by_technique_set`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import AliasedReturnsRows

from core.query.filter import SessionFilter
from core.query.rows import optional_float
from core.speed.capabilities import Capabilities, capabilities
from core.speed.indexes import TECHNIQUE_SET_INDEXES
from core.stats.rollup_plan import rollup_plan
from core.stats.rollup_reads import techniques_rollup
from core.stats.sources import completed_value, filtered, grouped, status_count_columns, streamed
from core.stats.sql import FACTS_INDEX, IndexedBy, technique_source
from core.stats.types import MetricStats, TechniqueStats
from core.store.tables import STATUSES
from core.store.tables import optimization_sessions as S


def _metric_stats(row: Mapping[str, Any], metric: str) -> MetricStats:
    return MetricStats(
        mean=optional_float(row[f"{metric}_mean"]),
        p25=optional_float(row[f"{metric}_q25"]),
        median=optional_float(row[f"{metric}_q50"]),
        p75=optional_float(row[f"{metric}_q75"]),
    )


def technique_stats(connection: Connection, f: SessionFilter) -> tuple[TechniqueStats, ...]:
    """Per technique: sessions, success rate, mean and quartiles of size and speed.

    A session combining two techniques counts for both. Sorted by sessions, most first.
    """
    plan = rollup_plan(connection, f, techniques=0)
    if plan is not None:
        return techniques_rollup(connection, plan)
    caps = capabilities(connection)
    sessions, where = filtered(connection, f, caps)
    if (
        isinstance(sessions, IndexedBy)
        and sessions.index == FACTS_INDEX
        and all(caps.has_index(name) for name in TECHNIQUE_SET_INDEXES)
    ):
        return _sorted_techniques(_by_technique_set(connection, caps, where))
    source, technique = technique_source(caps, sessions)
    base = (
        select(
            technique.label("technique"),
            S.c.status,
            completed_value("size_reduction", caps).label("size"),
            completed_value("speed_improvement", caps).label("speed"),
        )
        .select_from(source)
        .where(*where)
    )

    def extras(src: AliasedReturnsRows) -> list[ColumnElement[Any]]:
        return [
            *status_count_columns(src),
            func.avg(src.c.size).label("size_mean"),
            func.avg(src.c.speed).label("speed_mean"),
        ]

    quartiles = (0.25, 0.5, 0.75)
    rows = grouped(connection, caps, base, ["technique"], {"size": quartiles, "speed": quartiles}, extras)
    return _sorted_techniques(rows)


def _sorted_techniques(rows: list[dict[str, Any]]) -> tuple[TechniqueStats, ...]:
    out = [
        TechniqueStats(
            technique=str(r["technique"]),
            sessions=sum(int(r[s]) for s in STATUSES),
            completed=int(r["completed"]),
            failed=int(r["failed"]),
            cancelled=int(r["cancelled"]),
            size_reduction=_metric_stats(r, "size"),
            speed_improvement=_metric_stats(r, "speed"),
        )
        for r in rows
    ]
    return tuple(sorted(out, key=lambda t: (-t.sessions, t.technique)))


def _by_technique_set(
    connection: Connection, caps: Capabilities, where: list[ColumnElement[bool]]
) -> list[dict[str, Any]]:
    """Per technique, from the sessions grouped by their list of techniques (SQLite).

    A broad scan (half the sessions match a search) joined to the techniques table and sorted
    per metric took seconds; grouped by the list instead, each histogram streams off
    :data:`TECHNIQUE_SET_INDEXES` in (list, value) order and a few thousand rows come back.
    Each list then counts for every distinct technique named in it, exactly as the techniques
    table holds them (strings only, once per session), so counts and histograms, and the
    quartiles read off them, are those of the join; means are the histograms' sums over counts.
    """
    names: dict[Any, tuple[str, ...]] = {}

    def named(value: Any) -> tuple[str, ...]:
        if value not in names:
            try:
                items = json.loads(value) if value is not None else []
            except ValueError:
                items = []
            names[value] = tuple(
                sorted({t for t in items if isinstance(t, str)}) if isinstance(items, list) else ()
            )
        return names[value]

    return streamed(
        connection,
        caps,
        where,
        "techniques_json",
        "technique",
        named,
        TECHNIQUE_SET_INDEXES,
        (0.25, 0.5, 0.75),
        means=True,
    )
