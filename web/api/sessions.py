"""``GET /optimization/sessions`` (the original endpoint), its CSV form and one session's detail.

The list is :func:`core.query.pages.list_sessions`, the very function behind the Sessions
page and ``python -m core sessions --format json``, so the three answer the same JSON for the
same filter. ``Accept: text/csv`` (or ``/sessions.csv``) streams every match instead of a page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.query.lookups import find_session
from core.query.pages import list_sessions
from web.api.auth import AUTH_RESPONSES, Identity
from web.api.csv_stream import csv_response
from web.api.data import reading
from web.api.detail import detail_response
from web.api.errors import ApiError
from web.api.params import (
    EndDate,
    Limit,
    ModelId,
    Order,
    Search,
    Skip,
    Sort,
    StartDate,
    Status,
    Technique,
    request_filter,
)
from web.api.responses import json_response
from web.csv_body import CSV_CONTENT_TYPE

router = APIRouter(tags=["sessions"], responses=AUTH_RESPONSES)
FILTER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a value that parses but is not allowed (status, limit, sort, order, q)"},
    422: {"description": "a value that does not parse (skip, limit, start_date, end_date)"},
}
CSV_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {CSV_CONTENT_TYPE: {}}, "description": "every match, the dashboard's CSV"}
}


def wants_csv(request: Request) -> bool:
    """``Accept: text/csv`` asks for the CSV (before JSON when both are listed)."""
    accept = request.headers.get("accept", "").lower()
    kinds = [part.split(";")[0].strip() for part in accept.split(",")]
    return "text/csv" in kinds and ("application/json" not in kinds or kinds.index("text/csv") == 0)


def _page(request: Request) -> dict[str, Any]:
    f = request_filter(request)
    with reading() as connection:
        return list_sessions(connection, f)


@router.get("/sessions", responses={**FILTER_ERRORS, **CSV_CONTENT}, summary="One page of sessions")
async def get_sessions(
    request: Request,
    _identity: Identity,
    status: Status = None,
    model_id: ModelId = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    q: Search = None,
    technique: Technique = None,
    sort: Sort = None,
    order: Order = None,
    skip: Skip = None,
    limit: Limit = None,
) -> Response:
    """``{"sessions": [...], "total", "skip", "limit"}``; with ``Accept: text/csv`` every match as CSV."""
    if wants_csv(request):
        return await csv_response(request_filter(request, paged=False))
    return json_response(await run_in_threadpool(_page, request))


@router.get("/sessions.csv", responses={**FILTER_ERRORS, **CSV_CONTENT}, summary="Every match as CSV")
async def get_sessions_csv(
    request: Request,
    _identity: Identity,
    status: Status = None,
    model_id: ModelId = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    q: Search = None,
    technique: Technique = None,
    sort: Sort = None,
    order: Order = None,
) -> Response:
    """Every match in the table's order, byte for byte ``python -m core sessions --format csv``."""
    return await csv_response(request_filter(request, paged=False))


def _detail(session_id: str) -> dict[str, Any]:
    found = None
    if "\x00" not in session_id:  # PostgreSQL text cannot hold NUL: no such session anywhere
        with reading() as connection:
            found = find_session(connection, session_id)
    if found is None:
        raise ApiError(404, f"No session {session_id!r}; `session_id` must name an existing session.")
    return detail_response(found)


@router.get(
    "/sessions/{session_id}", responses={404: {"description": "no such session"}}, summary="One session"
)
async def get_session(session_id: str, _identity: Identity) -> Response:
    """Everything the detail view shows: the row, criteria, results, error, steps, timeline."""
    return json_response(await run_in_threadpool(_detail, session_id))
