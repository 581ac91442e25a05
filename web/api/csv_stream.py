"""The CSV answer: every match streamed from one held connection, the dashboard's exact bytes.

The same streamed body as the "Download CSV" route (:mod:`web.csv_body`); this module adds
the API's engine and its JSON 503.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from core.query.filter import SessionFilter
from web.api.data import DATABASE_ERRORS, api_engine, api_settings, unavailable
from web.api.errors import NO_STORE, log
from web.csv_body import csv_attachment, open_csv


async def csv_response(f: SessionFilter) -> StreamingResponse:
    """200 ``text/csv`` with every match of ``f`` and the dashboard's file name; 503 if unreadable."""
    settings = await run_in_threadpool(api_settings)
    engine = await run_in_threadpool(api_engine, settings)
    try:
        first, chunks = await open_csv(engine, f)
    except DATABASE_ERRORS as error:
        raise unavailable(settings, error) from None
    return csv_attachment(f, first, chunks, NO_STORE, lambda message: log(f"CSV {message}"))
