"""CSV export of every session that matches a filter, streamed, safe to open in a spreadsheet.

The rows come from :func:`core.query.iter_sessions`, the table's own query without its limit,
so a download always matches what the screen shows, in the same order.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from sqlalchemy.engine import Connection

from core.filters import SessionFilter
from core.query import SessionRow, iter_sessions

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


def iter_filtered_csv(connection: Connection, f: SessionFilter) -> Iterator[str]:
    """Every match of ``f`` (not just one page) as CSV chunks, in the table's order."""
    return iter_csv(iter_sessions(connection, f))


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
