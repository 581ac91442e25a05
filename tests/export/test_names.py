"""The download's file name (core.export.names). Pure."""

from __future__ import annotations

from datetime import date

from core.export.names import export_filename
from core.query.filter import SessionFilter


def test_file_name_carries_the_date_and_the_main_filters() -> None:
    f = SessionFilter(
        statuses=("failed",),
        model_ids=("mdl-0001",),
        start_date="2024-01-01",
        end_date="2024-01-31",
        search="bert/../x",
    )
    name = export_filename(f, date(2026, 11, 25))
    assert name == (
        "sessions_2026-11-25_status-failed_model-mdl-0001_2024-01-01_to_2024-01-31_q-bert-..-x.csv"
    )
    assert export_filename(SessionFilter(), date(2026, 11, 25)) == "sessions_2026-11-25.csv"
