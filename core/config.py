"""Settings with one written precedence: environment, then ``.streamlit/secrets.toml``, then defaults.

The CLI and the dashboard resolve the database URL the same way, so a command run in a
terminal always looks at the database the dashboard shows.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "sessions.db"
DEFAULT_DB_URL = f"sqlite:///{DEFAULT_DB_PATH}"

DB_URL_ENV = "SESSIONS_DB_URL"
MIRROR_ENV = "SESSIONS_MIRROR"
MIRROR_OFF = "off"
STATEMENT_TIMEOUT_ENV = "SESSIONS_STATEMENT_TIMEOUT_MS"
DEFAULT_STATEMENT_TIMEOUT_MS = 15_000


def read_secrets(path: Path | None = None) -> dict[str, Any]:
    """Read ``.streamlit/secrets.toml`` without Streamlit (the CLI has none); {} when absent."""
    path = path or SECRETS_FILE
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}


def resolve_sqlite_path(url: str) -> str:
    """Make a relative ``sqlite:///`` path relative to the project, not the current directory.

    A relative path resolved against the wrong working directory silently creates an empty
    database; anchoring it at the project folder keeps the CLI and the dashboard in agreement.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to show on screen."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Settings:
    """Where the sessions live and how long one query may run."""

    db_url: str
    db_url_source: str  # "--db", "environment", "secrets.toml" or "default"
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    # Where the speed layer keeps its copy (core.speed): "" for the default place, "off" for
    # none, else a file path (SQLite platform) or a schema name (PostgreSQL platform).
    mirror: str = ""

    @property
    def is_default_database(self) -> bool:
        return self.db_url_source == "default"

    @property
    def masked_db_url(self) -> str:
        return mask_url(self.db_url)


def load_settings(db_url: str | None = None, secrets: dict[str, Any] | None = None) -> Settings:
    """Resolve settings: explicit ``db_url`` (``--db``), then environment, secrets, default."""
    secrets = read_secrets() if secrets is None else secrets
    connection = secrets.get("connections", {}).get("sessions", {})
    if db_url:
        url, source = db_url, "--db"
    elif os.environ.get(DB_URL_ENV):
        url, source = os.environ[DB_URL_ENV], "environment"
    elif connection.get("url"):
        url, source = str(connection["url"]), "secrets.toml"
    else:
        url, source = DEFAULT_DB_URL, "default"
    timeout = os.environ.get(STATEMENT_TIMEOUT_ENV) or connection.get("statement_timeout_ms")
    mirror = os.environ.get(MIRROR_ENV) or connection.get("mirror") or ""
    return Settings(
        db_url=resolve_sqlite_path(url),
        db_url_source=source,
        statement_timeout_ms=_timeout_ms(timeout),
        mirror=str(mirror).strip(),
    )


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names it and what is allowed."""


def _timeout_ms(value: object) -> int:
    if value in (None, ""):
        return DEFAULT_STATEMENT_TIMEOUT_MS
    try:
        timeout = int(str(value).strip())
    except ValueError:
        timeout = -1
    if timeout < 0:
        raise SettingsError(
            f"{STATEMENT_TIMEOUT_ENV} (or statement_timeout_ms in secrets.toml) is {value!r}; "
            "use a whole number of milliseconds, 0 for no limit"
        )
    return timeout


AUTH_FILE_ENV = "DASHBOARD_AUTH_FILE"
DEFAULT_AUTH_FILE = PROJECT_ROOT / ".auth" / "credentials.yaml"


def project_path(value: str) -> Path:
    """Expand ``~`` and anchor relative paths at the project, like the SQLite URL."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def credentials_file(secrets: dict[str, Any]) -> tuple[Path, str]:
    """Where the logins live and who said so: ``DASHBOARD_AUTH_FILE`` > secrets.toml
    ``[auth] credentials_file`` > ``.auth/credentials.yaml``. The logins' folder also holds the
    cookie key file and the default state store, so this is the one rule for finding it."""
    if os.environ.get(AUTH_FILE_ENV):
        return project_path(os.environ[AUTH_FILE_ENV]), "environment"
    section = secrets.get("auth", {})
    if isinstance(section, dict) and section.get("credentials_file"):
        return project_path(str(section["credentials_file"])), "secrets.toml"
    return DEFAULT_AUTH_FILE, "default"
