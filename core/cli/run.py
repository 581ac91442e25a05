"""``first-start`` and ``run``: get a fresh checkout going, then serve the dashboard.

``run`` is ``bash scripts/run`` without the venv set-up: the first start in the terminal (so
the generated admin password is printed here), then ``streamlit run server.py`` from the
project folder, so Streamlit finds the project's ``.streamlit/config.toml`` and secrets
wherever the command was typed. Arguments after ``run`` go to Streamlit unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from core.auth.first_start import first_start, first_start_banner
from core.auth.settings import AuthConfigError, load_auth_settings
from core.cli.common import CliError, add_db_argument
from core.config import PROJECT_ROOT, load_settings
from core.speed.install import ensure_demo_database

SERVER = PROJECT_ROOT / "server.py"


def prepare(db: str | None) -> None:
    """Everything a fresh checkout needs before the dashboard starts, done in the terminal.

    Creates the demo database when the embedded default is in use and missing, and the first
    admin login when there are no credentials yet, printing its password once here (the
    dashboard would otherwise do both on the first page view, out of the user's sight).
    """
    settings = load_settings(db)
    if ensure_demo_database(settings):
        print(f"created the demo database {settings.masked_db_url}")
    try:
        created = first_start(load_auth_settings())
    except AuthConfigError as error:
        raise CliError(str(error)) from None
    if created:
        print(first_start_banner(created))


def cmd_first_start(args: argparse.Namespace) -> int:
    prepare(args.db)
    return 0


def streamlit_command(streamlit_args: Sequence[str]) -> list[str]:
    """``python -m streamlit run <project>/server.py ARGS`` with this Python (the venv's)."""
    return [sys.executable, "-m", "streamlit", "run", str(SERVER), *streamlit_args]


def cmd_run(args: argparse.Namespace) -> int:
    prepare(None)
    sys.stdout.flush()
    os.chdir(PROJECT_ROOT)
    command = streamlit_command(args.streamlit_args)
    os.execv(command[0], command)  # Streamlit takes over this process, as `exec` in scripts/run
    return 0  # not reached


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``first-start`` and ``run``; ``run`` takes any further arguments for Streamlit."""
    first = subparsers.add_parser(
        "first-start", help="create the demo database and the first admin login if missing"
    )
    add_db_argument(first)
    first.set_defaults(handler=cmd_first_start)

    run = subparsers.add_parser(
        "run",
        allow_abbrev=False,
        help="start the dashboard (streamlit run server.py); further arguments go to Streamlit",
        description="Start the dashboard like `bash scripts/run`. Arguments after `run`, such as "
        "--server.port 8502, are passed to `streamlit run` unchanged.",
    )
    run.set_defaults(handler=cmd_run, streamlit_args=[], forwards_unknown=True)
