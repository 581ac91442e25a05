"""The Overview's report CSVs: their headers, numbers and formula-neutralised cells."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from core.stats.types import MetricStats, PeriodSeries, PeriodStats, TechniqueStats
from ui.overview_reports import period_csv, technique_csv


def test_technique_csv_content() -> None:
    stats = (
        TechniqueStats(
            "=pruning",
            4,
            2,
            1,
            1,
            MetricStats(50.0, 40.0, 50.0, 60.0),
            MetricStats(None, None, None, None),
        ),
    )
    rows = list(csv.reader(io.StringIO(technique_csv(stats).decode())))
    assert rows[0][:6] == [
        "technique",
        "sessions",
        "completed",
        "failed",
        "cancelled",
        "success_rate_percent",
    ]
    assert rows[1][0] == "'=pruning"  # neutralised for spreadsheets
    assert rows[1][5] == "50.0" and rows[1][8] == "50.0" and rows[1][10] == ""
    series = PeriodSeries(
        "week", (PeriodStats(datetime(2025, 6, 2).date(), (("completed", 3), ("failed", 1)), 55.5, None),)
    )
    rows = list(csv.reader(io.StringIO(period_csv(series).decode())))
    assert rows[1] == ["2025-06-02", "week", "4", "3", "1", "55.5", ""]
