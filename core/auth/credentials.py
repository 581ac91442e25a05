"""The credentials file: streamlit-authenticator's ``credentials.usernames`` YAML, locked edits.

The library can be handed the parsed dict, but this module is the only writer: the library,
given a path, rewrites the file on every login with no lock. Here every change is a locked
read-modify-write that lands with an atomic rename, the file is owner-only (0600) and only
bcrypt hashes are accepted: a plain-text password is refused with a message, never silently
hashed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from core.auth.users import (
    BCRYPT_PATTERN,
    BCRYPT_ROUNDS,
    DEFAULT_ROLE,
    ROLES,
    USERNAME_PATTERN,
    CredentialsError,
    UserRecord,
    check_new_password,
    check_role,
    hash_password,
    normalize_username,
)

FILE_HEADER = (
    "# Dashboard logins, managed with `python -m core users ...`.\n"
    "# Passwords are bcrypt hashes; a plain-text password here stops the dashboard.\n"
)


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
