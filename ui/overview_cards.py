"""The Overview's headline: the selection in words and six cards with their change.

Each card (but "running now") compares the selected period with the one of the same length
just before it (:func:`core.stats.summary.summary_change`); the formatting helpers say a
missing value as a dash and a change in percentage points, so a card never shows ``nan``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from core.query.filter import SessionFilter
from core.stats.types import SummaryChange


def describe(f: SessionFilter, change: SummaryChange | None = None) -> str:
    """The selection in words, for the caption under the title."""
    start, end = f.created_range()
    if start is None and end is None:
        when = "All time"
    else:
        first = start.date().isoformat() if start else "the beginning"
        last = (end - timedelta(microseconds=1)).date().isoformat() if end else "now"
        when = f"{first} to {last} (UTC)"
    parts = [when]
    if f.statuses:
        parts.append("status " + " or ".join(f.statuses))
    if f.model_ids:
        parts.append(f"{len(f.model_ids)} model{'s' if len(f.model_ids) > 1 else ''}")
    if f.techniques:
        parts.append("technique " + " or ".join(t.replace("_", " ") for t in f.techniques))
    return " · ".join(parts)


def megabytes(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1024 * 1024:
        return f"{value / 1024 / 1024:,.1f} TB"
    if abs(value) >= 1024:
        return f"{value / 1024:,.1f} GB"
    return f"{value:,.0f} MB"


def percent(value: float | None, *, share: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100 if share else value:.1f}%"


def _points(now: float | None, before: float | None, *, share: bool = False) -> str | None:
    """Change in percentage points (``+2.4 pts``); None when either side is unknown."""
    if now is None or before is None:
        return None
    scale = 100 if share else 1
    return f"{(now - before) * scale:+.1f} pts"


def _count_change(now: int, before: int) -> str:
    change = f"{now - before:+,}"
    return f"{change} ({(now - before) / before:+.0%})" if before else change


def _mb_change(now: float | None, before: float | None) -> str | None:
    if now is None and before is None:
        return None
    difference = (now or 0.0) - (before or 0.0)
    sign = "-" if difference < 0 else "+"
    return sign + megabytes(abs(difference))


# -- sections ---------------------------------------------------------------------------------


def _metric(column: Any, label: str, value: str, delta: str | None, help_text: str) -> None:
    flat = delta is not None and delta.lstrip("+-").startswith(("0 ", "0.0 ", "0 MB", "0 ("))
    column.metric(
        label,
        value,
        delta,
        help=help_text,
        border=True,
        delta_color="off" if flat else "normal",
        delta_arrow="off" if flat else "auto",
    )


def render_cards(change: SummaryChange) -> None:
    """Six headline cards; each (but "running now") with its change against the previous period."""
    now, before = change.current, change.previous
    cards = st.columns(6)
    _metric(
        cards[0],
        "Sessions started",
        f"{now.sessions:,}",
        _count_change(now.sessions, before.sessions) if before else None,
        "Sessions created in the selected range.",
    )
    _metric(
        cards[1],
        "Success rate",
        percent(now.success_rate, share=True),
        _points(now.success_rate, before.success_rate, share=True) if before else None,
        f"Completed / finished (completed + failed + cancelled): {now.completed:,} of "
        f"{now.finished:,}. Running and pending sessions are not counted yet.",
    )
    _metric(
        cards[2],
        "Median size cut",
        percent(now.median_size_reduction),
        _points(now.median_size_reduction, before.median_size_reduction) if before else None,
        "Median size reduction over completed sessions that report one.",
    )
    _metric(
        cards[3],
        "Median speed",
        percent(now.median_speed_improvement),
        _points(now.median_speed_improvement, before.median_speed_improvement) if before else None,
        "Median speed improvement over completed sessions that report one.",
    )
    _metric(
        cards[4],
        "Storage saved",
        megabytes(now.mb_saved),
        _mb_change(now.mb_saved, before.mb_saved) if before else None,
        f"Model original size x size reduction, summed over {now.mb_saved_sessions:,} "
        "completed sessions whose model size is known.",
    )
    _metric(
        cards[5],
        "Running now",
        f"{now.running:,}",
        None,
        "Sessions in this selection whose status is running.",
    )
    if change.previous_start is not None and change.previous_end is not None:
        last = change.previous_end - timedelta(microseconds=1)
        days = (change.previous_end - change.previous_start).total_seconds() / 86400
        st.caption(
            f"Changes compare with the {days:,.0f} days before: "
            f"{change.previous_start:%Y-%m-%d} to {last:%Y-%m-%d} (UTC)."
        )
    else:
        st.caption("Pick a date range in the sidebar to compare with the period just before it.")
