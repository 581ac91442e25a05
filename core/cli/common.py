"""What every command group shares: the user-facing error and the ``--db`` option."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.config import load_settings
from core.store.engine import make_engine


class CliError(Exception):
    """A problem the user can fix; printed on stderr, exit code 2."""


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: SESSIONS_DB_URL, secrets.toml, then sqlite:///data/sessions.db)",
    )


def open_engine(args: argparse.Namespace, *, read_only: bool) -> Engine:
    """The platform's database named by ``--db`` (or the configured one)."""
    settings = load_settings(args.db)
    try:
        return make_engine(settings, read_only=read_only)
    except (SQLAlchemyError, ValueError) as error:
        raise CliError(f"cannot open database {settings.masked_db_url}: {error}") from None
