"""Session comparison: metrics aligned by name, blanks for missing ones, best values marked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Engine

from core.query.compare import MAX_COMPARE, best_values, load_comparison, lower_is_better, parse_compare_ids
from core.speed.build import init_db
from core.store.tables import models, optimization_sessions


def _session(
    session_id: str,
    results: dict[str, object] | None,
    status: str = "completed",
    criteria: dict[str, object] | None = None,
) -> dict[str, object]:
    at = datetime(2025, 6, 1, 12)
    return {
        "session_id": session_id,
        "model_id": "m1",
        "status": status,
        "criteria": criteria or {"techniques": ["quantization"], "target": 40},
        "total_steps": 20,
        "completed_steps": 20 if status == "completed" else 7,
        "results": results,
        "error_message": "OOM" if status == "failed" else None,
        "created_at": at,
        "updated_at": at,
        "completed_at": at,
    }


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_db_url)
    init_db(engine)
    with engine.begin() as connection:
        connection.execute(insert(models), [{"model_id": "m1", "name": "resnet-base"}])
        connection.execute(
            insert(optimization_sessions),
            [
                _session(
                    "a", {"size_reduction_percent": 50, "speed_improvement_percent": 20, "latency_ms": 12.5}
                ),
                _session(
                    "b",
                    {
                        "size_reduction_percent": 70,
                        "speed_improvement_percent": 20,
                        "latency_ms": 9.0,
                        "top1_accuracy": 0.71,
                    },
                ),
                _session(
                    "c",
                    None,
                    status="failed",
                    criteria={"techniques": ["pruning", "distillation"], "target": 60},
                ),
            ],
        )
    yield engine
    engine.dispose()


def test_metrics_aligned_with_blanks_and_best(engine: Engine) -> None:
    with engine.connect() as connection:
        comparison = load_comparison(connection, ["b", "missing", "a", "c"])
    assert [s.session_id for s in comparison.sessions] == ["b", "a", "c"]
    assert comparison.not_found == ("missing",)
    assert comparison.metric_names == (
        "size_reduction_percent",
        "speed_improvement_percent",
        "latency_ms",
        "top1_accuracy",
    )
    b, a, c = comparison.sessions
    assert a.metric("top1_accuracy") is None and c.metric("size_reduction_percent") is None
    assert b.metric("latency_ms") == 9.0
    assert comparison.best_for("size_reduction_percent") == ("b",)
    assert comparison.best_for("speed_improvement_percent") == ("b", "a")  # a tie: both
    assert comparison.best_for("latency_ms") == ("b",)  # lower is better
    assert comparison.best_for("top1_accuracy") == ()  # only one session has it
    assert c.techniques == ("pruning", "distillation") and c.error_message == "OOM"
    assert (c.completed_steps, c.total_steps) == (7, 20)
    assert comparison.criteria_names == ("target",)
    assert (a.criterion("target"), c.criterion("target")) == (40.0, 60.0)
    assert b.model_name == "resnet-base"


def test_parse_compare_ids() -> None:
    ids, problems = parse_compare_ids(["a", " b ", "a", "", "c,d", "e", "f"])
    assert ids == ("a", "b", "c", "d", "e") and len(ids) == MAX_COMPARE
    assert len(problems) == 1 and "`f`" in problems[0]


def test_direction_and_non_numeric_values() -> None:
    assert lower_is_better("latency_ms") and lower_is_better("peak_memory_mb")
    assert not lower_is_better("size_reduction_percent")
    assert not lower_is_better("top1_accuracy")
    assert best_values((), ("x",)) == ()


def test_a_link_keeps_commas_inside_an_id() -> None:
    from ui.compare import compare_link, url_compare_ids

    ids, problems = url_compare_ids(["=SUM(1,2)-session", "b", "=SUM(1,2)-session"])
    assert ids == ("=SUM(1,2)-session", "b") and not problems
    assert compare_link(ids) == "Compare?compare=%3DSUM%281%2C2%29-session&compare=b"
