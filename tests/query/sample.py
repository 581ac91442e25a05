"""The query tests' fixed data set: explicit timestamps, ties, nulls and malformed values.

Expectations are written out by hand or computed by a plain-Python reference of the same rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from core.query.filter import SessionFilter
from core.query.pages import fetch_page


def ts(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def session(
    sid: str,
    model: str,
    status: str,
    day: int,
    *,
    hour: int = 0,
    techniques: Any = None,
    total: int | None = 10,
    done: int | None = 0,
    results: Any = None,
    criteria: Any = "default",
    completed_day: int | None = None,
) -> dict[str, Any]:
    if criteria == "default":
        criteria = {"techniques": techniques or []}
    return {
        "session_id": sid,
        "model_id": model,
        "status": status,
        "criteria": criteria,
        "total_steps": total,
        "completed_steps": done,
        "results": results,
        "error_message": "boom" if status == "failed" else None,
        "created_at": ts(day, hour),
        "updated_at": ts(day, hour + 1),
        "completed_at": ts(completed_day, 5) if completed_day else None,
    }


MODELS = [
    {"model_id": "m-bert", "name": "BERT Base", "framework": "pytorch", "original_size_mb": 420.0},
    {"model_id": "m-resnet", "name": "ResNet-50", "framework": "onnx", "original_size_mb": 98.0},
    {"model_id": "m-pct", "name": "Weird 100%_name", "framework": None, "original_size_mb": None},
]


SESSIONS = [
    session(
        "s01",
        "m-bert",
        "completed",
        1,
        techniques=["quantization"],
        done=10,
        results={
            "size_reduction_percent": 50.0,
            "speed_improvement_percent": 20.0,
            "accuracy_delta_percent": -0.5,
        },
        completed_day=1,
    ),
    session(
        "s02",
        "m-bert",
        "completed",
        2,
        techniques=["quantization", "pruning"],
        done=10,
        results={"size_reduction_percent": 50.0, "speed_improvement_percent": 35.5},
        completed_day=3,
    ),
    session("s03", "m-resnet", "running", 3, hour=12, techniques=["pruning"], total=8, done=2),
    session("s04", "m-resnet", "running", 4, techniques=["distillation"], total=0, done=5),
    session("s05", "m-ghost", "running", 5, techniques=["quantization"], total=4, done=9),
    session("s06", "m-ghost", "pending", 6, techniques=["pruning"], done=3),
    session(
        "s07", "m-bert", "failed", 7, techniques=["distillation"], total=None, done=None, completed_day=7
    ),
    session("s08", "m-pct", "cancelled", 8, criteria={"techniques": "quantization"}, done=4, completed_day=8),
    session(
        "s09",
        "m-resnet",
        "completed",
        9,
        techniques=["pruning", 7],
        done=10,
        results={"size_reduction_percent": "n/a", "speed_improvement_percent": 12},
        completed_day=9,
    ),
    session("s10", "m-resnet", "completed", 10, criteria=None, done=10, results=[1, 2], completed_day=10),
    session("S11", "m-bert", "running", 10, techniques=["quantization"], total=3, done=-1),
]


EXPECTED_PROGRESS = {
    "s01": 100.0,
    "s02": 100.0,
    "s03": 25.0,
    "s04": 0.0,
    "s05": 100.0,
    "s06": 0.0,
    "s07": 0.0,
    "s08": 40.0,
    "s09": 100.0,
    "s10": 100.0,
    "S11": 0.0,
}


EXPECTED_TECHNIQUES = {
    "s01": ["quantization"],
    "s02": ["quantization", "pruning"],
    "s03": ["pruning"],
    "s04": ["distillation"],
    "s05": ["quantization"],
    "s06": ["pruning"],
    "s07": ["distillation"],
    "s08": [],
    "s09": ["pruning"],
    "s10": [],
    "S11": ["quantization"],
}


def ids(connection: Connection, **kwargs: Any) -> list[str]:
    return [row.session_id for row in fetch_page(connection, SessionFilter(**kwargs)).rows]
