"""The Overview page for managers: headline cards with their change, charts, ranked models.

Answers "is optimization paying off, and which techniques work?" for the sidebar's filters.
Every number comes from :mod:`core.stats` through :mod:`core.stats.cache` (computed in SQL,
keyed by the filter and the data version), so it matches the Sessions page and the CLI for
the same filters. Charts come from :mod:`ui.figures`, the cards from :mod:`ui.overview_cards`,
the report downloads from :mod:`ui.overview_reports`. An empty selection shows a message and
a reset, never empty charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.config import Settings
from core.query.filter import SessionFilter
from core.stats.cache import cached
from core.stats.models import model_ranking
from core.stats.periods import period_stats
from core.stats.points import pareto_front, scatter
from core.stats.summary import summary_change
from core.stats.techniques import technique_stats
from core.stats.types import ModelRanking, PeriodSeries, Scatter, SessionPoint, SummaryChange, TechniqueStats
from ui.data import DatabaseUnavailable, database_errors, get_engine, load_model_choices, load_techniques
from ui.errors import database_guard, show_database_error, show_problems
from ui.figures import (
    scatter_figure,
    sessions_over_time_figure,
    technique_figure,
    trend_figure,
)
from ui.overview_cards import describe, render_cards
from ui.overview_filters import current_filter, render_filters, reset_filters, to_params
from ui.overview_reports import render_downloads

MODELS_SHOWN = 50
PARALLEL_QUERIES = 3
RETRY_KEY = "overview_retry"


@dataclass(frozen=True)
class OverviewData:
    """Everything the page draws, fetched together."""

    change: SummaryChange
    series: PeriodSeries
    scatter: Scatter
    front: tuple[SessionPoint, ...]
    techniques: tuple[TechniqueStats, ...]
    models: ModelRanking


def load_overview(settings: Settings, f: SessionFilter) -> OverviewData:
    """Every aggregate of the page through the shared cache, computed side by side.

    A cold aggregate is a full scan; run one after another they add up, while the database
    (SQLite too: it releases the GIL while it works) can run a few at once. Database failures
    become :class:`DatabaseUnavailable`.
    """
    calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
        "change": (summary_change, {}),
        "series": (period_stats, {}),
        "scatter": (scatter, {}),
        "front": (pareto_front, {}),
        "techniques": (technique_stats, {}),
        "models": (model_ranking, {"limit": MODELS_SHOWN}),
    }
    with database_errors(settings, "overview aggregates"):
        engine = get_engine(settings)
        with ThreadPoolExecutor(max_workers=PARALLEL_QUERIES) as pool:
            futures = {
                name: pool.submit(partial(cached, engine, fn, f, **kwargs))
                for name, (fn, kwargs) in calls.items()
            }
            return OverviewData(**{name: future.result() for name, future in futures.items()})


def plot_config(name: str) -> dict[str, Any]:
    """Plotly's toolbar: PNG download at twice the screen size, named after the chart."""
    return {
        "displaylogo": False,
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
    }


def sessions_link(f: SessionFilter, **extra: Sequence[str] | str) -> str:
    """A relative link to the Sessions page showing ``f`` (plus ``extra`` parameters)."""
    params: dict[str, Any] = {**to_params(f), **extra}
    return "Sessions?" + urlencode(params, doseq=True)


def render_empty_state() -> None:
    with st.container(border=True):
        st.info("**No sessions match these filters.** Widen the date range or clear a filter.", icon="🔎")
        st.button("Reset filters", key="overview_empty_reset", on_click=reset_filters, type="primary")


def _chart(fig: Any, name: str) -> None:
    st.plotly_chart(fig, width="stretch", theme="streamlit", config=plot_config(name), key=name)


def render_time_charts(series: PeriodSeries) -> None:
    left, right = st.columns(2)
    with left:
        _chart(sessions_over_time_figure(series), "sessions-over-time")
    with right:
        _chart(trend_figure(series), "median-trend")


def render_tradeoff(scatter: Scatter, front: Sequence[SessionPoint], f: SessionFilter) -> None:
    _chart(scatter_figure(scatter, front, title="Trade-off: size reduction vs speed improvement"), "tradeoff")
    if not front:
        return
    st.caption(
        f"The Pareto front holds the {len(front)} completed sessions that no other session "
        "beats on both size reduction and speed improvement, computed over every match "
        "(not only the points drawn)."
    )
    with st.expander(f"Pareto front sessions ({len(front)})"):
        frame = pd.DataFrame(
            {
                "Session": [p.session_id for p in front],
                "Model": [p.model_name for p in front],
                "Techniques": [p.combination for p in front],
                "Size reduction": [p.size_reduction for p in front],
                "Speed improvement": [p.speed_improvement for p in front],
                "Open": [sessions_link(f, session=p.session_id) for p in front],
            }
        )
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={
                "Size reduction": st.column_config.NumberColumn(format="%.1f%%"),
                "Speed improvement": st.column_config.NumberColumn(format="%.1f%%"),
                "Open": st.column_config.LinkColumn(display_text="Details →"),
            },
        )


def models_frame(ranking: ModelRanking, f: SessionFilter) -> pd.DataFrame:
    """The ranked models as a small frame, each with its link to the Sessions page."""
    rows = ranking.rows
    return pd.DataFrame(
        {
            "Rank": list(range(1, len(rows) + 1)),
            "Model": [r.model_name if r.model_known else f"{r.model_id} (no metadata)" for r in rows],
            "Sessions": [r.sessions for r in rows],
            "Completed": [r.completed for r in rows],
            "Best size reduction": [r.best_size_reduction for r in rows],
            "Best speed improvement": [r.best_speed_improvement for r in rows],
            "Last optimized": [
                r.last_optimized.replace(tzinfo=None) if r.last_optimized else None for r in rows
            ],
            "Sessions page": [sessions_link(_with_model(f, r.model_id)) for r in rows],
        }
    )


def _with_model(f: SessionFilter, model_id: str) -> SessionFilter:
    return SessionFilter(
        statuses=f.statuses,
        model_ids=(model_id,),
        techniques=f.techniques,
        start_date=f.start_date,
        end_date=f.end_date,
    )


def render_models(ranking: ModelRanking, f: SessionFilter) -> None:
    st.subheader("Models ranked by their best completed session")
    shown = len(ranking.rows)
    st.caption(
        f"Best size reduction first, then best speed improvement. "
        f"{'Top ' + str(shown) + ' of ' if shown < ranking.total_models else ''}"
        f"{ranking.total_models:,} models with sessions in this selection. "
        "The link opens the Sessions page filtered to that model."
    )
    with st.container(key="overview_model_ranking"):
        st.dataframe(
            models_frame(ranking, f),
            hide_index=True,
            width="stretch",
            column_config={
                "Rank": st.column_config.NumberColumn(width="small"),
                "Best size reduction": st.column_config.NumberColumn(format="%.1f%%"),
                "Best speed improvement": st.column_config.NumberColumn(format="%.1f%%"),
                "Last optimized": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm [UTC]"),
                "Sessions page": st.column_config.LinkColumn(display_text="Open sessions →"),
            },
        )


# -- the page ---------------------------------------------------------------------------------


def _titled_error(error: DatabaseUnavailable) -> None:
    """Nothing else of the page can be drawn: its title and the error panel."""
    st.title("Overview")
    show_database_error(error, key=RETRY_KEY)


def render_overview(settings: Settings) -> None:
    """The whole page below the login gate."""
    with database_guard(show=_titled_error) as guard:
        models = dict(load_model_choices(settings))
        techniques = load_techniques(settings)
    if guard.failed:
        return
    f, problems = current_filter(list(models), techniques)
    render_filters(models, techniques)
    st.title("Overview")
    st.caption(describe(f))
    show_problems(problems)
    with database_guard(RETRY_KEY) as guard, st.spinner("Computing the overview…"):
        data = load_overview(settings, f)
    if guard.failed:
        return
    if data.change.current.sessions == 0:
        render_empty_state()
        return
    render_cards(data.change)
    render_time_charts(data.series)
    render_tradeoff(data.scatter, data.front, f)
    _chart(technique_figure(data.techniques, title="Which techniques work"), "techniques")
    render_models(data.models, f)
    render_downloads(data.techniques, data.series, f)
