"""Random sessions for the equivalence tests: seeded, with many ties, nulls, malformed JSON,
timestamps in other writers' formats, models missing from ``models`` and LIKE wildcards; and
random export cells (tricky numbers, texts and technique lists) for the export's fast paths.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from core.store.tables import STATUSES, models, optimization_sessions
from core.store.types import Malformed

if TYPE_CHECKING:
    pass


SEED = 20261125
TECHNIQUES = ("quantization", "pruning", "distillation", "low_rank_factorization")
BASE = datetime(2024, 3, 1, tzinfo=UTC)

# -- random data -------------------------------------------------------------------------------


def make_models(rng: random.Random) -> list[dict[str, Any]]:
    names = [
        "BERT Base",
        "bert-base",
        "ResNet-50",
        "resnet-50-v2",
        "Weird 100%_name",
        "under_score",
        "Whisper Large",
        "whisper-small",
        "ViT",
        "vit-huge",
        "T5",
        "Ünïcode-Modèl",
        "ab",
        'quote"name',
        "dup",
        "dup",
    ]
    rows = []
    for index, name in enumerate(names):
        rows.append(
            {
                "model_id": f"m-{index:02d}",
                "name": name,
                "framework": rng.choice(["pytorch", "onnx", None]),
                "original_size_mb": rng.choice([None, 12.5, 100.0, 420.0]),
            }
        )
    return rows


MISSING_MODELS = ("m-gone", "m-ghost-7", "x%y")


def _metric(rng: random.Random) -> Any:
    return rng.choice([None, 0, 10, 12.5, 12.5, 50.0, -0.5, 99.99, 33.333, "n/a", True, [1], {"a": 1}])


def make_results(rng: random.Random, backend: str) -> Any:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.2:
        return Malformed('{"size_reduction_percent": 1') if backend == "sqlite" else "not an object"
    if roll < 0.25:
        return rng.choice([[1, 2], 42, "text"])
    results: dict[str, Any] = {}
    for key in ("size_reduction_percent", "speed_improvement_percent", "accuracy_delta_percent"):
        if rng.random() < 0.85:
            results[key] = _metric(rng)
    return results


def make_criteria(rng: random.Random, backend: str) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.15:
        return Malformed('{"techniques": ["pruning",') if backend == "sqlite" else [1, "x"]
    if roll < 0.2:
        return {"techniques": rng.choice(["quantization", None, 7, {"x": 1}])}
    picked = rng.sample(TECHNIQUES, rng.randrange(0, 3))
    if rng.random() < 0.1:
        picked = [*picked, 7, None]
    return {"techniques": picked, "target": rng.choice([10, 20])}


def make_session(rng: random.Random, backend: str, index: int, model_ids: list[str]) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    # Few distinct instants: lots of ties on created_at / updated_at.
    created = BASE + timedelta(
        days=rng.randrange(0, 40),
        hours=rng.choice([0, 0, 6, 12]),
        microseconds=rng.choice([0, 0, 0, 500, 123456]),
    )
    total = rng.choice([None, 0, 4, 10, 10, 100])
    done = rng.choice([None, 0, 1, 3, 10, 150, -1])
    completed = None
    if status in ("completed", "failed", "cancelled") and rng.random() < 0.9:
        completed = created + timedelta(minutes=rng.choice([0, 5, 90, 600]))
    prefix = rng.choice(["opt", "OPT", "run", "s%", "s_"])
    return {
        "session_id": f"{prefix}-{index:04d}-{rng.randrange(100):02d}",
        "model_id": rng.choice(model_ids),
        "status": status,
        "criteria": make_criteria(rng, backend),
        "total_steps": total,
        "completed_steps": done,
        "results": make_results(rng, backend) if status != "pending" else None,
        "error_message": "boom" if status == "failed" else None,
        "created_at": created,
        "updated_at": created + timedelta(minutes=rng.choice([0, 1, 30])),
        "completed_at": completed,
    }


def load(engine: Engine, backend: str, rng: random.Random, count: int) -> None:
    model_rows = make_models(rng)
    model_ids = [m["model_id"] for m in model_rows] + list(MISSING_MODELS)
    rows = [make_session(rng, backend, i, model_ids) for i in range(count)]
    with engine.begin() as conn:
        conn.execute(insert(models), model_rows)
        conn.execute(insert(optimization_sessions), rows)
        if backend == "sqlite":
            # Other writers' timestamp formats ('T', 'Z', '+00:00', no fraction).
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET created_at = replace(created_at, ' ', 'T') || 'Z'"
                    " WHERE substr(session_id, 5, 4) LIKE '%3'"
                )
            )
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET updated_at = substr(updated_at, 1, 19) || '+00:00',"
                    " completed_at = replace(completed_at, ' ', 'T')"
                    " WHERE substr(session_id, 5, 4) LIKE '%7'"
                )
            )


TRICKY_NUMBERS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    100.0,
    12.5,
    45.3,
    -0.5,
    0.1,
    0.0001,
    0.00005,
    0.00015,
    1.00005,
    2.675,
    12.345,
    33.333333333333336,
    99.99,
    99.995,
    1e-7,
    123456.7891,
    99999999999.9999,
    100000000000.0,
    1e11 - 0.0001,
    1e14,
    1e15,
    1e16,
    1.5e300,
    -1234.56785,
    0.30000000000000004,
    5e-324,
    7,
    10,
    -3,
    2**53,
    0.1 + 0.7,
    1 / 3,
    2 / 3,
    12.34565,
    12.34575,
]


# -- the CSV export's fast paths, on random cells ------------------------------------------------
#
# On PostgreSQL the export's lines are made by the server (COPY) when every cell is in a form it
# can write exactly, and by the Python formatter otherwise; on SQLite the batches are shaped
# column by column. Both must give the reference text: random values around every boundary the
# server's test draws (ties at the 4th / 2nd decimal, zero and negative zero, 1e8, 1e16, huge
# and tiny numbers, durations ending in 50 microseconds, years, text a spreadsheet would run,
# text csv.writer quotes or COPY escapes, technique arrays with escapes and non-strings).

TEXT_PIECES = [
    "s",
    "opt",
    "=cmd",
    "+1",
    "-x",
    "@y",
    " lead",
    "\u3000x",
    "\uff1dx",
    "[x",
    "a,b",
    'q"t',
    "back\\slash",
    "tab\tx",
    "new\nline",
    "cr\rx",
    "\x01ctl",
    "ünï",
    "-12.5",
    "100%",
    "_",
    "x'y",
    ";",
    "\\",
    "",
]
TECHNIQUE_PIECES = [
    "pruning",
    "quantization",
    "a,b",
    'q"t',
    "back\\slash",
    "tab\tx",
    "",
    "=SUM(1)",
    "ünï",
    "x; y",
    " sp",
    "[",
    "100%",
    "-1",
]


def random_number(rng: random.Random, kind: int | None = None) -> Any:
    kind = rng.randrange(10) if kind is None else kind
    if kind == 0:
        return rng.choice(TRICKY_NUMBERS)
    if kind == 1:  # a decimal tie at the 4th place (its binary value decides)
        return (rng.randrange(-(10**6), 10**6) * 2 + 1) / 20000
    if kind == 2:  # a tie at the 2nd place, written with more digits
        return (rng.randrange(-(10**4), 10**4) * 2 + 1) / 200
    if kind == 3:
        return round(rng.uniform(-1000, 1000), rng.randrange(0, 8))
    if kind == 4:
        return rng.uniform(-1, 1) * 10.0 ** rng.randrange(-9, 20)
    if kind == 5:  # around the accepted bound and the tie margin
        return rng.choice(
            [
                1e8,
                -1e8,
                99999999.99994,
                99999999.99996,
                1e8 - 1e-6,
                0.00005,
                -0.00005,
                0.000049999,
                0.0000500001,
                1e-5,
                0.0,
                -0.0,
                40.0,
                1e16,
                0.03125,
                0.1 + 0.2,
            ]
        )
    if kind == 6:
        return rng.randrange(-(10**6), 10**6) / 10 ** rng.randrange(0, 7)
    if kind == 7:
        return rng.choice([rng.randrange(-(10**6), 10**6), 2**62, -(2**70), 10**20])
    if kind == 8:
        return rng.choice(["n/a", True, None, [1], {"a": 1}])
    return rng.randrange(0, 10**7) / 10**4 + rng.choice([0, 1e-9, -1e-9, 5e-5])


def random_text(rng: random.Random, index: int) -> str:
    return "".join(rng.sample(TEXT_PIECES, rng.randrange(1, 3))) + f"-{index}"


def random_session(rng: random.Random, backend: str, index: int, model_ids: list[str]) -> dict[str, Any]:
    if rng.random() < 0.5:  # a row in the usual form (most of a real table): every cell plain
        row = random_session(rng, backend, index, model_ids[:1])
        kinds = [3, 6, 9, 9]
        row.update(
            session_id=f"opt-{index:05d}",
            status=rng.choice(STATUSES),
            criteria={"techniques": rng.sample(TECHNIQUES, rng.randrange(0, 3))},
            results={
                key: random_number(rng, rng.choice(kinds))
                for key in ("size_reduction_percent", "speed_improvement_percent", "accuracy_delta_percent")
                if rng.random() < 0.9
            },
        )
        return row
    days = rng.choice([rng.randrange(-738_000, -700_000), rng.randrange(-400, 900)])  # years 4..2026
    created = BASE + timedelta(
        days=days,
        seconds=rng.randrange(86400),
        microseconds=rng.choice([0, 50, 150, 250, 999_950, rng.randrange(10**6)]),
    )
    completed = None
    if rng.random() < 0.85:
        completed = created + timedelta(
            seconds=rng.choice([-7, 0, 0, 1, 59, 3600, 86399, 10**7, 10**8, 6 * 10**8, rng.randrange(10**6)]),
            microseconds=rng.choice([0, 50, -50, 100, 149, 150, 151, 999_950, rng.randrange(10**6)]),
        )
    techniques: Any = rng.sample(TECHNIQUE_PIECES, rng.randrange(0, 4))
    roll = rng.random()
    if roll < 0.1:
        techniques = [*techniques, rng.choice([7, None, 1.5, {"x": 1}])]
    elif roll < 0.15:
        techniques = rng.choice(["pruning", 7, None])
    criteria: Any = {"techniques": techniques}
    if rng.random() < 0.05:
        criteria = Malformed('{"techniques": [') if backend == "sqlite" else ["not", "an object"]
    return {
        "session_id": random_text(rng, index) if rng.random() < 0.3 else f"opt-{index:05d}",
        "model_id": rng.choice(model_ids),
        "status": rng.choice([*STATUSES, *STATUSES, "=odd", "odd,status"]),
        "criteria": criteria if rng.random() < 0.95 else None,
        "total_steps": rng.choice([None, 0, 3, 7, 8, 16, 32, 64, 400, 10**6]),
        "completed_steps": rng.choice([None, -1, 0, 1, 2, 5, 7, 33, 10**6, 2 * 10**6]),
        "results": {
            key: random_number(rng)
            for key in ("size_reduction_percent", "speed_improvement_percent", "accuracy_delta_percent")
            if rng.random() < 0.9
        },
        "error_message": None,
        "created_at": created,
        "updated_at": created + timedelta(microseconds=rng.choice([0, 1, 10**6])),
        "completed_at": completed,
    }


def load_random_cells(writer: Engine, backend: str, rng: random.Random, count: int) -> None:
    names = [
        "plain",
        '=HYPERLINK("x")',
        "a,b",
        'q"t',
        "back\\slash",
        "tab\tx",
        " lead",
        "[x",
        "ünï",
        "-5",
        "-x",
        "new\nline",
        "",
    ]
    model_rows = [{"model_id": f"m-{i:02d}", "name": name} for i, name in enumerate(names)]
    model_ids = [m["model_id"] for m in model_rows] + ["m-gone", "=m", "m,x"]
    rows = [random_session(rng, backend, i, model_ids) for i in range(count)]
    for row in rows:
        if backend == "postgresql":  # jsonb holds no NaN-like text and no lone backslash issues
            row["results"] = json.loads(json.dumps(row["results"]))
    with writer.begin() as conn:
        conn.execute(insert(models), model_rows)
        conn.execute(insert(optimization_sessions), rows)
        if backend == "sqlite":  # other writers' timestamps and an impossible date
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET created_at ="
                    " replace(created_at, ' ', 'T') || 'Z' WHERE session_id LIKE '%3'"
                )
            )
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET completed_at = '2024-02-30 10:00:00.000000'"
                    " WHERE session_id LIKE '%17'"
                )
            )
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET updated_at = substr(updated_at, 1, 19)"
                    " WHERE session_id LIKE '%5'"
                )
            )
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET results ="
                    " '{\"size_reduction_percent\": -0.0}' WHERE session_id LIKE '%9'"
                )
            )


SEARCHES = [
    "'",
    "\\",
    "%",
    "_",
    "''",
    "\\'",
    "a'b\\c%_",
    "'; DROP TABLE models; --",
    "%%",
    "ünï",
    "=",
    'q"t',
    "back\\slash",
    "100%",
]
