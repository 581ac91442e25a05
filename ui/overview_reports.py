"""The Overview's "Metrics for your report": per-technique and per-period metrics as CSV.

Small files (one row per technique or period), so ``st.download_button`` with the bytes is
fine here; cells go through :func:`~core.export.cells.neutralise` like every export,
so a spreadsheet never runs a value as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import streamlit as st

from core.export.cells import neutralise
from core.query.filter import SessionFilter
from core.stats.types import PeriodSeries, TechniqueStats


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else neutralise(str(round(v, 4) if isinstance(v, float) else v)) for v in row]
        )
    return out.getvalue().encode("utf-8")


def technique_csv(stats: Sequence[TechniqueStats]) -> bytes:
    """Per-technique metrics as CSV (percentages as numbers, one decimal or more)."""
    header = ["technique", "sessions", "completed", "failed", "cancelled", "success_rate_percent"]
    for metric in ("size_reduction", "speed_improvement"):
        header += [f"{metric}_{s}_percent" for s in ("mean", "p25", "median", "p75")]
    rows = []
    for t in stats:
        row: list[object] = [
            t.technique,
            t.sessions,
            t.completed,
            t.failed,
            t.cancelled,
            None if t.success_rate is None else t.success_rate * 100,
        ]
        for m in (t.size_reduction, t.speed_improvement):
            row += [m.mean, m.p25, m.median, m.p75]
        rows.append(row)
    return _csv(header, rows)


def period_csv(series: PeriodSeries) -> bytes:
    """Per-period counts by status and medians as CSV."""
    statuses = [s for s, _ in series.periods[0].counts] if series.periods else []
    header = [
        "period_start",
        "granularity",
        "sessions",
        *statuses,
        "median_size_reduction_percent",
        "median_speed_improvement_percent",
    ]
    rows = [
        [
            p.start.isoformat(),
            series.granularity,
            p.sessions,
            *(n for _, n in p.counts),
            p.median_size_reduction,
            p.median_speed_improvement,
        ]
        for p in series.periods
    ]
    return _csv(header, rows)


def _file_suffix(f: SessionFilter, today: date) -> str:
    start, end = f.created_range()
    span = ""
    if start or end:
        last = (end - timedelta(microseconds=1)).date().isoformat() if end else "now"
        span = f"_{start.date().isoformat() if start else 'start'}_to_{last}"
    return f"{today.isoformat()}{span}"


def render_downloads(stats: Sequence[TechniqueStats], series: PeriodSeries, f: SessionFilter) -> None:
    st.subheader("Metrics for your report")
    suffix = _file_suffix(f, datetime.now().date())
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        "Download technique metrics CSV",
        technique_csv(stats),
        file_name=f"overview_techniques_{suffix}.csv",
        mime="text/csv",
        key="overview_download_techniques",
        width="stretch",
    )
    right.download_button(
        f"Download {series.granularity}ly metrics CSV",
        period_csv(series),
        file_name=f"overview_periods_{suffix}.csv",
        mime="text/csv",
        key="overview_download_periods",
        width="stretch",
    )
    st.caption("Each chart downloads as PNG from its toolbar (camera icon, top right on hover).")
