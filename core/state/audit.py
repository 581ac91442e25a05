"""The audit log: who did what to which token, when. Written in the caller's transaction.

``detail`` is a JSON object of plain facts (a token's id, a client address, a reason); callers
never put a token or a password in it, and :func:`write_audit` refuses strings that look like
a token as a last guard.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from core.state.tables import audit_log

# An API token (core.auth.tokens: "odt_" and 43 URL-safe characters) anywhere in the detail.
TOKEN_LIKE = re.compile(r"odt_[A-Za-z0-9_-]{40,}")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    detail: dict[str, Any]


def write_audit(
    connection: Connection,
    *,
    action: str,
    actor: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    text = json.dumps(detail or {}, sort_keys=True, default=str)
    if TOKEN_LIKE.search(text):
        raise ValueError(f"audit detail of {action!r} looks like it holds a token; refusing to write it")
    connection.execute(
        audit_log.insert().values(
            at=at or datetime.now(UTC), actor=actor, action=action, target=target, detail=text
        )
    )


def read_audit(engine: Engine, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest ``limit`` entries (optionally of one action), newest first."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        AuditEntry(r.id, r.at, r.actor, r.action, r.target, json.loads(r.detail) if r.detail else {})
        for r in rows
    ]
