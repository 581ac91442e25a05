"""Aggregates against hand-computed values on a small fixed dataset, on SQLite and PostgreSQL.

The dataset (current period 2025-06-01..2025-06-10, previous period 2025-05-22..05-31):

    id   model  status     techniques                 size  speed  created
    s01  m1     completed  quantization                 50     20  06-01
    s02  m1     completed  quantization, pruning        70     10  06-02
    s03  m2     completed  pruning                      30     40  06-03
    s04  ghost  completed  quantization                 60     30  06-04 (text with T/Z)
    s05  m1     failed     pruning                       -      -  06-05
    s06  m2     cancelled  quantization                  -      -  06-06
    s07  m1     running    distillation                  -      -  06-07
    s08  m1     pending    (none)                        -      -  06-10 23:59:59.5
    s09  m1     completed  distillation                 70     35  06-08
    s10  m1     completed  distillation                 80      -  06-09
    p01  m1     completed  quantization                 40     10  05-25
    p02  m1     failed     quantization                  -      -  05-26
    o01  m1     completed  quantization                 99     99  05-01 (outside both)
    o02  m1     completed  quantization                 99     99  06-11 00:00 (after the end)

m1 "alpha" is 100 MB, m2 "beta" has no size, "ghost" is missing from ``models``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.query.filter import SessionFilter

CURRENT = SessionFilter(start_date="2025-06-01", end_date="2025-06-10")

ROWS = [
    # id, model, status, techniques, size, speed, created
    ("s01", "m1", "completed", ["quantization"], 50, 20, datetime(2025, 6, 1, 10)),
    ("s02", "m1", "completed", ["quantization", "pruning"], 70, 10, datetime(2025, 6, 2, 10)),
    ("s03", "m2", "completed", ["pruning"], 30, 40, datetime(2025, 6, 3, 10)),
    ("s05", "m1", "failed", ["pruning"], None, None, datetime(2025, 6, 5, 10)),
    ("s06", "m2", "cancelled", ["quantization"], None, None, datetime(2025, 6, 6, 10)),
    ("s07", "m1", "running", ["distillation"], None, None, datetime(2025, 6, 7, 10)),
    ("s08", "m1", "pending", [], None, None, datetime(2025, 6, 10, 23, 59, 59, 500000)),
    ("s09", "m1", "completed", ["distillation"], 70, 35, datetime(2025, 6, 8, 10)),
    ("s10", "m1", "completed", ["distillation"], 80, None, datetime(2025, 6, 9, 10)),
    ("p01", "m1", "completed", ["quantization"], 40, 10, datetime(2025, 5, 25, 10)),
    ("p02", "m1", "failed", ["quantization"], None, None, datetime(2025, 5, 26, 10)),
    ("o01", "m1", "completed", ["quantization"], 99, 99, datetime(2025, 5, 1, 10)),
    ("o02", "m1", "completed", ["quantization"], 99, 99, datetime(2025, 6, 11)),
]


def session_row(
    session_id: str,
    model: str,
    status: str,
    techniques: list[str],
    size: float | None,
    speed: float | None,
    created: datetime,
) -> dict[str, object]:
    results = None
    if status == "completed":
        results = {"size_reduction_percent": size}
        if speed is not None:
            results["speed_improvement_percent"] = speed
    finished = status in ("completed", "failed", "cancelled")
    return {
        "session_id": session_id,
        "model_id": model,
        "status": status,
        "criteria": {"techniques": techniques},
        "total_steps": 10,
        "completed_steps": 10 if status == "completed" else 3,
        "results": results,
        "error_message": "boom" if status == "failed" else None,
        "created_at": created,
        "updated_at": created + timedelta(hours=1),
        "completed_at": created + timedelta(hours=1) if finished else None,
    }
