"""Result types of the aggregates: small frozen dataclasses, cheap to cache and share.

Kept apart from the SQL so pages and figures can import them without the query machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from core.calendar import Granularity
from core.store.tables import STATUSES
from core.store.types import parse_timestamp


@dataclass(frozen=True)
class Summary:
    """Headline numbers of a filtered set of sessions."""

    sessions: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    median_size_reduction: float | None
    median_speed_improvement: float | None
    mb_saved: float | None
    mb_saved_sessions: int  # completed sessions whose model size and size reduction are known

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled

    @property
    def success_rate(self) -> float | None:
        """completed / finished, in [0, 1]; None when nothing has finished."""
        return self.completed / self.finished if self.finished else None

    @property
    def completed_share(self) -> float | None:
        """completed / all sessions, in [0, 1]; None when there are no sessions."""
        return self.completed / self.sessions if self.sessions else None

    @property
    def by_status(self) -> dict[str, int]:
        return {status: getattr(self, status) for status in STATUSES}


@dataclass(frozen=True)
class SummaryChange:
    """This period's summary and the one of the same length just before it (if defined)."""

    current: Summary
    previous: Summary | None
    previous_start: datetime | None  # naive UTC, inclusive
    previous_end: datetime | None  # naive UTC, exclusive (= the current start)


@dataclass(frozen=True)
class StatusCount:
    status: str
    sessions: int


@dataclass(frozen=True)
class MetricStats:
    """Distribution of one metric over completed sessions (None when there are none)."""

    mean: float | None
    p25: float | None
    median: float | None
    p75: float | None


@dataclass(frozen=True)
class TechniqueStats:
    """One technique: every session applying it (alone or combined) in the filtered set."""

    technique: str
    sessions: int
    completed: int
    failed: int
    cancelled: int
    size_reduction: MetricStats
    speed_improvement: MetricStats

    @property
    def success_rate(self) -> float | None:
        finished = self.completed + self.failed + self.cancelled
        return self.completed / finished if finished else None


@dataclass(frozen=True)
class PeriodStats:
    """One day/week/month: sessions started in it by status, and medians of its completed ones."""

    start: date
    counts: tuple[tuple[str, int], ...]  # (status, sessions) for every status, in STATUSES order
    median_size_reduction: float | None
    median_speed_improvement: float | None

    @property
    def sessions(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def by_status(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass(frozen=True)
class PeriodSeries:
    granularity: Granularity
    periods: tuple[PeriodStats, ...]  # every bucket of the range, empty ones included


@dataclass(frozen=True)
class SessionPoint:
    """One completed session on the size/speed plane."""

    session_id: str
    model_id: str
    model_name: str
    techniques: tuple[str, ...]
    size_reduction: float
    speed_improvement: float
    accuracy_delta: float | None

    @property
    def combination(self) -> str:
        """Techniques as one label, order-independent (``pruning + quantization``)."""
        return " + ".join(sorted(self.techniques)) if self.techniques else "(none)"


@dataclass(frozen=True)
class Scatter:
    points: tuple[SessionPoint, ...]
    total: int  # completed sessions with both metrics in the filtered set
    sampled: bool  # True when ``points`` is an every-k-th sample of ``total``


@dataclass(frozen=True)
class ModelRank:
    model_id: str
    model_name: str
    model_known: bool
    sessions: int
    completed: int
    best_size_reduction: float | None
    best_speed_improvement: float | None
    last_optimized: datetime | None  # latest completed_at of a completed session (aware UTC)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ModelRank:
        """From a per-model row: model_id, name, known (truthy if in ``models``), sessions,
        completed, best_size, best_speed, last (as stored). The plain and rollup queries
        both produce it."""
        best_size, best_speed = row["best_size"], row["best_speed"]
        return cls(
            model_id=row["model_id"],
            model_name=row["name"] or row["model_id"],
            model_known=bool(row["known"]),
            sessions=int(row["sessions"]),
            completed=int(row["completed"]),
            best_size_reduction=None if best_size is None else float(best_size),
            best_speed_improvement=None if best_speed is None else float(best_speed),
            last_optimized=parse_timestamp(row["last"]),
        )


@dataclass(frozen=True)
class ModelRanking:
    rows: tuple[ModelRank, ...]
    total_models: int
