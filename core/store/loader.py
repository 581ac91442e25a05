"""Import sessions from JSON Lines: one session object a line, upserted by ``session_id``.

Bad lines are reported with their line number and reason and skipped; good lines are kept.
An optional ``model_name`` (with ``framework`` and ``original_size_mb``) creates or updates the
session's model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from core.store.tables import STATUSES, models, optimization_sessions
from core.store.types import parse_timestamp

REQUIRED = ("session_id", "model_id", "status", "created_at", "updated_at")
OPTIONAL = ("criteria", "total_steps", "completed_steps", "results", "error_message", "completed_at")
MODEL_FIELDS = ("model_name", "framework", "original_size_mb")
KNOWN = set(REQUIRED) | set(OPTIONAL) | set(MODEL_FIELDS)


@dataclass
class LoadReport:
    """What an import did: rows written, models touched, and each rejected line with its reason."""

    sessions: int = 0
    models: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.sessions} session(s) loaded, {self.models} model(s) created or updated, "
            f"{len(self.errors)} line(s) rejected"
        )


class LineError(ValueError):
    """Why one input line cannot be imported."""


def _integer(record: dict[str, Any], name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LineError(f"{name} must be a whole number, 0 or more (got {value!r})")
    return value


def _timestamp(record: dict[str, Any], name: str, *, required: bool) -> Any:
    value = record.get(name)
    if value is None:
        if required:
            raise LineError(f"{name} is required")
        return None
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is None:
        raise LineError(f"{name} must be an ISO 8601 timestamp such as 2024-05-01T10:00:00Z (got {value!r})")
    return parsed


def parse_line(text: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validate one JSON Lines record; return the session row and the model row (if any)."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise LineError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise LineError("each line must be one JSON object")
    unknown = sorted(set(record) - KNOWN)
    if unknown:
        raise LineError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KNOWN))}")
    for name in REQUIRED:
        if record.get(name) in (None, ""):
            raise LineError(f"{name} is required")
    for name in ("session_id", "model_id"):
        if not isinstance(record[name], str):
            raise LineError(f"{name} must be a string")
    if record["status"] not in STATUSES:
        raise LineError(f"status {record['status']!r} is not one of {', '.join(STATUSES)}")
    for name in ("criteria", "results"):
        if record.get(name) is not None and not isinstance(record[name], dict):
            raise LineError(f"{name} must be a JSON object or null")
    row = {
        "session_id": record["session_id"],
        "model_id": record["model_id"],
        "status": record["status"],
        "criteria": record.get("criteria"),
        "results": record.get("results"),
        "error_message": record.get("error_message"),
        "total_steps": _integer(record, "total_steps"),
        "completed_steps": _integer(record, "completed_steps"),
        "created_at": _timestamp(record, "created_at", required=True),
        "updated_at": _timestamp(record, "updated_at", required=True),
        "completed_at": _timestamp(record, "completed_at", required=False),
    }
    model = None
    if record.get("model_name") is not None:
        if not isinstance(record["model_name"], str) or not record["model_name"].strip():
            raise LineError("model_name must be a non-empty string")
        size = record.get("original_size_mb")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int | float)):
            raise LineError(f"original_size_mb must be a number (got {size!r})")
        model = {
            "model_id": record["model_id"],
            "name": record["model_name"].strip(),
            "framework": record.get("framework"),
            "original_size_mb": size,
        }
    return row, model


def _upsert(connection: Connection, table: Any, rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updates = {
        c.name: statement.excluded[c.name] for c in table.columns if c.name != key and c.name in rows[0]
    }
    connection.execute(statement.on_conflict_do_update(index_elements=[key], set_=updates), rows)


def load_lines(
    engine: Engine,
    lines: Iterable[str],
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Import ``lines``; each batch is one transaction, bad lines never stop good ones.

    ``progress`` hears how many more lines were read after each batch.
    """
    report = LoadReport()
    for batch in _batches(enumerate(lines, start=1), batch_size):
        sessions: dict[str, dict[str, Any]] = {}
        model_rows: dict[str, dict[str, Any]] = {}
        for number, text in batch:
            if not text.strip():
                continue
            try:
                row, model = parse_line(text)
            except LineError as error:
                report.errors.append((number, str(error)))
                continue
            sessions[row["session_id"]] = row  # a later line for the same id wins
            if model:
                model_rows[model["model_id"]] = model
        with engine.begin() as connection:
            _upsert(connection, models, list(model_rows.values()), "model_id")
            _upsert(connection, optimization_sessions, list(sessions.values()), "session_id")
        report.sessions += len(sessions)
        report.models += len(model_rows)
        if progress:
            progress(len(batch))
    return report


def _batches(items: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
