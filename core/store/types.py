"""The store's column types, tolerant on purpose.

Rows written by someone else may carry timestamps with a ``T`` separator or a ``Z`` suffix, or
JSON that does not parse; reading them must not fail. :func:`parse_timestamp` and
:func:`parse_techniques` are the one reading of a stored timestamp and a stored technique list.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import DateTime, TypeDecorator


class Malformed:
    """A JSON cell that does not parse; keeps the raw text so the detail view can show it."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"Malformed({self.raw!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Malformed) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


class _SQLiteTimestampText(String):
    """A string on SQLite that is still declared ``TIMESTAMP`` in DDL."""


@compiles(_SQLiteTimestampText, "sqlite")
def _compile_sqlite_timestamp(type_: _SQLiteTimestampText, compiler: Any, **kw: Any) -> str:
    return "TIMESTAMP"


class _SQLiteJSONText(Text):
    """A text column on SQLite declared ``JSON`` in DDL (as SQLAlchemy's JSON type does)."""


@compiles(_SQLiteJSONText, "sqlite")
def _compile_sqlite_json(type_: _SQLiteJSONText, compiler: Any, **kw: Any) -> str:
    return "JSON"


def parse_timestamp(value: str | datetime | None) -> datetime | None:
    """Parse a stored timestamp into an aware UTC datetime, whatever separator or suffix it has.

    Naive values are UTC by contract. Unparseable text gives ``None`` rather than an error.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class UTCTimestamp(TypeDecorator[datetime]):
    """UTC timestamps: ``TIMESTAMP`` text on SQLite, ``timestamp without time zone`` elsewhere.

    Values are written the way SQLAlchemy writes SQLite datetimes (``YYYY-MM-DD HH:MM:SS.ffffff``)
    and read back as aware UTC datetimes, including rows another writer stored as
    ``2024-05-01T10:00:00Z`` or with ``+00:00``.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteTimestampText())
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_timestamp(value)
            if value is None:
                raise ValueError("timestamp is not ISO 8601")
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if dialect.name == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return parse_timestamp(value)


class TolerantJSON(TypeDecorator[Any]):
    """JSON that reads malformed cells as :class:`Malformed` instead of raising.

    JSONB on PostgreSQL, text declared ``JSON`` on SQLite, generic ``JSON`` elsewhere.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteJSONText())
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Malformed):
            if dialect.name == "sqlite":
                return value.raw
            raise ValueError("malformed JSON can only be stored in SQLite")
        if dialect.name == "sqlite":
            return json.dumps(value, separators=(",", ":"))
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str | bytes) and dialect.name == "sqlite":
            try:
                return json.loads(value)
            except ValueError:
                return Malformed(value if isinstance(value, str) else value.decode(errors="replace"))
        return value


def parse_techniques(text: str | None) -> tuple[str, ...]:
    """A session's techniques from their stored JSON list; anything else reads as none."""
    if not text:
        return ()
    try:
        values = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(values, list):
        return ()
    return tuple(v for v in values if isinstance(v, str))
