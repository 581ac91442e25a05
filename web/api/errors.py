"""The API's errors: one JSON shape, ``{"detail": "..."}``, and the original endpoint's status codes.

The original ``GET /optimization/sessions`` answered 400 for a value it understood but does not
allow (a status that does not exist, ``limit`` over 100 or 0, an unknown sort key or order) and
422 for a value that does not parse at all (``skip=-1`` or ``skip=abc``, a date that is no date,
``limit=abc``). :func:`filter_error_status` keeps that split for :class:`FilterError`, which the
core raises for every bad filter value, so the API and the dashboard validate in one place.
Every message names the parameter, the value and what is allowed; no handler ever lets a
traceback or an HTML page out.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.query.filter import FilterError, parse_date_bound

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ApiError(Exception):
    """An answer other than 200: its status, the message for ``detail`` and extra headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def log(message: str) -> None:
    """Server-side detail (the client gets a short message; the operator the cause)."""
    print(f"[dashboard] API: {message}", file=sys.stderr, flush=True)


def _parses(error: FilterError) -> bool:
    """Whether the offending value is well-formed for its parameter (then 400, else 422)."""
    if error.field == "skip":
        return False  # negative or not a number: the original declared skip as int >= 0
    if error.field == "limit":
        try:
            int(str(error.value))
        except ValueError:
            return False
        return True
    if error.field in ("start_date", "end_date"):
        try:
            parse_date_bound(error.field, error.value)
        except FilterError:
            return False
        return True  # a valid date, but after end_date
    return True


def filter_error_status(error: FilterError) -> int:
    """400 for a value the API understands but does not allow, 422 for one that does not parse."""
    return 400 if _parses(error) else 422


def filter_error_message(error: FilterError) -> str:
    return f"Bad parameter `{error.field}`: {error.value!r} is not allowed; {error.allowed}."


def from_filter_error(error: FilterError) -> ApiError:
    return ApiError(filter_error_status(error), filter_error_message(error))


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers={**NO_STORE, **(headers or {})})


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _json(error.status, error.detail, error.headers)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    if error.status_code == 404 and detail == "Not Found":
        detail = "No such API path; see /optimization/docs for the endpoints."
    return _json(error.status_code, detail, dict(error.headers or {}))


def _location(entry: dict[str, Any]) -> str:
    parts = [str(p) for p in entry.get("loc", ()) if p not in ("query", "path", "header", "body")]
    return ".".join(parts) or "request"


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own parsing (a path or header value): 422 with the same one-line message."""
    assert isinstance(error, RequestValidationError)
    entries = list(error.errors()) or [{"loc": (), "msg": "invalid request", "input": None}]
    first = entries[0]
    message = (
        f"Bad parameter `{_location(first)}`: {first.get('input')!r} is not allowed; "
        f"{str(first.get('msg', 'invalid value')).lower()}."
    )
    return _json(422, message)


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    log(f"unexpected error: {error!r}")
    return _json(500, "The API failed unexpectedly; the server's log has the cause.")


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can raise answers ``{"detail": ...}`` JSON (never HTML, never a traceback)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
