"""Command-line interface: ``optimization-dashboard COMMAND`` or ``python -m core COMMAND``.

Each command module adds its group with ``register(subparsers)`` and sets ``handler`` (a
function taking the parsed arguments and returning an exit code).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from core.cli import db, run, sessions, tokens, users
from core.cli.common import CliError

__all__ = ["CliError", "build_parser", "main"]


def build_parser(prog: str = "optimization-dashboard") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Model optimization sessions: database set-up, demo data, import, queries, "
        "logins and the dashboard itself.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (db, sessions, users, tokens, run):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "optimization-dashboard") -> int:
    """Run one command; ``prog`` is how the user typed it, for usage and help texts."""
    parser = build_parser(prog)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not getattr(args, "forwards_unknown", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.streamlit_args = unknown
    try:
        return int(args.handler(args) or 0)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
