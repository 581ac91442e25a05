"""The store's tolerant types, the settings precedence and how the database is opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from core.config import DEFAULT_DB_URL, PROJECT_ROOT, Settings, load_settings, mask_url
from core.speed.derived import init_db
from core.store.engine import DatabaseMissingError, make_engine
from core.store.tables import optimization_sessions
from core.store.types import Malformed, parse_timestamp


@pytest.mark.parametrize(
    "stored",
    [
        "2024-05-01 10:00:00",
        "2024-05-01T10:00:00",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01 10:00:00.000000",
    ],
)
def test_stored_timestamps_in_any_iso_form_read_as_the_same_utc_instant(stored: str) -> None:
    assert parse_timestamp(stored) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_unparseable_timestamps_read_as_none_instead_of_failing() -> None:
    assert parse_timestamp("last tuesday") is None


def test_sqlite_timestamps_are_written_as_sqlalchemy_writes_them(sqlite_db_url: str) -> None:
    engine = make_engine(Settings(sqlite_db_url, "--db"), read_only=False)
    init_db(engine)
    created = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as c:
        c.execute(
            insert(optimization_sessions),
            {
                "session_id": "a",
                "model_id": "m",
                "status": "pending",
                "created_at": created,
                "updated_at": created,
            },
        )
        raw = c.execute(text("SELECT created_at FROM optimization_sessions")).scalar_one()
        read = c.execute(select(optimization_sessions.c.created_at)).scalar_one()
    assert raw == "2024-05-01 10:00:00.123456"
    assert read == created


def test_malformed_json_reads_as_malformed_with_its_raw_text(sqlite_db_url: str) -> None:
    engine = make_engine(Settings(sqlite_db_url, "--db"), read_only=False)
    init_db(engine)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria,"
                " results, created_at, updated_at) VALUES ('a', 'm', 'failed', '{oops',"
                " '{\"x\": 1}', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        )
        criteria, results = c.execute(
            select(optimization_sessions.c.criteria, optimization_sessions.c.results)
        ).one()
    assert criteria == Malformed("{oops")
    assert results == {"x": 1}


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    target = tmp_path / "absent.db"
    with pytest.raises(DatabaseMissingError, match="does not exist"):
        make_engine(Settings(f"sqlite:///{target}", "--db"))
    assert not target.exists()


def test_settings_precedence_is_flag_then_environment_then_secrets_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {"connections": {"sessions": {"url": "postgresql+psycopg://u:pw@db/s"}}}
    monkeypatch.setenv("SESSIONS_DB_URL", "sqlite:////tmp/env.db")
    assert load_settings("sqlite:////tmp/flag.db", secrets).db_url_source == "--db"
    assert load_settings(None, secrets).db_url == "sqlite:////tmp/env.db"
    monkeypatch.delenv("SESSIONS_DB_URL")
    from_secrets = load_settings(None, secrets)
    assert (from_secrets.db_url_source, from_secrets.masked_db_url) == (
        "secrets.toml",
        "postgresql+psycopg://u:***@db/s",
    )
    default = load_settings(None, {})
    assert default.db_url == DEFAULT_DB_URL and default.is_default_database


def test_relative_sqlite_paths_resolve_against_the_project_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings("sqlite:///data/other.db", {})
    assert settings.db_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'other.db'}"


def test_masked_urls_never_show_the_password() -> None:
    assert "secret" not in mask_url("postgresql+psycopg://me:secret@host:5432/db")


def test_sqlite_statement_timeout_interrupts_runaway_queries_but_not_exports(
    sqlite_db_url: str,
) -> None:
    from sqlalchemy.exc import OperationalError

    from core.store.engine import statement_timeout_suspended

    init_db(make_engine(Settings(sqlite_db_url, "--db"), read_only=False))
    engine = make_engine(Settings(sqlite_db_url, "--db", statement_timeout_ms=50))
    slow = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000000)"
        " SELECT count(*) FROM n"
    )
    with engine.connect() as conn:
        with pytest.raises(OperationalError, match="interrupted"):
            conn.execute(slow)
        with statement_timeout_suspended(conn):
            assert (
                conn.execute(
                    text(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                        " FROM n WHERE i < 3000000) SELECT count(*) FROM n"
                    )
                ).scalar()
                == 3000000
            )
        with pytest.raises(OperationalError, match="interrupted"):
            conn.execute(slow)


@pytest.mark.parametrize("bad", ["soon", "-5", "1.5"])
def test_a_bad_statement_timeout_setting_is_named_in_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    from core.config import SettingsError

    monkeypatch.setenv("SESSIONS_STATEMENT_TIMEOUT_MS", bad)
    with pytest.raises(SettingsError, match=r"SESSIONS_STATEMENT_TIMEOUT_MS .* whole number"):
        load_settings(None, {})


@pytest.mark.postgres
def test_postgresql_reads_get_enough_work_mem_for_exact_bitmaps(pg_server_url: str) -> None:
    """The dashboard's read-only engine raises work_mem: with the default 4 MB, a broad match's
    bitmap goes lossy and each aggregate rechecks every row (5-10 s at a million sessions)."""
    from core.store.engine import PG_READ_WORK_MEM

    reader = make_engine(Settings(pg_server_url, "--db"), read_only=True)
    writer = make_engine(Settings(pg_server_url, "--db"), read_only=False)
    try:
        with reader.connect() as conn:
            assert conn.execute(text("SHOW work_mem")).scalar_one() == PG_READ_WORK_MEM
            assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
        with writer.connect() as conn:  # init-db and the platform's writes keep the server's own
            assert conn.execute(text("SHOW work_mem")).scalar_one() != PG_READ_WORK_MEM
    finally:
        reader.dispose()
        writer.dispose()
