"""Pages and totals (core.query.pages): paging, exact counts, streaming, bare databases.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture, :mod:`tests.query.conftest`).
"""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.query.filter import SessionFilter
from core.query.lookups import count_data_issues
from core.query.pages import count_sessions, fetch_page, iter_sessions, list_sessions
from core.speed.build import init_db
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from tests.query.sample import MODELS, SESSIONS, ids


def test_no_match_gives_an_empty_list_and_total_zero(conn: Connection) -> None:
    assert list_sessions(conn, SessionFilter(search="nothing-like-this")) == {
        "sessions": [],
        "total": 0,
        "skip": 0,
        "limit": 50,
    }


def test_pages_partition_the_matches_and_totals_are_exact(conn: Connection) -> None:
    everything = ids(conn, limit=100)
    pages = [ids(conn, limit=3, skip=skip) for skip in range(0, 12, 3)]
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [sid for page in pages for sid in page] == everything
    assert count_sessions(conn, SessionFilter(statuses=("running",))) == 4


def test_pages_past_the_middle_read_backwards_but_keep_the_order(conn: Connection) -> None:
    everything = ids(conn, sort="progress_percentage", order="asc", limit=100)
    assert ids(conn, sort="progress_percentage", order="asc", limit=4, skip=8) == everything[8:]
    assert ids(conn, sort="progress_percentage", order="asc", limit=4, skip=6) == everything[6:10]


def test_a_page_beyond_the_end_is_empty_but_keeps_the_total(conn: Connection) -> None:
    response = list_sessions(conn, SessionFilter(skip=500, limit=10))
    assert response == {"sessions": [], "total": 11, "skip": 500, "limit": 10}


def test_export_iterator_yields_every_match_in_table_order(conn: Connection) -> None:
    f = SessionFilter(statuses=("completed", "running"), sort="speed_improvement_percent", limit=2)
    streamed = [r.session_id for r in iter_sessions(conn, f, batch_size=2)]
    assert streamed == ids(
        conn, statuses=("completed", "running"), sort="speed_improvement_percent", limit=100
    )
    assert len(streamed) == 8


def test_a_bare_platform_database_without_init_db_gives_the_same_answers(empty_db_url: str) -> None:
    from core.speed.capabilities import forget_capabilities
    from core.store.tables import metadata

    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    metadata.create_all(writer)
    with writer.begin() as c:
        c.execute(insert(models), MODELS)
        c.execute(insert(optimization_sessions), SESSIONS)
    reader = make_engine(Settings(empty_db_url, "--db"))
    filters = [
        SessionFilter(limit=100),
        SessionFilter(techniques=("pruning",)),
        SessionFilter(search="bert", sort="size_reduction_percent"),
        SessionFilter(sort="progress_percentage", order="asc", skip=5, limit=3),
    ]
    with reader.connect() as conn:
        bare = [fetch_page(conn, f) for f in filters] + [count_data_issues(conn, SessionFilter())]
    init_db(writer)
    forget_capabilities(reader)
    with reader.connect() as conn:
        initialised = [fetch_page(conn, f) for f in filters] + [count_data_issues(conn, SessionFilter())]
    assert bare == initialised


def test_the_dashboard_connection_cannot_write(engine: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn, pytest.raises(DBAPIError):
        conn.execute(text("DELETE FROM optimization_sessions"))
    with engine.connect() as conn:
        assert count_sessions(conn, SessionFilter()) == 11
