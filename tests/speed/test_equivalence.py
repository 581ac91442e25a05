"""Every optimisation returns exactly what the plain query returns (issue 6), on both backends.

The optimised path is what the dashboard runs: generated columns and their indexes, the
technique table, the trigram search index (FTS5 / pg_trgm), the SQLite per-status counts,
index-first paging that reads past-the-middle pages backwards (the fast CSV export has its own
comparisons, in ``test_export_paths.py``). The plain path is the same filter rendered with none
of that: JSON extracted at query time, LIKE / ILIKE scans, ``json_each`` for techniques,
``count(*)``, one ``ORDER BY ... LIMIT ... OFFSET`` over the enriched join, and the row-by-row
CSV writer.

The data is random (seeded) with many ties (shared timestamps, statuses, rounded metrics),
nulls, malformed or wrongly typed JSON, timestamps in other writers' formats, sessions on
models missing from ``models`` and names with LIKE wildcards. It is compared again after the
platform writes with plain SQL: inserts, updates of every indexed column, deletes, REPLACE /
upserts and ignored inserts, and model changes. A bare platform database (no ``init_db``) gives
the same answers through the inline fallback, and ``init_db`` on it leaves its data untouched.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

import core.stats.periods
import core.stats.techniques
from core.config import Settings
from core.query import pages as query
from core.query import search as query_search
from core.query.filter import SessionFilter
from core.query.pages import day_span, fetch_page
from core.speed.build import init_db
from core.speed.capabilities import capabilities, forget_capabilities, override_capabilities
from core.stats.models import model_ranking
from core.stats.periods import created_span, period_stats
from core.stats.points import pareto_front, scatter
from core.stats.summary import status_counts, summary
from core.stats.techniques import technique_stats
from core.store.tables import models, optimization_sessions

if TYPE_CHECKING:
    pass
from tests.speed.equivalence import (
    alike,
    assert_copy_answers_like_the_platform,
    check_derived_tables,
    check_filter,
    check_many,
    engines,
    plain_caps,
    plain_rows,
    plain_total,
    platform_writes,
    random_filter,
    search_terms,
)
from tests.speed.random_sessions import (
    BASE,
    MISSING_MODELS,
    SEED,
    load,
)


@pytest.fixture
def initialised(empty_db_url: str) -> Iterator[tuple[Engine, Engine, str]]:
    writer, reader = engines(empty_db_url)
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
    writer, reader = engines(empty_db_url)
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
        found = query_search.trigram_matches(conn, SessionFilter(search="-001"))
        if backend == "sqlite":
            assert found is not None and found.ids
            # Session ids only: model ids are matched among the distinct ones.
            by_model = query_search.trigram_matches(conn, SessionFilter(search="m-0"))
            assert by_model is not None and by_model.ids == () and "m-01" in by_model.models
        else:
            assert found is None
        assert query_search.trigram_matches(conn, SessionFilter(search="m-")) is None  # no trigram
    check_many(reader, rounds=15, seed=SEED + 9)
    monkeypatch.setattr(query_search, "MATCHED_IDS_LIMIT", 3)
    with reader.connect() as conn:
        broad = query_search.trigram_matches(conn, SessionFilter(search="-001"))
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


AGGREGATES_OF_A_SEARCH = (
    summary,
    status_counts,
    technique_stats,
    period_stats,
    scatter,
    pareto_front,
    model_ranking,
    created_span,
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
        expected = {f: [fn(conn, f) for fn in AGGREGATES_OF_A_SEARCH] for f in filters}
    override_capabilities(reader, caps)
    by_lists = []  # broad scans read per technique by lists of techniques (SQLite)
    original = core.stats.techniques._by_technique_set

    def spy(*args: Any) -> Any:
        by_lists.append(args)
        return original(*args)

    monkeypatch.setattr(core.stats.techniques, "_by_technique_set", spy)
    for limit in (query_search.MATCHED_IDS_LIMIT, 3):
        monkeypatch.setattr(query_search, "MATCHED_IDS_LIMIT", limit)
        with reader.connect() as conn:
            for f in filters:
                found = [fn(conn, f) for fn in AGGREGATES_OF_A_SEARCH]
                for name, x, y in zip(AGGREGATES_OF_A_SEARCH, found, expected[f], strict=True):
                    assert alike(x, y), (limit, f, name, x, y)
    assert bool(by_lists) == (backend == "sqlite")
    # Weekly buckets (the page picks them for ranges of 46-740 days) on every path.
    weekly = []
    original_streamed = core.stats.periods.streamed

    def spy_streamed(*args: Any, **kwargs: Any) -> Any:
        weekly.append(args[3])
        return original_streamed(*args, **kwargs)

    monkeypatch.setattr(core.stats.periods, "streamed", spy_streamed)
    for f in filters[:8]:
        override_capabilities(reader, plain_caps(backend))
        with reader.connect() as conn:
            expected_weeks = period_stats(conn, f, granularity="week")
        override_capabilities(reader, caps)
        with reader.connect() as conn:
            found_weeks = period_stats(conn, f, granularity="week")
        assert alike(found_weeks, expected_weeks), f
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


def test_the_copy_answers_like_the_platform_after_every_kind_of_plain_sql_write(empty_db_url: str) -> None:
    """The harshest writes (REPLACE, renamed ids, updates that leave ``updated_at`` alone): a
    sync finds those that bump it, and the full comparison every other."""
    from core.speed import SpeedLayer
    from core.speed.install import install
    from core.store.tables import metadata

    writer, _ = engines(empty_db_url)
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
