"""The CSV cell format as Python writes it: one row at a time, or a batch column by column.

The rules (which cells get the formula prefix, the technique separator, the timestamp suffix,
the header) are constants of :mod:`core.csv_format`, shared with the SQL that writes the
same lines on the server. Each cell is chosen by its field's kind (:attr:`core.fields.Field.kind`),
never by field name. :func:`csv_record` is the reference; :class:`CellFormatter` produces the very
same text for a batch of raw database values, with C-level loops and caches of cells already made.
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

from core.csv_format import (
    CSV_COLUMNS,
    CSV_HEADER,
    FORMULA_FIRST,
    FORMULA_PREFIX,
    FORMULA_START,
    NUMBER,
    QUOTED,
    TECHNIQUE_SEPARATOR,
    TIMESTAMP_ZONE,
)
from core.fields import FIELDS, FieldKind
from core.store.types import parse_techniques, parse_timestamp

if TYPE_CHECKING:
    from core.query.rows import SessionRow

__all__ = ["CSV_COLUMNS", "CSV_HEADER", "CellFormatter", "csv_record", "neutralise"]

# The raw values of a batch, in order (see :meth:`CellFormatter.rows`): the table's columns as
# the database gives them, timestamps as stored.
RAW_NAMES = (
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
TIMESTAMP_NAMES = ("created_at", "updated_at", "completed_at")
_CACHE_LIMIT = 100_000
_FORMULA_FIRST = frozenset(FORMULA_FIRST)


def neutralise(cell: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula; leave real numbers alone."""
    if FORMULA_START.match(cell) and not NUMBER.match(cell.strip()):
        return FORMULA_PREFIX + cell
    return cell


def text_cell(value: object) -> str:
    """An id, a name or a status (``None`` as empty)."""
    if type(value) is str:
        return neutralise(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return number_cell(value)
    return neutralise(str(value))


def number_cell(value: Any) -> str:
    """A metric, progress or duration: ``repr(round(x, 4))``, ``None`` as empty."""
    if value is None:
        return ""
    text = repr(round(float(value), 4))
    return neutralise(text) if text == "-inf" else text  # the one number that starts like a formula


def progress_cell(value: Any) -> str:
    """A raw stored progress, rounded as :func:`core.query.rows.row_from_mapping` rounds it."""
    return repr(round(round(float(value or 0.0), 2), 4))


def techniques_cell(names: Sequence[str]) -> str:
    return neutralise(TECHNIQUE_SEPARATOR.join(names))


def timestamp_cell(value: datetime | None) -> str:
    """An aware timestamp as ``datetime.isoformat()`` writes it (UTC: the zone suffix)."""
    return "" if value is None else value.isoformat()


_CELL_OF_KIND: dict[FieldKind, Callable[[Any], str]] = {
    "id": text_cell,
    "text": text_cell,
    "status": text_cell,
    "progress": number_cell,
    "percent": number_cell,
    "points": number_cell,
    "duration": number_cell,
    "techniques": techniques_cell,
    "timestamp": timestamp_cell,
}
_ROW_CELLS = tuple((f.attribute, _CELL_OF_KIND[f.kind]) for f in FIELDS)


def csv_record(row: SessionRow) -> list[str]:
    """One row in :data:`CSV_COLUMNS` order, every text cell neutralised."""
    return [cell(getattr(row, attribute)) for attribute, cell in _ROW_CELLS]


def needs_quoting(column: Sequence[str]) -> bool:
    """Would csv.writer (QUOTE_MINIMAL) quote any of these cells? One C-level scan a column."""
    joined = "\x00".join(column)
    return any(char in joined for char in QUOTED)


def _utc(value: Any) -> datetime | None:
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


def timestamps_of(column: tuple[Any, ...]) -> tuple[list[datetime | None], list[str]]:
    """(naive UTC datetimes, cells) of a column of stored timestamps: each cell is
    :func:`timestamp_cell` of the aware value.

    Fast (C-level ``map``) when every present value is a naive datetime (PostgreSQL) or text
    ``datetime.fromisoformat`` reads as naive (SQLite, as UTCTimestamp writes it); a column with
    anything else (an offset, 'Z', spaces, garbage) goes through the store's general parser.
    """
    present = [v for v in column if v is not None] if None in column else column
    parsed: list[datetime | None]
    try:
        kinds = set(map(type, present))
        if kinds <= {str}:
            naive: list[datetime] = list(map(datetime.fromisoformat, present))  # raises if odd
        elif kinds <= {datetime}:
            naive = list(present)
        else:
            raise ValueError
        if set(map(operator.attrgetter("tzinfo"), naive)) - {None}:
            raise ValueError  # an offset: the general path converts it to UTC
    except ValueError:
        parsed = [_utc(v) for v in present]
        texts = ["" if d is None else d.isoformat() + TIMESTAMP_ZONE for d in parsed]
    else:
        parsed = typing.cast(list[datetime | None], naive)  # none is None
        texts = list(map(operator.add, map(datetime.isoformat, naive), repeat(TIMESTAMP_ZONE)))
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


class CellFormatter:
    """Column-wise versions of what :func:`csv_record` does to each cell, exact to the byte.

    One per export: the caches hold cells already made (metrics and techniques repeat a lot).
    """

    def __init__(self) -> None:
        self.numbers: dict[Any, str] = {}  # value -> number_cell(value); never 0 (-0.0)
        self.progress: dict[Any, str] = {}  # raw progress -> its cell
        self.techniques: dict[Any, str] = {}  # techniques JSON text -> its (neutralised) cell

    @staticmethod
    def text(column: tuple[Any, ...]) -> list[str] | tuple[Any, ...]:
        """Text cells, neutralised where a spreadsheet would run them."""
        if set(map(type, column)) <= {str} and not _FORMULA_FIRST.intersection(
            map(operator.itemgetter(slice(0, 1)), column)
        ):
            return column  # the usual case, checked with C-level loops
        return [text_cell(v) for v in column]

    @staticmethod
    def _cached(column: Any, cache: dict[Any, str], slow: Any, *, keep_zero: bool) -> list[str]:
        cells: list[str | None] = list(map(cache.get, column))
        if None in cells:
            for i, cell in enumerate(cells):
                if cell is None:
                    value = column[i]
                    cells[i] = text = slow(value)
                    if (keep_zero or value) and len(cache) < _CACHE_LIMIT:
                        cache[value] = text
        return typing.cast(list[str], cells)  # every None was just filled

    def numbers_of(self, column: Any) -> list[str]:
        return self._cached(column, self.numbers, number_cell, keep_zero=False)

    def progress_of(self, column: Any) -> list[str]:
        # round(float(p or 0.0), 2) never gives -0.0, so 0 may be cached here.
        return self._cached(column, self.progress, progress_cell, keep_zero=True)

    def techniques_of(self, column: Any) -> list[str]:
        return self._cached(column, self.techniques, _raw_techniques_cell, keep_zero=True)

    def rows(self, partition: Sequence[Sequence[Any]]) -> tuple[list[tuple[str, ...]], bool]:
        """CSV rows of raw rows (:data:`RAW_NAMES`, then :data:`TIMESTAMP_NAMES`), each exactly
        ``csv_record(row_from_mapping(row))``, and whether no cell needs quoting (only text
        cells can: numbers and dates are ours)."""
        (
            sid,
            mid,
            name,
            status,
            progress,
            tech,
            size,
            speed,
            accuracy,
            created_at,
            updated_at,
            completed_at,
        ) = zip(*partition, strict=True)
        created, created_cells = timestamps_of(created_at)
        completed, completed_cells = timestamps_of(completed_at)
        durations = [
            None if a is None or c is None else max(0.0, (c - a).total_seconds())
            for a, c in zip(created, completed, strict=True)
        ]
        texts = (self.text(sid), self.text(mid), self.text(name), self.text(status), self.techniques_of(tech))
        plain = not any(map(needs_quoting, texts))
        return list(
            zip(
                *texts[:4],
                self.progress_of(progress),
                texts[4],
                self.numbers_of(size),
                self.numbers_of(speed),
                self.numbers_of(accuracy),
                [number_cell(d) for d in durations],  # finite and never negative: no cache
                created_cells,
                timestamps_of(updated_at)[1],
                completed_cells,
                strict=True,
            )
        ), plain


def _raw_techniques_cell(value: Any) -> str:
    return techniques_cell(parse_techniques(value))
