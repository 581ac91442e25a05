"""The CSV answer: every match streamed from one held connection, the dashboard's exact bytes.

The same generator as the "Download CSV" route (:func:`core.export.stream.iter_filtered_csv`,
so byte for byte ``python -m core sessions --format csv``), read on worker threads chunk by
chunk: memory stays flat, a slow client slows the export down, and a client that goes away
closes the generator at once, which returns the connection and ends its read transaction.
The first chunk is made before the headers go out, so a database that cannot be read still
gets a clean 503 instead of a truncated file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from core.export.names import export_filename
from core.export.stream import iter_filtered_csv
from core.query.filter import SessionFilter
from web.api.data import DATABASE_ERRORS, api_engine, api_settings, unavailable
from web.api.errors import NO_STORE, log

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_chunks(engine: Engine, f: SessionFilter) -> Generator[bytes, None, None]:
    """The export, encoded chunk by chunk; the connection is returned when this is closed."""
    with engine.connect() as connection:
        for chunk in iter_filtered_csv(connection, f):
            yield chunk.encode("utf-8")


async def relay(first: bytes, chunks: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    """Pass the chunks on, each made on a worker thread; always close the source."""
    try:
        yield first
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    except Exception as error:
        log(f"CSV stopped part-way: {error!r}")  # headers are out: the server aborts the body
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body however the response ends (a vanished client included)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def csv_response(f: SessionFilter) -> ClosingStreamingResponse:
    """200 ``text/csv`` with every match of ``f`` and the dashboard's file name; 503 if unreadable."""
    settings = await run_in_threadpool(api_settings)
    engine = await run_in_threadpool(api_engine, settings)
    chunks = csv_chunks(engine, f)
    try:
        first = await run_in_threadpool(next, chunks, b"")
    except DATABASE_ERRORS as error:
        chunks.close()
        raise unavailable(settings, error) from None
    name = export_filename(f, datetime.now(UTC).date())
    return ClosingStreamingResponse(
        relay(first, chunks),
        media_type=CSV_MEDIA_TYPE,
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )
