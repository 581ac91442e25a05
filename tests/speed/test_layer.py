"""The speed layer on real databases (SQLite and PostgreSQL): what it installs where, and that
its copy answers exactly what the platform's own rows answer, after every kind of write.

The platform's writes here are plain SQL, as the platform would send them, and bump
``updated_at`` (the store contract) except where a test says otherwise.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.config import Settings
from core.query.filter import SessionFilter
from core.query.pages import fetch_page
from core.speed import SpeedLayer
from core.speed.state import mirror_state
from tests.speed.equivalence import assert_copy_answers_like_the_platform


def test_the_copy_answers_exactly_like_the_platform_once_built(
    installed: tuple[Settings, Engine, SpeedLayer],
) -> None:
    _, _, layer = installed
    with layer.plan().engine.connect() as conn:
        from core.speed.capabilities import capabilities

        caps = capabilities(conn)
    assert caps.rollups and caps.status_counts and caps.techniques_table
    assert_copy_answers_like_the_platform(layer, rounds=40)


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
