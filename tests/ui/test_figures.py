"""The pure figure functions: the right traces, labels and hover data, and empty states."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go

from core.query.compare import ComparedSession
from core.stats.types import (
    MetricStats,
    PeriodSeries,
    PeriodStats,
    Scatter,
    SessionPoint,
    TechniqueStats,
)
from core.store.tables import STATUSES
from ui import figures as F


def _point(
    session_id: str, size: float, speed: float, techniques: tuple[str, ...], model: str = "resnet-base"
) -> SessionPoint:
    return SessionPoint(session_id, "mdl-1", model, techniques, size, speed, -0.5)


POINTS = (
    _point("s1", 50, 20, ("quantization",)),
    _point("s2", 70, 10, ("quantization", "pruning")),
    _point("s3", 30, 40, ("pruning", "quantization")),
    _point("s4", 60, 30, ("quantization",)),
    _point("s5", 20, 5, ("low_rank_factorization",)),
)


def _empty_message(fig: go.Figure) -> str:
    assert not fig.data
    return str(fig.layout.annotations[0].text)


def test_scatter_colours_by_combination_with_hover_ids() -> None:
    fig = F.scatter_figure(Scatter(POINTS, 5, False), front=(POINTS[2], POINTS[3]))
    names = [t.name for t in fig.data]
    # Order-independent combinations, most frequent first; then the front.
    assert names[:3] == [
        "pruning + quantization (2)",
        "quantization (2)",
        "low rank factorization (1)",
    ]  # readable names
    assert names[3].startswith("Pareto front (2 sessions")
    combo = fig.data[0]
    assert list(combo.x) == [70, 30] and list(combo.y) == [10, 40]
    assert combo.customdata[0][0] == "s2" and combo.customdata[0][1] == "resnet-base"
    assert "customdata[0]" in combo.hovertemplate and "customdata[1]" in combo.hovertemplate
    front = fig.data[3]
    assert list(front.x) == [30, 60]  # sorted by size
    assert list(front.text) == ["resnet-base", "resnet-base"]  # labelled
    assert "All 5 completed sessions" in fig.layout.title.subtitle.text
    fig.to_json()  # valid for plotly.js


def test_scatter_says_when_sampled() -> None:
    fig = F.scatter_figure(Scatter(POINTS, 12_345, True))
    assert "sample of 5 of 12,345" in fig.layout.title.subtitle.text


def test_scatter_empty() -> None:
    assert "No completed sessions" in _empty_message(F.scatter_figure(Scatter((), 0, False)))


def _metric(median: float) -> MetricStats:
    return MetricStats(mean=median + 1, p25=median - 5, median=median, p75=median + 10)


def test_technique_figure() -> None:
    stats = (
        TechniqueStats("quantization", 10, 6, 2, 2, _metric(60), _metric(30)),
        TechniqueStats(
            "low_rank_factorization",
            3,
            0,
            3,
            0,
            MetricStats(None, None, None, None),
            MetricStats(None, None, None, None),
        ),
    )
    fig = F.technique_figure(stats)
    speed, size, rate = fig.data  # speed first: size is drawn on top in each group
    assert (size.name, speed.name, rate.name) == ("Size reduction", "Speed improvement", "Success rate")
    assert fig.layout.legend.traceorder == "reversed"
    assert list(size.y) == ["quantization", "low rank factorization"]
    assert list(size.x) == [60, None]
    assert list(size.error_x.array) == [10, None] and list(size.error_x.arrayminus) == [5, None]
    assert list(rate.x) == [60.0, 0.0]
    assert list(rate.text) == ["60%", "0%"]
    fig.to_json()
    assert "No sessions" in _empty_message(F.technique_figure(()))


def _series() -> PeriodSeries:
    def counts(**kw: int) -> tuple[tuple[str, int], ...]:
        return tuple((s, kw.get(s, 0)) for s in STATUSES)

    return PeriodSeries(
        "week",
        (
            PeriodStats(date(2025, 6, 2), counts(completed=3, failed=1), 55.0, 20.0),
            PeriodStats(date(2025, 6, 9), counts(), None, None),
            PeriodStats(date(2025, 6, 16), counts(completed=1, running=2), 60.0, None),
        ),
    )


def test_sessions_over_time_stacks_statuses_present() -> None:
    fig = F.sessions_over_time_figure(_series())
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["completed", "failed", "running"]  # bottom to top
    completed = fig.data[0]
    assert list(completed.y) == [3, 0, 1]
    assert completed.marker.color == F.STATUS_COLORS["completed"]
    assert fig.layout.title.text == "Sessions started per week"
    assert fig.layout.xaxis.title.text.startswith("Week starting")


def test_trend_keeps_gaps() -> None:
    fig = F.trend_figure(_series())
    size, speed = fig.data
    assert list(size.y) == [55.0, None, 60.0] and size.connectgaps is False
    assert list(speed.y) == [20.0, None, None]


def test_time_figures_empty() -> None:
    empty = PeriodSeries("day", ())
    assert "No sessions" in _empty_message(F.sessions_over_time_figure(empty))
    assert "No completed" in _empty_message(F.trend_figure(empty))


def _compared(session_id: str, model: str, **metrics: float) -> ComparedSession:
    return ComparedSession(
        session_id,
        "m",
        model,
        True,
        "completed",
        (),
        10,
        10,
        100.0,
        None,
        None,
        None,
        tuple(metrics.items()),
        (),
    )


def test_comparison_figure() -> None:
    sessions = [
        _compared("a", "resnet", size_reduction_percent=50.0, speed_improvement_percent=20.0),
        _compared("b", "bert", speed_improvement_percent=35.0),
    ]
    fig = F.comparison_figure(sessions)
    size, speed = fig.data
    assert list(size.x) == ["a<br>resnet", "b<br>bert"]
    assert list(size.text) == ["50.0%", "n/a"] and list(speed.y) == [20.0, 35.0]
    none = [_compared("c", "x", latency_ms=3.0)]
    assert "None of these sessions" in _empty_message(F.comparison_figure(none))
