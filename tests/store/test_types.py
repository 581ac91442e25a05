"""The store's tolerant types: timestamps in any stored form, malformed JSON kept as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text

from core.config import Settings
from core.speed.build import init_db
from core.store.engine import make_engine
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
