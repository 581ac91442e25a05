"""Charts under the table: the same filters, every match (never just the visible page).

The numbers come from SQL aggregates (:mod:`core.stats`, cached by filter and data
version in :mod:`core.stats.cache`) and the figures from :mod:`ui.figures`, shared with the
Overview page, so both pages draw the same thing the same way.
"""

from __future__ import annotations

import streamlit as st

from core.config import Settings
from core.query.filter import SessionFilter
from ui import cancel
from ui.data import (
    load_page,
    load_pareto_front,
    load_period_stats,
    load_scatter,
    load_technique_stats,
)
from ui.errors import database_guard, say_nothing
from ui.figures import scatter_figure, sessions_over_time_figure, technique_figure

PLOT_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _plot(figure: object, key: str) -> None:
    st.plotly_chart(figure, key=key, theme="streamlit", config=PLOT_CONFIG, width="stretch")


CHARTS = {"scatter": "Size vs speed", "techniques": "By technique", "time": "Over time"}
K_CHART = "sessions_chart"


def _draw(settings: Settings, session_filter: SessionFilter, chart: str) -> None:
    if chart == "techniques":
        _plot(technique_figure(load_technique_stats(settings, session_filter)), "sessions_chart_techniques")
    elif chart == "time":
        _plot(sessions_over_time_figure(load_period_stats(settings, session_filter)), "sessions_chart_time")
    else:
        scatter = load_scatter(settings, session_filter)
        front = load_pareto_front(settings, session_filter)
        if cancel.abandoned():
            # A newer view replaced this run: building thousands of points in Python would
            # only hold up its start (Streamlit waits for this worker before the next run).
            return
        _plot(scatter_figure(scatter, front), "sessions_chart_scatter")


def _charts_fragment(settings: Settings, session_filter: SessionFilter) -> None:
    head, choice = st.columns([1, 1], vertical_alignment="center")
    head.markdown("#### Charts for all matching sessions")
    st.session_state.setdefault(K_CHART, "scatter")
    with choice:
        chart = (
            st.segmented_control(
                "Chart",
                list(CHARTS),
                key=K_CHART,
                format_func=lambda chart: CHARTS.get(chart, chart),
                required=True,
                label_visibility="collapsed",
                width="stretch",
                help="Only the chart on screen is computed, so the page stays quick on big data.",
            )
            or "scatter"
        )
    with database_guard("sessions_charts_retry", on_timeout=_chart_too_slow):
        _draw(settings, session_filter, chart)


def _chart_too_slow() -> None:
    st.info(
        "This chart takes too long on this many sessions; narrow the filters "
        "(for example a date range) to draw it.",
        icon=":material/hourglass:",
    )


def render_charts(settings: Settings, session_filter: SessionFilter) -> None:
    """One chart at a time (trade-off scatter, by technique, over time) for every match.

    A parallel fragment: the charts are aggregate scans and must not hold up the page; a
    click on the chart choice reruns only this fragment.
    """
    with database_guard(show=say_nothing) as guard:  # the table above shows the error
        total = load_page(settings, session_filter).total
    if guard.failed or not total:
        return  # the empty state above says it all; empty charts would only add noise
    st.fragment(_charts_fragment, parallel=True)(settings, session_filter)
