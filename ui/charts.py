"""Charts under the table: the same filters, every match (never just the visible page).

The numbers come from SQL aggregates (:mod:`core.aggregates`, cached by filter and data
version in :mod:`core.cache`) and the figures from :mod:`ui.figures`, shared with the
Overview page, so both pages draw the same thing the same way.
"""

from __future__ import annotations

import streamlit as st

from core.config import Settings
from core.filters import SessionFilter
from ui.data import (
    DatabaseUnavailable,
    load_pareto_front,
    load_period_stats,
    load_scatter,
    load_technique_stats,
)
from ui.errors import show_database_error
from ui.figures import scatter_figure, sessions_over_time_figure, technique_figure

PLOT_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _plot(figure: object, key: str) -> None:
    st.plotly_chart(figure, key=key, theme="streamlit", config=PLOT_CONFIG, width="stretch")


def render_charts(settings: Settings, session_filter: SessionFilter) -> None:
    """Trade-off scatter, results by technique and sessions over time, in tabs."""
    st.markdown("#### Charts for all matching sessions")
    trade_off, by_technique, over_time = st.tabs(
        ["Size vs speed", "By technique", "Over time"])
    try:
        with trade_off:
            scatter = load_scatter(settings, session_filter)
            front = load_pareto_front(settings, session_filter)
            _plot(scatter_figure(scatter, front), "sessions_chart_scatter")
        with by_technique:
            _plot(technique_figure(load_technique_stats(settings, session_filter)),
                  "sessions_chart_techniques")
        with over_time:
            _plot(sessions_over_time_figure(load_period_stats(settings, session_filter)),
                  "sessions_chart_time")
    except DatabaseUnavailable as error:
        show_database_error(error, key="sessions_charts_retry")
