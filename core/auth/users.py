"""Dashboard logins as records: user names, roles, passwords and their bcrypt hashes.

The rules every writer and the login gate share: what a valid user name, role and new
password are, and how passwords are hashed and checked. The file lives in
:mod:`core.auth.credentials`, the first start in :mod:`core.auth.first_start`. No Streamlit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import bcrypt

ROLES: tuple[str, ...] = ("engineer", "manager", "admin")
DEFAULT_ROLE = "engineer"
FIRST_USER = "admin"
BCRYPT_ROUNDS = 12
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises instead of truncating

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
BCRYPT_PATTERN = re.compile(r"^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$")


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
