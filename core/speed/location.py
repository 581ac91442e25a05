"""Where the speed layer keeps its copy of the platform's tables, and how to open it.

* SQLite platform: a file of the dashboard's own (by default ``.dashboard-copy/<name>`` in the
  platform file's folder, or the path in ``SESSIONS_MIRROR``). The platform's file is only
  ever attached read-only to copy rows from it.
* PostgreSQL platform: a schema of the dashboard's own in the platform's database (by default
  ``dashboard_mirror``, or the schema named in ``SESSIONS_MIRROR``). Rows are copied by the
  server itself (``INSERT ... SELECT``), with the platform's exact types and values. The
  dashboard's role needs ``SELECT`` on the platform's two tables and ``CREATE`` on the database
  once, to create its schema; it never writes the platform's schema.

The copy holds tables of the same names as the platform's, so every query of the dashboard
runs unchanged on either: the copy's engine resolves them in the copy (its own file, or a
``search_path`` that puts the copy's schema first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from core.config import MIRROR_OFF, PROJECT_ROOT, Settings
from core.store.engine import make_engine

MIRROR_DIR_NAME = ".dashboard-copy"  # beside the platform's file, unless SESSIONS_MIRROR says
DEFAULT_SCHEMA = "dashboard_mirror"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MirrorConfigError(ValueError):
    """``SESSIONS_MIRROR`` names something the speed layer cannot use; the message says why."""


@dataclass(frozen=True)
class MirrorLocation:
    """The copy for one platform database: a SQLite file or a PostgreSQL schema."""

    dialect: str  # "sqlite" or "postgresql": the platform's, and so the copy's
    platform: Settings
    path: Path | None = None  # SQLite
    schema: str | None = None  # PostgreSQL

    @property
    def platform_path(self) -> Path:
        return Path(make_url(self.platform.db_url).database or "")

    @property
    def description(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"schema {self.schema} of {self.platform.masked_db_url}"

    @property
    def platform_identity(self) -> str:
        """What the copy records as its source, and is checked against before it is read.

        SQLite: the platform's file (its absolute path). PostgreSQL: always the database the
        copy's schema is in (its address may change, a cloned database clones both), so any
        copy found there copies these tables.
        """
        if self.path is not None:
            return f"sqlite:///{self.platform_path.resolve()}"
        return "postgresql: the tables beside this schema"

    def copies_this_platform(self, recorded: str | None) -> bool:
        return self.path is None or recorded == self.platform_identity

    @property
    def build_path(self) -> Path:
        """SQLite: the file a new copy is built in before it replaces the current one."""
        assert self.path is not None
        return self.path.with_name(f".{self.path.name}.building")

    @property
    def build_schema(self) -> str:
        assert self.schema is not None
        return f"{self.schema}_building"

    def search_path(self, schema: str | None = None) -> str:
        """The copy's schema first; ``public`` after it for extension functions (pg_trgm)."""
        return f"{schema or self.schema},public"

    def read_engine(self) -> Engine:
        """Read-only, with the dashboard's statement timeout, exactly like the platform's."""
        if self.path is not None:
            return make_engine(_sqlite_settings(self.platform, self.path))
        return make_engine(self.platform, search_path=self.search_path())

    def write_engine(self, *, building: bool = False) -> Engine:
        """For copying rows in: the platform's database is attached (SQLite) or read by the
        server (PostgreSQL), never written."""
        if self.path is not None:
            path = self.build_path if building else self.path
            return _sqlite_writer(path)
        schema = self.build_schema if building else self.schema
        return make_engine(self.platform, read_only=False, search_path=self.search_path(schema))


def mirror_location(settings: Settings) -> MirrorLocation | None:
    """Where the copy for ``settings`` lives; None when the speed layer is switched off."""
    choice = settings.mirror.strip()
    if choice.lower() == MIRROR_OFF:
        return None
    url = make_url(settings.db_url)
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        if choice:
            path = Path(choice)
            path = path if path.is_absolute() else PROJECT_ROOT / path
        else:
            platform_file = Path(database)
            path = platform_file.parent / MIRROR_DIR_NAME / platform_file.name
        if path.resolve() == Path(database).resolve():
            raise MirrorConfigError(
                "SESSIONS_MIRROR names the platform's own database file; the copy needs a file of its own"
            )
        return MirrorLocation("sqlite", settings, path=path)
    if dialect == "postgresql":
        schema = choice or DEFAULT_SCHEMA
        if not _SCHEMA_NAME.match(schema) or schema in ("public", "pg_catalog", "information_schema"):
            raise MirrorConfigError(
                f"SESSIONS_MIRROR is {choice!r}; on PostgreSQL it names the dashboard's own "
                "schema: lower-case letters, digits and _, not public"
            )
        return MirrorLocation("postgresql", settings, schema=schema)
    return None


def _sqlite_settings(platform: Settings, path: Path) -> Settings:
    return Settings(
        db_url=f"sqlite:///{path}",
        db_url_source=platform.db_url_source,
        statement_timeout_ms=platform.statement_timeout_ms,
    )


def _sqlite_writer(path: Path) -> Engine:
    """A writer on the copy's file that may ``ATTACH`` the platform's file by URI (read-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///file:{path}?uri=true", connect_args={"timeout": 30.0, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        # A copy can always be rebuilt from the platform: durability of each sync is not needed.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


def platform_uri(location: MirrorLocation) -> str:
    """``file:PATH?mode=ro``: how the copy's writer attaches the platform's file."""
    from urllib.parse import quote

    return f"file:{quote(str(location.platform_path))}?mode=ro"
