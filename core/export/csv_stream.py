"""CSV export of every session that matches a filter, streamed, safe to open in a spreadsheet.

The rows come from :func:`core.query.sessions.iter_sessions`, the table's own query without its limit,
so a download always matches what the screen shows, in the same order.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import operator
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import DateTime, Text, cast, func, literal_column, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError

from core.export.pg_copy import iter_copy_out
from core.fields import EXPORT_HEADERS
from core.query.filter import SessionFilter
from core.query.sessions import M, S, SessionRow, build_select, row_from_mapping
from core.speed import tables as copy
from core.speed.derived import capabilities
from core.speed.export_cells import (
    CELLS_TABLE,
    MAX_TIE_DISTANCE,
    PG_MODEL_COLUMN,
    has_export_cells,
    pg_decimal,
    pg_timestamp_ok,
)
from core.store.engine import statement_timeout_suspended
from core.store.types import parse_techniques, parse_timestamp

CSV_COLUMNS: tuple[str, ...] = EXPORT_HEADERS
# The header line, as csv.writer writes it (no column name needs quoting).
CSV_HEADER = ",".join(CSV_COLUMNS) + "\r\n"
TECHNIQUE_SEPARATOR = "; "

# OWASP CSV injection: a cell a spreadsheet would evaluate starts (after optional spaces) with
# one of these, including their full-width forms.
_FORMULA_START = re.compile(r"^[ \u3000]*[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(cell: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula; leave real numbers alone."""
    if _FORMULA_START.match(cell) and not _NUMBER.match(cell.strip()):
        return "'" + cell
    return cell


def _format(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 4))
    return str(value)


def csv_record(row: SessionRow) -> list[str]:
    """One row in :data:`CSV_COLUMNS` order, every text cell neutralised."""
    values = {
        **{name: getattr(row, name) for name in CSV_COLUMNS if name not in ("techniques",)},
        "techniques": TECHNIQUE_SEPARATOR.join(row.techniques),
    }
    return [neutralise(_format(values[name])) for name in CSV_COLUMNS]


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

    The same text as ``iter_csv(iter_sessions(connection, f))``, produced several times faster.
    Where init-db added the export cells (:mod:`core.speed.export_cells`), each row's line was made
    when the row was written, and the export only reads it: on SQLite joined by session id
    (:func:`_iter_cells_csv`), on PostgreSQL from stored generated columns through ``COPY``.
    Otherwise, on PostgreSQL (psycopg 3, server 14+) the lines are made by the server and
    streamed with ``COPY ... TO STDOUT`` (see :func:`iter_copy_csv`); elsewhere the table's own
    query is streamed in batches (server-side cursor), only the CSV's columns, timestamps as
    stored, and each batch shaped column by column with C-level loops (``map``, dictionary
    lookups of values already formatted, ``writerows``) instead of per-row objects.
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


_TIMESTAMPS = ("created_at", "updated_at", "completed_at")
_FORMULA_FIRST = frozenset(" \u3000=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_CACHE_LIMIT = 100_000


class _Formatter:
    """Column-wise versions of what :func:`csv_record` does to each cell, exact to the byte."""

    def __init__(self) -> None:
        self.numbers: dict[Any, str] = {}  # value -> _format(float(value)); never 0 (-0.0)
        self.progress: dict[Any, str] = {}  # raw progress -> its cell
        self.techniques: dict[Any, str] = {}  # techniques JSON text -> its (neutralised) cell

    @staticmethod
    def text(column: tuple[Any, ...]) -> list[str] | tuple[Any, ...]:
        """Text cells, neutralised where a spreadsheet would run them."""
        if set(map(type, column)) <= {str} and not _FORMULA_FIRST.intersection(
            map(operator.itemgetter(slice(0, 1)), column)
        ):
            return column  # the usual case, checked with C-level loops
        return [neutralise(v if type(v) is str else _format(v)) for v in column]

    def _cached(self, column: Any, cache: dict[Any, str], slow: Any, *, keep_zero: bool) -> list[str]:
        cells = list(map(cache.get, column))
        if None in cells:
            for i, cell in enumerate(cells):
                if cell is None:
                    value = column[i]
                    cells[i] = text_ = slow(value)
                    if (keep_zero or value) and len(cache) < _CACHE_LIMIT:
                        cache[value] = text_
        return cells

    def numbers_of(self, column: Any) -> list[str]:
        return self._cached(column, self.numbers, _number_cell, keep_zero=False)

    def progress_of(self, column: Any) -> list[str]:
        # round(float(p or 0.0), 2) never gives -0.0, so 0 may be cached here.
        return self._cached(column, self.progress, _progress_cell, keep_zero=True)

    def techniques_of(self, column: Any) -> list[str]:
        return self._cached(column, self.techniques, _technique_cell, keep_zero=True)


def _number_cell(value: Any) -> str:
    if value is None:
        return ""
    text_ = repr(round(float(value), 4))
    return neutralise(text_) if text_ == "-inf" else text_  # the one number that starts like a formula


def _progress_cell(value: Any) -> str:
    return repr(round(round(float(value or 0.0), 2), 4))


def _technique_cell(value: Any) -> str:
    return neutralise(TECHNIQUE_SEPARATOR.join(parse_techniques(value)))


def _timestamp(value: Any) -> datetime | None:
    """A stored timestamp as naive UTC, as the store reads it (None when it does not parse)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_timestamp(value)
        if value is None:
            return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _timestamps(column: tuple[Any, ...]) -> tuple[list[datetime | None], list[str]]:
    """(naive UTC datetimes, ISO cells) of a column of stored timestamps.

    Fast (C-level ``map``) when every present value is a naive datetime (PostgreSQL) or text
    ``datetime.fromisoformat`` reads as naive (SQLite, as UTCTimestamp writes it); a column with
    anything else (an offset, 'Z', spaces, garbage) goes through the store's general parser.
    """
    present = [v for v in column if v is not None] if None in column else column
    try:
        kinds = set(map(type, present))
        if kinds <= {str}:
            parsed = list(map(datetime.fromisoformat, present))  # raises on anything odd
        elif kinds <= {datetime}:
            parsed = list(present)
        else:
            raise ValueError
        if set(map(operator.attrgetter("tzinfo"), parsed)) - {None}:
            raise ValueError  # an offset: the general path converts it to UTC
    except ValueError:
        parsed = [_timestamp(v) for v in present]
        texts = ["" if d is None else d.isoformat() + "+00:00" for d in parsed]
    else:
        texts = list(map(operator.add, map(datetime.isoformat, parsed), repeat("+00:00")))
    if present is column:
        return parsed, texts
    values: list[datetime | None] = []
    cells: list[str] = []
    found = iter(zip(parsed, texts, strict=True))
    for v in column:
        if v is None:
            values.append(None)
            cells.append("")
        else:
            d, t = next(found)
            values.append(d)
            cells.append(t)
    return values, cells


def _needs_quoting(column: Any) -> bool:
    """Would csv.writer (QUOTE_MINIMAL) quote any of these cells? One C-level scan a column."""
    joined = "\x00".join(column)
    return "," in joined or '"' in joined or "\n" in joined or "\r" in joined


_RAW_NAMES = (
    "session_id",
    "model_id",
    "model_name",
    "status",
    "progress_percentage",
    "techniques_json",
    "size_reduction_percent",
    "speed_improvement_percent",
    "accuracy_delta_percent",
)


def _raw_columns(connection: Connection, base: Any) -> list[Any]:
    """The CSV's columns of ``base`` (the table's query), timestamps as stored (no per-value
    type conversion); not the data-issue flag, which alone costs SQLite a dozen JSON parses."""
    by_name = {c.name: c for c in base.selected_columns}
    raw_type = Text() if connection.dialect.name == "sqlite" else DateTime()
    return [*(by_name[n] for n in _RAW_NAMES), *(type_coerce(S.c[n], raw_type).label(n) for n in _TIMESTAMPS)]


def _shape(partition: Any, cells: _Formatter) -> tuple[list[tuple[str, ...]], bool]:
    """CSV rows of raw rows (:func:`_raw_columns`), each exactly ``csv_record(row_from_mapping(
    row))``, and whether no cell needs quoting (only text cells can: numbers and dates are ours)."""
    (sid, mid, name, status, progress, tech, size, speed, accuracy, created_at, updated_at, completed_at) = (
        zip(*partition, strict=True)
    )
    created, created_cells = _timestamps(created_at)
    completed, completed_cells = _timestamps(completed_at)
    durations = [
        None if a is None or c is None else max(0.0, (c - a).total_seconds())
        for a, c in zip(created, completed, strict=True)
    ]
    texts = (
        cells.text(sid),
        cells.text(mid),
        cells.text(name),
        cells.text(status),
        cells.techniques_of(tech),
    )
    plain = not any(map(_needs_quoting, texts))
    return list(
        zip(
            *texts[:4],
            cells.progress_of(progress),
            texts[4],
            cells.numbers_of(size),
            cells.numbers_of(speed),
            cells.numbers_of(accuracy),
            # Finite and never negative: repr(round()) directly, no -inf, no cache.
            ["" if d is None else repr(round(d, 4)) for d in durations],
            created_cells,
            _timestamps(updated_at)[1],
            completed_cells,
            strict=True,
        )
    ), plain


def _fast_batches(
    connection: Connection, f: SessionFilter, batch_size: int
) -> Iterator[tuple[list[tuple[str, ...]], bool]]:
    """Batches of CSV rows (see :func:`_shape`) over the table's own FROM / WHERE / ORDER BY."""
    base = build_select(f, capabilities(connection))
    statement = base.with_only_columns(*_raw_columns(connection, base), maintain_column_froms=False)
    cells = _Formatter()
    with statement_timeout_suspended(connection):
        # Per statement: Connection.execution_options() would change the connection itself,
        # and every later query on it would open a server-side cursor.
        result = connection.execute(
            statement, execution_options={"stream_results": True, "yield_per": batch_size}
        )
        for partition in result.partitions():
            yield _shape(partition, cells)


# -- SQLite: lines from the cells init-db keeps (core.speed.export_cells) ------------------------------

# The line init-db keeps, else "[" and the session id (a kept line never starts with "["). No
# column of models: SQLite then leaves out the LEFT JOIN (a unique key, nothing read from it).
_CELLS_LINE = literal_column(f"coalesce({CELLS_TABLE}.line, '[' || optimization_sessions.session_id)", Text())
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
    statement = base.with_only_columns(_CELLS_LINE, maintain_column_froms=False).outerjoin(
        copy.export_cells, copy.export_cells.c.session_id == S.c.session_id
    )
    raw = _raw_columns(connection, base)
    cells = _Formatter()
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
    cells: _Formatter,
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
        rows, _ = _shape(found, cells)
        for (sid, *_rest), row in zip(found, rows, strict=True):
            writer.writerow(row)
            made[sid] = buffer.getvalue()[:-2]
            buffer.seek(0)
            buffer.truncate()
    return [made[line[1:]] if line[:1] == "[" else line for line in lines]


# -- PostgreSQL: lines made by the server, streamed with COPY --------------------------------------
#
# Each row's CSV line is built in SQL when every cell is in a form whose text is provably what
# csv_record + csv.writer give; otherwise the server sends the row's raw values as a JSON array
# (``[...]``, never the start of a line made here: a session id starting with "[" goes that way
# too) and the Python formatter above writes it. What the SQL accepts:
#
# * text cells (ids, model name, status): not starting with a character neutralise() prefixes,
#   no character csv.writer quotes for (, " CR LF) and none that COPY's text format escapes
#   (backslash, control characters), so the line arrives byte for byte;
# * numbers: repr(round(x, k)) (k = 4; progress: round(x, 2) first) written from the integer
#   n = round(|x| * 10**k), accepted only when 0 < |x| < 1e8 (progress: 0 <= x) and |x| * 10**k
#   is more than 0.001 away from a .5 tie. Then round(x, k) is the double nearest n / 10**k (the
#   float product is off by at most 1.2e-4 of a unit there, so the side of the tie is certain),
#   and repr() of that double is n / 10**k in fixed notation with trailing zeros dropped and at
#   least one decimal: any shorter decimal that rounds to the same double would lie within one
#   ulp (< 1.5e-8) of it, yet every decimal with at most k places is 10**-k away. Zero keeps its
#   sign in Python (-0.0) but not in a test in SQL, so a zero metric goes to Python;
# * durations: exact microseconds M (EXTRACT returns numeric); M <= 0 gives 0.0, else M below
#   5e14 and not ending in 50 (a decimal tie left to the binary value) gives n = (M + 50) / 100;
# * timestamps: years 1-9999, written as datetime.isoformat() + "+00:00";
# * techniques: a JSON array of strings without escapes, joined with "; " (no comma, not a
#   formula).
# One regex over the text cells joined with \x01 (each cell then starts right after one): a
# first character neutralise() prefixes, a character csv.writer quotes for (, " CR LF) or COPY's
# text format escapes (backslash, control characters), or a session id starting with "[". A \x01
# inside a value can only add false alarms (the row then goes to Python); COPY sends it as is.
_PG_UNSAFE_TEXT = r"""'^\x01\[|[\x02-\x1f,"\\]|\x01[ =+@\u3000\uff1d\uff0b\uff0d\uff20-]'"""


def _pg_line_sql(inner: str) -> str:
    """The COPY query: a CSV line (no terminator) or a JSON array of the raw values, a row."""
    names = ("sid", "mid", "name", "st", "pr", "tj", "sz", "sp", "ac", "ca", "ua", "coa")
    ts_ok = {t: pg_timestamp_ok(t) for t in ("ca", "ua", "coa")}
    helpers = {
        # Only below 1e8 (the accepted range): a bigint cannot hold every float.
        "n_pr": (
            "CASE WHEN abs(coalesce(pr, 0)) < 100000000"
            " THEN trunc(abs(coalesce(pr, 0)) * 100 + 0.5)::bigint END"
        ),
        "tie_pr": "abs(abs(coalesce(pr, 0)) * 100 - trunc(abs(coalesce(pr, 0)) * 100) - 0.5)",
        **{
            f"n_{x}": f"CASE WHEN abs({x}) < 100000000 THEN trunc(abs({x}) * 10000 + 0.5)::bigint END"
            for x in ("sz", "sp", "ac")
        },
        **{f"tie_{x}": f"abs(abs({x}) * 10000 - trunc(abs({x}) * 10000) - 0.5)" for x in ("sz", "sp", "ac")},
        "ts_ok": " AND ".join(ts_ok.values()),
        "mu": (
            f"CASE WHEN ca IS NOT NULL AND coa IS NOT NULL AND {ts_ok['ca']} AND {ts_ok['coa']}"
            " THEN (EXTRACT(EPOCH FROM (coa - ca)) * 1000000)::bigint END"
        ),
        # A jsonb array of strings without escapes: '["a", "b"]' -> 'a; b'. Anything else (an
        # escape, a number, null, an object) leaves a quote or fails the shape: Python's turn.
        "tech": (
            "CASE WHEN tj IS NULL OR tj = '[]' THEN '' WHEN left(tj, 2) = '[\"' AND right(tj, 2) = '\"]'"
            " AND length(tj) >= 4 AND strpos(tj, '\\') = 0"
            " THEN replace(substr(tj, 3, length(tj) - 4), '\", \"', '; ') END"
        ),
    }
    middle = (
        f"SELECT {', '.join(names)}, "
        + ", ".join(f"{v} AS {k}" for k, v in helpers.items())
        + f" FROM ({inner} OFFSET 0) AS r OFFSET 0"
    )

    def number_ok(x: str) -> str:
        return f"({x} IS NULL OR ({x} <> 0 AND abs({x}) < 100000000 AND tie_{x} > {MAX_TIE_DISTANCE}))"

    def number_cell(x: str) -> str:
        # On the grid (x is the double nearest n / 10**4, as most stored metrics are), float8's
        # own output is that decimal (shortest round-trip digits, extra_float_digits >= 1; fixed
        # notation from 1e-4 to 1e15) and only lacks Python's ".0" on whole numbers.
        sign = f"CASE WHEN {x} < 0 THEN '-' ELSE '' END"
        own = f"{x}::text"
        return (
            f"CASE WHEN {x} IS NULL THEN '' WHEN n_{x}::float8 / 10000 = abs({x}) THEN"
            f" CASE WHEN strpos({own}, '.') = 0 THEN {own} || '.0' ELSE {own} END"
            f" ELSE {pg_decimal(sign, f'n_{x}', 4)} END"
        )

    def timestamp_cell(t: str) -> str:
        # datetime.isoformat() leaves out a zero fraction.
        return (
            f"CASE WHEN {t} IS NULL THEN '' ELSE replace(to_char({t}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
            " || '+00:00', '.000000+00:00', '+00:00') END"
        )

    joined = " || chr(1) || ".join(("''", "sid", "mid", "name", "st", "tech"))
    ok = " AND ".join(
        [
            f"({joined}) !~ {_PG_UNSAFE_TEXT}",
            f"abs(coalesce(pr, 0)) < 100000000 AND tie_pr > {MAX_TIE_DISTANCE}",
            *(number_ok(x) for x in ("sz", "sp", "ac")),
            "ts_ok",
            "(mu IS NULL OR mu <= 0 OR (mu < 500000000000000 AND mu % 100 <> 50))",
        ]
    )
    duration = (
        "CASE WHEN mu IS NULL THEN '' WHEN mu <= 0 THEN '0.0' ELSE "
        + pg_decimal("''", "((mu + 50) / 100)", 4)
        + " END"
    )
    cells = [
        "sid",
        "mid",
        "name",
        "st",
        pg_decimal("CASE WHEN pr < 0 THEN '-' ELSE '' END", "n_pr", 2),
        "tech",
        *(number_cell(x) for x in ("sz", "sp", "ac")),
        duration,
        *(timestamp_cell(t) for t in ("ca", "ua", "coa")),
    ]
    line = " || ',' || ".join(f"({c})" for c in cells)
    raw = f"json_build_array({', '.join(names)})::text"
    return f"COPY (SELECT CASE WHEN {ok} THEN {line} ELSE {raw} END FROM ({middle}) AS h) TO STDOUT"


_COPY_SUPPORT_KEY = "core.export.csv_stream.copy_supported"


def copy_csv_supported(connection: Connection, f: SessionFilter) -> bool:
    """Whether :func:`iter_copy_csv` can export ``f`` here: PostgreSQL 14+ (exact ``EXTRACT``)
    through psycopg 3, with standard-conforming string literals (the filter is rendered into
    the COPY statement), extra_float_digits >= 1 (the default: floats reach Python exactly, so
    the reference and the server format the same doubles) and timestamp columns without a time
    zone. Otherwise the streamed path runs."""
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        return False
    version = connection.dialect.server_version_info or (0,)
    if version < (14,):
        return False
    info = connection.connection.info
    if _COPY_SUPPORT_KEY not in info:
        conforming = connection.exec_driver_sql("SHOW standard_conforming_strings").scalar_one()
        # The SQL writes timestamps as stored: they must be timestamps without a time zone, as
        # core.store.tables declares them (a timestamptz column would be shifted to the session's zone).
        types = set(
            connection.exec_driver_sql(
                "SELECT atttypid::regtype::text FROM pg_attribute WHERE attrelid = to_regclass("
                "'optimization_sessions') AND attname IN ('created_at', 'updated_at', 'completed_at')"
                " AND NOT attisdropped"
            ).scalars()
        )
        digits = int(connection.exec_driver_sql("SHOW extra_float_digits").scalar_one())
        info[_COPY_SUPPORT_KEY] = (
            conforming == "on" and types == {"timestamp without time zone"} and digits >= 1
        )
    if not info[_COPY_SUPPORT_KEY]:
        return False
    return _copy_statement(connection, f) is not None


def _copy_statement(connection: Connection, f: SessionFilter) -> str | None:
    """The COPY statement for ``f``: the table's own query (same FROM, WHERE and ORDER BY) with
    the filter's values rendered as SQL literals by SQLAlchemy (quotes doubled, backslashes kept
    as written under standard_conforming_strings), wrapped in the line-making query."""
    caps = capabilities(connection)
    base = build_select(f, caps)
    by_name = {c.name: c for c in base.selected_columns}
    names = (
        "session_id",
        "model_id",
        "model_name",
        "status",
        "progress_percentage",
        "techniques_json",
        "size_reduction_percent",
        "speed_improvement_percent",
        "accuracy_delta_percent",
    )
    aliases = ("sid", "mid", "name", "st", "pr", "tj", "sz", "sp", "ac", "ca", "ua", "coa")
    raw = [*(by_name[n] for n in names), *(S.c[n] for n in _TIMESTAMPS)]
    cells = has_export_cells(connection)
    if cells:
        # The stored cells (core.speed.export_cells): the line, or the raw values for Python.
        inner = base.with_only_columns(
            func.coalesce(_PG_CELLS_LINE, cast(func.json_build_array(*raw), Text)),
            maintain_column_froms=False,
        )
    else:
        inner = base.with_only_columns(
            *(c.label(a) for c, a in zip(raw, aliases, strict=True)), maintain_column_froms=False
        )
    try:
        sql = str(inner.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    except CompileError:
        return None
    if connection.dialect.paramstyle in ("format", "pyformat"):
        # The compiler wrote every "%" as "%%" for a driver that reads placeholders; COPY goes
        # to psycopg without parameters, so the text is sent as is.
        undoubled = sql.replace("%%", "%")
        if undoubled.replace("%", "%%") != sql:
            return None
        sql = undoubled
    return f"COPY ({sql}) TO STDOUT" if cells else _pg_line_sql(sql)


# A missing model's name cell is its id, already proven plain by export_pre.
_PG_CELLS_LINE = literal_column(
    f"optimization_sessions.export_pre || ',' || CASE WHEN models.model_id IS NULL"
    f" THEN optimization_sessions.model_id ELSE models.{PG_MODEL_COLUMN} END"
    " || ',' || optimization_sessions.export_post",
    Text(),
)


def iter_copy_csv(connection: Connection, f: SessionFilter, *, chunk_rows: int = 2000) -> Iterator[str]:
    """:func:`iter_filtered_csv` on PostgreSQL through ``COPY (SELECT ...) TO STDOUT``.

    The server writes each CSV line (see the notes above :func:`_pg_line_sql`); rows it leaves
    to Python arrive as a JSON array of their raw values and go through :func:`csv_record`.
    Rows are read one COPY block at a time and handed on every ``chunk_rows`` rows, so memory
    stays flat. The statement timeout is lifted for the export, as for the streamed query.
    """
    statement = _copy_statement(connection, f)
    if statement is None:
        raise ValueError("this filter cannot be exported with COPY")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = CSV_HEADER
    driver = connection.connection.driver_connection
    encoding = driver.info.encoding
    size = max(1, chunk_rows - 1)  # the first chunk holds the header too
    # A reader that stops early closes the rows first (cancelling the COPY), then the timeout
    # comes back on a connection that is free again.
    with (
        statement_timeout_suspended(connection),
        contextlib.closing(iter_copy_out(driver, statement)) as rows,
    ):
        # Each row is copied out of its COPY buffer at once: holding thousands of them until a
        # chunk is full costs more than the copy (allocator churn).
        block = bytearray()
        pending = 0
        for data in rows:
            block += data
            pending += 1
            if pending >= size:
                yield header + _copy_block(block, encoding, writer, buffer)
                header, size, pending = "", chunk_rows, 0
                block = bytearray()
    if block or header:
        yield header + _copy_block(block, encoding, writer, buffer)


def _copy_block(block: bytearray, encoding: str, writer: Any, buffer: io.StringIO) -> str:
    """COPY rows (each ending in "\n") as CSV text: lines as they are, rows of raw values
    (``[...]``) through csv_record. A line holds nothing COPY escapes.

    About one row in a hundred is raw values, so nearly every block holds some: the lines
    around them are converted whole (one replace, one decode), never row by row.
    """
    text = block.replace(b"\n", b"\r\n").decode(encoding)
    if not text.startswith("[") and "\n[" not in text:
        return text
    parts = []
    start = 0  # of the text not yet handed on
    at = 0 if text.startswith("[") else text.find("\n[") + 1  # where a raw row begins
    while at >= start:  # past the first row, "not found" gives 0
        end = text.index("\r\n", at)  # COPY escapes raw CR and LF inside a row
        parts.append(text[start:at])
        writer.writerow(csv_record(_row_from_json(text[at:end])))
        parts.append(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
        start = end + 2
        at = text.find("\n[", start - 1) + 1
    parts.append(text[start:])
    return "".join(parts)


def _row_from_json(text_: str) -> SessionRow:
    """The row the reference query gives, from the server's JSON array of raw values.

    COPY's text format doubles backslashes (the JSON has no raw control characters to escape).
    Floats are written by the same float8 output as a query's (NaN and infinities as strings);
    timestamps in ISO form, naive UTC like psycopg's.
    """
    values = json.loads(text_.rstrip("\n").replace("\\\\", "\\"))
    (sid, mid, name, status, progress, techniques, size, speed, accuracy, created, updated, completed) = (
        values
    )
    return row_from_mapping(
        {
            "session_id": sid,
            "model_id": mid,
            "model_name": name,
            "status": status,
            "progress_percentage": _json_float(progress),
            "techniques_json": techniques,
            "size_reduction_percent": _json_float(size),
            "speed_improvement_percent": _json_float(speed),
            "accuracy_delta_percent": _json_float(accuracy),
            "created_at": _json_timestamp(created),
            "updated_at": _json_timestamp(updated),
            "completed_at": _json_timestamp(completed),
            "model_known": True,
            "data_issue": 0,
        }
    )


def _json_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _json_timestamp(value: str | None) -> datetime | None:
    return None if value is None else parse_timestamp(datetime.fromisoformat(value))


def export_filename(f: SessionFilter, today: date, extension: str = "csv") -> str:
    """``sessions_2026-11-25_status-failed_model-mdl-0001.csv``: the date and the main filters."""
    parts = ["sessions", today.isoformat()]
    if f.statuses:
        parts.append("status-" + "+".join(f.statuses))
    if f.model_ids:
        parts.append(
            "model-" + ("+".join(f.model_ids) if len(f.model_ids) <= 2 else f"{len(f.model_ids)}-models")
        )
    if f.techniques:
        parts.append("technique-" + "+".join(f.techniques))
    if f.start_date or f.end_date:
        start = f.start_date.isoformat()[:10] if f.start_date else "start"
        end = f.end_date.isoformat()[:10] if f.end_date else "now"
        parts.append(f"{start}_to_{end}")
    if f.search:
        parts.append("q-" + f.search)
    name = "_".join(parts)
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", name)[:150].strip("-")
    return f"{name}.{extension}"
