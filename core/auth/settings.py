"""Login settings: where the credentials live and how the re-login cookie is signed.

Same precedence as :mod:`core.config`: environment, then ``[auth]`` in
``.streamlit/secrets.toml``, then defaults. The defaults point inside the project at
``.auth/``, which git ignores, so a fresh clone never ships anyone's credentials.

The cookie key is checked here, not in Streamlit code, so the dashboard and the ``users``
CLI agree on what a usable key is: a missing, short, low-variety or library-example key
would let anyone forge the re-login cookie (an HS256 JWT of the user name).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import credentials_file as credentials_location
from core.config import read_secrets

COOKIE_KEY_ENV = "DASHBOARD_COOKIE_KEY"
COOKIE_EXPIRY_ENV = "DASHBOARD_COOKIE_EXPIRY_DAYS"

COOKIE_KEY_FILE_NAME = "cookie_key"
DEFAULT_COOKIE_NAME = "optimization_dashboard_auth"
DEFAULT_COOKIE_EXPIRY_DAYS = 1.0
MAX_COOKIE_EXPIRY_DAYS = 30.0

MIN_COOKIE_KEY_BYTES = 32
# Keys that appear in streamlit-authenticator's code, README and examples: public knowledge.
KNOWN_WEAK_KEYS = frozenset(
    {"some_key", "some_signature_key", "random_signature_key", "abcdef", "key", "secret"}
)
GENERATE_KEY_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class AuthConfigError(Exception):
    """The login settings cannot be used; the message says what to change."""


@dataclass(frozen=True)
class AuthSettings:
    """Everything the login gate and the ``users`` CLI need to know about the setup."""

    credentials_file: Path
    credentials_file_source: str  # "environment", "secrets.toml" or "default"
    cookie_key: str | None
    cookie_key_source: str  # "environment", "secrets.toml", "key file" or "missing"
    cookie_name: str = DEFAULT_COOKIE_NAME
    cookie_expiry_days: float = DEFAULT_COOKIE_EXPIRY_DAYS

    @property
    def cookie_key_file(self) -> Path:
        """Where the first start stores a generated key: beside the credentials file."""
        return self.credentials_file.parent / COOKIE_KEY_FILE_NAME

    @property
    def cookie_key_is_generated(self) -> bool:
        """True when nobody configured a key and the generated key file (if any) is used."""
        return self.cookie_key_source in ("key file", "missing")


def _read_key_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AuthConfigError(f"Cannot read the cookie key file {path}: {error.strerror}.") from None


def _expiry_days(raw: Any, source: str) -> float:
    try:
        days = float(raw)
    except (TypeError, ValueError):
        raise AuthConfigError(
            f"Cookie lifetime from {source} is {raw!r}; give a number of days, e.g. 1 or 0.5."
        ) from None
    if not 0 <= days <= MAX_COOKIE_EXPIRY_DAYS:
        raise AuthConfigError(
            f"Cookie lifetime from {source} is {days:g} days; use 0 (no re-login cookie) "
            f"up to {MAX_COOKIE_EXPIRY_DAYS:g}."
        )
    return days


def load_auth_settings(secrets: dict[str, Any] | None = None) -> AuthSettings:
    """Resolve the login settings (environment > secrets.toml ``[auth]`` > defaults).

    The cookie key is returned as found, possibly ``None``: whether a missing key is an
    error depends on whether this is the first start (see :func:`core.auth.first_start.first_start`).
    """
    secrets = read_secrets() if secrets is None else secrets
    section = secrets.get("auth", {})
    if not isinstance(section, dict):
        raise AuthConfigError("[auth] in .streamlit/secrets.toml must be a table.")

    credentials_file, file_source = credentials_location(secrets)

    key_file = credentials_file.parent / COOKIE_KEY_FILE_NAME
    cookie_key: str | None
    if os.environ.get(COOKIE_KEY_ENV):
        cookie_key, key_source = os.environ[COOKIE_KEY_ENV], "environment"
    elif section.get("cookie_key"):
        cookie_key, key_source = str(section["cookie_key"]), "secrets.toml"
    else:
        cookie_key = _read_key_file(key_file)
        key_source = "key file" if cookie_key else "missing"

    if os.environ.get(COOKIE_EXPIRY_ENV):
        expiry = _expiry_days(os.environ[COOKIE_EXPIRY_ENV], COOKIE_EXPIRY_ENV)
    elif "cookie_expiry_days" in section:
        expiry = _expiry_days(section["cookie_expiry_days"], "[auth] cookie_expiry_days")
    else:
        expiry = DEFAULT_COOKIE_EXPIRY_DAYS

    return AuthSettings(
        credentials_file=credentials_file,
        credentials_file_source=file_source,
        cookie_key=cookie_key,
        cookie_key_source=key_source,
        cookie_name=str(section.get("cookie_name") or DEFAULT_COOKIE_NAME),
        cookie_expiry_days=expiry,
    )


def describe_key_source(settings: AuthSettings) -> str:
    """Where the key came from, in words a person can act on."""
    return {
        "environment": f"the environment variable {COOKIE_KEY_ENV}",
        "secrets.toml": "[auth] cookie_key in .streamlit/secrets.toml",
        "key file": f"the key file {settings.cookie_key_file}",
    }.get(settings.cookie_key_source, "nowhere")


def validate_cookie_key(settings: AuthSettings) -> str:
    """The cookie key if it is safe to sign cookies with; otherwise a clear error.

    "Safe" is checked as far as a program can: present, at least 32 bytes, not one of the
    library's published example keys and not a run of a few repeated characters.
    """
    key = settings.cookie_key
    fix = (
        f"Set {COOKIE_KEY_ENV} (or [auth] cookie_key in .streamlit/secrets.toml) to at least "
        f"{MIN_COOKIE_KEY_BYTES} random bytes, e.g. the output of: {GENERATE_KEY_HINT}"
    )
    if not key:
        raise AuthConfigError(f"No cookie key is configured. {fix}")
    where = describe_key_source(settings)
    if key.strip().lower() in KNOWN_WEAK_KEYS:
        raise AuthConfigError(
            f"The cookie key from {where} is a published example key: anyone could forge a "
            f"login cookie with it. {fix}"
        )
    if len(key.encode("utf-8")) < MIN_COOKIE_KEY_BYTES:
        raise AuthConfigError(
            f"The cookie key from {where} is {len(key.encode('utf-8'))} bytes long; at least "
            f"{MIN_COOKIE_KEY_BYTES} are needed. {fix}"
        )
    if len(set(key)) < 8:
        raise AuthConfigError(f"The cookie key from {where} does not look random. {fix}")
    return key
