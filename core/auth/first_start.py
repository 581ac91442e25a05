"""First start on a fresh machine: one admin login, a cookie key file and the banner saying so.

Like Jupyter's token, the generated password is printed once in the terminal that started the
dashboard and exists nowhere else; the banner also says how to change it, as a command that
works when pasted into any shell, in any folder.
"""

from __future__ import annotations

import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.auth.credentials import locked, render_credentials, write_private_file
from core.auth.settings import AuthSettings
from core.auth.users import BCRYPT_ROUNDS, FIRST_USER, UserRecord, generate_password, hash_password
from core.config import AUTH_FILE_ENV, DEFAULT_AUTH_FILE, PROJECT_ROOT

CONSOLE_SCRIPT = "optimization-dashboard"


@dataclass(frozen=True)
class FirstStart:
    """What the first start created; the password exists nowhere else."""

    username: str
    password: str
    credentials_file: Path
    cookie_key_file: Path | None


def ensure_cookie_key_file(settings: AuthSettings) -> Path | None:
    """Generate the cookie key file when no key is configured anywhere; its path, or None."""
    if settings.cookie_key_source != "missing":
        return None
    try:
        write_private_file(settings.cookie_key_file, secrets.token_urlsafe(48) + "\n", exclusive=True)
    except FileExistsError:
        return None
    return settings.cookie_key_file


def first_start(settings: AuthSettings, *, rounds: int = BCRYPT_ROUNDS) -> FirstStart | None:
    """On a fresh machine, create the credentials file with one admin and a cookie key.

    Runs only when there is no credentials file and the operator configured no cookie key
    (a configured key means someone manages this deployment: then a missing file is an
    error to report, not a reason to invent an admin). Safe against concurrent first
    starts: the folder lock plus exclusive creation let exactly one of them do it.
    """
    path = settings.credentials_file
    if path.exists() or not settings.cookie_key_is_generated:
        return None
    with locked(path):
        if path.exists():
            return None
        key_file = ensure_cookie_key_file(settings)
        password = generate_password()
        record = UserRecord(
            username=FIRST_USER,
            name="Administrator",
            role="admin",
            password_hash=hash_password(password, rounds),
            password_generated=True,
            password_changed_at=time.time(),
        )
        write_private_file(path, render_credentials({FIRST_USER: record}), exclusive=True)
    return FirstStart(FIRST_USER, password, path, key_file)


def first_start_banner(result: FirstStart) -> str:
    """The terminal notice with the generated password, printed once (like Jupyter's token)."""
    rule = "-" * 72
    lines = [
        rule,
        "First start: created the dashboard's login.",
        f"    credentials file: {result.credentials_file}",
    ]
    if result.cookie_key_file:
        lines.append(f"    cookie key file:  {result.cookie_key_file}")
    lines += [
        "",
        f"    Sign in as   {result.username}",
        f"    password     {result.password}",
        "",
        "This password is shown only now. Change it with:",
        f"    {passwd_command(result)}",
        rule,
    ]
    return "\n".join(lines)


def cli_command() -> str:
    """The dashboard's CLI as a shell command that works from any folder.

    The installed console script beside this Python (absolute path, so no venv needs to be
    active); without it, this Python's ``-m core`` run from the project folder.
    """
    script = Path(sys.executable).parent / CONSOLE_SCRIPT
    if script.is_file():
        return shlex.quote(str(script))
    return f"cd {shlex.quote(str(PROJECT_ROOT))} && {shlex.quote(sys.executable)} -m core"


def passwd_command(result: FirstStart) -> str:
    """``users passwd`` for the new admin, as a shell command that works as printed.

    A credentials file other than the default one is named with its environment variable:
    the setting that chose it may be missing in the shell the command is pasted into.
    """
    command = f"{cli_command()} users passwd {shlex.quote(result.username)}"
    if result.credentials_file == DEFAULT_AUTH_FILE:
        return command
    setting = f"{AUTH_FILE_ENV}={shlex.quote(str(result.credentials_file))}"
    head, _, tail = command.rpartition(" && ")
    return f"{head} && {setting} {tail}" if head else f"{setting} {command}"
