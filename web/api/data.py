"""The database behind the API: the pages' own reader, and 503 when it cannot be read.

:func:`web.download.engine_for` gives the process's speed-layer reader (the copy when it is
current, else the platform's tables), the very engine the pages and the CSV download use, so
the API adds no pool and no second sync thread. Any failure to configure, open or query it
becomes :class:`ApiError` 503 naming the database (password masked); the cause goes to the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, SettingsError, load_settings
from core.speed import MirrorConfigError
from core.store.engine import DatabaseMissingError
from web.api.errors import ApiError, log
from web.download import engine_for

DATABASE_ERRORS = (SQLAlchemyError, DatabaseMissingError, MirrorConfigError, OSError)


def api_settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise ApiError(503, f"The dashboard is not configured correctly: {error}") from None


def unavailable(settings: Settings, error: BaseException) -> ApiError:
    """The 503 for a database that could not be read: which one, and the error's kind."""
    log(f"database {settings.masked_db_url} failed: {error!r}")
    reason = (
        str(error)
        if isinstance(error, DatabaseMissingError)
        else type(getattr(error, "orig", None) or error).__name__
    )
    return ApiError(
        503,
        f"The database {settings.masked_db_url} could not be read ({reason}); try again in a moment.",
        {"Retry-After": "5"},
    )


def api_engine(settings: Settings) -> Engine:
    try:
        return engine_for(settings)
    except DATABASE_ERRORS as error:
        raise unavailable(settings, error) from None


@contextmanager
def reading() -> Iterator[Connection]:
    """A connection of the pages' reader; every database failure inside becomes a 503."""
    settings = api_settings()
    engine = api_engine(settings)
    try:
        with engine.connect() as connection:
            yield connection
    except DATABASE_ERRORS as error:
        raise unavailable(settings, error) from None
