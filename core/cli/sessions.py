"""``sessions``: list sessions like ``GET /optimization/sessions``, as a table, JSON or CSV.

Reads the speed layer's copy (synced once) when there is one, else the platform's tables:
the same rows and order either way, as on the dashboard.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.cli.common import CliError, add_db_argument
from core.config import load_settings
from core.export.stream import iter_csv
from core.fields import SORT_KEYS
from core.query.filter import FilterError, SessionFilter
from core.query.pages import iter_sessions, list_sessions
from core.speed import MirrorConfigError, SpeedLayer
from core.store.tables import STATUSES

TABLE_COLUMNS = (
    "session_id",
    "model_name",
    "status",
    "progress_percentage",
    "techniques",
    "size_reduction_percent",
    "speed_improvement_percent",
    "created_at",
)


def _reader(args: argparse.Namespace) -> Engine:
    """The speed layer's copy, synced once, when there is one; else the platform's tables."""
    settings = load_settings(args.db)
    try:
        layer = SpeedLayer(settings)
        layer.ensure_fresh()
        return layer.reader()
    except MirrorConfigError as error:
        raise CliError(str(error)) from None
    except (SQLAlchemyError, ValueError) as error:
        raise CliError(f"cannot open database {settings.masked_db_url}: {error}") from None


def filter_from_args(args: argparse.Namespace) -> SessionFilter:
    """The CLI's flags as a :class:`SessionFilter` (the same validation as the dashboard)."""
    return SessionFilter(
        statuses=tuple(args.status or ()),
        model_ids=tuple(args.model_id or ()),
        start_date=args.start_date,
        end_date=args.end_date,
        search=args.search or "",
        techniques=tuple(args.technique or ()),
        sort=args.sort,
        order=args.order,
        skip=args.skip,
        limit=args.limit,
    )


def print_table(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """Left-aligned columns, each as wide as its longest cell."""
    cells = [[_cell(row[c]) for c in TABLE_COLUMNS] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(TABLE_COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(TABLE_COLUMNS, widths, strict=True)), file=out)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(value) or "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def cmd_sessions(args: argparse.Namespace) -> int:
    try:
        session_filter = filter_from_args(args)
    except FilterError as error:
        raise CliError(str(error)) from None
    engine = _reader(args)
    out = sys.stdout
    try:
        with engine.connect() as connection:
            if args.format == "csv":
                for chunk in iter_csv(iter_sessions(connection, session_filter)):
                    out.write(chunk)
                return 0
            response = list_sessions(connection, session_filter)
    except SQLAlchemyError as error:
        raise CliError(
            f"query failed on {load_settings(args.db).masked_db_url}: "
            f"{error.__class__.__name__}: {str(error).splitlines()[0]}"
        ) from None
    if args.format == "json":
        json.dump(response, out, indent=2)
        out.write("\n")
    else:
        print_table(response["sessions"], out)
        shown = len(response["sessions"])
        first = response["skip"] + 1 if shown else 0
        print(f"\n{first}-{response['skip'] + shown} of {response['total']} sessions", file=out)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sessions``."""
    sessions = subparsers.add_parser(
        "sessions",
        help="list sessions like GET /optimization/sessions",
        description="json prints the endpoint's response for one page; csv prints every match.",
    )
    add_db_argument(sessions)
    sessions.add_argument("--status", action="append", metavar="S", help=f"one of {', '.join(STATUSES)}")
    sessions.add_argument("--model-id", action="append", metavar="M")
    sessions.add_argument("--start-date", metavar="D", help="YYYY-MM-DD or ISO 8601 date-time, UTC")
    sessions.add_argument("--end-date", metavar="D", help="inclusive; a date alone is the whole day")
    sessions.add_argument("--search", metavar="TEXT", help="substring of session id, model id or name")
    sessions.add_argument("--technique", action="append", metavar="T")
    sessions.add_argument(
        "--sort", default="created_at", metavar="KEY", help=f"one of {', '.join(SORT_KEYS)}"
    )
    sessions.add_argument("--order", default="desc", metavar="asc|desc")
    sessions.add_argument("--skip", type=int, default=0)
    sessions.add_argument("--limit", type=int, default=50)
    sessions.add_argument("--format", choices=("json", "csv", "table"), default="table")
    sessions.set_defaults(handler=cmd_sessions)
