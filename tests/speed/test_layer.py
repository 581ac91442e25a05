"""The speed layer on real databases (SQLite and PostgreSQL): what it installs where, and that
its copy answers exactly what the platform's own rows answer, after every kind of write.

The platform's writes here are plain SQL, as the platform would send them, and bump
``updated_at`` (the store contract) except where a test says otherwise.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from core.config import Settings
from core.query.filter import SessionFilter
from core.query.sessions import fetch_page
from core.speed import SpeedLayer
from core.speed.install import install, plan_install, remove
from core.speed.state import mirror_state
from core.store.engine import make_engine
from tests.speed.test_equivalence import SEED, assert_copy_answers_like_the_platform, load


def _platform_objects(engine: Engine) -> dict[str, Any]:
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


@pytest.fixture
def platform(empty_db_url: str) -> Iterator[tuple[Settings, Engine]]:
    """A platform database with 500 random sessions (malformed JSON and odd timestamps too)."""
    settings = Settings(empty_db_url, "--db")
    writer = make_engine(settings, read_only=False)
    from core.store.tables import metadata

    metadata.create_all(writer)
    load(writer, writer.dialect.name, random.Random(SEED), 500)
    yield settings, writer
    writer.dispose()


@pytest.fixture
def installed(platform: tuple[Settings, Engine]) -> Iterator[tuple[Settings, Engine, SpeedLayer]]:
    settings, writer = platform
    install(settings, progress=lambda _: None)
    layer = SpeedLayer(settings)
    yield settings, writer, layer
    layer.dispose()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json(backend: str, param: str) -> str:
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
                f" {_json(backend, 'c')}, 10, 0, :now, :now)",
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
                f" results = {_json(backend, 'r')}, completed_at = :now, updated_at = :now"
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
            conn.execute(text(sql), {**params, "now": _now()})


def test_init_db_puts_one_index_and_a_version_record_in_the_platform_database(
    platform: tuple[Settings, Engine],
) -> None:
    settings, writer = platform
    before = _platform_objects(writer)
    install(settings, progress=lambda _: None)
    after = _platform_objects(writer)
    assert after["tables"] == sorted([*before["tables"], "dashboard_speed_version"])
    assert after["indexes"] == sorted([*before["indexes"], "ix_dashboard_changed"])
    assert after["triggers"] == before["triggers"] == []
    assert after["columns"] == before["columns"]  # no generated columns: no table rewrite
    with writer.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM dashboard_speed_version")).scalar_one() == "0002"


def test_the_copy_answers_exactly_like_the_platform_once_built(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    _, _, layer = installed
    with layer.plan().engine.connect() as conn:
        from core.speed.derived import capabilities

        caps = capabilities(conn)
    assert caps.rollups and caps.status_counts and caps.techniques_table
    assert_copy_answers_like_the_platform(layer, rounds=40)


def test_plain_sql_writes_show_after_one_sync_and_every_answer_still_agrees(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    _, writer, layer = installed
    platform_writes(writer, random.Random(SEED + 1), "a")
    report = layer.sync()
    assert report is not None and report.sessions_written >= 20 and report.sessions_deleted >= 5
    assert report.models_changed >= 3
    assert_copy_answers_like_the_platform(layer, seed=SEED + 2)
    # Rows written twice, and a quiet sync after it changes nothing.
    platform_writes(writer, random.Random(SEED + 3), "b")
    layer.sync()
    assert not layer.sync().changed  # type: ignore[union-attr]
    assert_copy_answers_like_the_platform(layer, seed=SEED + 4)


def test_writes_during_a_sync_are_all_in_the_copy_after_the_next_one(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    _, writer, layer = installed
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        rng = random.Random(SEED + 5)
        round_ = 0
        try:
            while not stop.is_set():
                platform_writes(writer, rng, f"w{round_}")
                round_ += 1
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    deadline = time.monotonic() + 4
    syncs = 0
    while time.monotonic() < deadline:
        layer.sync()
        syncs += 1
    stop.set()
    thread.join()
    assert not errors and syncs >= 3
    layer.sync()
    assert_copy_answers_like_the_platform(layer, seed=SEED + 6)


def test_a_write_that_does_not_bump_updated_at_is_caught_by_the_full_sync(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    _, writer, layer = installed
    with writer.begin() as conn:
        conn.execute(text("UPDATE optimization_sessions SET status = 'cancelled' WHERE status = 'pending'"))
    layer.sync()
    layer.sync(full=True)
    assert_copy_answers_like_the_platform(layer, seed=SEED + 7)


def test_the_comparison_of_every_row_runs_a_chunk_per_sync_until_the_pass_is_done(
    installed: tuple[Settings, Engine, SpeedLayer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.speed import mirror

    _, writer, layer = installed
    monkeypatch.setattr(mirror, "FULL_CHUNK", 60)
    with writer.begin() as conn:  # neither bumps updated_at: only the comparison finds them
        conn.execute(text("UPDATE optimization_sessions SET status = 'cancelled' WHERE status = 'pending'"))
        conn.execute(
            text(
                "DELETE FROM optimization_sessions WHERE session_id IN (SELECT session_id"
                " FROM optimization_sessions WHERE status = 'failed' ORDER BY session_id"
                " DESC LIMIT 3)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, created_at,"
                " updated_at) VALUES ('zz-old', 'm-01', 'running', :t, :t)"
            ),
            {"t": datetime(2020, 1, 1)},
        )
    assert layer.location is not None
    with layer.location.write_engine().begin() as conn:  # make a pass due now
        conn.execute(
            mirror_state.update()
            .where(mirror_state.c.key == "full_at")
            .values(value="2000-01-01T00:00:00+00:00")
        )
    syncs = 0
    while True:
        layer.sync()
        syncs += 1
        with layer.location.write_engine().connect() as conn:
            state = layer.mirror.read_state(conn)  # type: ignore[union-attr]
        if state.full_cursor is None and state.full_at and state.full_at.year > 2000:
            break
        assert syncs < 50
    assert syncs >= 500 // 60  # a chunk per sync, not all at once
    assert_copy_answers_like_the_platform(layer, seed=SEED + 13)


def test_a_copy_that_is_behind_foreign_or_of_another_format_is_not_read(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    settings, _, layer = installed
    assert layer.plan().uses_copy
    strict = SpeedLayer(settings, max_lag_s=0.0)
    try:
        plan = strict.plan()
        assert plan.source == "platform" and "behind the platform" in plan.reason
    finally:
        strict.dispose()
    assert layer.location is not None
    with layer.location.write_engine().begin() as conn:
        conn.execute(mirror_state.update().where(mirror_state.c.key == "format").values(value="0"))
    layer.forget()
    plan = layer.plan()
    assert plan.source == "platform" and "format 0" in plan.reason
    assert layer.sync() is None  # a copy of another format is never written either
    with layer.location.write_engine().begin() as conn:
        conn.execute(mirror_state.update().where(mirror_state.c.key == "format").values(value="1"))
        conn.execute(
            mirror_state.update()
            .where(mirror_state.c.key == "platform")
            .values(value="sqlite:////elsewhere.db")
        )
    layer.forget()
    if layer.location.path is not None:  # a file copy names its platform's file
        assert "was made from sqlite:////elsewhere.db" in layer.plan().reason
    else:  # a schema copies the tables of the database it is in, whatever its address
        assert layer.plan().uses_copy


def test_no_copy_means_the_plain_path_with_the_reason(platform: tuple[Settings, Engine]) -> None:
    settings, _ = platform
    layer = SpeedLayer(settings)
    try:
        plan = layer.plan()
        assert plan.source == "platform" and "init-db" in plan.reason
        assert layer.sync() is None
    finally:
        layer.dispose()


def test_remove_takes_away_everything_init_db_added_and_nothing_else(
    platform: tuple[Settings, Engine],
) -> None:
    settings, writer = platform
    before = _platform_objects(writer)
    with writer.connect() as conn:
        rows_before = conn.execute(text("SELECT * FROM optimization_sessions ORDER BY session_id")).all()
    install(settings, progress=lambda _: None)
    remove(settings, progress=lambda _: None)
    assert _platform_objects(writer) == before
    with writer.connect() as conn:
        assert (
            conn.execute(text("SELECT * FROM optimization_sessions ORDER BY session_id")).all() == rows_before
        )
    plan = plan_install(settings)
    assert plan.copy_action == "build"
    assert [line.split(":")[0] for line in plan.platform_steps if line.startswith("step")] == [
        "step 0001",
        "step 0002",
    ]


def test_init_db_removes_what_earlier_versions_installed_in_the_platform_tables(
    platform: tuple[Settings, Engine],
) -> None:
    from core.speed.derived import init_db

    settings, writer = platform
    bare = _platform_objects(writer)
    init_db(writer)  # what init-db did before the copy: columns, indexes, triggers, tables
    legacy = _platform_objects(writer)
    assert legacy["triggers"] and len(legacy["columns"]) > len(bare["columns"])
    plan = plan_install(settings)
    assert any("remove from earlier versions" in line for line in plan.platform_steps)
    install(settings, progress=lambda _: None)
    after = _platform_objects(writer)
    assert after["triggers"] == [] and after["columns"] == bare["columns"]
    assert after["tables"] == sorted([*bare["tables"], "dashboard_speed_version"])
    assert after["indexes"] == sorted([*bare["indexes"], "ix_dashboard_changed"])
    layer = SpeedLayer(settings)
    try:
        assert_copy_answers_like_the_platform(layer, rounds=10)
    finally:
        layer.dispose()


def test_init_db_again_syncs_instead_of_building(installed: tuple[Settings, Engine, SpeedLayer]) -> None:
    settings, writer, layer = installed
    platform_writes(writer, random.Random(SEED + 8), "c")
    plan = plan_install(settings)
    assert plan.copy_action == "sync" and not [s for s in plan.platform_steps if s.startswith("step")]
    install(settings, progress=lambda _: None)
    assert_copy_answers_like_the_platform(layer, rounds=10, seed=SEED + 9)


def test_the_sync_thread_shows_a_platform_write_within_five_seconds(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    settings, writer, _ = installed
    layer = SpeedLayer(settings)
    layer.start()
    try:
        with writer.begin() as conn:
            conn.execute(text("DELETE FROM optimization_sessions WHERE status = 'failed'"))
        written = time.monotonic()
        f = SessionFilter(statuses=("failed",))
        while True:
            plan = layer.plan()
            with plan.engine.connect() as conn:
                if plan.uses_copy and fetch_page(conn, f).total == 0:
                    break
            assert time.monotonic() - written < 5, "the delete did not show within 5 s"
            time.sleep(0.05)
    finally:
        layer.dispose()
    assert timedelta(seconds=time.monotonic() - written) < timedelta(seconds=5)
