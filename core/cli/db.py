"""Data commands: ``init-db``, ``demo``, ``load`` and ``sessions``.

Every command takes ``--db URL``; without it the URL comes from ``SESSIONS_DB_URL``, then
``.streamlit/secrets.toml`` ``[connections.sessions] url``, then ``sqlite:///data/sessions.db``
in the project folder (see :mod:`core.config`). Only ``init-db``, ``demo`` and ``load`` write.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from core.cli.main import CliError
from core.config import load_settings
from core.export.csv_stream import iter_csv
from core.fields import SORT_KEYS
from core.query.filter import FilterError, SessionFilter
from core.query.sessions import iter_sessions, list_sessions
from core.store.demo import ensure_demo_database, write_demo
from core.store.engine import make_engine
from core.store.loader import load_lines
from core.store.tables import STATUSES, metadata


def _engine(args: argparse.Namespace, *, read_only: bool) -> Any:
    settings = load_settings(args.db)
    try:
        return make_engine(settings, read_only=read_only)
    except (SQLAlchemyError, ValueError) as error:
        raise CliError(f"cannot open database {settings.masked_db_url}: {error}") from None


def _reader(args: argparse.Namespace) -> Any:
    """The speed layer's copy, synced once, when there is one; else the platform's tables."""
    from core.speed import MirrorConfigError, SpeedLayer

    settings = load_settings(args.db)
    try:
        layer = SpeedLayer(settings)
        layer.ensure_fresh()
        return layer.reader()
    except MirrorConfigError as error:
        raise CliError(str(error)) from None
    except (SQLAlchemyError, ValueError) as error:
        raise CliError(f"cannot open database {settings.masked_db_url}: {error}") from None


def _describe(args: argparse.Namespace) -> str:
    return load_settings(args.db).masked_db_url


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: SESSIONS_DB_URL, secrets.toml, then sqlite:///data/sessions.db)",
    )


def cmd_init_db(args: argparse.Namespace) -> int:
    """Install, upgrade (``--dry-run`` first says how) or ``--remove`` the speed layer."""
    from core.speed import MirrorConfigError
    from core.speed.install import install, plan_install, remove

    settings = load_settings(args.db)
    try:
        if args.remove:
            if args.dry_run:
                print(
                    f"would remove from {settings.masked_db_url}: the index ix_dashboard_changed "
                    "and the table dashboard_speed_version, then delete the dashboard's copy"
                )
                return 0
            remove(settings)
            return 0
        plan = plan_install(settings)
        print(f"init-db on {settings.masked_db_url}")
        print("\n".join(plan.lines()))
        if args.dry_run:
            print("(dry run: nothing was changed)")
            return 0
        install(settings, progress=_progress_line)
    except MirrorConfigError as error:
        raise CliError(str(error)) from None
    except SQLAlchemyError as error:
        raise CliError(
            f"init-db failed on {settings.masked_db_url}: "
            f"{error.__class__.__name__}: {str(error).splitlines()[0]}"
        ) from None
    except OSError as error:  # the copy's folder cannot be written
        raise CliError(
            f"cannot write the dashboard's copy ({error.strerror}: {error.filename}); "
            "set SESSIONS_MIRROR to a file path the dashboard may write"
        ) from None
    print(f"initialised {settings.masked_db_url}")
    return 0


def _progress_line(message: str) -> None:
    print(f"  {datetime.now().strftime('%H:%M:%S')} {message}", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.sessions < 0:
        raise CliError(f"--sessions must be 0 or more (got {args.sessions})")
    engine = _engine(args, read_only=False)
    anchor = None
    if args.anchor:
        try:
            anchor = datetime.fromisoformat(args.anchor).replace(tzinfo=UTC)
        except ValueError:
            raise CliError(f"--anchor {args.anchor!r} is not a date like 2026-11-25") from None
    summary = write_demo(engine, sessions=args.sessions, seed=args.seed, anchor=anchor)
    print(
        f"demo data: {summary.models} models, {summary.sessions} sessions "
        f"({summary.orphan_sessions} on models without metadata)"
    )
    print("the pages read it as it is; `python -m core init-db` adds the speed layer")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    engine = _engine(args, read_only=False)
    metadata.create_all(engine)
    path = Path(args.file)
    try:
        handle: TextIO = sys.stdin if args.file == "-" else path.open(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    with handle:
        report = load_lines(engine, handle)
    for number, reason in report.errors:
        print(f"{args.file}:{number}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.errors else 0


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


def _print_table(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    columns = (
        "session_id",
        "model_name",
        "status",
        "progress_percentage",
        "techniques",
        "size_reduction_percent",
        "speed_improvement_percent",
        "created_at",
    )
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
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
            f"query failed on {_describe(args)}: {error.__class__.__name__}: {str(error).splitlines()[0]}"
        ) from None
    if args.format == "json":
        json.dump(response, out, indent=2)
        out.write("\n")
    else:
        _print_table(response["sessions"], out)
        shown = len(response["sessions"])
        first = response["skip"] + 1 if shown else 0
        print(f"\n{first}-{response['skip'] + shown} of {response['total']} sessions", file=out)
    return 0


def cmd_first_start(args: argparse.Namespace) -> int:
    """Everything a fresh checkout needs before the dashboard starts, done in the terminal.

    Creates the demo database when the embedded default is in use and missing, and the first
    admin login when there are no credentials yet, printing its password once here (the
    dashboard would otherwise do both on the first page view, out of the user's sight).
    """
    from core.auth.settings import AuthConfigError, load_auth_settings
    from core.auth.users import first_start, first_start_banner

    settings = load_settings(args.db)
    if ensure_demo_database(settings):
        print(f"created the demo database {settings.masked_db_url}")
    try:
        created = first_start(load_auth_settings())
    except AuthConfigError as error:
        raise CliError(str(error)) from None
    if created:
        print(first_start_banner(created))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = subparsers.add_parser(
        "init-db",
        help="install or upgrade the speed layer: one index in the platform's database, "
        "the dashboard's own copy of the rows beside it (idempotent)",
    )
    _add_db(init)
    init.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    init.add_argument(
        "--remove", action="store_true", help="take away everything init-db added, in both places"
    )
    init.set_defaults(handler=cmd_init_db)

    demo = subparsers.add_parser("demo", help="write deterministic demo models and sessions")
    _add_db(demo)
    demo.add_argument("--sessions", type=int, default=5000, help="how many sessions (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--anchor", help="the newest day of history, YYYY-MM-DD (default: today, UTC)")
    demo.set_defaults(handler=cmd_demo)

    load = subparsers.add_parser("load", help="import sessions from a JSON Lines file (- for stdin)")
    load.add_argument("file")
    _add_db(load)
    load.set_defaults(handler=cmd_load)

    first = subparsers.add_parser(
        "first-start", help="create the demo database and the first admin login if missing"
    )
    _add_db(first)
    first.set_defaults(handler=cmd_first_start)

    sessions = subparsers.add_parser(
        "sessions",
        help="list sessions like GET /optimization/sessions",
        description="json prints the endpoint's response for one page; csv prints every match.",
    )
    _add_db(sessions)
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
