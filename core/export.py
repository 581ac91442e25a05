"""CSV export of every session that matches a filter, streamed, safe to open in a spreadsheet.

The rows come from :func:`core.query.iter_sessions`, the table's own query without its limit,
so a download always matches what the screen shows, in the same order.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import DateTime, Text, type_coerce
from sqlalchemy.engine import Connection

from core.filters import SessionFilter
from core.query import S, SessionRow, _techniques, build_select
from core.schema import capabilities
from core.store import parse_timestamp, statement_timeout_suspended

CSV_COLUMNS: tuple[str, ...] = (
    "session_id",
    "model_id",
    "model_name",
    "status",
    "progress_percentage",
    "techniques",
    "size_reduction_percent",
    "speed_improvement_percent",
    "accuracy_delta_percent",
    "duration_seconds",
    "created_at",
    "updated_at",
    "completed_at",
)
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


def iter_filtered_csv(connection: Connection, f: SessionFilter, *, chunk_rows: int = 2000,
                      batch_size: int = 5000) -> Iterator[str]:
    """Every match of ``f`` (not just one page) as CSV chunks, in the table's order.

    The same text as ``iter_csv(iter_sessions(connection, f))``, produced several times faster:
    the table's own query streamed in batches (server-side cursor), only the CSV's columns,
    timestamps as stored, and each batch shaped column by column with C-level loops (``map``,
    dictionary lookups of values already formatted, ``writerows``) instead of per-row objects.
    Memory stays flat whatever the number of rows.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    header = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for rows, plain in _fast_batches(connection, f, batch_size):
        for start in range(0, len(rows), chunk_rows):
            part = rows[start:start + chunk_rows]
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
        self.numbers: dict[Any, str] = {}     # value -> _format(float(value)); never 0 (-0.0)
        self.progress: dict[Any, str] = {}    # raw progress -> its cell
        self.techniques: dict[Any, str] = {}  # techniques JSON text -> its (neutralised) cell

    @staticmethod
    def text(column: tuple[Any, ...]) -> list[str] | tuple[Any, ...]:
        """Text cells, neutralised where a spreadsheet would run them."""
        if set(map(type, column)) <= {str} and not _FORMULA_FIRST.intersection(
                map(operator.itemgetter(slice(0, 1)), column)):
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
    return neutralise(TECHNIQUE_SEPARATOR.join(_techniques(value)))


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


def _fast_batches(connection: Connection, f: SessionFilter, batch_size: int
                  ) -> Iterator[tuple[list[tuple[str, ...]], bool]]:
    """Batches of CSV rows, each row exactly ``csv_record(row_from_mapping(row))``, and whether
    no cell of the batch needs quoting (only text cells can: numbers and dates are ours)."""
    caps = capabilities(connection)
    base = build_select(f, caps)
    by_name = {c.name: c for c in base.selected_columns}
    # Same FROM / WHERE / ORDER BY; only the CSV's columns (the data-issue flag alone costs
    # SQLite a dozen JSON parses a row), timestamps as stored (no per-value type conversion).
    raw_type = Text() if connection.dialect.name == "sqlite" else DateTime()
    names = ("session_id", "model_id", "model_name", "status", "progress_percentage",
             "techniques_json", "size_reduction_percent", "speed_improvement_percent",
             "accuracy_delta_percent")
    statement = base.with_only_columns(
        *(by_name[n] for n in names),
        *(type_coerce(S.c[n], raw_type).label(n) for n in _TIMESTAMPS),
        maintain_column_froms=False,
    )
    cells = _Formatter()
    with statement_timeout_suspended(connection):
        # Per statement: Connection.execution_options() would change the connection itself,
        # and every later query on it would open a server-side cursor.
        result = connection.execute(
            statement, execution_options={"stream_results": True, "yield_per": batch_size}
        )
        for partition in result.partitions():
            (sid, mid, name, status, progress, tech, size, speed, accuracy, created_at, updated_at,
             completed_at) = zip(*partition, strict=True)
            created, created_cells = _timestamps(created_at)
            completed, completed_cells = _timestamps(completed_at)
            durations = [None if a is None or c is None else max(0.0, (c - a).total_seconds())
                         for a, c in zip(created, completed, strict=True)]
            texts = (cells.text(sid), cells.text(mid), cells.text(name), cells.text(status),
                     cells.techniques_of(tech))
            plain = not any(map(_needs_quoting, texts))
            yield list(zip(
                *texts[:4], cells.progress_of(progress), texts[4], cells.numbers_of(size),
                cells.numbers_of(speed), cells.numbers_of(accuracy),
                # Finite and never negative: repr(round()) directly, no -inf, no cache.
                ["" if d is None else repr(round(d, 4)) for d in durations],
                created_cells, _timestamps(updated_at)[1], completed_cells, strict=True,
            )), plain


def export_filename(f: SessionFilter, today: date, extension: str = "csv") -> str:
    """``sessions_2026-11-25_status-failed_model-mdl-0001.csv``: the date and the main filters."""
    parts = ["sessions", today.isoformat()]
    if f.statuses:
        parts.append("status-" + "+".join(f.statuses))
    if f.model_ids:
        parts.append("model-" + ("+".join(f.model_ids) if len(f.model_ids) <= 2
                                 else f"{len(f.model_ids)}-models"))
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
