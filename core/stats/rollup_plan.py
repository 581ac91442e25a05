"""Which filters the rollup tables answer (:class:`Plan`), and the days and weeks they cover.

init-db keeps ``agg_counts`` (per technique, created day and status), ``agg_values`` and
``agg_bins`` (completed sessions per metric value or value bin, technique and created week,
plus every week summed) and ``agg_models`` (per model and status) by triggers (see
:mod:`core.speed`). They answer the filters that only restrict status, whole UTC days of
``created_at`` and (for some aggregates) one technique; any other filter (models, free text,
several techniques, a bound inside a day) takes the plain queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from core.calendar import week_start
from core.query.filter import SessionFilter
from core.speed import tables as copy
from core.speed.capabilities import capabilities


@dataclass(frozen=True)
class Plan:
    """A filter the rollups answer: statuses, whole days ``[start, end)`` and one scope."""

    scope: str  # '' for every session, else the one technique filtered on
    start: date | None
    end: date | None  # exclusive
    statuses: tuple[str, ...]

    @property
    def completed(self) -> bool:
        """Whether completed sessions (the only ones with metrics) are selected at all."""
        return not self.statuses or "completed" in self.statuses

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None


def _whole_day(value: datetime | None) -> date | bool | None:
    """The date of a midnight bound, None for no bound, False for a bound inside a day."""
    if value is None:
        return None
    if value.time() != datetime.min.time():
        return False
    return value.date()


def rollup_plan(connection: Connection, f: SessionFilter, *, techniques: int = 1) -> Plan | None:
    """How the rollups answer ``f``; None when they cannot (the plain query then does)."""
    if f.model_ids or f.search or len(f.techniques) > techniques or not capabilities(connection).rollups:
        return None
    start, end = (_whole_day(v) for v in f.created_range())
    if start is False or end is False:
        return None
    assert not isinstance(start, bool) and not isinstance(end, bool)
    return Plan(f.techniques[0] if f.techniques else "", start, end, tuple(f.statuses))


def _day_clauses(day: ColumnElement[Any], start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    """``day`` (``YYYY-MM-DD`` text, '' when unknown) inside ``[start, end)``."""
    clauses = []
    if start is not None or end is not None:
        clauses.append(day != "")
    if start is not None:
        clauses.append(day >= start.isoformat())
    if end is not None:
        clauses.append(day < end.isoformat())
    return clauses


def counts_where(plan: Plan, *, per_technique: bool = False) -> list[ColumnElement[bool]]:
    """The ``agg_counts`` rows of ``plan``: its scope (or every technique), days and statuses."""
    c = copy.agg_counts.c
    where = [
        c.technique != "" if per_technique else c.technique == plan.scope,
        *_day_clauses(c.day, plan.start, plan.end),
    ]
    if plan.statuses:
        where.append(c.status.in_(plan.statuses))
    return where


def weeks_and_edges(
    start: date | None, end: date | None
) -> tuple[date | None, date | None, list[tuple[date | None, date | None]]]:
    """Whole histogram weeks ``[first, stop)`` inside ``[start, end)`` and the edge day ranges.

    ``first``/``stop`` None mean unbounded. When no whole week fits, ``first`` is returned
    after ``stop`` and the whole range is an edge.
    """
    first = None if start is None else week_start(start + timedelta(days=6))
    stop = None if end is None else week_start(end)
    if first is not None and stop is not None and first >= stop:
        return first, stop, [(start, end)]
    edges: list[tuple[date | None, date | None]] = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if end is not None and stop is not None and stop < end:
        edges.append((stop, end))
    return first, stop, edges
