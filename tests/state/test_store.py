"""The state store's engine: migrated by Alembic once, private on disk, shared by replicas."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.state.settings import StateSettings
from core.state.store import (
    VERSION_TABLE,
    head_revision,
    installed_revision,
    migrate,
    open_state_engine,
    state_engine,
)
from core.state.tables import api_tokens, metadata

TABLES = {"api_tokens", "audit_log", "throttle"}


def _settings(url: str) -> StateSettings:
    return StateSettings(url, "test")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_use_creates_every_table_with_the_columns_the_code_uses(empty_db_url: str) -> None:
    engine = state_engine(_settings(empty_db_url))
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    assert TABLES | {VERSION_TABLE} <= names
    assert "alembic_version" not in names  # never the version table of someone else's Alembic
    for table in metadata.tables.values():
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.c.keys())
    assert installed_revision(engine) == head_revision() == "0001"


def test_token_hashes_are_unique_in_the_database(empty_db_url: str) -> None:
    engine = state_engine(_settings(empty_db_url))
    row = {"username": "a", "label": "", "token_hash": "f" * 64, "created_at": sa.func.now()}
    with engine.begin() as connection:
        connection.execute(api_tokens.insert().values(row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(api_tokens.insert().values(row))


def test_upgrading_again_changes_nothing_and_keeps_the_rows(empty_db_url: str) -> None:
    engine = state_engine(_settings(empty_db_url))
    with engine.begin() as connection:
        connection.execute(
            api_tokens.insert().values(username="a", label="x", token_hash="0" * 64, created_at=sa.func.now())
        )
    migrate(engine)
    other = open_state_engine(_settings(empty_db_url))
    try:
        migrate(other)
        with other.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar_one() == 1
            versions = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        assert versions == ["0001"]
    finally:
        other.dispose()


def test_the_engine_is_cached_per_url(empty_db_url: str, tmp_path: Path) -> None:
    first = state_engine(_settings(empty_db_url))
    assert state_engine(_settings(empty_db_url)) is first
    assert state_engine(_settings(f"sqlite:///{tmp_path / 'other.db'}")) is not first


def test_two_threads_asking_at_once_migrate_once_and_share_the_engine(empty_db_url: str) -> None:
    barrier = threading.Barrier(2)
    engines: list[sa.Engine] = []
    errors: list[BaseException] = []

    def ask() -> None:
        barrier.wait()
        try:
            engines.append(state_engine(_settings(empty_db_url)))
        except BaseException as error:  # reported below, with the thread's error
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(engines) == 2 and engines[0] is engines[1]
    assert installed_revision(engines[0]) == "0001"


def test_two_replicas_migrating_the_same_store_at_once_both_succeed(empty_db_url: str) -> None:
    """Separate engines stand for separate processes: only the database's lock keeps them apart."""
    replicas = [open_state_engine(_settings(empty_db_url)) for _ in range(3)]
    barrier = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def start(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            migrate(engine)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in replicas]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        with replicas[0].connect() as connection:
            versions = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        assert versions == ["0001"]
    finally:
        for engine in replicas:
            engine.dispose()


def test_the_sqlite_file_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "state.db"
    old_umask = os.umask(0o022)  # a typical umask, which would make files world-readable
    try:
        engine = state_engine(_settings(f"sqlite:///{path}"))
        with engine.begin() as connection:
            connection.execute(
                api_tokens.insert().values(
                    username="a", label="", token_hash="1" * 64, created_at=sa.func.now()
                )
            )
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    side_files = [p for p in path.parent.iterdir() if p.name != path.name]
    assert {p.name for p in side_files} >= {"state.db-wal", "state.db-shm"}
    assert all(_mode(p) == 0o600 for p in side_files)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_db_url: str) -> None:
    engine = state_engine(_settings(sqlite_db_url))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000
    assert make_url(sqlite_db_url).database is not None
