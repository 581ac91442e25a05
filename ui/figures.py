"""Plotly figures for the Sessions and Overview pages: aggregate results in, a Figure out.

Pure functions with no Streamlit import, so they are unit-tested directly and reused by both
pages. Every number they draw was computed in SQL by the :mod:`core.stats` modules; nothing here
aggregates. Given empty data they return a figure that says so (:func:`empty_figure`) instead
of empty axes, though pages should prefer a plain message (check the data first).

Styling is explicit and restrained so the charts read on a laptop screen under Streamlit's
theme (``st.plotly_chart(fig, theme="streamlit")`` keeps the colours set here): fixed colours
per status and per metric, horizontal legends above the plot, one-decimal percentages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.query.compare import ComparedSession
from core.stats.types import PeriodSeries, Scatter, SessionPoint, TechniqueStats

STATUS_COLORS: dict[str, str] = {
    "completed": "#2e9d5b",
    "running": "#3a7bd5",
    "pending": "#9aa5b1",
    "failed": "#d64545",
    "cancelled": "#e8a33d",
}
SIZE_COLOR = "#6c5ce7"  # size reduction, everywhere
SPEED_COLOR = "#00a8a8"  # speed improvement, everywhere
FRONT_COLOR = "#1f2933"
# Distinct, colour-blind-friendlier qualitative palette (Tableau 10 + extras).
COMBINATION_PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#86bcb6",
    "#d37295",
    "#8cd17d",
    "#b6992d",
    "#499894",
    "#79706e",
)
FONT_SIZE = 13
# Bottom to top: results first, then what is still in flight.
STACK_ORDER = ("completed", "failed", "cancelled", "running", "pending")
GRANULARITY_LABELS = {"day": "Day", "week": "Week starting (Monday)", "month": "Month"}


def _layout(
    fig: go.Figure, title: str, *, height: int = 420, subtitle: str | None = None, legend_y: float = -0.2
) -> go.Figure:
    title_spec: dict[str, object] = {"text": title, "x": 0, "xanchor": "left"}
    if subtitle:
        title_spec["subtitle"] = {"text": subtitle}
    fig.update_layout(
        title=title_spec,
        height=height,
        margin={"l": 10, "r": 10, "t": 80 if subtitle else 50, "b": 10},
        font={"size": FONT_SIZE},
        # Below the plot: a legend that wraps never runs into the title or the toolbar.
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": legend_y,
            "xanchor": "left",
            "x": 0,
            "title": {"text": ""},
        },
        hoverlabel={"font_size": FONT_SIZE},
    )
    return fig


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A figure with no axes and ``message`` in the middle (for data that turned out empty)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": FONT_SIZE + 2}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=260)


# -- trade-off scatter ------------------------------------------------------------------------


def scatter_subtitle(scatter: Scatter) -> str:
    """What the scatter shows, saying so when it is a sample."""
    if scatter.sampled:
        return (
            f"Showing an even sample of {len(scatter.points):,} of {scatter.total:,} completed "
            "sessions (every k-th by id, drawn in the database)"
        )
    return f"All {scatter.total:,} completed sessions with both metrics"


def scatter_figure(
    scatter: Scatter,
    front: Sequence[SessionPoint] = (),
    *,
    title: str = "Size reduction vs speed improvement",
) -> go.Figure:
    """Completed sessions as points coloured by technique combination, plus the Pareto front.

    Hovering a point shows its session id, model name and techniques. The front (computed
    over all matches, not the sample) is drawn as a labelled step line through its sessions.
    """
    if not scatter.points and not front:
        return empty_figure("No completed sessions with size and speed results", title)
    fig = go.Figure()
    combos = Counter(p.combination for p in scatter.points)
    for index, (combo, count) in enumerate(sorted(combos.items(), key=lambda kv: (-kv[1], kv[0]))):
        points = [p for p in scatter.points if p.combination == combo]
        fig.add_trace(
            go.Scatter(
                x=[p.size_reduction for p in points],
                y=[p.speed_improvement for p in points],
                mode="markers",
                name=f"{combo.replace('_', ' ')} ({count:,})",
                marker={
                    "size": 7,
                    "opacity": 0.7,
                    "color": COMBINATION_PALETTE[index % len(COMBINATION_PALETTE)],
                },
                customdata=[[p.session_id, p.model_name, combo.replace("_", " ")] for p in points],
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]}"
                    "<br>size −%{x:.1f}% · speed +%{y:.1f}%<extra></extra>"
                ),
            )
        )
    if front:
        ordered = sorted(front, key=lambda p: (p.size_reduction, -p.speed_improvement))
        label_points = len(ordered) <= 8
        fig.add_trace(
            go.Scatter(
                x=[p.size_reduction for p in ordered],
                y=[p.speed_improvement for p in ordered],
                mode="lines+markers+text" if label_points else "lines+markers",
                name=f"Pareto front ({len(ordered)} sessions no other beats on both)",
                line={"color": FRONT_COLOR, "width": 2, "shape": "vh", "dash": "dot"},
                marker={
                    "size": 11,
                    "symbol": "diamond",
                    "color": "rgba(0,0,0,0)",
                    "line": {"color": FRONT_COLOR, "width": 2},
                },
                text=[p.model_name for p in ordered] if label_points else None,
                # The front is the upper-right edge of the cloud: labels go up and to the left.
                textposition="top left",
                textfont={"size": FONT_SIZE - 2},
                cliponaxis=False,
                customdata=[[p.session_id, p.model_name, p.combination] for p in ordered],
                hovertemplate=(
                    "<b>Pareto front</b><br>%{customdata[0]}<br>%{customdata[1]}"
                    "<br>%{customdata[2]}<br>size −%{x:.1f}% · speed +%{y:.1f}%"
                    "<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(title_text="Size reduction (%)", ticksuffix="%", zeroline=False)
    fig.update_yaxes(title_text="Speed improvement (%)", ticksuffix="%", zeroline=False)
    return _layout(fig, title, height=520, subtitle=scatter_subtitle(scatter))


# -- per technique ------------------------------------------------------------------------------


def technique_figure(stats: Sequence[TechniqueStats], *, title: str = "By technique") -> go.Figure:
    """Median size reduction and speed improvement per technique with their interquartile
    range (completed sessions), and each technique's success rate beside them."""
    if not stats:
        return empty_figure("No sessions with techniques in this selection", title)
    ordered = sorted(stats, key=lambda t: t.technique, reverse=True)  # A at the top
    names = [t.technique.replace("_", " ") for t in ordered]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.7, 0.3],
        horizontal_spacing=0.04,
        subplot_titles=(
            "Median of completed sessions, bar = 25th-75th percentile",
            "Success rate (completed / finished)",
        ),
    )
    # Horizontal groups stack upwards: speed first puts size on top, as the legend reads.
    for label, attr, color in (
        ("Speed improvement", "speed_improvement", SPEED_COLOR),
        ("Size reduction", "size_reduction", SIZE_COLOR),
    ):
        metrics = [getattr(t, attr) for t in ordered]
        medians = [m.median for m in metrics]
        fig.add_trace(
            go.Bar(
                y=names,
                x=medians,
                orientation="h",
                name=label,
                marker_color=color,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "thickness": 1.5,
                    "width": 4,
                    "array": [_gap(m.p75, m.median) for m in metrics],
                    "arrayminus": [_gap(m.median, m.p25) for m in metrics],
                },
                customdata=[
                    [m.p25, m.p75, m.mean, t.completed] for m, t in zip(metrics, ordered, strict=True)
                ],
                hovertemplate=(
                    f"<b>%{{y}}</b><br>{label}: median %{{x:.1f}}%<br>"
                    "25th-75th: %{customdata[0]:.1f}% - %{customdata[1]:.1f}%<br>"
                    "mean %{customdata[2]:.1f}% over %{customdata[3]:,} completed"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
    fig.add_trace(_success_bars(ordered, names), row=1, col=2)
    fig.update_layout(barmode="group", bargap=0.25, legend_traceorder="reversed")
    fig.update_xaxes(ticksuffix="%", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(ticksuffix="%", range=[0, 100], dtick=25, row=1, col=2)
    fig.update_annotations(font_size=FONT_SIZE - 1)
    return _layout(
        fig, title, height=max(340, 140 + 70 * len(ordered)), legend_y=-40 / max(200, 70 * len(ordered))
    )


def _success_bars(ordered: Sequence[TechniqueStats], names: list[str]) -> go.Bar:
    """Each technique's success rate (completed of finished), written inside its bar."""
    rates = [None if t.success_rate is None else t.success_rate * 100 for t in ordered]
    return go.Bar(
        y=names,
        x=rates,
        orientation="h",
        name="Success rate",
        marker_color=STATUS_COLORS["completed"],
        showlegend=False,
        text=[_percent(r) for r in rates],
        textposition="inside",
        insidetextanchor="end",
        customdata=[[t.completed, t.completed + t.failed + t.cancelled, t.sessions] for t in ordered],
        hovertemplate=(
            "<b>%{y}</b><br>success %{x:.1f}%: %{customdata[0]:,} of "
            "%{customdata[1]:,} finished<br>%{customdata[2]:,} sessions in all"
            "<extra></extra>"
        ),
    )


def _gap(high: float | None, low: float | None) -> float | None:
    return None if high is None or low is None else max(0.0, high - low)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


# -- over time -----------------------------------------------------------------------------


def sessions_over_time_figure(series: PeriodSeries, *, title: str = "Sessions started") -> go.Figure:
    """Sessions started per day/week/month, stacked by status."""
    if not series.periods or not any(p.sessions for p in series.periods):
        return empty_figure("No sessions in this range", title)
    starts = [p.start for p in series.periods]
    fig = go.Figure()
    for status in STACK_ORDER:
        counts = [p.by_status.get(status, 0) for p in series.periods]
        if not any(counts):
            continue
        fig.add_trace(
            go.Bar(
                x=starts,
                y=counts,
                name=status,
                marker_color=STATUS_COLORS[status],
                hovertemplate=f"%{{x|%Y-%m-%d}}: %{{y:,}} {status}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15, legend_traceorder="normal")
    fig.update_xaxes(title_text=GRANULARITY_LABELS[series.granularity])
    fig.update_yaxes(title_text="Sessions", rangemode="tozero")
    return _layout(fig, f"{title} per {series.granularity}")


def trend_figure(series: PeriodSeries, *, title: str = "Median results of completed sessions") -> go.Figure:
    """Median size reduction and speed improvement per period (gaps where nothing completed)."""
    if not any(
        p.median_size_reduction is not None or p.median_speed_improvement is not None for p in series.periods
    ):
        return empty_figure("No completed sessions in this range", title)
    starts = [p.start for p in series.periods]
    fig = go.Figure()
    for label, values, color in (
        ("Median size reduction", [p.median_size_reduction for p in series.periods], SIZE_COLOR),
        ("Median speed improvement", [p.median_speed_improvement for p in series.periods], SPEED_COLOR),
    ):
        fig.add_trace(
            go.Scatter(
                x=starts,
                y=values,
                name=label,
                mode="lines+markers",
                connectgaps=False,
                line={"color": color, "width": 2},
                marker={"size": 5},
                hovertemplate=f"%{{x|%Y-%m-%d}}: {label.lower()} %{{y:.1f}}%<extra></extra>",
            )
        )
    fig.update_xaxes(title_text=GRANULARITY_LABELS[series.granularity])
    fig.update_yaxes(title_text="Percent", ticksuffix="%", rangemode="tozero")
    return _layout(fig, f"{title} per {series.granularity}")


# -- comparison ------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    return value if isinstance(value, float) else None


def comparison_figure(
    sessions: Sequence[ComparedSession], *, title: str = "Size and speed improvement side by side"
) -> go.Figure:
    """Grouped bars: size reduction and speed improvement of each compared session."""
    sizes = [_number(s.metric("size_reduction_percent")) for s in sessions]
    speeds = [_number(s.metric("speed_improvement_percent")) for s in sessions]
    if all(v is None for v in sizes + speeds):
        return empty_figure("None of these sessions has size or speed results", title)
    labels = [f"{s.session_id}<br>{s.model_name}" for s in sessions]
    fig = go.Figure()
    for name, values, color in (
        ("Size reduction", sizes, SIZE_COLOR),
        ("Speed improvement", speeds, SPEED_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                name=name,
                marker_color=color,
                text=["n/a" if v is None else f"{v:.1f}%" for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{x}}<br>{name}: %{{y:.1f}}%<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(title_text="Percent", ticksuffix="%", rangemode="tozero")
    return _layout(fig, title, height=400)


__all__ = [
    "COMBINATION_PALETTE",
    "SIZE_COLOR",
    "SPEED_COLOR",
    "STATUS_COLORS",
    "comparison_figure",
    "empty_figure",
    "scatter_figure",
    "scatter_subtitle",
    "sessions_over_time_figure",
    "technique_figure",
    "trend_figure",
]
