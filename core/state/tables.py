"""The state store's tables as SQLAlchemy Core: what the code reads and writes.

The schema itself is made by the numbered Alembic steps in ``migrations/versions`` (a step
never imports these handles: a later change here must not rewrite an earlier step). Times are
stored as naive UTC on both backends and come back as aware UTC datetimes, so SQLite and
PostgreSQL answer alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in Python, a naive UTC timestamp in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the state store takes aware (UTC) times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without declared type affinity
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("label", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex; never the token
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("revoked_by", String(64)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(200)),  # a user name, "cli:<os user>", or None for an anonymous client
    Column("action", String(64), nullable=False),  # e.g. token.create, token.use, token.rejected
    Column("target", String(200)),
    Column("detail", Text),  # JSON object; never a token or a password
)

throttle = Table(
    "throttle",
    metadata,
    Column("key", String(300), primary_key=True),  # e.g. "token-client:203.0.113.7"
    Column("failures", Integer, nullable=False),
    Column("locked_until", Float, nullable=False),  # epoch seconds: shared by replicas, so wall clock
    Column("last_failure_at", Float, nullable=False),  # epoch seconds: an idle key is forgiven
)
