"""Deterministic, realistic demo data: models across frameworks and two years of sessions.

The same seed and anchor always give the same rows. The anchor defaults to the start of the
current UTC day so that "last 7 days" shows something on the day the demo is created.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from core.config import DEFAULT_DB_PATH, Settings
from core.store.engine import make_engine
from core.store.tables import metadata, models, optimization_sessions

FRAMEWORKS = ("pytorch", "tensorflow", "onnx", "jax")
FAMILIES = (
    ("resnet", 98.0),
    ("efficientnet", 77.0),
    ("mobilenet", 14.0),
    ("vit", 330.0),
    ("bert", 420.0),
    ("distilbert", 255.0),
    ("roberta", 480.0),
    ("whisper", 290.0),
    ("yolo", 56.0),
    ("unet", 120.0),
    ("gpt2", 510.0),
    ("t5", 890.0),
    ("clip", 600.0),
    ("llama", 2600.0),
)
VARIANTS = ("small", "base", "large")
# (size reduction range, speed improvement range, accuracy cost range) per technique.
TECHNIQUE_EFFECTS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "quantization": ((45.0, 75.0), (20.0, 60.0), (-1.5, 0.0)),
    "pruning": ((20.0, 60.0), (10.0, 40.0), (-2.5, -0.1)),
    "distillation": ((40.0, 80.0), (30.0, 70.0), (-3.0, -0.3)),
    "low_rank_factorization": ((15.0, 45.0), (5.0, 30.0), (-1.8, -0.1)),
    "weight_clustering": ((25.0, 55.0), (0.0, 12.0), (-1.0, 0.0)),
}
TECHNIQUE_MIXES = (
    ("quantization",),
    ("quantization",),
    ("pruning",),
    ("distillation",),
    ("quantization", "pruning"),
    ("quantization", "pruning"),
    ("pruning", "distillation"),
    ("quantization", "distillation"),
    ("low_rank_factorization",),
    ("quantization", "low_rank_factorization"),
    ("weight_clustering",),
    ("weight_clustering", "quantization"),
    ("quantization", "pruning", "distillation"),
)
FAILURES = (
    "CUDA out of memory while calibrating quantization ranges",
    "Accuracy dropped 6.2% below the baseline; rolled back",
    "Calibration dataset not found: s3://datasets/calib/v3",
    "Export to ONNX failed: unsupported operator 'aten::scaled_dot_product_attention'",
    "Worker lost heartbeat after 900 s",
    "Distillation teacher checkpoint is corrupt (checksum mismatch)",
)


@dataclass(frozen=True)
class DemoSummary:
    models: int
    sessions: int
    orphan_sessions: int


def build_models(rng: random.Random, count: int, anchor: datetime) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        family, base_size = FAMILIES[index % len(FAMILIES)]
        variant = VARIANTS[(index // len(FAMILIES)) % len(VARIANTS)]
        scale = {"small": 0.45, "base": 1.0, "large": 3.1}[variant]
        framework = FRAMEWORKS[rng.randrange(len(FRAMEWORKS))]
        rows.append(
            {
                "model_id": f"mdl-{index + 1:04d}",
                "name": f"{family}-{variant}" + (f"-v{index // 42 + 2}" if index >= 42 else ""),
                "framework": framework,
                "original_size_mb": round(base_size * scale * rng.uniform(0.9, 1.1), 1),
                "created_at": anchor - timedelta(days=760 - index * 3),
            }
        )
    return rows


def _results(rng: random.Random, techniques: tuple[str, ...]) -> dict[str, float]:
    size_gain = speed_gain = 0.0
    accuracy = 0.0
    for technique in techniques:
        (s_lo, s_hi), (v_lo, v_hi), (a_lo, a_hi) = TECHNIQUE_EFFECTS[technique]
        # Each extra technique compounds on what is left, with diminishing returns.
        size_gain += (100.0 - size_gain) * rng.uniform(s_lo, s_hi) / 100.0
        speed_gain += rng.uniform(v_lo, v_hi) * (0.6 if speed_gain else 1.0)
        accuracy += rng.uniform(a_lo, a_hi)
    return {
        "size_reduction_percent": round(min(size_gain, 95.0), 1),
        "speed_improvement_percent": round(speed_gain, 1),
        "accuracy_delta_percent": round(accuracy, 2),
    }


def generate_sessions(
    count: int,
    model_ids: list[str],
    *,
    seed: int = 7,
    anchor: datetime,
    orphan_share: float = 0.01,
    span_days: int = 730,
    malformed: int = 3,
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` session rows, oldest first, ending at ``anchor``."""
    rng = random.Random(seed)
    orphans = [f"mdl-missing-{i:02d}" for i in range(1, 4)]
    malformed_at = set(rng.sample(range(count), min(malformed, count))) if count > 50 else set()
    for index in range(count):
        age = timedelta(seconds=span_days * 86400 * (1 - (index + rng.random()) / count))
        created = anchor - age
        recent = age < timedelta(hours=36) or index >= count * 0.985
        roll = rng.random()
        if recent and roll < 0.35:
            status = "running"
        elif recent and roll < 0.5:
            status = "pending"
        else:
            roll = rng.random()
            status = "completed" if roll < 0.78 else "failed" if roll < 0.93 else "cancelled"
        model_id = (
            rng.choice(orphans)
            if rng.random() < orphan_share
            else model_ids[int(rng.triangular(0, len(model_ids) - 1, 0))]
        )
        techniques = TECHNIQUE_MIXES[rng.randrange(len(TECHNIQUE_MIXES))]
        total = rng.choice((10, 20, 25, 40, 50, 100))
        criteria: Any = {
            "techniques": list(techniques),
            "target_size_reduction_percent": rng.choice((20, 30, 40, 50, 60)),
        }
        results: Any = None
        error = None
        completed_at = None
        duration = timedelta(minutes=rng.uniform(8, 240))
        if status == "completed":
            done = total
            results = _results(rng, techniques)
            completed_at = created + duration
        elif status == "failed":
            done = rng.randrange(0, total)
            error = FAILURES[rng.randrange(len(FAILURES))]
            completed_at = created + duration * (done + 1) / total
        elif status == "cancelled":
            done = rng.randrange(0, total)
            completed_at = created + duration * (done + 1) / total
        elif status == "running":
            done = rng.randrange(1, total)
        else:
            done = 0
        updated = completed_at or min(anchor, created + duration * max(done, 1) / total)
        if index in malformed_at:
            # A few rows as a buggy writer left them: the dashboard must survive and flag them.
            if status == "completed":
                results = {**(results or {}), "speed_improvement_percent": "n/a"}
            else:
                criteria = {"techniques": ",".join(techniques)}
        yield {
            "session_id": f"opt-{created:%Y%m%d}-{index:06d}",
            "model_id": model_id,
            "status": status,
            "criteria": criteria,
            "total_steps": total,
            "completed_steps": done,
            "results": results,
            "error_message": error,
            "created_at": created,
            "updated_at": updated,
            "completed_at": completed_at,
        }


def write_demo(
    engine: Engine,
    *,
    sessions: int = 5000,
    model_count: int = 40,
    seed: int = 7,
    anchor: datetime | None = None,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Create the platform's tables and fill them with demo models and sessions (replacing
    earlier demo rows). The speed layer is installed separately (``init-db``).

    ``progress`` hears how many more sessions were written after each batch.
    """
    anchor = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    metadata.create_all(engine)
    rng = random.Random(seed)
    model_rows = build_models(rng, model_count, anchor)
    orphan_count = 0
    with engine.begin() as connection:
        connection.execute(models.delete().where(models.c.model_id.like("mdl-%")))
        connection.execute(
            optimization_sessions.delete().where(optimization_sessions.c.session_id.like("opt-%"))
        )
        connection.execute(insert(models), model_rows)
        batch: list[dict[str, Any]] = []
        ids = [m["model_id"] for m in model_rows]
        for row in generate_sessions(sessions, ids, seed=seed, anchor=anchor):
            orphan_count += row["model_id"].startswith("mdl-missing")
            batch.append(row)
            if len(batch) >= batch_size:
                connection.execute(insert(optimization_sessions), batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            connection.execute(insert(optimization_sessions), batch)
            if progress:
                progress(len(batch))
    return DemoSummary(models=len(model_rows), sessions=sessions, orphan_sessions=orphan_count)


def create_demo_database(settings: Settings) -> bool:
    """Create the embedded default database with demo data if it does not exist yet.

    Only for the default SQLite file: a configured database is never written. The file is
    built under a temporary name and renamed into place, so a second process starting at the
    same moment never sees a half-written database. Returns True when it created the file
    (:func:`core.speed.install.ensure_demo_database` then adds the speed layer).
    """
    if not settings.is_default_database or DEFAULT_DB_PATH.exists():
        return False
    DEFAULT_DB_PATH.parent.mkdir(parents=True, exist_ok=True)
    temporary = DEFAULT_DB_PATH.with_name(f".{DEFAULT_DB_PATH.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    engine = make_engine(Settings(db_url=f"sqlite:///{temporary}", db_url_source="default"), read_only=False)
    try:
        write_demo(engine)
        with engine.begin() as connection:
            # One file, no WAL side files, before it is moved into place.
            connection.exec_driver_sql("PRAGMA journal_mode = DELETE")
    finally:
        engine.dispose()
    if DEFAULT_DB_PATH.exists():  # another process won the race; keep its file
        temporary.unlink(missing_ok=True)
        return False
    os.replace(temporary, DEFAULT_DB_PATH)
    return True
