"""Side-by-side comparison of 2 to 5 sessions: fields, criteria and every result metric aligned.

Sessions do not all report the same metrics (an older platform version, a failed run with
partial results), so metrics are aligned by name across the sessions, a blank where one is
missing. The best value of each numeric metric is marked; "best" is the largest for the
improvement metrics and for unknown names, the smallest for names that read as a cost
(latency, memory, loss, error, time, size in MB/GB...).

Reading goes through :func:`core.query.lookups.find_session`, the detail view's own query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from core.query.lookups import find_session

MIN_COMPARE = 2
MAX_COMPARE = 5
MAX_ID_LENGTH = 200
KNOWN_METRICS = ("size_reduction_percent", "speed_improvement_percent", "accuracy_delta_percent")
LOWER_IS_BETTER = (
    "latency",
    "_ms",
    "memory",
    "loss",
    "error",
    "time",
    "duration",
    "_mb",
    "_gb",
    "params",
    "bytes",
    "cost",
    "energy",
)
Value = float | str | None


@dataclass(frozen=True)
class ComparedSession:
    """One session's column in the comparison."""

    session_id: str
    model_id: str
    model_name: str
    model_known: bool
    status: str
    techniques: tuple[str, ...]
    completed_steps: int | None
    total_steps: int | None
    progress_percentage: float
    created_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    metrics: tuple[tuple[str, Value], ...]  # result metrics as stored (numbers as float)
    criteria: tuple[tuple[str, Value], ...]  # criteria other than the technique list

    def metric(self, name: str) -> Value:
        return dict(self.metrics).get(name)

    def criterion(self, name: str) -> Value:
        return dict(self.criteria).get(name)


@dataclass(frozen=True)
class Comparison:
    sessions: tuple[ComparedSession, ...]
    metric_names: tuple[str, ...]  # known metrics first, then the others by first appearance
    criteria_names: tuple[str, ...]
    best: tuple[tuple[str, tuple[str, ...]], ...]  # metric -> session ids holding its best value
    not_found: tuple[str, ...]

    def best_for(self, metric: str) -> tuple[str, ...]:
        return dict(self.best).get(metric, ())


def parse_compare_ids(values: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """Clean ``?compare=`` values: trimmed, de-duplicated, at most :data:`MAX_COMPARE`.

    Returns the ids and one message per value that was dropped (for a warning).
    """
    ids: list[str] = []
    problems: list[str] = []
    for raw in values:
        for part in str(raw).split(","):
            value = part.strip()
            if not value or value in ids:
                continue
            if len(value) > MAX_ID_LENGTH:
                problems.append(f"`{value[:40]}...` is longer than {MAX_ID_LENGTH} characters")
            elif len(ids) >= MAX_COMPARE:
                problems.append(f"`{value}` left out: at most {MAX_COMPARE} sessions are compared")
            else:
                ids.append(value)
    return tuple(ids), problems


def lower_is_better(metric: str) -> bool:
    name = metric.lower()
    if name in KNOWN_METRICS or "improvement" in name or "reduction" in name:
        return False
    return any(hint in name for hint in LOWER_IS_BETTER)


def _value(value: Any) -> Value:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def _pairs(document: Any, skip: Sequence[str] = ()) -> tuple[tuple[str, Value], ...]:
    if not isinstance(document, dict):
        return ()
    return tuple((str(k), _value(v)) for k, v in document.items() if k not in skip)


def _column(detail: dict[str, Any]) -> ComparedSession:
    row = detail["row"]
    return ComparedSession(
        session_id=row.session_id,
        model_id=row.model_id,
        model_name=row.model_name,
        model_known=row.model_known,
        status=row.status,
        techniques=row.techniques,
        completed_steps=detail.get("completed_steps"),
        total_steps=detail.get("total_steps"),
        progress_percentage=row.progress_percentage,
        created_at=row.created_at,
        completed_at=row.completed_at,
        error_message=detail.get("error_message"),
        metrics=_pairs(detail.get("results")),
        criteria=_pairs(detail.get("criteria"), skip=("techniques",)),
    )


def _names(groups: Iterable[Iterable[tuple[str, Value]]], first: Sequence[str] = ()) -> tuple[str, ...]:
    seen = [name for name in first]
    present: set[str] = set()
    for group in groups:
        for name, _ in group:
            present.add(name)
            if name not in seen:
                seen.append(name)
    return tuple(n for n in seen if n in present)


def best_values(
    sessions: Sequence[ComparedSession], metric_names: Sequence[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per numeric metric, the ids of the sessions holding its best value (ties all win).

    A metric only one session reports has nothing to be compared with: no best is marked.
    """
    out = []
    for metric in metric_names:
        numbers = [(s.session_id, s.metric(metric)) for s in sessions]
        numeric = [(sid, v) for sid, v in numbers if isinstance(v, float)]
        if len(numeric) < 2:
            continue
        pick = min if lower_is_better(metric) else max
        target = pick(v for _, v in numeric)
        out.append((metric, tuple(sid for sid, v in numeric if v == target)))
    return tuple(out)


def load_comparison(connection: Connection, session_ids: Sequence[str]) -> Comparison:
    """The sessions in the order given; ids that do not exist are listed in ``not_found``."""
    found: list[ComparedSession] = []
    missing: list[str] = []
    for session_id in session_ids:
        detail = find_session(connection, session_id)
        if detail is None:
            missing.append(session_id)
        else:
            found.append(_column(detail))
    metric_names = _names((s.metrics for s in found), first=KNOWN_METRICS)
    return Comparison(
        sessions=tuple(found),
        metric_names=metric_names,
        criteria_names=_names(s.criteria for s in found),
        best=best_values(found, metric_names),
        not_found=tuple(missing),
    )
