"""Every optimisation returns exactly what the plain query returns (issue 6), on both backends.

The optimised path is what the dashboard runs: generated columns and their indexes, the
technique table, the trigram search index (FTS5 / pg_trgm), the SQLite per-status counts,
index-first paging that reads past-the-middle pages backwards, and the fast CSV export. The
plain path is the same filter rendered with none of that: JSON extracted at query time, LIKE /
ILIKE scans, ``json_each`` for techniques, ``count(*)``, one ``ORDER BY ... LIMIT ... OFFSET``
over the enriched join, and the row-by-row CSV writer.

The data is random (seeded) with many ties (shared timestamps, statuses, rounded metrics),
nulls, malformed or wrongly typed JSON, timestamps in other writers' formats, sessions on
models missing from ``models`` and names with LIKE wildcards. It is compared again after the
platform writes with plain SQL: inserts, updates of every indexed column, deletes, REPLACE /
upserts and ignored inserts, and model changes. A bare platform database (no ``init_db``) gives
the same answers through the inline fallback, and ``init_db`` on it leaves its data untouched.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.export.csv_stream import iter_csv, iter_filtered_csv
from core.fields import SORT_KEYS
from core.query import sessions as query
from core.query.filter import SessionFilter
from core.query.sessions import (
    build_count,
    build_page_select,
    build_select,
    count_data_issues,
    count_sessions,
    day_span,
    fetch_page,
    iter_sessions,
    row_from_mapping,
)
from core.speed.derived import (
    Capabilities,
    capabilities,
    derived,
    forget_capabilities,
    init_db,
    override_capabilities,
)
from core.stats import aggregates
from core.store.engine import make_engine
from core.store.tables import STATUSES, models, optimization_sessions
from core.store.types import Malformed

if TYPE_CHECKING:
    from core.speed import SpeedLayer

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


# -- the plain reference -----------------------------------------------------------------------


def plain_caps(dialect: str) -> Capabilities:
    """Nothing derived: inline JSON expressions, LIKE scans, json_each, count(*)."""
    return Capabilities(
        dialect=dialect, generated_columns=frozenset(), techniques_table=False, search_index=False
    )


def plain_rows(conn: Connection, f: SessionFilter, *, paged: bool = True) -> tuple[Any, ...]:
    statement = build_select(f, plain_caps(conn.dialect.name))
    if paged:
        statement = statement.limit(f.limit).offset(f.skip)
    return tuple(row_from_mapping(r) for r in conn.execute(statement).mappings())


def plain_total(conn: Connection, f: SessionFilter) -> int:
    return int(conn.execute(build_count(f, plain_caps(conn.dialect.name))).scalar_one())


def plain_issues(conn: Connection, f: SessionFilter) -> int:
    caps = plain_caps(conn.dialect.name)
    statement = build_count(f, caps).where(derived("data_issue", caps) == 1)
    return int(conn.execute(statement).scalar_one())


# -- random filters ----------------------------------------------------------------------------


def search_terms(conn: Connection) -> list[str]:
    """Fragments of real ids and names (any case), short ones, wildcards, quotes, misses."""
    ids = [r[0] for r in conn.execute(text("SELECT session_id FROM optimization_sessions"))]
    names = [r[0] for r in conn.execute(text("SELECT name FROM models"))]
    terms = [
        "opt",
        "OPT-00",
        "s%",
        "s_",
        "%",
        "_",
        "\\",
        '"',
        "dup",
        "bert",
        "BERT b",
        "RESNET",
        "100%",
        "%_n",
        "under_",
        "whisper",
        "ünï",
        "ÜNÏ",
        "ab",
        "a",
        "m-0",
        "m-1",
        "gone",
        "x%y",
        "-00",
        "zzz-none",
        'quote"n',
        "m-ghost",
    ]
    rng = random.Random(SEED + 1)
    for value in rng.sample(ids, 8) + rng.sample(names, 4):
        start = rng.randrange(0, max(1, len(value) - 3))
        fragment = value[start : start + rng.choice([2, 3, 4, 6])]
        terms.append(fragment.upper() if rng.random() < 0.3 else fragment)
    return terms


def random_filter(rng: random.Random, terms: list[str], model_ids: list[str]) -> SessionFilter:
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.4:
        kwargs["statuses"] = tuple(rng.sample(STATUSES, rng.randrange(1, 3)))
    if rng.random() < 0.2:
        kwargs["model_ids"] = tuple(rng.sample(model_ids, rng.randrange(1, 3)))
    roll = rng.random()
    if roll < 0.3:
        start = BASE.date() + timedelta(days=rng.randrange(0, 30))
        end = start + timedelta(days=rng.randrange(0, 15))
        kwargs["start_date"], kwargs["end_date"] = start, end
    elif roll < 0.4:
        kwargs["start_date"] = BASE + timedelta(
            days=rng.randrange(0, 40), hours=6, microseconds=rng.choice([0, 500, 123456])
        )
    elif roll < 0.5:
        kwargs["end_date"] = BASE + timedelta(
            days=rng.randrange(0, 40), hours=12, microseconds=rng.choice([0, 499, 123456])
        )
    if rng.random() < 0.35:
        kwargs["search"] = rng.choice(terms)
    if rng.random() < 0.2:
        kwargs["techniques"] = tuple(rng.sample(TECHNIQUES, rng.randrange(1, 3)))
    kwargs["sort"] = rng.choice(SORT_KEYS)
    kwargs["order"] = rng.choice(("asc", "desc"))
    kwargs["limit"] = rng.choice((1, 7, 50, 100))
    return SessionFilter(**kwargs)


def skips(rng: random.Random, total: int, limit: int) -> list[int]:
    """First page, random, both sides of the middle (index-first vs reversed), the end, past it."""
    candidates = {0, total + 3, max(0, total - 1), total // 2, total // 2 + 1}
    if total:
        candidates.add(rng.randrange(total))
        candidates.add((total - 1) // limit * limit)
    return sorted(candidates)


# -- the comparison ----------------------------------------------------------------------------


def check_filter(conn: Connection, f: SessionFilter, rng: random.Random, *, full: bool) -> None:
    total = plain_total(conn, f)
    assert count_sessions(conn, f) == total, f
    caps = capabilities(conn)
    for skip in skips(rng, total, f.limit):
        paged = replace(f, skip=skip)
        page = fetch_page(conn, paged)
        assert page.total == total, paged
        expected = plain_rows(conn, paged)
        assert page.rows == expected, paged
        if (f.search or f.techniques) and skip < total:
            # Every page plan, not only the one the heuristic picks for this data.
            for plan in ("index", "walk", "collect"):
                statement = build_page_select(paged, caps, total, plan=plan)
                rows = tuple(row_from_mapping(r) for r in conn.execute(statement).mappings())
                assert rows == expected, (plan, paged)
    if full:
        everything = plain_rows(conn, f, paged=False)
        assert tuple(iter_sessions(conn, f)) == everything, f
        assert count_data_issues(conn, f) == plain_issues(conn, f), f
        fast = "".join(iter_filtered_csv(conn, f, chunk_rows=7))
        assert fast == "".join(iter_csv(iter(everything))), f


def check_many(engine: Engine, rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    checked = 0
    with engine.connect() as conn:
        terms = search_terms(conn)
        model_ids = [r[0] for r in conn.execute(text("SELECT model_id FROM models"))]
        model_ids += list(MISSING_MODELS)
        fixed = [
            SessionFilter(),
            SessionFilter(statuses=("completed",)),
            SessionFilter(statuses=("failed", "running"), sort="size_reduction_percent"),
            SessionFilter(sort="model_name", order="asc"),
            SessionFilter(search="m-0"),
            SessionFilter(search="x%y", sort="model_name"),
            SessionFilter(techniques=("pruning",)),
        ]
        for index, f in enumerate(fixed + [random_filter(rng, terms, model_ids) for _ in range(rounds)]):
            check_filter(conn, f, rng, full=index < len(fixed) or index % 5 == 0)
            checked += 1
    return checked


def check_derived_tables(engine: Engine) -> None:
    """The trigger-kept tables hold exactly what the platform rows say."""
    with engine.connect() as conn:
        caps = capabilities(conn)
        if caps.techniques_table:
            plain = plain_caps(conn.dialect.name)
            for technique in TECHNIQUES:
                f = SessionFilter(techniques=(technique,))
                assert count_sessions(conn, f) == plain_total(conn, f)
            assert plain is not None
        if caps.status_counts:
            counts = dict(
                conn.execute(
                    text(
                        "SELECT status, sum(sessions) FROM session_counts GROUP BY status"
                        " HAVING sum(sessions) <> 0"
                    )
                ).all()
            )
            truth = dict(
                conn.execute(text("SELECT status, count(*) FROM optimization_sessions GROUP BY status")).all()
            )
            assert {k: int(v) for k, v in counts.items()} == truth
            for statuses in ((), ("completed",), ("failed", "running"), ("nonexistent",)):
                f = SessionFilter(statuses=tuple(s for s in statuses if s in STATUSES))
                assert count_sessions(conn, f) == plain_total(conn, f)
        if conn.dialect.name == "sqlite" and caps.status_counts:
            live = conn.execute(text("SELECT count(*) FROM optimization_sessions")).scalar_one()
            assert conn.execute(text("SELECT count(*) FROM session_search")).scalar_one() == live
            assert conn.execute(text("SELECT count(*) FROM session_keys")).scalar_one() == live
            mismatched = conn.execute(
                text(
                    "SELECT count(*) FROM session_keys k JOIN session_search f ON f.rowid = k.search_rowid"
                    " JOIN optimization_sessions s ON s.session_id = k.session_id"
                    " WHERE f.session_id IS NOT s.session_id"
                    " OR k.status IS NOT s.status"
                )
            ).scalar_one()
            assert mismatched == 0


# -- platform writes with plain SQL -----------------------------------------------------------


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def platform_writes(engine: Engine, backend: str, rng: random.Random) -> None:
    """What the platform may do to its tables, none of it through this project's code."""
    now = BASE + timedelta(days=3, hours=6)
    cast = "CAST(:criteria AS jsonb)" if backend == "postgresql" else ":criteria"
    cast_r = "CAST(:results AS jsonb)" if backend == "postgresql" else ":results"
    columns = (
        "(session_id, model_id, status, criteria, total_steps, completed_steps, results,"
        " error_message, created_at, updated_at, completed_at)"
    )
    values = f"(:sid, :model, :status, {cast}, :total, :done, {cast_r}, NULL, :created, :updated, :completed)"

    def params(sid: str, model: str, status: str, techniques: Any, size: Any) -> dict[str, Any]:
        return {
            "sid": sid,
            "model": model,
            "status": status,
            "criteria": _json({"techniques": techniques}),
            "total": 10,
            "done": 5,
            "results": _json({"size_reduction_percent": size}),
            "created": now,
            "updated": now,
            "completed": now if status == "completed" else None,
        }

    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT session_id FROM optimization_sessions"))]
        picked = rng.sample(ids, 40)
        # Inserts, on known and unknown models.
        for i in range(15):
            conn.execute(
                text(f"INSERT INTO optimization_sessions {columns} VALUES {values}"),
                params(
                    f"new-{i:03d}",
                    rng.choice(["m-01", "m-new", "m-03"]),
                    rng.choice(STATUSES),
                    rng.sample(TECHNIQUES, 2),
                    rng.choice([5, 12.5, None]),
                ),
            )
        # Updates of every column something is derived from.
        for sid in picked[:6]:
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET status = 'completed', completed_steps ="
                    " total_steps WHERE session_id = :sid"
                ),
                {"sid": sid},
            )
        for sid in picked[6:10]:
            conn.execute(
                text("UPDATE optimization_sessions SET model_id = 'm-06' WHERE session_id = :sid"),
                {"sid": sid},
            )
        for sid in picked[10:13]:
            conn.execute(
                text(
                    f"UPDATE optimization_sessions SET criteria = {cast}, results = {cast_r}"
                    " WHERE session_id = :sid"
                ),
                {
                    "sid": sid,
                    "criteria": _json({"techniques": ["pruning", "distillation"]}),
                    "results": _json({"size_reduction_percent": 77.5}),
                },
            )
        for number, sid in enumerate(picked[13:16]):
            conn.execute(
                text("UPDATE optimization_sessions SET session_id = :new WHERE session_id = :sid"),
                {"sid": sid, "new": f"renamed-{number}"},
            )
        conn.execute(
            text("UPDATE optimization_sessions SET created_at = :t, updated_at = :t WHERE session_id = :sid"),
            {"sid": picked[16], "t": now},
        )
        # Deletes, one by one and several in one statement.
        for sid in picked[17:20]:
            conn.execute(text("DELETE FROM optimization_sessions WHERE session_id = :sid"), {"sid": sid})
        conn.execute(
            text("DELETE FROM optimization_sessions WHERE session_id IN (:a, :b)"),
            {"a": picked[20], "b": picked[21]},
        )
        # A status change for many rows in one statement.
        conn.execute(
            text(
                "UPDATE optimization_sessions SET status = 'cancelled'"
                " WHERE status = 'pending' AND session_id LIKE '%1'"
            )
        )
        # Replace an existing session wholesale (new model, status and techniques), and an
        # insert that is ignored because the id exists.
        for sid in picked[22:28]:
            p = params(sid, "m-07", "failed", ["quantization"], 3.0)
            if backend == "sqlite":
                conn.execute(
                    text(f"INSERT OR REPLACE INTO optimization_sessions {columns} VALUES {values}"), p
                )
            else:
                conn.execute(
                    text(
                        f"INSERT INTO optimization_sessions {columns} VALUES {values}"
                        " ON CONFLICT (session_id)"
                        " DO UPDATE SET model_id = EXCLUDED.model_id, status = EXCLUDED.status,"
                        " criteria = EXCLUDED.criteria, results = EXCLUDED.results"
                    ),
                    p,
                )
        for sid in picked[28:31]:
            p = params(sid, "m-08", "running", ["pruning"], 1.0)
            if backend == "sqlite":
                conn.execute(
                    text(f"INSERT OR IGNORE INTO optimization_sessions {columns} VALUES {values}"), p
                )
            else:
                conn.execute(
                    text(
                        f"INSERT INTO optimization_sessions {columns} VALUES {values} ON CONFLICT DO NOTHING"
                    ),
                    p,
                )
        if backend == "sqlite":
            # REPLACE of a row by a brand-new id, and UPDATE OR REPLACE onto an existing id
            # (the row holding that id disappears without a delete trigger).
            conn.execute(
                text(f"REPLACE INTO optimization_sessions {columns} VALUES {values}"),
                params("new-replaced", "m-02", "pending", [], None),
            )
            conn.execute(
                text(
                    "UPDATE OR REPLACE optimization_sessions SET session_id = :target,"
                    " status = 'cancelled' WHERE session_id = :sid"
                ),
                {"sid": picked[31], "target": picked[32]},
            )
        # Model metadata changes: a new model name matching searches, a removed model.
        conn.execute(text("INSERT INTO models (model_id, name) VALUES ('m-new', 'Whisper Tiny 100%')"))
        conn.execute(text("UPDATE models SET name = 'renamed bert' WHERE model_id = 'm-00'"))
        conn.execute(text("DELETE FROM models WHERE model_id = 'm-04'"))


# -- fixtures and tests ------------------------------------------------------------------------


def _engines(url: str) -> tuple[Engine, Engine]:
    writer = make_engine(Settings(url, "--db"), read_only=False)
    with writer.connect():  # creates the SQLite file the read-only engine opens
        pass
    return writer, make_engine(Settings(url, "--db"), read_only=True)


@pytest.fixture
def initialised(empty_db_url: str) -> Iterator[tuple[Engine, Engine, str]]:
    writer, reader = _engines(empty_db_url)
    backend = writer.dialect.name
    init_db(writer)
    load(writer, backend, random.Random(SEED), 700)
    yield writer, reader, backend
    reader.dispose()
    writer.dispose()


def test_optimised_queries_equal_the_plain_query(initialised: tuple[Engine, Engine, str]) -> None:
    _, reader, _ = initialised
    with reader.connect() as conn:
        caps = capabilities(conn)
    assert caps.techniques_table and caps.status_counts and len(caps.generated_columns) >= 6
    assert check_many(reader, rounds=70, seed=SEED) > 70
    check_derived_tables(reader)


def test_still_equal_after_the_platform_writes_with_plain_sql(
    initialised: tuple[Engine, Engine, str],
) -> None:
    writer, reader, backend = initialised
    rng = random.Random(SEED + 2)
    platform_writes(writer, backend, rng)
    check_derived_tables(reader)
    check_many(reader, rounds=40, seed=SEED + 3)
    # A second round of writes on top of the first (rows touched twice, re-replaced ids).
    platform_writes_again = random.Random(SEED + 4)
    with writer.begin() as conn:
        conn.execute(text("DELETE FROM optimization_sessions WHERE session_id LIKE 'new-00%'"))
        conn.execute(
            text("UPDATE optimization_sessions SET status = 'running' WHERE session_id LIKE 'renamed-%'")
        )
    if backend == "sqlite":
        with writer.begin() as conn:
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO optimization_sessions (session_id, model_id, status,"
                    " created_at, updated_at) SELECT session_id, 'm-09', 'completed', created_at,"
                    " updated_at FROM optimization_sessions WHERE session_id LIKE 'new-01%'"
                )
            )
    check_derived_tables(reader)
    check_many(reader, rounds=20, seed=platform_writes_again.randrange(10**6))


def test_init_db_is_idempotent_and_keeps_answers(initialised: tuple[Engine, Engine, str]) -> None:
    writer, reader, _ = initialised
    f = SessionFilter(statuses=("completed",), sort="size_reduction_percent")
    with reader.connect() as conn:
        before = fetch_page(conn, f)
    init_db(writer)
    forget_capabilities(reader)
    with reader.connect() as conn:
        assert fetch_page(conn, f) == before
    check_derived_tables(reader)


def _platform_snapshot(engine: Engine) -> tuple[Any, ...]:
    columns = [
        optimization_sessions.c[name]
        for name in (
            "session_id",
            "model_id",
            "status",
            "criteria",
            "total_steps",
            "completed_steps",
            "results",
            "error_message",
            "created_at",
            "updated_at",
            "completed_at",
        )
    ]
    with engine.connect() as conn:
        sessions = conn.execute(select(*columns).order_by(optimization_sessions.c.session_id)).all()
        model_rows = conn.execute(select(models).order_by(models.c.model_id)).all()
    return tuple(map(tuple, sessions)), tuple(map(tuple, model_rows))


def test_bare_platform_database_gives_the_same_answers(empty_db_url: str) -> None:
    """No init_db: the inline fallback. Then init_db on the populated database: same answers,
    same platform data."""
    writer, reader = _engines(empty_db_url)
    backend = writer.dialect.name
    try:
        from core.store.tables import metadata

        metadata.create_all(writer)  # what the platform has: its two tables, nothing derived
        load(writer, backend, random.Random(SEED + 5), 400)
        platform_writes(writer, backend, random.Random(SEED + 6))
        with reader.connect() as conn:
            caps = capabilities(conn)
            assert not caps.generated_columns and not caps.techniques_table and not caps.search_index
        rng = random.Random(SEED + 7)
        filters = [
            SessionFilter(),
            SessionFilter(search="whisper", sort="model_name"),
            SessionFilter(techniques=("pruning",), sort="progress_percentage", order="asc"),
        ]
        with reader.connect() as conn:
            terms = search_terms(conn)
            model_ids = [r[0] for r in conn.execute(text("SELECT model_id FROM models"))]
        filters += [random_filter(rng, terms, model_ids) for _ in range(25)]
        answers = []
        with reader.connect() as conn:
            for f in filters:
                check_filter(conn, f, random.Random(1), full=True)
                answers.append((fetch_page(conn, f), fetch_page(conn, replace(f, skip=3))))

        snapshot = _platform_snapshot(writer)
        init_db(writer)
        assert _platform_snapshot(writer) == snapshot  # init-db never touches platform data
        if backend == "postgresql":
            # Vacuumed after the rewrite: index-only scans need not visit the heap.
            with writer.connect() as conn:
                pages, visible = conn.execute(
                    text(
                        "SELECT relpages, relallvisible FROM pg_class"
                        " WHERE oid = 'optimization_sessions'::regclass"
                    )
                ).one()
            assert pages > 0 and visible == pages
        forget_capabilities(reader)
        with reader.connect() as conn:
            caps = capabilities(conn)
            assert caps.techniques_table and caps.generated_columns
            for f, (first, later) in zip(filters, answers, strict=True):
                assert fetch_page(conn, f) == first, f
                assert fetch_page(conn, replace(f, skip=3)) == later, f
        check_derived_tables(reader)
    finally:
        reader.dispose()
        writer.dispose()


def test_deep_pages_that_skip_whole_days_equal_the_plain_query(
    initialised: tuple[Engine, Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Day skipping (SQLite, status-only filters sorted by creation time) turned on from the
    first row: every page, both directions, several page sizes, equals the plain query; again
    after the platform writes with plain SQL."""
    writer, reader, backend = initialised
    monkeypatch.setattr(query, "DAY_SKIP_MIN_OFFSET", 0)
    spans: list[query.DaySpan] = []

    def spying_day_span(*args: Any) -> query.DaySpan | None:
        span = day_span(*args)
        if span is not None:
            spans.append(span)
        return span

    monkeypatch.setattr(query, "day_span", spying_day_span)

    def check() -> None:
        with reader.connect() as conn:
            for statuses in ((), ("completed",), ("failed", "running")):
                for order in ("asc", "desc"):
                    for limit in (1, 7, 50):
                        f = SessionFilter(statuses=statuses, order=order, limit=limit)
                        total = plain_total(conn, f)
                        for skip in sorted({*range(0, total, 13), total - 1, total // 2 + 1, total}):
                            paged = replace(f, skip=max(0, skip))
                            page = fetch_page(conn, paged)
                            assert page.total == total, paged
                            assert page.rows == plain_rows(conn, paged), paged

    check()
    platform_writes(writer, backend, random.Random(SEED + 8))
    check()
    if backend == "sqlite":
        assert len({(s.first, s.last) for s in spans}) > 20  # the skipping really ran
        assert any(s.first != s.last for s in spans)  # pages spanning two days too
    else:
        assert not spans


def test_search_answers_equal_with_the_ids_passed_on_or_a_scan_for_broad_matches(
    initialised: tuple[Engine, Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite runs the trigram MATCH once and passes the ids on; above a limit the search is a
    plain LIKE scan. Both give the plain query's answers."""
    _, reader, backend = initialised
    with reader.connect() as conn:
        found = query.trigram_matches(conn, SessionFilter(search="-001"))
        if backend == "sqlite":
            assert found is not None and found.ids
            # Session ids only: model ids are matched among the distinct ones.
            by_model = query.trigram_matches(conn, SessionFilter(search="m-0"))
            assert by_model is not None and by_model.ids == () and "m-01" in by_model.models
        else:
            assert found is None
        assert query.trigram_matches(conn, SessionFilter(search="m-")) is None  # no trigram
    check_many(reader, rounds=15, seed=SEED + 9)
    monkeypatch.setattr(query, "MATCHED_IDS_LIMIT", 3)
    with reader.connect() as conn:
        broad = query.trigram_matches(conn, SessionFilter(search="-001"))
        assert broad is None if backend != "sqlite" else broad is not None and broad.ids is None
    check_many(reader, rounds=25, seed=SEED + 9)


def test_a_search_index_from_an_earlier_version_answers_alike_and_init_db_rebuilds_it(
    initialised: tuple[Engine, Engine, str],
) -> None:
    """Earlier versions indexed model ids in SQLite's trigram table too: read as is, it gives
    the same answers; init-db replaces it with the session-id index, data untouched."""
    writer, reader, backend = initialised
    if backend != "sqlite":
        pytest.skip("the trigram table is SQLite's")
    with writer.begin() as conn:
        conn.execute(text("DROP TABLE session_search"))
        conn.execute(
            text("CREATE VIRTUAL TABLE session_search USING fts5(session_id, model_id, tokenize = 'trigram')")
        )
        conn.execute(
            text(
                "INSERT INTO session_search (rowid, session_id, model_id)"
                " SELECT k.search_rowid, s.session_id, s.model_id FROM session_keys k"
                " JOIN optimization_sessions s ON s.session_id = k.session_id"
            )
        )
    forget_capabilities(reader)
    check_many(reader, rounds=15, seed=SEED + 10)
    snapshot = _platform_snapshot(writer)
    init_db(writer)
    assert _platform_snapshot(writer) == snapshot
    with writer.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(session_search)"))}
    assert columns == {"session_id"}
    forget_capabilities(reader)
    check_derived_tables(reader)
    check_many(reader, rounds=15, seed=SEED + 10)


def _alike(a: Any, b: Any) -> bool:
    """Equal, floats up to rounding (sums read rows in another order on another path)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        return all(_alike(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(_alike, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_alike(a[k], b[k]) for k in a)
    return a == b


AGGREGATES_OF_A_SEARCH = (
    "summary",
    "status_counts",
    "technique_stats",
    "period_stats",
    "scatter",
    "pareto_front",
    "model_ranking",
    "created_span",
)


def test_aggregates_of_a_search_equal_the_plain_path(
    initialised: tuple[Engine, Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Sessions page's cards, charts and status counts for a search or a set of models:
    with the trigram MATCH run once (few ids, or a scan for broad matches) and the model-first
    facts index, they equal the plain path's."""
    writer, reader, backend = initialised
    platform_writes(writer, backend, random.Random(SEED + 11))
    with reader.connect() as conn:
        terms = [*search_terms(conn)[:10], "-00", "opt", "m-0"]
        caps = capabilities(conn)
        model_ids = sorted(r[0] for r in conn.execute(text("SELECT model_id FROM models")))
    filters = [SessionFilter(search=t) for t in terms]
    filters += [SessionFilter(search=t, statuses=("completed", "failed")) for t in terms[::3]]
    filters += [
        SessionFilter(model_ids=(*model_ids[:3], *MISSING_MODELS[:1])),
        SessionFilter(model_ids=tuple(model_ids[3:5]), statuses=("completed",)),
        SessionFilter(model_ids=tuple(model_ids[:6]), search="opt"),
    ]
    override_capabilities(reader, plain_caps(backend))
    with reader.connect() as conn:
        expected = {
            f: [getattr(aggregates, name)(conn, f) for name in AGGREGATES_OF_A_SEARCH] for f in filters
        }
    override_capabilities(reader, caps)
    by_lists = []  # broad scans read per technique by lists of techniques (SQLite)
    original = aggregates._by_technique_set

    def spy(*args: Any) -> Any:
        by_lists.append(args)
        return original(*args)

    monkeypatch.setattr(aggregates, "_by_technique_set", spy)
    for limit in (query.MATCHED_IDS_LIMIT, 3):
        monkeypatch.setattr(query, "MATCHED_IDS_LIMIT", limit)
        with reader.connect() as conn:
            for f in filters:
                found = [getattr(aggregates, name)(conn, f) for name in AGGREGATES_OF_A_SEARCH]
                for name, x, y in zip(AGGREGATES_OF_A_SEARCH, found, expected[f], strict=True):
                    assert _alike(x, y), (limit, f, name, x, y)
    assert bool(by_lists) == (backend == "sqlite")
    # Weekly buckets (the page picks them for ranges of 46-740 days) on every path.
    weekly = []
    original_streamed = aggregates._streamed

    def spy_streamed(*args: Any, **kwargs: Any) -> Any:
        weekly.append(args[3])
        return original_streamed(*args, **kwargs)

    monkeypatch.setattr(aggregates, "_streamed", spy_streamed)
    for f in filters[:8]:
        override_capabilities(reader, plain_caps(backend))
        with reader.connect() as conn:
            expected_weeks = aggregates.period_stats(conn, f, granularity="week")
        override_capabilities(reader, caps)
        with reader.connect() as conn:
            found_weeks = aggregates.period_stats(conn, f, granularity="week")
        assert _alike(found_weeks, expected_weeks), f
    assert ("created_week" in weekly) == (backend == "sqlite")


def test_date_bounds_compare_alike_on_every_path(initialised: tuple[Engine, Engine, str]) -> None:
    """Day and instant bounds at the exact tie instants of the data."""
    _, reader, _ = initialised
    with reader.connect() as conn:
        for day in range(0, 40, 3):
            instant = BASE + timedelta(days=day, hours=6)
            for f in (
                SessionFilter(start_date=instant),
                SessionFilter(end_date=instant),
                SessionFilter(start_date=(BASE + timedelta(days=day)).date(), end_date=date(2024, 4, 10)),
                SessionFilter(end_date=instant + timedelta(microseconds=500)),
            ):
                check_filter(conn, f, random.Random(day), full=False)


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


def test_export_cells_match_for_tricky_values(empty_db_url: str) -> None:
    """The database-shaped CSV cells (numbers, durations, timestamps) equal Python's, value by value."""
    writer, reader = _engines(empty_db_url)
    rng = random.Random(SEED + 9)
    try:
        init_db(writer)
        rows = []
        for index, number in enumerate(TRICKY_NUMBERS * 3):
            created = BASE + timedelta(
                seconds=rng.randrange(0, 10**6),
                microseconds=rng.choice([0, 50, 150, 999950, 999999, 500000, rng.randrange(10**6)]),
            )
            completed = created + timedelta(
                seconds=rng.choice([-5, 0, 0, 1, 3600, 10**7]),
                microseconds=rng.choice([0, 50, -50, 149, 151, 999950, rng.randrange(10**6)]),
            )
            done = rng.choice([0, 1, 2, 3, 7, 9, 10, 33, 200, 333])
            rows.append(
                {
                    "session_id": f"t-{index:03d}",
                    "model_id": rng.choice(["m-00", "=cmd", "-x", "@y"]),
                    "status": rng.choice(["running", "failed", "completed", "cancelled"]),
                    "criteria": {"techniques": rng.choice([["=SUM(A1)"], ["+a", "b"], ["pruning"]])},
                    "total_steps": rng.choice([3, 7, 9, 1000, 2000, 3]),
                    "completed_steps": done,
                    "results": {
                        "size_reduction_percent": number,
                        "speed_improvement_percent": -number if isinstance(number, float) else number,
                        "accuracy_delta_percent": number / 7,
                    },
                    "error_message": None,
                    "created_at": created,
                    "updated_at": created,
                    "completed_at": completed if index % 5 else None,
                }
            )
        with writer.begin() as conn:
            conn.execute(insert(models), [{"model_id": "m-00", "name": " =HYPERLINK()"}])
            conn.execute(insert(optimization_sessions), rows)
        with reader.connect() as conn:
            for f in (SessionFilter(), SessionFilter(sort="size_reduction_percent", order="asc")):
                fast = "".join(iter_filtered_csv(conn, f)).split("\r\n")
                plain = "".join(iter_csv(iter_sessions(conn, f))).split("\r\n")
                assert len(fast) == len(plain) == len(rows) + 2
                for a, b in zip(fast, plain, strict=True):
                    assert a == b
    finally:
        reader.dispose()
        writer.dispose()


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


def _load_random_cells(writer: Engine, backend: str, rng: random.Random, count: int) -> None:
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


def _copy_row_kinds(conn: Connection, f: SessionFilter) -> tuple[int, int]:
    """(lines the server wrote, rows it left to Python) for ``f``'s COPY statement."""
    from core.export.csv_stream import _copy_statement

    statement = _copy_statement(conn, f)
    assert statement is not None
    lines = fallbacks = 0
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for data in copy:
            if data[0] == ord("["):
                fallbacks += 1
            else:
                lines += 1
    return lines, fallbacks


def test_export_random_cells_equal_the_reference(empty_db_url: str) -> None:
    """Both export paths give the reference text, on cells drawn around every boundary."""
    from core.export.csv_stream import copy_csv_supported

    writer, reader = _engines(empty_db_url)
    backend = writer.dialect.name
    rng = random.Random(SEED + 11)
    try:
        init_db(writer)
        _load_random_cells(writer, backend, rng, 1500)
        filters = [
            SessionFilter(),
            SessionFilter(sort="size_reduction_percent", order="asc"),
            SessionFilter(sort="accuracy_delta_percent"),
            SessionFilter(sort="model_name", order="asc"),
            SessionFilter(sort="techniques"),
            SessionFilter(statuses=("completed", "failed"), sort="completed_at", order="asc"),
            *(SessionFilter(search=s) for s in SEARCHES),
            SessionFilter(techniques=("a,b", 'q"t', "back\\slash", "x'y")),
        ]
        filters += [
            SessionFilter(
                sort=rng.choice(SORT_KEYS),
                order=rng.choice(("asc", "desc")),
                search=rng.choice(["", "", *SEARCHES]),
                statuses=tuple(rng.sample(STATUSES, rng.randrange(0, 3))),
            )
            for _ in range(10)
        ]
        with reader.connect() as conn:
            if backend == "postgresql":
                assert copy_csv_supported(conn, SessionFilter())
                lines, fallbacks = _copy_row_kinds(conn, SessionFilter())
                # Both ways are exercised: lines made by the server and rows left to Python.
                assert lines > 300 and fallbacks > 300, (lines, fallbacks)
            for f in filters:
                expected = "".join(iter_csv(iter_sessions(conn, f)))
                for chunk_rows in (1, 7, 2000):
                    fast = "".join(iter_filtered_csv(conn, f, chunk_rows=chunk_rows, batch_size=97))
                    if fast != expected:
                        pairs = zip(fast.split("\r\n"), expected.split("\r\n"), strict=False)
                        first = next(((a, b) for a, b in pairs if a != b), None)
                        raise AssertionError(f"{f} chunk_rows={chunk_rows}: {first!r}")
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_cells_for_boundary_values(empty_db_url: str) -> None:
    """Value by value: numbers on both sides of every limit, each in its own row."""
    writer, reader = _engines(empty_db_url)
    backend = writer.dialect.name
    edges = [
        0.0,
        -0.0,
        1e-5,
        -1e-5,
        0.00005,
        0.00015,
        0.00025,
        0.03125,
        0.03135,
        2.675,
        1.00005,
        40.0,
        99999999.9999,
        99999999.99995,
        1e8,
        100000000.0001,
        1e11,
        1e15,
        1e16,
        1.5e300,
        5e-324,
        -1234.56785,
        12.34565,
        12.34575,
        0.1 + 0.2,
        1 / 3,
        2**53,
        -(2**53) - 2,
    ]
    try:
        init_db(writer)
        rows = []
        for index, number in enumerate(edges):
            for sign in (1, -1):
                created = BASE + timedelta(microseconds=index * 37)
                rows.append(
                    {
                        "session_id": f"e-{index:03d}-{sign}",
                        "model_id": "m",
                        "status": "running",
                        "criteria": {"techniques": []},
                        "total_steps": 32,
                        "completed_steps": index % 33,
                        "results": {
                            "size_reduction_percent": sign * number,
                            "speed_improvement_percent": number / 3,
                            "accuracy_delta_percent": sign * number * 10000,
                        },
                        "error_message": None,
                        "created_at": created,
                        "updated_at": created,
                        "completed_at": created
                        + timedelta(
                            microseconds=int(abs(number) * 10**6) % 10**12 if abs(number) < 1e9 else 50
                        ),
                    }
                )
        with writer.begin() as conn:
            conn.execute(insert(optimization_sessions), rows)
        with reader.connect() as conn:
            f = SessionFilter(sort="session_id", order="asc")
            fast = "".join(iter_filtered_csv(conn, f)).split("\r\n")
            plain = "".join(iter_csv(iter_sessions(conn, f))).split("\r\n")
            assert len(fast) == len(plain) == len(rows) + 2
            for a, b in zip(fast, plain, strict=True):
                assert a == b
            assert backend != "postgresql" or sum(_copy_row_kinds(conn, f)) == len(rows)
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_abandoned_midway_leaves_a_usable_connection(empty_db_url: str) -> None:
    """A download cancelled after a few chunks stops the COPY; the connection is reusable."""
    writer, reader = _engines(empty_db_url)
    try:
        init_db(writer)
        load(writer, writer.dialect.name, random.Random(SEED + 12), 600)
        with reader.connect() as conn:
            chunks = iter_filtered_csv(conn, SessionFilter(), chunk_rows=50)
            assert next(chunks).startswith("session_id,")
            next(chunks)
            chunks.close()
            conn.rollback()
            assert count_sessions(conn, SessionFilter()) == 600
            whole = "".join(iter_filtered_csv(conn, SessionFilter()))
            assert whole == "".join(iter_csv(iter_sessions(conn, SessionFilter())))
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_is_declined_where_its_proof_does_not_hold(empty_db_url: str) -> None:
    """With extra_float_digits = 0 the driver reads floats rounded to 15 digits, so the server
    would format other doubles than the reference: the streamed path runs, and still matches."""
    from core.export.csv_stream import copy_csv_supported

    writer, reader = _engines(empty_db_url)
    backend = writer.dialect.name
    try:
        init_db(writer)
        _load_random_cells(writer, backend, random.Random(SEED + 13), 200)
        with reader.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql("SET extra_float_digits = 0")
            assert not copy_csv_supported(conn, SessionFilter())
            f = SessionFilter(sort="speed_improvement_percent")
            assert "".join(iter_filtered_csv(conn, f)) == "".join(iter_csv(iter_sessions(conn, f)))
    finally:
        reader.dispose()
        writer.dispose()


# -- the speed layer's copy: the same answers as the platform's own rows ------------------------

AGGREGATES = (
    aggregates.summary,
    aggregates.status_counts,
    aggregates.technique_stats,
    aggregates.period_stats,
    aggregates.scatter,
    aggregates.pareto_front,
)


def _answers(conn: Connection, filters: list[SessionFilter]) -> list[Any]:
    out: list[Any] = []
    for f in filters:
        out.append(fetch_page(conn, f))
        out.append("".join(iter_csv(iter_sessions(conn, f))))
        unpaged = replace(f, skip=0)
        out.extend(fn(conn, unpaged) for fn in AGGREGATES)
    return out


def _filters(conn: Connection, count: int, seed: int) -> list[SessionFilter]:
    rng = random.Random(seed)
    terms = search_terms(conn)
    model_ids = [r[0] for r in conn.execute(text("SELECT DISTINCT model_id FROM optimization_sessions"))]
    return [
        SessionFilter(),
        SessionFilter(statuses=("completed",), sort="size_reduction_percent"),
        *(random_filter(rng, terms, model_ids) for _ in range(count)),
    ]


def assert_copy_answers_like_the_platform(layer: SpeedLayer, *, rounds: int = 25, seed: int = SEED) -> None:
    plan = layer.plan()
    assert plan.uses_copy, plan.reason
    with layer.platform_engine().connect() as conn:
        filters = _filters(conn, rounds, seed)
        expected = _answers(conn, filters)
    with plan.engine.connect() as conn:
        got = _answers(conn, filters)
    for f, a, b in zip([f for f in filters for _ in range(2 + len(AGGREGATES))], got, expected, strict=True):
        # Sums may add the same values in another order on another path: equal up to rounding.
        assert _alike(a, b), f


def test_the_copy_answers_like_the_platform_after_every_kind_of_plain_sql_write(empty_db_url: str) -> None:
    """The harshest writes (REPLACE, renamed ids, updates that leave ``updated_at`` alone): a
    sync finds those that bump it, and the full comparison every other."""
    from core.speed import SpeedLayer
    from core.speed.install import install
    from core.store.tables import metadata

    writer, _ = _engines(empty_db_url)
    backend = writer.dialect.name
    metadata.create_all(writer)
    load(writer, backend, random.Random(SEED), 600)
    settings = Settings(empty_db_url, "--db")
    install(settings, progress=lambda _: None)
    layer = SpeedLayer(settings)
    try:
        assert_copy_answers_like_the_platform(layer, rounds=30)
        platform_writes(writer, backend, random.Random(SEED + 11))
        layer.sync(full=True)
        assert_copy_answers_like_the_platform(layer, rounds=30, seed=SEED + 12)
    finally:
        layer.dispose()
        writer.dispose()
