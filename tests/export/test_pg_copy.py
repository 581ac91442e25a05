"""core.export.pg_copy: COPY rows straight from libpq, on a real PostgreSQL server.

What a download relies on: the same rows as psycopg's own COPY, errors as psycopg errors, a
reader that stops early leaves a usable connection, and waiting for the server never holds the
GIL (the dashboard's other sessions keep running).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.export.pg_copy import iter_copy_out

pytestmark = pytest.mark.postgres


@pytest.fixture
def connection(pg_server_url: str) -> Iterator[psycopg.Connection]:
    url = make_url(pg_server_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        yield conn


def _rows(conn: psycopg.Connection, statement: str) -> list[bytes]:
    return [bytes(row) for row in iter_copy_out(conn, statement)]


def test_rows_are_those_psycopgs_copy_gives(connection: psycopg.Connection) -> None:
    statement = (
        "COPY (SELECT g, 'line ' || g || E'\\twith a tab', CASE WHEN g % 7 = 0 THEN NULL"
        " ELSE g * 0.5 END FROM generate_series(1, 50000) g ORDER BY g DESC) TO STDOUT"
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        expected = [bytes(row) for row in copy]
    assert _rows(connection, statement) == expected
    assert len(expected) == 50000 and expected[0].startswith(b"50000\tline 50000\\twith a tab\t")


def test_an_empty_result_gives_no_rows(connection: psycopg.Connection) -> None:
    assert _rows(connection, "COPY (SELECT 1 WHERE false) TO STDOUT") == []
    assert connection.execute("SELECT 42").fetchone() == (42,)


def test_a_server_error_midway_is_psycopgs_error_and_the_connection_recovers(
    connection: psycopg.Connection,
) -> None:
    statement = "COPY (SELECT 1 / (30000 - g) FROM generate_series(1, 60000) g) TO STDOUT"
    got = 0
    with pytest.raises(psycopg.errors.DivisionByZero):
        for _ in iter_copy_out(connection, statement):
            got += 1
    assert 0 < got < 30000
    connection.rollback()
    assert connection.execute("SELECT 42").fetchone() == (42,)


def test_statements_that_are_not_a_copy_out_are_refused_clearly(connection: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.SyntaxError):
        _rows(connection, "COPY (SELEC 1) TO STDOUT")
    connection.rollback()
    with pytest.raises(psycopg.ProgrammingError, match="not a COPY TO STDOUT"):
        _rows(connection, "SELECT 1")
    connection.rollback()
    assert connection.execute("SELECT 42").fetchone() == (42,)


def test_a_reader_that_stops_early_cancels_the_copy_and_keeps_the_connection(
    connection: psycopg.Connection,
) -> None:
    """Fifty million rows: far more than libpq buffers, so the server is still sending."""
    rows = iter_copy_out(
        connection, "COPY (SELECT g, repeat('x', 50) FROM generate_series(1, 50000000) g) TO STDOUT"
    )
    assert bytes(next(rows)).startswith(b"1\t")
    started = time.monotonic()
    rows.close()
    assert time.monotonic() - started < 5
    connection.rollback()
    assert connection.execute("SELECT 42").fetchone() == (42,)


def test_waiting_for_a_slow_first_row_lets_other_threads_run(connection: psycopg.Connection) -> None:
    counted = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counted[0] += 1

    spinner = threading.Thread(target=count, daemon=True)
    spinner.start()
    try:
        time.sleep(0.05)
        before = counted[0]
        started = time.monotonic()
        rows = _rows(connection, "COPY (SELECT pg_sleep(1), 7) TO STDOUT")
        waited = time.monotonic() - started
        spun = counted[0] - before
    finally:
        stop.set()
        spinner.join()
    assert rows == [b"\t7\n"] and waited >= 1
    # A thread that held the GIL for that second would leave the counter nearly still; free, it
    # counts millions (measured: about 84,000 when psycopg's blocking get_result is used).
    assert spun > 1_000_000
