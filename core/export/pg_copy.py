"""``COPY ... TO STDOUT`` read straight from libpq: the rows already received, then one wait.

psycopg's ``Copy`` hands out one row per call through its generic wait machinery, which is
the biggest cost on the dashboard's side of a large download (``benchmarks/bench_export.py``
measures it). Here libpq is asked, in asynchronous mode, for every row it has already buffered
(``PQgetCopyData(async=1)``), and the thread waits on the socket (``poll``, without the GIL)
only when none is left: the asynchronous pattern of libpq's documentation, through psycopg's own
``pgconn`` wrapper. Nothing here ever blocks inside libpq while holding the GIL, so a slow
first row (a big sort) does not stall the server's other threads.

The statement runs in the connection's current transaction. Errors come out as psycopg's own
exceptions (``QueryCanceled`` for a cancelled export, for instance), and a reader that stops
half-way cancels the statement and drains the connection, which stays usable.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Generator
from typing import Any

import psycopg
from psycopg import pq


def _wait_readable(pgconn: Any, poller: select.poll) -> None:
    poller.poll()
    pgconn.consume_input()


def _results(pgconn: Any, poller: select.poll) -> list[Any]:
    """Every remaining result of the statement, waiting without the GIL while libpq is busy."""
    results: list[Any] = []
    while True:
        while pgconn.is_busy():
            _wait_readable(pgconn, poller)
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


def _raise_if_failed(results: list[Any], encoding: str) -> None:
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=encoding)


def _abandon(connection: psycopg.Connection[Any], poller: select.poll) -> None:
    """Stop the statement and read what is left, so the connection can run the next one."""
    pgconn = connection.pgconn
    connection.cancel()
    try:
        while True:
            size, _ = pgconn.get_copy_data(1)
            if size == 0:
                _wait_readable(pgconn, poller)
            elif size < 0:
                break
    except psycopg.OperationalError:
        pass  # libpq already left COPY mode
    _results(pgconn, poller)  # the cancellation error, deliberately not raised


def _results_until_copy(pgconn: Any, poller: select.poll) -> Any:
    """The statement's first result: COPY_OUT once the server started sending rows."""
    while pgconn.is_busy():
        _wait_readable(pgconn, poller)
    result = pgconn.get_result()
    if result is None:
        raise psycopg.ProgrammingError("the COPY statement returned no result")
    return result


def iter_copy_out(connection: psycopg.Connection[Any], statement: str) -> Generator[memoryview, None, None]:
    """The rows of ``statement`` (a ``COPY ... TO STDOUT``), each as libpq delivered it.

    Each view is valid until the next row is requested: copy what you keep.
    """
    pgconn = connection.pgconn
    encoding = connection.info.encoding
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    pgconn.send_query(statement.encode(encoding))
    started = _results_until_copy(pgconn, poller)
    if started.status != pq.ExecStatus.COPY_OUT:
        rest = _results(pgconn, poller)
        _raise_if_failed([started, *rest], encoding)
        raise psycopg.ProgrammingError(
            f"not a COPY TO STDOUT statement: {pq.ExecStatus(started.status).name}"
        )
    try:
        read = pgconn.get_copy_data
        while True:
            size, data = read(1)
            if size > 0:
                yield data
            elif size == 0:  # nothing buffered: wait for the server
                _wait_readable(pgconn, poller)
            else:
                break
    except BaseException:  # the reader stopped (GeneratorExit), or the connection broke
        with contextlib.suppress(psycopg.Error, OSError):
            _abandon(connection, poller)
        raise
    _raise_if_failed(_results(pgconn, poller), encoding)
