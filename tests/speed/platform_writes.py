"""The platform's writes in the speed-layer tests: plain SQL, as the platform would send them,
bumping ``updated_at`` (the store contract); and what the platform's database holds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine


def platform_objects(engine: Engine) -> dict[str, Any]:
    """Tables, indexes, triggers and columns of the platform's database (its own schema)."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        tables = sorted(inspector.get_table_names())
        if conn.dialect.name == "sqlite":
            rows = conn.execute(
                text("SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger')")
            ).all()
            indexes = sorted(
                n for kind, n in rows if kind == "index" and not n.startswith("sqlite_autoindex_")
            )  # primary keys
            triggers = sorted(n for kind, n in rows if kind == "trigger")
            columns = sorted(r[1] for r in conn.execute(text("PRAGMA table_xinfo(optimization_sessions)")))
        else:
            indexes = sorted(
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                        " AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%pkc'"
                    )
                )
            )
            triggers = sorted(
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = 'public' AND NOT t.tgisinternal"
                    )
                )
            )
            columns = sorted(c["name"] for c in inspector.get_columns("optimization_sessions"))
    return {"tables": tables, "indexes": indexes, "triggers": triggers, "columns": columns}


def naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def json_param(backend: str, param: str) -> str:
    return f"CAST(:{param} AS jsonb)" if backend == "postgresql" else f":{param}"


def platform_writes(writer: Engine, rng: random.Random, tag: str) -> None:
    """Inserts, updates of every column, deletes, model changes: each its own transaction."""
    backend = writer.dialect.name
    with writer.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(text("SELECT session_id FROM optimization_sessions ORDER BY session_id"))
        ]
    picked = rng.sample(ids, 30)
    statements: list[tuple[str, dict[str, Any]]] = []
    for i in range(8):
        statements.append(
            (
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria, total_steps,"
                " completed_steps, created_at, updated_at) VALUES (:sid, :model, 'pending',"
                f" {json_param(backend, 'c')}, 10, 0, :now, :now)",
                {
                    "sid": f"{tag}-new-{i}",
                    "model": rng.choice(["m-01", "m-new", "m-03"]),
                    "c": '{"techniques": ["pruning", "quantization"]}',
                },
            )
        )
    for sid in picked[:8]:
        statements.append(
            (
                "UPDATE optimization_sessions SET status = 'running', updated_at = :now,"
                " completed_steps = coalesce(completed_steps, 0) + 1"
                " WHERE session_id = :sid",
                {"sid": sid},
            )
        )
    for sid in picked[8:14]:
        statements.append(
            (
                "UPDATE optimization_sessions SET status = 'completed', completed_steps = total_steps,"
                f" results = {json_param(backend, 'r')}, completed_at = :now, updated_at = :now"
                " WHERE session_id = :sid",
                {
                    "sid": sid,
                    "r": '{"size_reduction_percent": 61.5, "speed_improvement_percent": 2.5,'
                    ' "accuracy_delta_percent": -0.4}',
                },
            )
        )
    for sid in picked[14:17]:
        statements.append(
            (
                "UPDATE optimization_sessions SET model_id = 'm-06', updated_at = :now"
                " WHERE session_id = :sid",
                {"sid": sid},
            )
        )
    for number, sid in enumerate(picked[17:19]):
        statements.append(
            (
                "UPDATE optimization_sessions SET session_id = :new, updated_at = :now"
                " WHERE session_id = :sid",
                {"sid": sid, "new": f"{tag}-renamed-{number}"},
            )
        )
    for sid in picked[19:24]:
        statements.append(("DELETE FROM optimization_sessions WHERE session_id = :sid", {"sid": sid}))
    statements.append(("UPDATE models SET name = :name WHERE model_id = 'm-00'", {"name": f"{tag} bert"}))
    statements.append(
        ("INSERT INTO models (model_id, name) VALUES (:m, 'Whisper Tiny 100%')", {"m": f"m-{tag}"})
    )
    statements.append(("DELETE FROM models WHERE model_id = 'm-04'", {}))
    rng.shuffle(statements)
    for sql, params in statements:
        with writer.begin() as conn:
            conn.execute(text(sql), {**params, "now": naive_now()})
