"""How the database is opened: missing files, statement timeouts, PostgreSQL read settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from core.config import Settings
from core.speed.build import init_db
from core.store.engine import DatabaseMissingError, make_engine


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    target = tmp_path / "absent.db"
    with pytest.raises(DatabaseMissingError, match="does not exist"):
        make_engine(Settings(f"sqlite:///{target}", "--db"))
    assert not target.exists()


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


@pytest.mark.postgres
def test_postgresql_reads_get_enough_work_mem_for_exact_bitmaps(pg_server_url: str) -> None:
    """The dashboard's read-only engine raises work_mem: with the server's default, a broad
    match's bitmap goes lossy and each aggregate rechecks every row."""
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
