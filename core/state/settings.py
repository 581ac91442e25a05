"""Where the dashboard's state store lives: ``DASHBOARD_STATE_URL``, else a file beside the logins.

Same precedence as :mod:`core.config`: environment, then ``[state] url`` in
``.streamlit/secrets.toml``, then the default, a SQLite file ``state.db`` in the folder of the
credentials file. The default sits there because it holds the same kind of secret (API token
hashes, the audit log) and is kept private the same way (mode 0600, a folder git ignores);
replicas that share the credentials file thus share the state too.

The credentials file's location is :func:`core.config.credentials_file`, the one rule the
logins (:mod:`core.auth.settings`) use too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.config import credentials_file, mask_url, read_secrets, resolve_sqlite_path

STATE_URL_ENV = "DASHBOARD_STATE_URL"
STATE_FILE_NAME = "state.db"
BACKENDS = ("sqlite", "postgresql")


class StateConfigError(ValueError):
    """The state store's URL cannot be used; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class StateSettings:
    """The state store's SQLAlchemy URL and where it came from."""

    url: str
    source: str  # "environment", "secrets.toml" or "default"

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL or an in-memory database)."""
        parsed = make_url(self.url)
        database = parsed.database or ""
        if (
            parsed.get_backend_name() != "sqlite"
            or database in ("", ":memory:")
            or database.startswith("file:")
        ):
            return None
        return Path(database)


def credentials_folder(secrets: dict[str, Any]) -> Path:
    """The folder of the credentials file (:func:`core.config.credentials_file`)."""
    return credentials_file(secrets)[0].parent


def check_state_url(url: str, source: str) -> str:
    """The URL with a relative SQLite path anchored at the project; a clear error otherwise."""
    where = STATE_URL_ENV if source == "environment" else "[state] url in .streamlit/secrets.toml"
    allowed = "a SQLAlchemy URL of SQLite (sqlite:///PATH) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StateConfigError(f"{where} is {url!r}, which is not a database URL; give {allowed}.") from None
    if parsed.get_backend_name() not in BACKENDS:
        raise StateConfigError(
            f"{where} is {mask_url(url)!r}, a {parsed.get_backend_name()} database; give {allowed}."
        )
    return resolve_sqlite_path(url)


def load_state_settings(secrets: dict[str, Any] | None = None) -> StateSettings:
    """Resolve the state store's URL (environment > secrets.toml ``[state] url`` > file beside the logins)."""
    secrets = read_secrets() if secrets is None else secrets
    section = secrets.get("state", {})
    if os.environ.get(STATE_URL_ENV):
        return StateSettings(check_state_url(os.environ[STATE_URL_ENV].strip(), "environment"), "environment")
    if isinstance(section, dict) and section.get("url"):
        return StateSettings(check_state_url(str(section["url"]).strip(), "secrets.toml"), "secrets.toml")
    return StateSettings(f"sqlite:///{credentials_folder(secrets) / STATE_FILE_NAME}", "default")
