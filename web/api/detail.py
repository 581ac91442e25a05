"""One session as JSON: everything the dashboard's detail dialog shows (``ui/detail.py``).

The row's response fields first (as in the list), then what the dialog adds: accuracy,
whether the model is known and the data well-formed, the steps, the error message, the
criteria and results as stored (a cell that is not valid JSON comes back as
``{"malformed": true, "raw": "..."}``, as the dialog shows it flagged), the model's framework
and size, and the timeline with the run's duration. Timestamps are ISO 8601 (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.query.rows import SessionRow
from core.store.types import Malformed


def _stored(value: Any) -> Any:
    if isinstance(value, Malformed):
        return {"malformed": True, "raw": value.raw}
    return value


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def detail_response(found: Mapping[str, Any]) -> dict[str, Any]:
    """The detail view's content from :func:`core.query.lookups.find_session`'s mapping."""
    row: SessionRow = found["row"]
    size = found.get("original_size_mb")
    return {
        **row.to_response(),
        "accuracy_delta_percent": row.accuracy_delta_percent,
        "model_known": row.model_known,
        "has_data_issue": row.has_data_issue,
        "total_steps": found.get("total_steps"),
        "completed_steps": found.get("completed_steps"),
        "error_message": found.get("error_message"),
        "criteria": _stored(found.get("criteria")),
        "results": _stored(found.get("results")),
        "model": {
            "model_id": row.model_id,
            "name": row.model_name,
            "framework": found.get("framework"),
            "original_size_mb": None if size is None else float(size),
        },
        "timeline": {
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "completed_at": _iso(row.completed_at),
            "duration_seconds": row.duration_seconds,
        },
    }
