"""A session row for the pure export tests."""

from __future__ import annotations

from datetime import UTC, datetime

from core.query.rows import SessionRow


def sample_row(session_id: str, model_name: str, techniques: tuple[str, ...] = ()) -> SessionRow:
    created = datetime(2024, 1, 1, 10, tzinfo=UTC)
    return SessionRow(
        session_id=session_id,
        model_id="m1",
        model_name=model_name,
        status="completed",
        progress_percentage=100.0,
        techniques=techniques,
        size_reduction_percent=42.5,
        speed_improvement_percent=None,
        accuracy_delta_percent=-0.25,
        created_at=created,
        updated_at=created,
        completed_at=datetime(2024, 1, 1, 11, tzinfo=UTC),
        model_known=True,
        has_data_issue=False,
    )
