"""The shape of a result row: one enriched session as the table, the API and the export see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.fields import RESPONSE_FIELDS
from core.store.types import parse_techniques


@dataclass(frozen=True)
class SessionRow:
    """One enriched session: the response fields plus what the dashboard shows besides."""

    session_id: str
    model_id: str
    model_name: str
    status: str
    progress_percentage: float
    techniques: tuple[str, ...]
    size_reduction_percent: float | None
    speed_improvement_percent: float | None
    accuracy_delta_percent: float | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    model_known: bool
    has_data_issue: bool

    @property
    def duration_seconds(self) -> float | None:
        """Created to completed for finished sessions; ``None`` while unfinished."""
        if self.created_at is None or self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.created_at).total_seconds())

    def to_response(self) -> dict[str, Any]:
        """The row exactly as the original endpoint returned it (ISO 8601 timestamps)."""
        return {key: _json_value(getattr(self, key)) for key in RESPONSE_FIELDS}


@dataclass(frozen=True)
class Page:
    """One page of rows and the exact number of all matches."""

    rows: tuple[SessionRow, ...]
    total: int
    skip: int
    limit: int

    def to_response(self) -> dict[str, Any]:
        return {
            "sessions": [row.to_response() for row in self.rows],
            "total": self.total,
            "skip": self.skip,
            "limit": self.limit,
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def optional_float(value: Any) -> float | None:
    """A database number as float, NULL as None."""
    return None if value is None else float(value)


def row_from_mapping(row: Mapping[Any, Any]) -> SessionRow:
    """Shape one database row into a :class:`SessionRow`."""
    return SessionRow(
        session_id=row["session_id"],
        model_id=row["model_id"],
        model_name=row["model_name"],
        status=row["status"],
        progress_percentage=round(float(row["progress_percentage"] or 0.0), 2),
        techniques=parse_techniques(row["techniques_json"]),
        size_reduction_percent=optional_float(row["size_reduction_percent"]),
        speed_improvement_percent=optional_float(row["speed_improvement_percent"]),
        accuracy_delta_percent=optional_float(row["accuracy_delta_percent"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        model_known=bool(row["model_known"]),
        has_data_issue=bool(row["data_issue"]),
    )
