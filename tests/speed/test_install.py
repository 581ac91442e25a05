"""What installing the speed layer puts where: one index and a version record in the platform's
database, everything else in the copy; removing it takes all of that away and nothing else.
"""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.config import Settings
from core.speed import SpeedLayer
from core.speed.install import install, plan_install, remove
from tests.speed.equivalence import assert_copy_answers_like_the_platform
from tests.speed.platform_writes import platform_objects, platform_writes
from tests.speed.random_sessions import SEED


def test_init_db_puts_one_index_and_a_version_record_in_the_platform_database(
    platform: tuple[Settings, Engine],
) -> None:
    settings, writer = platform
    before = platform_objects(writer)
    install(settings, progress=lambda _: None)
    after = platform_objects(writer)
    assert after["tables"] == sorted([*before["tables"], "dashboard_speed_version"])
    assert after["indexes"] == sorted([*before["indexes"], "ix_dashboard_changed"])
    assert after["triggers"] == before["triggers"] == []
    assert after["columns"] == before["columns"]  # no generated columns: no table rewrite
    with writer.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM dashboard_speed_version")).scalar_one() == "0002"


def test_remove_takes_away_everything_init_db_added_and_nothing_else(
    platform: tuple[Settings, Engine],
) -> None:
    settings, writer = platform
    before = platform_objects(writer)
    with writer.connect() as conn:
        rows_before = conn.execute(text("SELECT * FROM optimization_sessions ORDER BY session_id")).all()
    install(settings, progress=lambda _: None)
    remove(settings, progress=lambda _: None)
    assert platform_objects(writer) == before
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
    from core.speed.build import init_db

    settings, writer = platform
    bare = platform_objects(writer)
    init_db(writer)  # what init-db did before the copy: columns, indexes, triggers, tables
    legacy = platform_objects(writer)
    assert legacy["triggers"] and len(legacy["columns"]) > len(bare["columns"])
    plan = plan_install(settings)
    assert any("remove from earlier versions" in line for line in plan.platform_steps)
    install(settings, progress=lambda _: None)
    after = platform_objects(writer)
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
