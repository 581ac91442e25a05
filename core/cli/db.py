"""Data commands: ``init-db``, ``demo`` and ``load``, the ones that write.

Every command takes ``--db URL``; without it the URL comes from ``SESSIONS_DB_URL``, then
``.streamlit/secrets.toml`` ``[connections.sessions] url``, then ``sqlite:///data/sessions.db``
in the project folder (see :mod:`core.config`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from core.cli.common import CliError, add_db_argument, open_engine
from core.cli.progress import counter, step_lines
from core.config import Settings, load_settings
from core.speed import Mirror, MirrorConfigError, mirror_location
from core.store.demo import write_demo
from core.store.loader import load_lines
from core.store.tables import metadata


@contextmanager
def speed_layer_errors(settings: Settings) -> Iterator[None]:
    """The speed layer's failures as messages the user can act on (exit code 2)."""
    try:
        yield
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


def cmd_init_db(args: argparse.Namespace) -> int:
    """Install, upgrade (``--dry-run`` first says how) or ``--remove`` the speed layer."""
    # Imported here: the migrations machinery is only needed by the commands that write.
    from core.speed.install import install, plan_install, remove

    settings = load_settings(args.db)
    with speed_layer_errors(settings):
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
        with step_lines("init-db") as progress:
            install(settings, progress=progress)
    print(f"initialised {settings.masked_db_url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Write the demo rows into the platform's bare tables, then build the speed layer's copy once.

    Rows written while a copy exists would each pass through the copy's triggers at the next
    sync; dropping the old copy and building a new one from the finished tables is far cheaper.
    """
    if args.sessions < 0:
        raise CliError(f"--sessions must be 0 or more (got {args.sessions})")
    anchor = None
    if args.anchor:
        try:
            anchor = datetime.fromisoformat(args.anchor).replace(tzinfo=UTC)
        except ValueError:
            raise CliError(f"--anchor {args.anchor!r} is not a date like 2026-11-25") from None
    settings = load_settings(args.db)
    try:
        location = mirror_location(settings)
    except MirrorConfigError as error:
        raise CliError(str(error)) from None
    engine = open_engine(args, read_only=False)
    try:
        with counter("demo", "session", total=args.sessions) as bar:
            summary = write_demo(
                engine, sessions=args.sessions, seed=args.seed, anchor=anchor, progress=bar.update
            )
    finally:
        engine.dispose()
    print(
        f"demo data: {summary.models} models, {summary.sessions} sessions "
        f"({summary.orphan_sessions} on models without metadata)"
    )
    from core.speed.install import install

    with speed_layer_errors(settings), step_lines("speed layer") as progress:
        if location is not None:
            Mirror(location).remove()
        install(settings, progress=progress)
    print(f"installed the speed layer on {settings.masked_db_url}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    engine = open_engine(args, read_only=False)
    metadata.create_all(engine)
    path = Path(args.file)
    try:
        handle: TextIO = sys.stdin if args.file == "-" else path.open(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    with handle, counter("load", "line") as bar:
        report = load_lines(engine, handle, progress=bar.update)
    for number, reason in report.errors:
        print(f"{args.file}:{number}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.errors else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``init-db``, ``demo`` and ``load``."""
    init = subparsers.add_parser(
        "init-db",
        help="install or upgrade the speed layer: one index in the platform's database, "
        "the dashboard's own copy of the rows beside it (idempotent)",
    )
    add_db_argument(init)
    init.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    init.add_argument(
        "--remove", action="store_true", help="take away everything init-db added, in both places"
    )
    init.set_defaults(handler=cmd_init_db)

    demo = subparsers.add_parser(
        "demo", help="write deterministic demo models and sessions, then install the speed layer"
    )
    add_db_argument(demo)
    demo.add_argument("--sessions", type=int, default=5000, help="how many sessions (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--anchor", help="the newest day of history, YYYY-MM-DD (default: today, UTC)")
    demo.set_defaults(handler=cmd_demo)

    load = subparsers.add_parser("load", help="import sessions from a JSON Lines file (- for stdin)")
    load.add_argument("file")
    add_db_argument(load)
    load.set_defaults(handler=cmd_load)
