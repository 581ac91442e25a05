"""Above the table: metric cards for the whole filtered set and the malformed-data notice.

The cards cover every match, not the visible page, so they answer "how is this set doing"
while the table answers "which sessions". Medians are of completed sessions only: a failed
run's partial numbers are not a result.

They are drawn by a *parallel* fragment: on a million sessions the medians are full scans
(seconds), and the table below must never wait for them. The fragment runs on Streamlit's
worker pool while the page script goes on to the table.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config import Settings
from core.query.filter import SessionFilter
from ui.data import load_data_issue_count, load_summary
from ui.errors import database_guard


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def render_metric_cards(settings: Settings, session_filter: SessionFilter) -> None:
    """Sessions, completed share, median size reduction, median speed improvement."""
    summary = load_summary(settings, session_filter)
    share = summary.completed_share
    cards = st.columns(4)
    cards[0].metric(
        "Sessions", f"{summary.sessions:,}", border=True, help="Sessions matching the filters (all pages)."
    )
    cards[1].metric(
        "Completed",
        "—" if share is None else f"{share * 100:.1f}%",
        border=True,
        help=f"{summary.completed:,} completed · {summary.running:,} running · "
        f"{summary.pending:,} pending · {summary.failed:,} failed · "
        f"{summary.cancelled:,} cancelled",
    )
    cards[2].metric(
        "Median size reduction",
        _percent(summary.median_size_reduction),
        border=True,
        help="Median over the completed sessions that match.",
    )
    cards[3].metric(
        "Median speed-up",
        _percent(summary.median_speed_improvement),
        border=True,
        help="Median speed improvement over the completed sessions that match.",
    )


def _summary_fragment(settings: Settings, session_filter: SessionFilter) -> None:
    with database_guard("sessions_summary_retry", on_timeout=_summary_too_slow):
        render_metric_cards(settings, session_filter)
        render_data_issue_notice(settings, session_filter)


def _summary_too_slow() -> None:
    st.caption(
        "The summary of this many sessions is taking too long; narrow the "
        "filters to see it. The table below is unaffected."
    )


def render_summary(settings: Settings, session_filter: SessionFilter, slot: Any) -> None:
    """Metric cards and the malformed-data notice, drawn into ``slot`` (above the table).

    Call it after the table: the aggregates then start once the table's own queries are
    done instead of competing with them, and run beside the rest of the page.
    """
    with slot:
        st.fragment(_summary_fragment, parallel=True)(settings, session_filter)


def render_data_issue_notice(settings: Settings, session_filter: SessionFilter) -> None:
    """Say how many matches carry criteria or results that are not valid JSON."""
    count = load_data_issue_count(settings, session_filter)
    if not count:
        return
    noun = "session has" if count == 1 else "sessions have"
    st.info(
        f"**{count:,} matching {noun} malformed criteria or results** (not valid JSON, or a "
        "metric that is not a number). Their metrics show as empty; open a session to see the "
        "stored text.",
        icon=":material/data_alert:",
    )


def render_page_header() -> None:
    st.title("Sessions")
    st.caption(
        "Every model optimization session. Filter in the sidebar; the address bar "
        "always holds this exact view, so copy it to share."
    )
