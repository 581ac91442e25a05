"""CSV export of every session that matches a filter, streamed, safe to open in a spreadsheet.

The rows are the table's own query without its limit (:func:`core.query.clauses.build_select`),
so a download always matches what the screen shows, in the same order. Three paths give the
same bytes: PostgreSQL's COPY (:mod:`core.export.copy`), SQLite's precomputed lines
(:mod:`core.speed.export_cells`), and batches shaped in Python (:class:`core.export.cells.CellFormatter`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import DateTime, Text, literal_column, select, type_coerce
from sqlalchemy.engine import Connection

from core.export.cells import CSV_COLUMNS, CSV_HEADER, RAW_NAMES, TIMESTAMP_NAMES, CellFormatter, csv_record
from core.export.copy import copy_csv_supported, iter_copy_csv
from core.query.clauses import build_select
from core.query.filter import SessionFilter
from core.query.rows import SessionRow
from core.speed.capabilities import capabilities
from core.speed.export_cells import CELLS_TABLE, has_export_cells
from core.speed.tables import export_cells
from core.store.engine import statement_timeout_suspended
from core.store.tables import models as M
from core.store.tables import optimization_sessions as S


def iter_csv(rows: Iterable[SessionRow], *, chunk_rows: int = 2000) -> Iterator[str]:
    """CSV text (RFC 4180 quoting, header first) in chunks of ``chunk_rows`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    pending = 1
    for row in rows:
        writer.writerow(csv_record(row))
        pending += 1
        if pending >= chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending or buffer.tell():
        yield buffer.getvalue()


def iter_filtered_csv(
    connection: Connection, f: SessionFilter, *, chunk_rows: int = 2000, batch_size: int = 5000
) -> Iterator[str]:
    """Every match of ``f`` (not just one page) as CSV chunks, in the table's order.

    The same text as ``iter_csv(iter_sessions(connection, f))``, without a row object per session.
    Where init-db added the export cells (:mod:`core.speed.export_cells`), each row's line was made
    when the row was written, and the export only reads it: on SQLite joined by session id
    (:func:`_iter_cells_csv`), on PostgreSQL from stored generated columns through ``COPY``.
    Otherwise, on PostgreSQL (psycopg 3, server 14+) the lines are made by the server and
    streamed with ``COPY ... TO STDOUT`` (see :func:`core.export.copy.iter_copy_csv`); elsewhere
    the table's own query is streamed in batches (server-side cursor), only the CSV's columns,
    timestamps as stored, and each batch shaped column by column with C-level loops (``map``,
    dictionary lookups of values already formatted, ``writerows``) instead of per-row objects.
    Rows whose cells the SQL cannot prove exact are formatted in Python on every path.
    Memory stays flat whatever the number of rows.
    """
    if copy_csv_supported(connection, f):
        yield from iter_copy_csv(connection, f, chunk_rows=chunk_rows)
        return
    if connection.dialect.name == "sqlite" and has_export_cells(connection):
        yield from _iter_cells_csv(connection, f, chunk_rows=chunk_rows, batch_size=batch_size)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = CSV_HEADER
    for rows, plain in _fast_batches(connection, f, batch_size):
        for start in range(0, len(rows), chunk_rows):
            part = rows[start : start + chunk_rows]
            if plain:
                # No cell needs quoting (checked per batch): what csv.writer would write.
                text_ = "\r\n".join(map(",".join, part)) + "\r\n"
            else:
                writer.writerows(part)
                text_ = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            if header:
                text_, header = header + text_, ""
            yield text_
    if header:
        yield header


def _raw_columns(connection: Connection, base: Any) -> list[Any]:
    """The CSV's columns of ``base`` (the table's query), timestamps as stored (no per-value
    type conversion); not the data-issue flag, which alone costs SQLite a dozen JSON parses."""
    by_name = {c.name: c for c in base.selected_columns}
    raw_type = Text() if connection.dialect.name == "sqlite" else DateTime()
    return [
        *(by_name[n] for n in RAW_NAMES),
        *(type_coerce(S.c[n], raw_type).label(n) for n in TIMESTAMP_NAMES),
    ]


def _fast_batches(
    connection: Connection, f: SessionFilter, batch_size: int
) -> Iterator[tuple[list[tuple[str, ...]], bool]]:
    """Batches of CSV rows (see :meth:`CellFormatter.rows`) over the table's own FROM / WHERE / ORDER BY."""
    base = build_select(f, capabilities(connection))
    statement = base.with_only_columns(*_raw_columns(connection, base), maintain_column_froms=False)
    cells = CellFormatter()
    with statement_timeout_suspended(connection):
        # Per statement: Connection.execution_options() would change the connection itself,
        # and every later query on it would open a server-side cursor.
        result = connection.execute(
            statement, execution_options={"stream_results": True, "yield_per": batch_size}
        )
        for partition in result.partitions():
            yield cells.rows(partition)


# The line init-db keeps, else "[" and the session id (a kept line never starts with "["). No
# column of models: SQLite then leaves out the LEFT JOIN (a unique key, nothing read from it).
CELLS_LINE = literal_column(f"coalesce({CELLS_TABLE}.line, '[' || optimization_sessions.session_id)", Text())


_LOOKUP_IDS = 500


def _iter_cells_csv(
    connection: Connection, f: SessionFilter, *, chunk_rows: int, batch_size: int
) -> Iterator[str]:
    """:func:`iter_filtered_csv` on SQLite with ``export_cells``: one text column a row.

    The table's own FROM / WHERE / ORDER BY, joined to ``export_cells`` by session id; the rows
    whose cells the SQL could not prove arrive as ``[session_id`` and are read again (by primary
    key, on the same connection, so from the same snapshot) and formatted in Python.
    """
    base = build_select(f, capabilities(connection))
    statement = base.with_only_columns(CELLS_LINE, maintain_column_froms=False).outerjoin(
        export_cells, export_cells.c.session_id == S.c.session_id
    )
    raw = _raw_columns(connection, base)
    cells = CellFormatter()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = CSV_HEADER
    size = max(1, min(batch_size, chunk_rows))
    with statement_timeout_suspended(connection):
        result = connection.execute(statement)
        cursor = result.cursor  # the DBAPI cursor: plain tuples, no Row objects
        try:
            while rows := cursor.fetchmany(size):
                lines = [line for (line,) in rows]
                text_ = "\r\n".join(lines)
                if text_.startswith("[") or "\n[" in text_:
                    text_ = "\r\n".join(_fill_lines(connection, raw, lines, cells, writer, buffer))
                if header:
                    text_, header = header + text_, ""
                yield text_ + "\r\n"
        finally:
            result.close()
    if header:
        yield header


def _fill_lines(
    connection: Connection,
    raw: list[Any],
    lines: list[str],
    cells: CellFormatter,
    writer: Any,
    buffer: io.StringIO,
) -> list[str]:
    """``lines`` with each ``[session_id`` replaced by that session's line, formatted in Python."""
    wanted = [line[1:] for line in lines if line[:1] == "["]
    made: dict[str, str] = {}
    for start in range(0, len(wanted), _LOOKUP_IDS):
        ids = wanted[start : start + _LOOKUP_IDS]
        statement = (
            select(*raw)
            .select_from(S.outerjoin(M, M.c.model_id == S.c.model_id))
            .where(S.c.session_id.in_(ids))
        )
        found = connection.execute(statement).all()
        if not found:
            continue
        rows, _ = cells.rows(found)
        for (sid, *_rest), row in zip(found, rows, strict=True):
            writer.writerow(row)
            made[sid] = buffer.getvalue()[:-2]
            buffer.seek(0)
            buffer.truncate()
    return [made[line[1:]] if line[:1] == "[" else line for line in lines]
