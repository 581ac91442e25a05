"""The Overview page for managers: headline cards with their change, charts, ranked models.

Answers "is optimization paying off, and which techniques work?" for the sidebar's filters.
Every number comes from :mod:`core.stats.aggregates` through :mod:`core.stats.cache` (computed in SQL,
keyed by the filter and the data version), so it matches the Sessions page and the CLI for
the same filters. Charts come from :mod:`ui.figures`. An empty selection shows a message and
a reset, never empty charts.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.export.csv_stream import neutralise
from core.query.filter import SessionFilter
from core.stats import aggregates as A
from core.stats.cache import cached
from core.store.engine import DatabaseMissingError
from ui.data import DatabaseUnavailable, get_engine, load_model_choices, load_techniques
from ui.errors import show_database_error
from ui.figures import (
    scatter_figure,
    sessions_over_time_figure,
    technique_figure,
    trend_figure,
)
from ui.overview_filters import current_filter, render_filters, reset_filters, to_params

MODELS_SHOWN = 50
PARALLEL_QUERIES = 3


@dataclass(frozen=True)
class OverviewData:
    """Everything the page draws, fetched together."""

    change: A.SummaryChange
    series: A.PeriodSeries
    scatter: A.Scatter
    front: tuple[A.SessionPoint, ...]
    techniques: tuple[A.TechniqueStats, ...]
    models: A.ModelRanking


def load_overview(settings: Settings, f: SessionFilter) -> OverviewData:
    """Every aggregate of the page through the shared cache, computed side by side.

    A cold aggregate is a full scan; run one after another they add up, while the database
    (SQLite too: it releases the GIL while it works) can run a few at once. Database failures
    become :class:`DatabaseUnavailable`.
    """
    calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
        "change": (A.summary_change, {}),
        "series": (A.period_stats, {}),
        "scatter": (A.scatter, {}),
        "front": (A.pareto_front, {}),
        "techniques": (A.technique_stats, {}),
        "models": (A.model_ranking, {"limit": MODELS_SHOWN}),
    }
    try:
        engine = get_engine(settings)
        with ThreadPoolExecutor(max_workers=PARALLEL_QUERIES) as pool:
            futures = {
                name: pool.submit(cached, engine, fn, f, **kwargs) for name, (fn, kwargs) in calls.items()
            }
            return OverviewData(**{name: future.result() for name, future in futures.items()})
    except (SQLAlchemyError, DatabaseMissingError, OSError) as error:
        print(
            f"[dashboard] overview aggregates failed on {settings.masked_db_url}: {error!r}",
            file=sys.stderr,
            flush=True,
        )
        raise DatabaseUnavailable(settings, error) from None


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


# -- words and numbers ------------------------------------------------------------------------


def describe(f: SessionFilter, change: A.SummaryChange | None = None) -> str:
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


def render_cards(change: A.SummaryChange) -> None:
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


def render_empty_state() -> None:
    with st.container(border=True):
        st.info("**No sessions match these filters.** Widen the date range or clear a filter.", icon="🔎")
        st.button("Reset filters", key="overview_empty_reset", on_click=reset_filters, type="primary")


def _chart(fig: Any, name: str) -> None:
    st.plotly_chart(fig, width="stretch", theme="streamlit", config=plot_config(name), key=name)


def render_time_charts(series: A.PeriodSeries) -> None:
    left, right = st.columns(2)
    with left:
        _chart(sessions_over_time_figure(series), "sessions-over-time")
    with right:
        _chart(trend_figure(series), "median-trend")


def render_tradeoff(scatter: A.Scatter, front: Sequence[A.SessionPoint], f: SessionFilter) -> None:
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


def models_frame(ranking: A.ModelRanking, f: SessionFilter) -> pd.DataFrame:
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


def render_models(ranking: A.ModelRanking, f: SessionFilter) -> None:
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


# -- metrics CSV ------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else neutralise(str(round(v, 4) if isinstance(v, float) else v)) for v in row]
        )
    return out.getvalue().encode("utf-8")


def technique_csv(stats: Sequence[A.TechniqueStats]) -> bytes:
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


def period_csv(series: A.PeriodSeries) -> bytes:
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


def render_downloads(stats: Sequence[A.TechniqueStats], series: A.PeriodSeries, f: SessionFilter) -> None:
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


# -- the page ---------------------------------------------------------------------------------


def render_overview(settings: Settings) -> None:
    """The whole page below the login gate."""
    try:
        models = dict(load_model_choices(settings))
        techniques = load_techniques(settings)
    except DatabaseUnavailable as error:
        st.title("Overview")
        show_database_error(error, key="overview_retry")
        return
    f, problems = current_filter(list(models), techniques)
    render_filters(models, techniques)
    st.title("Overview")
    st.caption(describe(f))
    for problem in problems:
        st.warning(problem.message(), icon="⚠️")
    try:
        with st.spinner("Computing the overview…"):
            data = load_overview(settings, f)
    except DatabaseUnavailable as error:
        show_database_error(error, key="overview_retry")
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
