"""``tokens create|list|revoke``: API tokens for the HTTP API, from the terminal.

``create`` prints the token once, alone on the last line of standard output, so a script can
take it with ``| tail -n 1``; it is never stored or shown again (the state store keeps its
hash). ``list`` never shows a token. The same functions serve the dashboard's "API access"
section (:mod:`core.auth.tokens`); every creation and revocation is in the audit log, with
``cli:<account>`` as the actor.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.auth.settings import AuthConfigError, load_auth_settings
from core.auth.tokens import (
    API_ROLES,
    MAX_EXPIRES_DAYS,
    TokenError,
    TokenInfo,
    create_token,
    current_users,
    list_tokens,
    revoke_token,
)
from core.auth.users import CredentialsError
from core.cli.common import CliError
from core.state.settings import StateConfigError, load_state_settings
from core.state.store import state_engine


def _credentials_path() -> Path:
    try:
        return load_auth_settings().credentials_file
    except AuthConfigError as error:
        raise CliError(str(error)) from None


def _engine() -> Engine:
    try:
        settings = load_state_settings()
    except StateConfigError as error:
        raise CliError(str(error)) from None
    try:
        return state_engine(settings)
    except (SQLAlchemyError, OSError) as error:
        raise CliError(f"cannot open the state store {settings.masked_url}: {error}") from None


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of days (1 to {MAX_EXPIRES_DAYS})"
        ) from None
    if not 1 <= days <= MAX_EXPIRES_DAYS:
        raise argparse.ArgumentTypeError(f"{days} is out of range; give 1 to {MAX_EXPIRES_DAYS} days")
    return days


def _token_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a token id (a positive number from 'tokens list')")
    return int(text)


def when(moment: datetime | None, empty: str = "-") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else empty


def _cmd_create(args: argparse.Namespace) -> int:
    path = _credentials_path()
    engine = _engine()
    try:
        token_id, token = create_token(
            engine,
            args.user,
            label=args.label,
            expires_days=args.expires_days,
            credentials_path=path,
            by=_actor(),
        )
    except (TokenError, CredentialsError) as error:
        raise CliError(str(error)) from None
    except SQLAlchemyError as error:
        raise CliError(f"cannot write to the state store: {error}") from None
    expiry = f"expires in {args.expires_days} days" if args.expires_days else "does not expire"
    label = f" '{args.label.strip()}'" if args.label.strip() else ""
    print(f"Created API token {token_id}{label} for {args.user.strip().lower()}; it {expiry}.")
    print("It is shown only this once: store it now. Send it as the header 'Authorization: Bearer <token>'.")
    print(token)
    return 0


def _state(info: TokenInfo, users: set[str] | None, now: datetime) -> str:
    state = info.state(now)
    if state == "active" and users is not None and info.username not in users:
        return "user removed"
    return state


def _cmd_list(args: argparse.Namespace) -> int:
    engine = _engine()
    try:
        users: set[str] | None = set(current_users(_credentials_path()))
    except CredentialsError:
        users = None  # the states then leave out "user removed"
    try:
        tokens = list_tokens(engine, username=args.user.strip().lower() if args.user else None)
    except SQLAlchemyError as error:
        raise CliError(f"cannot read the state store: {error}") from None
    if not tokens:
        whose = f" of {args.user}" if args.user else ""
        print(f"No API tokens{whose} yet; create one with: python -m core tokens create --user NAME")
        return 0
    now = datetime.now(UTC)
    header = ("ID", "USER", "LABEL", "CREATED (UTC)", "LAST USED", "EXPIRES", "STATE")
    rows = [header] + [
        (
            str(t.id),
            t.username,
            t.label or "-",
            when(t.created_at),
            when(t.last_used_at, "never"),
            when(t.expires_at, "never"),
            _state(t, users, now),
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print(f"\n{len(tokens)} token(s)")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    engine = _engine()
    try:
        before = [t for t in list_tokens(engine) if t.id == args.token_id]
        info = revoke_token(engine, args.token_id, by=_actor())
    except TokenError as error:
        raise CliError(str(error)) from None
    except SQLAlchemyError as error:
        raise CliError(f"cannot write to the state store: {error}") from None
    if before and before[0].revoked_at is not None:
        print(f"API token {info.id} of {info.username} was already revoked at {when(info.revoked_at)} UTC.")
    else:
        print(f"Revoked API token {info.id} of {info.username}; it stops working with the next request.")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tokens create|list|revoke``."""
    tokens = subparsers.add_parser(
        "tokens",
        help="API tokens for the HTTP API (create, list, revoke)",
        description=(
            "API tokens for GET /optimization/...: stored as hashes in the dashboard's state store "
            "($DASHBOARD_STATE_URL, or state.db beside the credentials file). Only the roles "
            f"{', '.join(API_ROLES)} may hold one."
        ),
    )
    actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a token; prints it once, on the last line")
    create.add_argument("--user", required=True, metavar="NAME", help="whose token (an engineer or admin)")
    create.add_argument("--label", default="", metavar="TEXT", help="what it is for, e.g. 'CI nightly'")
    create.add_argument(
        "--expires-days",
        type=_days,
        metavar="N",
        help=f"valid for N days (1 to {MAX_EXPIRES_DAYS}); default: no expiry",
    )
    create.set_defaults(handler=_cmd_create)

    listing = actions.add_parser("list", help="list tokens (never the tokens themselves)")
    listing.add_argument("--user", metavar="NAME", help="only this user's tokens")
    listing.set_defaults(handler=_cmd_list)

    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=_token_id, metavar="ID")
    revoke.set_defaults(handler=_cmd_revoke)
