"""CSV export on PostgreSQL through ``COPY (SELECT ...) TO STDOUT``: the server writes the lines.

Used by :func:`core.export.stream.iter_filtered_csv` where :func:`copy_csv_supported` says so;
the rows are read from libpq by :func:`core.export.pg_copy.iter_copy_out`.

Each row's CSV line is built in SQL when every cell is in a form whose text is provably what
csv_record + csv.writer give; otherwise the server sends the row's raw values as a JSON array
(``[...]``, never the start of a line made here: a session id starting with "[" goes that way
too) and the Python formatter (:mod:`core.export.cells`) writes it. What the SQL accepts:

* text cells (ids, model name, status): not starting with a character neutralise() prefixes,
  no character csv.writer quotes for (, " CR LF) and none that COPY's text format escapes
  (backslash, control characters), so the line arrives byte for byte;
* numbers: repr(round(x, k)) (k = 4; progress: round(x, 2) first) written from the integer
  n = round(|x| * 10**k), accepted only when 0 < |x| < 1e8 (progress: 0 <= x) and |x| * 10**k
  is more than 0.001 away from a .5 tie. Then round(x, k) is the double nearest n / 10**k (the
  float product is off by at most 1.2e-4 of a unit there, so the side of the tie is certain),
  and repr() of that double is n / 10**k in fixed notation with trailing zeros dropped and at
  least one decimal: any shorter decimal that rounds to the same double would lie within one
  ulp (< 1.5e-8) of it, yet every decimal with at most k places is 10**-k away. Zero keeps its
  sign in Python (-0.0) but not in a test in SQL, so a zero metric goes to Python;
* durations: exact microseconds M (EXTRACT returns numeric); M <= 0 gives 0.0, else M below
  5e14 and not ending in 50 (a decimal tie left to the binary value) gives n = (M + 50) / 100;
* timestamps: years 1-9999, written as datetime.isoformat() + TIMESTAMP_ZONE;
* techniques: a JSON array of strings without escapes, joined with TECHNIQUE_SEPARATOR (no comma,
  not a formula).
One regex over the text cells joined with chr(1) (each cell then starts right after one): a
first character neutralise() prefixes, a character csv.writer quotes for (, " CR LF) or COPY's
text format escapes (backslash, control characters), or a session id starting with "[". A chr(1)
inside a value can only add false alarms (the row then goes to Python); COPY sends it as is.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Text, cast, func, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError

from core.csv_format import (
    FORMULA_FIRST,
    QUOTED,
    TECHNIQUE_SEPARATOR,
    TIMESTAMP_SEPARATOR,
    TIMESTAMP_ZONE,
    pg_class_chars,
    sql_text,
)
from core.export.cells import CSV_HEADER, RAW_NAMES, TIMESTAMP_NAMES, csv_record
from core.export.pg_copy import iter_copy_out
from core.query.clauses import build_select
from core.query.filter import SessionFilter
from core.query.rows import SessionRow, row_from_mapping
from core.speed.capabilities import capabilities
from core.speed.export_cells import PG_MODEL_COLUMN, has_export_cells
from core.speed.export_cells_sql import MAX_TIE_DISTANCE, pg_decimal, pg_timestamp_ok
from core.store.engine import statement_timeout_suspended
from core.store.tables import optimization_sessions as S
from core.store.types import parse_timestamp

# The text cells joined with \x01 (see the module's notes): a session id starting with "[", a
# character csv.writer quotes for or COPY's text format escapes, or a first character that may
# need the formula prefix.
_ESCAPED = pg_class_chars(QUOTED + "\\")
_PG_UNSAFE_TEXT = f"'^\\x01\\[|[\\x02-\\x1f{_ESCAPED}]|\\x01[{pg_class_chars(FORMULA_FIRST)}]'"
_COLUMNS = ("sid", "mid", "name", "st", "pr", "tj", "sz", "sp", "ac", "ca", "ua", "coa")
_METRICS = ("sz", "sp", "ac")
_TIMES = ("ca", "ua", "coa")


def _pg_helpers() -> dict[str, str]:
    """The values computed once a row, before the line: rounded integers, tie distances,
    the timestamps' check, the duration in microseconds, the techniques cell."""
    ts_ok = {t: pg_timestamp_ok(t) for t in _TIMES}
    return {
        # Only below 1e8 (the accepted range): a bigint cannot hold every float.
        "n_pr": (
            "CASE WHEN abs(coalesce(pr, 0)) < 100000000"
            " THEN trunc(abs(coalesce(pr, 0)) * 100 + 0.5)::bigint END"
        ),
        "tie_pr": "abs(abs(coalesce(pr, 0)) * 100 - trunc(abs(coalesce(pr, 0)) * 100) - 0.5)",
        **{
            f"n_{x}": f"CASE WHEN abs({x}) < 100000000 THEN trunc(abs({x}) * 10000 + 0.5)::bigint END"
            for x in _METRICS
        },
        **{f"tie_{x}": f"abs(abs({x}) * 10000 - trunc(abs({x}) * 10000) - 0.5)" for x in _METRICS},
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
            f" THEN replace(substr(tj, 3, length(tj) - 4), '\", \"', {sql_text(TECHNIQUE_SEPARATOR)}) END"
        ),
    }


def _pg_number_cell(x: str) -> str:
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


def _pg_timestamp_cell(t: str) -> str:
    # datetime.isoformat() leaves out a zero fraction.
    zone = sql_text(TIMESTAMP_ZONE)
    return (
        f"CASE WHEN {t} IS NULL THEN '' ELSE replace(to_char({t},"
        f" 'YYYY-MM-DD\"{TIMESTAMP_SEPARATOR}\"HH24:MI:SS.US') || {zone},"
        f" {sql_text('.000000' + TIMESTAMP_ZONE)}, {zone}) END"
    )


def _pg_line_ok() -> str:
    """SQL: every cell of the row is in a form the line's SQL writes exactly."""
    joined = " || chr(1) || ".join(("''", "sid", "mid", "name", "st", "tech"))
    return " AND ".join(
        [
            f"({joined}) !~ {_PG_UNSAFE_TEXT}",
            f"abs(coalesce(pr, 0)) < 100000000 AND tie_pr > {MAX_TIE_DISTANCE}",
            *(
                f"({x} IS NULL OR ({x} <> 0 AND abs({x}) < 100000000 AND tie_{x} > {MAX_TIE_DISTANCE}))"
                for x in _METRICS
            ),
            "ts_ok",
            "(mu IS NULL OR mu <= 0 OR (mu < 500000000000000 AND mu % 100 <> 50))",
        ]
    )


def _pg_line_sql(inner: str) -> str:
    """The COPY query: a CSV line (no terminator) or a JSON array of the raw values, a row."""
    middle = (
        f"SELECT {', '.join(_COLUMNS)}, "
        + ", ".join(f"{v} AS {k}" for k, v in _pg_helpers().items())
        + f" FROM ({inner} OFFSET 0) AS r OFFSET 0"
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
        *(_pg_number_cell(x) for x in _METRICS),
        duration,
        *(_pg_timestamp_cell(t) for t in _TIMES),
    ]
    line = " || ',' || ".join(f"({c})" for c in cells)
    raw = f"json_build_array({', '.join(_COLUMNS)})::text"
    return (
        f"COPY (SELECT CASE WHEN {_pg_line_ok()} THEN {line} ELSE {raw} END FROM ({middle}) AS h) TO STDOUT"
    )


_COPY_SUPPORT_KEY = "core.export.copy.copy_supported"


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
    return copy_statement(connection, f) is not None


def copy_statement(connection: Connection, f: SessionFilter) -> str | None:
    """The COPY statement for ``f``: the table's own query (same FROM, WHERE and ORDER BY) with
    the filter's values rendered as SQL literals by SQLAlchemy (quotes doubled, backslashes kept
    as written under standard_conforming_strings), wrapped in the line-making query."""
    caps = capabilities(connection)
    base = build_select(f, caps)
    by_name = {c.name: c for c in base.selected_columns}
    raw = [*(by_name[n] for n in RAW_NAMES), *(S.c[n] for n in TIMESTAMP_NAMES)]
    cells = has_export_cells(connection)
    if cells:
        # The stored cells (core.speed.export_cells): the line, or the raw values for Python.
        inner = base.with_only_columns(
            func.coalesce(_PG_CELLS_LINE, cast(func.json_build_array(*raw), Text)),
            maintain_column_froms=False,
        )
    else:
        inner = base.with_only_columns(
            *(c.label(a) for c, a in zip(raw, _COLUMNS, strict=True)), maintain_column_froms=False
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
    """:func:`core.export.stream.iter_filtered_csv` on PostgreSQL through ``COPY (SELECT ...) TO STDOUT``.

    The server writes each CSV line (see the module's notes); rows it leaves
    to Python arrive as a JSON array of their raw values and go through :func:`csv_record`.
    Rows are read one COPY block at a time and handed on every ``chunk_rows`` rows, so memory
    stays flat. The statement timeout is lifted for the export, as for the streamed query.
    """
    statement = copy_statement(connection, f)
    if statement is None:
        raise ValueError("this filter cannot be exported with COPY")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = CSV_HEADER
    driver = typing.cast(psycopg.Connection[Any], connection.connection.driver_connection)
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
                yield header + copy_block(block, encoding, writer, buffer)
                header, size, pending = "", chunk_rows, 0
                block = bytearray()
    if block or header:
        yield header + copy_block(block, encoding, writer, buffer)


def copy_block(block: bytearray, encoding: str, writer: Any, buffer: io.StringIO) -> str:
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
        writer.writerow(csv_record(row_from_json(text[at:end])))
        parts.append(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
        start = end + 2
        at = text.find("\n[", start - 1) + 1
    parts.append(text[start:])
    return "".join(parts)


def row_from_json(text_: str) -> SessionRow:
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
