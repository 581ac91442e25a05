"""The copy's syncs: plain-SQL writes of the platform show after one sync, writes during a sync
after the next, and the comparison of every row catches writes that leave ``updated_at`` alone.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.config import Settings
from core.speed import SpeedLayer
from core.speed.state import mirror_state
from tests.speed.equivalence import assert_copy_answers_like_the_platform
from tests.speed.platform_writes import platform_writes
from tests.speed.random_sessions import SEED


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
    from core.speed import row_sync

    _, writer, layer = installed
    monkeypatch.setattr(row_sync, "FULL_CHUNK", 60)
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
