"""Dashboard logins: the credentials file, first-start set-up and the ``users`` CLI.

The file is streamlit-authenticator's ``credentials.usernames`` layout, so the library can be
handed the dict, but this module is the only writer: the library, given a path, rewrites the
file on every login with no lock. Here every change is a locked read-modify-write that lands
with an atomic rename, the file is owner-only (0600) and only bcrypt hashes are accepted: a
plain-text password is refused with a message, never silently hashed.

No Streamlit here: the CLI and the login gate share this code.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import hashlib
import os
import re
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from core.auth.settings import AuthConfigError, AuthSettings, load_auth_settings

ROLES: tuple[str, ...] = ("engineer", "manager", "admin")
DEFAULT_ROLE = "engineer"
FIRST_USER = "admin"
BCRYPT_ROUNDS = 12
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises instead of truncating

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
BCRYPT_PATTERN = re.compile(r"^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$")

FILE_HEADER = (
    "# Dashboard logins, managed with `python -m core users ...`.\n"
    "# Passwords are bcrypt hashes; a plain-text password here stops the dashboard.\n"
)


class CredentialsError(Exception):
    """The credentials file or a requested change is not acceptable; the message says why."""


@dataclass(frozen=True)
class User:
    """The signed-in person as pages see it: no password hash, nothing secret."""

    username: str
    name: str
    role: str
    email: str | None = None


@dataclass(frozen=True)
class UserRecord:
    """One entry of the credentials file."""

    username: str
    name: str
    role: str
    password_hash: str
    email: str | None = None
    password_generated: bool = False  # the first-start password, not yet changed
    password_changed_at: float | None = None  # epoch seconds; older login cookies are refused

    def public(self) -> User:
        return User(username=self.username, name=self.name, role=self.role, email=self.email)


def password_fingerprint(record: UserRecord) -> str:
    """A short digest of the user's current password hash: changes when the password does.

    Sessions and download links remember it, so both stop working after a password change
    without the hash itself ever leaving the credentials file.
    """
    return hashlib.sha256(record.password_hash.encode("ascii")).hexdigest()[:32]


# --- passwords -------------------------------------------------------------------------


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A ``$2b$`` bcrypt hash (what streamlit-authenticator's ``Hasher.hash`` produces)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def hash_cost(password_hash: str) -> int:
    """The bcrypt cost factor written in a hash."""
    match = BCRYPT_PATTERN.match(password_hash)
    return int(match.group(1)) if match else BCRYPT_ROUNDS


def check_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; a password bcrypt cannot take simply does not match."""
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


def check_new_password(password: str, username: str) -> None:
    """Refuse passwords that cannot be stored or are trivially guessable."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise CredentialsError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise CredentialsError(
            f"The password is longer than {MAX_PASSWORD_BYTES} bytes, which bcrypt cannot use."
        )
    if password.strip().lower() == username.lower():
        raise CredentialsError("The password must not be the user name.")


def generate_password() -> str:
    """A random password (about 120 bits) that survives copying from a terminal."""
    return secrets.token_urlsafe(15)


def normalize_username(username: str) -> str:
    """User names are stored and compared lower-case (streamlit-authenticator does the same)."""
    name = username.strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise CredentialsError(
            f"{username!r} is not a valid user name: use 1-64 lower-case letters, digits and "
            "'.', '_', '@' or '-', starting with a letter or digit."
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise CredentialsError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
    return role


# --- the file ----------------------------------------------------------------------------


def _parse_user(path: Path, username: Any, entry: Any) -> UserRecord:
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise CredentialsError(
            f"{path}: user name {username!r} is not valid; use lower-case letters, digits and "
            "'.', '_', '@' or '-' (up to 64 characters)."
        )
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: the entry for user {username!r} must be a mapping.")
    password = entry.get("password")
    if not password:
        raise CredentialsError(
            f"{path}: user {username!r} has no password. Set one with: python -m core users passwd {username}"
        )
    if not isinstance(password, str) or not BCRYPT_PATTERN.match(password):
        raise CredentialsError(
            f"{path}: user {username!r} has a plain-text or unrecognised password. Only bcrypt "
            f"hashes are accepted; set the password with: python -m core users passwd {username}"
        )
    roles = entry.get("roles", [DEFAULT_ROLE])
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or len(roles) != 1 or not isinstance(roles[0], str):
        raise CredentialsError(
            f"{path}: user {username!r} must have exactly one role, one of: {', '.join(ROLES)}."
        )
    if roles[0] not in ROLES:
        raise CredentialsError(
            f"{path}: user {username!r} has the unknown role {roles[0]!r}; use one of: {', '.join(ROLES)}."
        )
    changed = entry.get("password_changed_at")
    if changed is not None and not isinstance(changed, int | float):
        raise CredentialsError(f"{path}: password_changed_at of {username!r} must be a number.")
    email = entry.get("email")
    return UserRecord(
        username=username,
        name=str(entry.get("name") or username),
        role=roles[0],
        password_hash=password,
        email=str(email) if email else None,
        password_generated=bool(entry.get("password_generated", False)),
        password_changed_at=float(changed) if changed is not None else None,
    )


def parse_credentials(text: str, path: Path) -> dict[str, UserRecord]:
    """Validate the YAML text of a credentials file; every problem names the file and user."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CredentialsError(f"{path} is not valid YAML{where}.") from None
    if data is None:
        data = {"credentials": {"usernames": {}}}
    credentials = data.get("credentials") if isinstance(data, dict) else None
    usernames = credentials.get("usernames") if isinstance(credentials, dict) else None
    if usernames is None and isinstance(credentials, dict) and "usernames" in credentials:
        usernames = {}
    if not isinstance(usernames, dict):
        raise CredentialsError(f"{path} must contain a mapping `credentials: usernames: NAME: {{...}}`.")
    return {name: _parse_user(path, name, entry) for name, entry in usernames.items()}


def load_credentials(path: Path) -> dict[str, UserRecord]:
    """Read and validate the credentials file; a missing file is an error here."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialsError(f"There is no credentials file at {path}.") from None
    except OSError as error:
        raise CredentialsError(f"Cannot read the credentials file {path}: {error.strerror}.") from None
    return parse_credentials(text, path)


def render_credentials(users: dict[str, UserRecord]) -> str:
    """The YAML text for ``users``, in streamlit-authenticator's layout."""
    entries: dict[str, Any] = {}
    for record in users.values():
        entry: dict[str, Any] = {"name": record.name}
        if record.email:
            entry["email"] = record.email
        entry["password"] = record.password_hash
        entry["roles"] = [record.role]
        if record.password_generated:
            entry["password_generated"] = True
        if record.password_changed_at is not None:
            entry["password_changed_at"] = round(record.password_changed_at, 3)
        entries[record.username] = entry
    body = yaml.safe_dump({"credentials": {"usernames": entries}}, sort_keys=False, default_flow_style=False)
    return FILE_HEADER + body


def to_authenticator_credentials(users: dict[str, UserRecord]) -> dict[str, Any]:
    """The dict ``stauth.Authenticate`` expects (a fresh copy: the library mutates it)."""
    return {
        "usernames": {
            record.username: {
                "name": record.name,
                "email": record.email,
                "password": record.password_hash,
                "roles": [record.role],
            }
            for record in users.values()
        }
    }


def write_private_file(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` with mode 0600 via a temporary file and an atomic rename.

    Readers never see half a file. With ``exclusive`` the final step is a hard link, which
    fails if ``path`` appeared meanwhile (FileExistsError), so two first starts cannot both win.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if exclusive:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_credentials(path: Path, users: dict[str, UserRecord]) -> None:
    write_private_file(path, render_credentials(users))


def permission_warning(path: Path) -> str | None:
    """A warning when a secret file can be read by other accounts on the machine."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} can be read by other users (mode {mode:o}); fix it with: chmod 600 {path}"
    return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the credentials file's folder for a read-modify-write.

    The folder, not the file, is locked because the file is replaced by a rename.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- changes ------------------------------------------------------------------------------


def _load_or_empty(path: Path) -> dict[str, UserRecord]:
    return load_credentials(path) if path.exists() else {}


def add_user(
    path: Path,
    username: str,
    password: str,
    *,
    role: str = DEFAULT_ROLE,
    name: str | None = None,
    email: str | None = None,
    rounds: int = BCRYPT_ROUNDS,
) -> UserRecord:
    """Add a user; the file is created (0600) if it does not exist yet."""
    username = normalize_username(username)
    check_role(role)
    check_new_password(password, username)
    if email is not None and "@" not in email:
        raise CredentialsError(f"{email!r} does not look like an e-mail address.")
    record = UserRecord(
        username=username,
        name=(name or "").strip() or username,
        role=role,
        password_hash=hash_password(password, rounds),
        email=email or None,
        password_changed_at=time.time(),
    )
    with locked(path):
        users = _load_or_empty(path)
        if username in users:
            raise CredentialsError(
                f"User {username!r} already exists; change the password with: "
                f"python -m core users passwd {username}"
            )
        users[username] = record
        save_credentials(path, users)
    return record


def remove_user(path: Path, username: str) -> UserRecord:
    """Remove a user; the last admin stays, so someone can always manage the dashboard."""
    username = normalize_username(username)
    with locked(path):
        users = load_credentials(path)
        if username not in users:
            raise CredentialsError(f"There is no user {username!r} in {path}.")
        record = users.pop(username)
        if record.role == "admin" and not any(u.role == "admin" for u in users.values()):
            raise CredentialsError(f"{username!r} is the last admin; add another admin before removing it.")
        save_credentials(path, users)
    return record


def set_password(path: Path, username: str, password: str, *, rounds: int = BCRYPT_ROUNDS) -> None:
    """Replace a user's password; re-login cookies issued before now stop working."""
    username = normalize_username(username)
    check_new_password(password, username)
    new_hash = hash_password(password, rounds)
    with locked(path):
        users = load_credentials(path)
        if username not in users:
            raise CredentialsError(f"There is no user {username!r} in {path}.")
        users[username] = replace(
            users[username],
            password_hash=new_hash,
            password_generated=False,
            password_changed_at=time.time(),
        )
        save_credentials(path, users)


# --- first start -------------------------------------------------------------------------


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
        f"    python -m core users passwd {result.username}",
        rule,
    ]
    return "\n".join(lines)


# --- CLI ------------------------------------------------------------------------------------


def _cli_error(message: str) -> Exception:
    from core.cli.main import CliError  # imported late: core.cli.main imports this module by name

    return CliError(message)


def _credentials_path(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file).expanduser().resolve()
    try:
        return load_auth_settings().credentials_file
    except AuthConfigError as error:
        raise _cli_error(str(error)) from None


def _read_new_password(args: argparse.Namespace, username: str) -> str:
    """From stdin (one line, for scripts) or asked twice on the terminal without echo."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _cli_error("No password on standard input.")
        return password
    if not sys.stdin.isatty():
        raise _cli_error("No terminal to ask for the password; pipe it in with --password-stdin.")
    first = getpass.getpass(f"New password for {username}: ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise _cli_error("The two passwords differ; nothing was changed.")
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
        raise _cli_error(str(error)) from None
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
        raise _cli_error(str(error)) from None
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
        raise _cli_error(str(error)) from None
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
        raise _cli_error(str(error)) from None
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


def register(subparsers: argparse._SubParsersAction) -> None:
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
