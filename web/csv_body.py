"""The streamed CSV body both CSV routes send (the "Download CSV" link and the API's CSV).

Every match comes from :func:`core.export.stream.iter_filtered_csv` (byte for byte ``python -m
core sessions --format csv``), read chunk by chunk on worker threads from one held
connection: memory stays flat, a slow client slows the export down, and a client that goes away
closes the generator at once, which returns the connection and ends its read transaction. The
first chunk is made before the headers go out (:func:`open_csv`), so a database that cannot be
read still gets a clean 503 instead of a truncated file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from core.export import stream
from core.export.names import export_filename
from core.query.filter import SessionFilter

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
Chunks = Generator[bytes, None, None]


def query_lists(request: Request) -> dict[str, list[str]]:
    """The query string, every key with all its values in order."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def csv_chunks(engine: Engine, f: SessionFilter) -> Chunks:
    """The export, encoded chunk by chunk; the connection is returned when this is closed."""
    with engine.connect() as connection:
        for chunk in stream.iter_filtered_csv(connection, f):
            yield chunk.encode("utf-8")


async def open_csv(engine: Engine, f: SessionFilter) -> tuple[bytes, Chunks]:
    """The first chunk (the header and first rows) and the rest; a database error raises here,
    before any header is sent, with the source already closed."""
    chunks = csv_chunks(engine, f)
    try:
        first = await run_in_threadpool(next, chunks, b"")
    except BaseException:
        chunks.close()
        raise
    return first, chunks


async def _relay(first: bytes, chunks: Chunks, log: Callable[[str], None]) -> AsyncIterator[bytes]:
    """Hand the chunks to the server, making each on a worker thread; always close the source."""
    try:
        yield first
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    except Exception as error:
        # Headers are out: the server aborts the response, so the client reports a failed
        # download instead of saving a silently truncated file.
        log(f"stopped part-way: {error!r}")
        raise
    finally:
        # A client that goes away cancels this generator: the worker thread is not running
        # (to_thread waits for it), so the source can be closed and its connection returned.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


class _ClosingStreamingResponse(StreamingResponse):
    """Closes its body when the response ends in any way, a vanished client included.

    Starlette leaves an unfinished body generator to the garbage collector; closing it here
    returns the database connection (and ends its read transaction) at once.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def csv_attachment(
    f: SessionFilter, first: bytes, chunks: Chunks, headers: Mapping[str, str], log: Callable[[str], None]
) -> StreamingResponse:
    """200 ``text/csv`` under the dashboard's file name for ``f``, streaming ``first`` then the rest."""
    name = export_filename(f, datetime.now(UTC).date())
    return _ClosingStreamingResponse(
        _relay(first, chunks, log),
        media_type=CSV_CONTENT_TYPE,
        headers={**headers, "Content-Disposition": f'attachment; filename="{name}"'},
    )
