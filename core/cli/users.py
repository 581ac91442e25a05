"""``users add|remove|list|passwd``: manage the dashboard's logins from the terminal.

Passwords are read from the terminal without echo (asked twice) or, for scripts, from one
line of standard input; they never appear on the command line, where ``ps`` could see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from core.auth.credentials import add_user, load_credentials, permission_warning, remove_user, set_password
from core.auth.first_start import ensure_cookie_key_file
from core.auth.settings import AuthConfigError, load_auth_settings
from core.auth.users import DEFAULT_ROLE, ROLES, CredentialsError, normalize_username
from core.cli.common import CliError


def _credentials_path(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file).expanduser().resolve()
    try:
        return load_auth_settings().credentials_file
    except AuthConfigError as error:
        raise CliError(str(error)) from None


def _read_new_password(args: argparse.Namespace, username: str) -> str:
    """From stdin (one line, for scripts) or asked twice on the terminal without echo."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("No password on standard input.")
        return password
    if not sys.stdin.isatty():
        raise CliError("No terminal to ask for the password; pipe it in with --password-stdin.")
    first = getpass.getpass(f"New password for {username}: ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise CliError("The two passwords differ; nothing was changed.")
    return first


def _cmd_add(args: argparse.Namespace) -> int:
    path = _credentials_path(args)
    try:
        username = normalize_username(args.username)
        if path.exists() and username in load_credentials(path):
            raise CredentialsError(
                f"User {username!r} already exists; change the password with: "
                f"python -m core users passwd {username}"
            )
        password = _read_new_password(args, username)
        record = add_user(path, username, password, role=args.role, name=args.name, email=args.email)
    except CredentialsError as error:
        raise CliError(str(error)) from None
    print(f"Added {record.username} ({record.role}) to {path}")
    if not args.file:
        key_file = ensure_cookie_key_file(load_auth_settings())
        if key_file:
            print(f"Created the cookie key file {key_file}")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    path = _credentials_path(args)
    try:
        record = remove_user(path, args.username)
    except CredentialsError as error:
        raise CliError(str(error)) from None
    print(f"Removed {record.username} from {path}")
    return 0


def _cmd_passwd(args: argparse.Namespace) -> int:
    path = _credentials_path(args)
    try:
        username = normalize_username(args.username)
        if username not in load_credentials(path):
            raise CredentialsError(f"There is no user {username!r} in {path}.")
        set_password(path, username, _read_new_password(args, username))
    except CredentialsError as error:
        raise CliError(str(error)) from None
    print(f"Changed the password of {username}; their open sessions must sign in again.")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    path = _credentials_path(args)
    if not path.exists():
        print(
            f"No credentials file at {path} yet: the dashboard creates it on its first start, "
            "or add a user with: python -m core users add NAME --role admin"
        )
        return 0
    try:
        users = load_credentials(path)
    except CredentialsError as error:
        raise CliError(str(error)) from None
    warning = permission_warning(path)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    rows = [("USER", "ROLE", "NAME", "EMAIL")] + [
        (u.username, u.role, u.name, u.email or "-") for u in users.values()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    print(f"\n{len(users)} user(s) in {path}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users add|remove|list|passwd``."""
    users = subparsers.add_parser(
        "users",
        help="manage dashboard logins (add, remove, list, passwd)",
        description=(
            "Manage the dashboard's logins in the credentials file "
            "($DASHBOARD_AUTH_FILE, [auth] credentials_file in secrets.toml, "
            "or .auth/credentials.yaml)."
        ),
    )
    users.add_argument("--file", help="credentials file to edit instead of the configured one")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("username", metavar="NAME")
    add.add_argument("--role", choices=ROLES, default=DEFAULT_ROLE, help="default: engineer")
    add.add_argument("--email", help="e-mail address, shown nowhere else yet")
    add.add_argument("--name", help="display name (default: the user name)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=_cmd_add)

    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("username", metavar="NAME")
    remove.set_defaults(handler=_cmd_remove)

    listing = actions.add_parser("list", help="list users and roles")
    listing.set_defaults(handler=_cmd_list)

    passwd = actions.add_parser("passwd", help="change a user's password")
    passwd.add_argument("username", metavar="NAME")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(handler=_cmd_passwd)
