"""The aggregates' rollup tables answer exactly what the plain aggregate queries answer (issue 6).

``init_db`` keeps exact pre-aggregated facts (``agg_sessions``, ``agg_counts``, ``agg_values``,
``agg_bins``, ``agg_models``) by triggers; :mod:`core.stats.rollup_reads` answers for filters
of statuses, whole UTC days and one technique. The reference here is the same function on an engine whose
capabilities say the rollups are absent, so it runs the plain queries over the same rows.

Counts, medians, quartiles, best values and dates must be equal; sums and means (megabytes
saved, mean size) may differ only by floating-point summation order. The data is the random
set of ``test_equivalence`` (ties, NULLs, malformed JSON, other writers' timestamps, missing
models), compared again after the platform writes with plain SQL, including REPLACE and model
size changes, and the rollup tables themselves are compared with a rebuild from scratch.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.query.filter import SessionFilter
from core.speed.build import init_db
from core.speed.capabilities import capabilities, forget_capabilities
from core.speed.rollup_tables import fill_rollups
from core.speed.tables import AGG_BINS, AGG_COUNTS, AGG_MODELS, AGG_SESSIONS, AGG_VALUES, ALL_WEEKS
from core.stats.models import model_ranking
from core.stats.periods import period_stats
from core.stats.points import pareto_front, scatter
from core.stats.rollup_plan import rollup_plan
from core.stats.summary import status_counts, summary
from core.stats.techniques import technique_stats
from core.store.tables import STATUSES
from tests.speed import equivalence
from tests.speed.equivalence import platform_writes
from tests.speed.random_sessions import BASE, SEED, TECHNIQUES, load
from tests.stats.rollup_engines import plain_engine

SUMS = {"mean", "mb_saved"}  # summed floats: equal up to summation order


def same(fast: Any, plain: Any, path: str = "", *, sums: bool = True) -> None:
    """Equal, field by field; ``SUMS`` fields within floating-point rounding (not compared
    at all without ``sums``: summing +-3e19 in another order rounds differently)."""
    if dataclasses.is_dataclass(fast) and not isinstance(fast, type):
        assert type(fast) is type(plain), path
        for field in dataclasses.fields(fast):
            name = field.name
            value, expected = getattr(fast, name), getattr(plain, name)
            if name in SUMS and value is not None and expected is not None:
                assert not sums or math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9), f"{path}.{name}"
            else:
                same(value, expected, f"{path}.{name}", sums=sums)
        return
    if isinstance(fast, tuple | list):
        assert len(fast) == len(plain), f"{path}: {len(fast)} != {len(plain)}"
        for index, (a, b) in enumerate(zip(fast, plain, strict=True)):
            same(a, b, f"{path}[{index}]", sums=sums)
        return
    assert fast == plain, f"{path}: {fast!r} != {plain!r}"


def rollup_filter(rng: random.Random) -> SessionFilter:
    """Filters the rollups answer (statuses, whole days, one technique), and a few they do not."""
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.5:
        kwargs["statuses"] = tuple(rng.sample(STATUSES, rng.randrange(1, 4)))
    roll = rng.random()
    first = BASE.date() - timedelta(days=3)
    if roll < 0.6:
        start = first + timedelta(days=rng.randrange(0, 40))
        kwargs["start_date"] = start
        kwargs["end_date"] = start + timedelta(days=rng.randrange(0, 30))
    elif roll < 0.7:
        kwargs["start_date"] = first + timedelta(days=rng.randrange(0, 40))
    elif roll < 0.8:
        kwargs["end_date"] = first + timedelta(days=rng.randrange(0, 40))
    roll = rng.random()
    if roll < 0.3:
        kwargs["techniques"] = (rng.choice([*TECHNIQUES, "missing"]),)
    elif roll < 0.35:
        kwargs["techniques"] = tuple(rng.sample(TECHNIQUES, 2))
    if rng.random() < 0.05:
        kwargs["model_ids"] = ("m-01",)
    return SessionFilter(**kwargs)


CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("summary", summary, {}),
    ("status_counts", status_counts, {}),
    ("technique_stats", technique_stats, {}),
    ("period_stats", period_stats, {}),
    ("period_stats week", period_stats, {"granularity": "week"}),
    ("period_stats month", period_stats, {"granularity": "month"}),
    ("model_ranking", model_ranking, {"limit": 7}),
    ("scatter", scatter, {}),
    ("scatter sampled", scatter, {"limit": 25}),
    ("pareto_front", pareto_front, {}),
]


def check_filters(fast: Engine, plain: Engine, rounds: int, seed: int) -> int:
    """Compare every aggregate over ``rounds`` random filters; how many took the rollups."""
    rng = random.Random(seed)
    filters = [
        SessionFilter(),
        SessionFilter(statuses=("completed",)),
        SessionFilter(start_date=BASE.date(), end_date=BASE.date() + timedelta(days=13)),
        SessionFilter(techniques=("pruning",), start_date=BASE.date() + timedelta(days=2)),
    ]
    filters += [rollup_filter(rng) for _ in range(rounds)]
    served = 0
    with fast.connect() as f_conn, plain.connect() as p_conn:
        assert capabilities(f_conn).rollups and not capabilities(p_conn).rollups
        for f in filters:
            served += rollup_plan(f_conn, f) is not None
            for name, fn, kwargs in CALLS:
                same(fn(f_conn, f, **kwargs), fn(p_conn, f, **kwargs), f"{name} {f}")
    return served


def _rows(conn: Any, table: str, keys: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """A rollup table as {key: values}, rows whose counts are all zero left out."""
    out = {}
    for row in conn.execute(text(f"SELECT * FROM {table}")):
        key, values = tuple(row[:keys]), tuple(row[keys:])
        if table != AGG_SESSIONS and not any(v for v in values if isinstance(v, int)):
            continue  # what the triggers decremented to zero; a rebuild has no such row
        out[key] = values
    return out


def check_tables_match_a_rebuild(writer: Engine) -> None:
    """What the triggers kept equals what a rebuild from the rows gives (then rolled back)."""
    keys = {AGG_SESSIONS: 1, AGG_COUNTS: 3, AGG_VALUES: 4, AGG_BINS: 4, AGG_MODELS: 2}
    with writer.connect() as conn:
        transaction = conn.begin()
        kept = {table: _rows(conn, table, n) for table, n in keys.items()}
        fill_rollups(conn)
        rebuilt = {table: _rows(conn, table, n) for table, n in keys.items()}
        transaction.rollback()
    for table in keys:
        assert kept[table].keys() == rebuilt[table].keys(), table
        for key, values in kept[table].items():
            for a, b in zip(values, rebuilt[table][key], strict=True):
                if isinstance(a, float) and isinstance(b, float):
                    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (table, key)
                else:
                    assert a == b, (table, key, values, rebuilt[table][key])


def test_rollups_equal_the_plain_aggregates(engines: tuple[Engine, Engine, Engine, str]) -> None:
    writer, reader, plain, _ = engines
    assert check_filters(reader, plain, rounds=30, seed=SEED) > 20
    check_tables_match_a_rebuild(writer)


def more_platform_writes(writer: Engine, backend: str) -> None:
    """Writes the shared scenario lacks: metric and date moves, model sizes, REPLACE of models."""
    with writer.begin() as conn:
        conn.execute(
            text(
                "UPDATE optimization_sessions SET status = 'failed'"
                " WHERE status = 'completed' AND session_id LIKE '%-2'"
            )
        )
        shift = (
            "created_at + INTERVAL '9 days'" if backend == "postgresql" else "datetime(created_at, '+9 days')"
        )
        conn.execute(
            text(f"UPDATE optimization_sessions SET created_at = {shift} WHERE session_id LIKE '%-3'")
        )
        results = (
            'CAST(\'{"size_reduction_percent": 12.5, "speed_improvement_percent": 3}\' AS jsonb)'
            if backend == "postgresql"
            else '\'{"size_reduction_percent": 12.5, "speed_improvement_percent": 3}\''
        )
        conn.execute(
            text(f"UPDATE optimization_sessions SET results = {results} WHERE session_id LIKE '%-4'")
        )
        conn.execute(text("UPDATE models SET original_size_mb = 250.0 WHERE model_id IN ('m-01', 'm-02')"))
        conn.execute(text("UPDATE models SET original_size_mb = NULL WHERE model_id = 'm-03'"))
        conn.execute(
            text("INSERT INTO models (model_id, name, original_size_mb) VALUES ('m-gone', 'back', 8)")
        )
        conn.execute(text("UPDATE models SET model_id = 'm-ghost-7' WHERE model_id = 'm-05'"))
        conn.execute(text("DELETE FROM models WHERE model_id = 'm-06'"))
        if backend == "sqlite":
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO models (model_id, name, original_size_mb)"
                    " VALUES ('m-07', 'replaced', 33.0)"
                )
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO models (model_id, name, original_size_mb) VALUES"
                    " ('m-07', 'replaced', 33.0) ON CONFLICT (model_id) DO UPDATE SET"
                    " name = EXCLUDED.name, original_size_mb = EXCLUDED.original_size_mb"
                )
            )


def test_rollups_follow_the_platform_writing_with_plain_sql(
    engines: tuple[Engine, Engine, Engine, str],
) -> None:
    writer, reader, plain, backend = engines
    platform_writes(writer, backend, random.Random(SEED + 2))
    check_tables_match_a_rebuild(writer)
    check_filters(reader, plain, rounds=12, seed=SEED + 3)
    more_platform_writes(writer, backend)
    check_tables_match_a_rebuild(writer)
    assert check_filters(reader, plain, rounds=16, seed=SEED + 5) > 10
    with writer.begin() as conn:
        conn.execute(text("DELETE FROM optimization_sessions WHERE session_id LIKE '%5'"))
        if backend == "postgresql":
            conn.execute(text("TRUNCATE optimization_sessions CASCADE"))
    check_tables_match_a_rebuild(writer)
    check_filters(reader, plain, rounds=6, seed=SEED + 6)


def test_the_comparison_notices_a_wrong_rollup(engines: tuple[Engine, Engine, Engine, str]) -> None:
    """The checks above can fail: one histogram entry off by one changes a median.

    The value and its bin are both raised, as a consistent but wrong trigger would.
    """
    writer, reader, plain, backend = engines
    low = f"(SELECT min(value) FROM {AGG_VALUES} WHERE metric = 'size' AND technique = '' AND week <> '')"
    week = (
        f"(SELECT min(week) FROM {AGG_VALUES} WHERE metric = 'size' AND technique = ''"
        f" AND value = {low} AND week <> '')"
    )
    bin_of = "CAST({} AS INTEGER)" if backend == "sqlite" else "floor({})"
    with writer.begin() as conn:
        conn.execute(
            text(
                f"UPDATE {AGG_BINS} SET n = n + 50 WHERE metric = 'size'"
                f" AND technique = '' AND week = {week} AND bin = {bin_of.format(low)}"
            )
        )
        conn.execute(
            text(
                f"UPDATE {AGG_VALUES} SET n = n + 50 WHERE metric = 'size'"
                f" AND technique = '' AND value = {low} AND week = {week}"
            )
        )
    with pytest.raises(AssertionError):
        check_filters(reader, plain, rounds=0, seed=SEED)
    with pytest.raises(AssertionError):
        check_tables_match_a_rebuild(writer)


def test_init_db_fills_the_rollups_of_an_existing_database(empty_db_url: str) -> None:
    """A platform database loaded before init-db: the rollups are filled from its rows."""
    writer, reader = equivalence.engines(empty_db_url)
    backend = writer.dialect.name
    from core.store.tables import metadata

    metadata.create_all(writer)
    load(writer, backend, random.Random(SEED + 7), 400)
    with writer.connect() as conn:
        before = conn.execute(
            text(
                "SELECT session_id, status, created_at, results, criteria"
                " FROM optimization_sessions ORDER BY session_id"
            )
        ).all()
    init_db(writer)
    init_db(writer)  # idempotent: no second fill, triggers replaced
    forget_capabilities(reader)
    with writer.connect() as conn:
        after = conn.execute(
            text(
                "SELECT session_id, status, created_at, results, criteria"
                " FROM optimization_sessions ORDER BY session_id"
            )
        ).all()
        assert capabilities(conn).rollups
        count = conn.execute(text(f"SELECT count(*) FROM {AGG_SESSIONS}")).scalar_one()
    assert after == before and count == len(before)
    plain = plain_engine(empty_db_url)
    try:
        assert check_filters(reader, plain, rounds=12, seed=SEED + 8) > 6
        check_tables_match_a_rebuild(writer)
    finally:
        for engine in (plain, reader, writer):
            engine.dispose()


# Values around the bins' edges and beyond what ``bin + 1`` resolves (2**52), both signs:
# SQLite truncates toward zero (bin 0 spans (-1, 1)) and saturates at 64 bits, PostgreSQL floors.
BIN_EDGES = [
    0.0,
    -0.0,
    0.5,
    -0.5,
    0.9999,
    -0.9999,
    1.0,
    -1.0,
    1.5,
    -1.5,
    2.0,
    -2.0,
    7.25,
    7.25,
    7.75,
    -7.25,
    99.5,
    1e16,
    -1e16,
    2.0**53,
    -(2.0**53),
    4503599627370497.0,
    3e19,
    -3e19,
    5e-324,
    12.5,
    12.5,
    12.5,
]  # 3e19: past SQLite's 64-bit saturation


def test_rollups_equal_the_plain_aggregates_at_the_bins_edges(empty_db_url: str) -> None:
    """Quantiles found through the bins equal the plain ones for values on and past their
    edges, with whole weeks (histogram) and edge days (sessions) mixed in one bucket."""
    from datetime import datetime

    writer, reader = equivalence.engines(empty_db_url)
    backend = writer.dialect.name
    init_db(writer)
    rng = random.Random(SEED + 11)
    cast = "CAST(:results AS jsonb)" if backend == "postgresql" else ":results"
    start = datetime(2024, 3, 1)
    rows = []
    for index in range(400):
        created = start + timedelta(hours=rng.randrange(0, 24 * 80))
        rows.append(
            {
                "sid": f"edge-{index:04d}",
                "status": rng.choice(["completed"] * 4 + ["failed"]),
                "criteria": f'{{"techniques": ["{rng.choice(TECHNIQUES)}"]}}',
                "results": (
                    f'{{"size_reduction_percent": {rng.choice(BIN_EDGES)!r},'
                    f' "speed_improvement_percent": {rng.choice(BIN_EDGES)!r}}}'
                ),
                "created": created,
                "completed": created + timedelta(hours=1),
            }
        )
    with writer.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria, total_steps,"
                " completed_steps, results, error_message, created_at, updated_at, completed_at)"
                f" VALUES (:sid, 'm-01', :status, {cast.replace('results', 'criteria')}, 10, 10,"
                f" {cast}, NULL, :created, :created, :completed)"
            ),
            rows,
        )
    plain = plain_engine(empty_db_url)
    day = start.date()
    filters = [
        SessionFilter(),
        SessionFilter(techniques=(TECHNIQUES[0],)),
        SessionFilter(start_date=day + timedelta(days=3), end_date=day + timedelta(days=60)),
        SessionFilter(start_date=day + timedelta(days=10)),
        SessionFilter(end_date=day + timedelta(days=40), statuses=("completed",)),
    ]
    try:
        with reader.connect() as f_conn, plain.connect() as p_conn:
            for f in filters:
                assert rollup_plan(f_conn, f) is not None
                for name, fn, kwargs in CALLS:
                    same(fn(f_conn, f, **kwargs), fn(p_conn, f, **kwargs), f"{name} {f}", sums=False)
    finally:
        for engine in (plain, reader, writer):
            engine.dispose()


def test_init_db_adds_the_bins_to_rollups_of_an_earlier_version(
    engines: tuple[Engine, Engine, Engine, str],
) -> None:
    """Rollups made before ``agg_bins`` and the all-weeks rows: init-db adds both exactly,
    from the histogram, without touching the platform's rows."""
    writer, reader, plain, _ = engines
    select_all = text("SELECT * FROM optimization_sessions ORDER BY session_id")
    with writer.begin() as conn:
        before = conn.execute(select_all).all()
        conn.execute(text(f"DROP TABLE {AGG_BINS}"))
        conn.execute(text(f"DELETE FROM {AGG_VALUES} WHERE week = '{ALL_WEEKS}'"))
    init_db(writer)
    forget_capabilities(reader)
    with writer.connect() as conn:
        assert conn.execute(select_all).all() == before
        assert conn.execute(text(f"SELECT count(*) FROM {AGG_BINS}")).scalar_one() > 0
    check_tables_match_a_rebuild(writer)
    assert check_filters(reader, plain, rounds=8, seed=SEED + 12) > 4
