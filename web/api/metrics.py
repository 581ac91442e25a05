"""``GET /optimization/metrics``: the numbers of the Sessions page's cards and the Overview, as JSON.

Computed by :mod:`core.stats` through its process-wide cache (:func:`core.stats.cache.cached`,
keyed by filter and data version), exactly what the pages draw for the same filter: the
summary cards (counts by status, success rate, medians, MB saved), the per-technique table
(exact quartiles, success rate) and the sessions per week (counts by status, median trend).
Paging parameters are validated and ignored: every match counts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.query.filter import SessionFilter
from core.stats.cache import cached
from core.stats.periods import period_stats
from core.stats.summary import summary
from core.stats.techniques import technique_stats
from core.stats.types import MetricStats, PeriodSeries, Summary, TechniqueStats
from web.api.auth import AUTH_RESPONSES, Identity
from web.api.data import DATABASE_ERRORS, api_engine, api_settings, unavailable
from web.api.params import EndDate, ModelId, Search, StartDate, Status, Technique, request_filter
from web.api.responses import json_response
from web.api.sessions import FILTER_ERRORS

router = APIRouter(tags=["metrics"], responses=AUTH_RESPONSES)


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "sessions": s.sessions,
        "by_status": s.by_status,
        "finished": s.finished,
        "success_rate": s.success_rate,
        "completed_share": s.completed_share,
        "median_size_reduction_percent": s.median_size_reduction,
        "median_speed_improvement_percent": s.median_speed_improvement,
        "mb_saved": s.mb_saved,
        "mb_saved_sessions": s.mb_saved_sessions,
    }


def _metric(m: MetricStats) -> dict[str, Any]:
    return {"mean": m.mean, "p25": m.p25, "median": m.median, "p75": m.p75}


def technique_json(t: TechniqueStats) -> dict[str, Any]:
    return {
        "technique": t.technique,
        "sessions": t.sessions,
        "completed": t.completed,
        "failed": t.failed,
        "cancelled": t.cancelled,
        "success_rate": t.success_rate,
        "size_reduction_percent": _metric(t.size_reduction),
        "speed_improvement_percent": _metric(t.speed_improvement),
    }


def weeks_json(series: PeriodSeries) -> list[dict[str, Any]]:
    """Each week as its Monday (ISO date, UTC), its sessions by status and its medians."""
    return [
        {
            "week_start": p.start.isoformat(),
            "sessions": p.sessions,
            "by_status": p.by_status,
            "median_size_reduction_percent": p.median_size_reduction,
            "median_speed_improvement_percent": p.median_speed_improvement,
        }
        for p in series.periods
    ]


def metrics_json(f: SessionFilter) -> dict[str, Any]:
    settings = api_settings()
    engine = api_engine(settings)
    try:
        cards = cached(engine, summary, f)
        techniques = cached(engine, technique_stats, f)
        weeks = cached(engine, period_stats, f, granularity="week")
    except DATABASE_ERRORS as error:
        raise unavailable(settings, error) from None
    return {
        "filter": f.to_params(),
        "summary": summary_json(cards),
        "techniques": [technique_json(t) for t in techniques],
        "weeks": weeks_json(weeks),
    }


@router.get("/metrics", responses=FILTER_ERRORS, summary="Cards, per technique and per week")
async def get_metrics(
    request: Request,
    _identity: Identity,
    status: Status = None,
    model_id: ModelId = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    q: Search = None,
    technique: Technique = None,
) -> Response:
    """Counts by status, success rate and medians of every match, per technique and per week."""
    f = request_filter(request, paged=False)
    return json_response(await run_in_threadpool(metrics_json, f))
