"""The shape of a result row (core.query.rows): the response contract and the enrichment rules.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture, :mod:`tests.query.conftest`).
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from core.config import Settings
from core.fields import RESPONSE_FIELDS
from core.query.filter import SessionFilter
from core.query.lookups import count_data_issues, find_session
from core.query.pages import fetch_page, list_sessions
from core.speed.build import init_db
from core.store.engine import make_engine
from core.store.tables import optimization_sessions
from core.store.types import Malformed
from tests.query.sample import EXPECTED_PROGRESS, EXPECTED_TECHNIQUES, session


def test_response_has_exactly_the_original_shape(conn: Connection) -> None:
    response = list_sessions(conn, SessionFilter(limit=2))
    assert set(response) == {"sessions", "total", "skip", "limit"}
    assert (response["total"], response["skip"], response["limit"]) == (11, 0, 2)
    assert all(tuple(row) == RESPONSE_FIELDS for row in response["sessions"])
    first = response["sessions"][0]
    assert first["session_id"] == "s10"  # newest first by default, id breaks the tie with S11
    assert first["created_at"] == "2024-03-10T00:00:00+00:00"
    assert first["completed_at"] == "2024-03-10T05:00:00+00:00"


def test_model_name_falls_back_to_the_model_id_when_metadata_is_missing(conn: Connection) -> None:
    rows = {r.session_id: r for r in fetch_page(conn, SessionFilter(limit=100)).rows}
    assert rows["s01"].model_name == "BERT Base" and rows["s01"].model_known
    assert rows["s05"].model_name == "m-ghost" and not rows["s05"].model_known


def test_progress_follows_the_rules_for_every_status_and_step_case(conn: Connection) -> None:
    rows = fetch_page(conn, SessionFilter(limit=100)).rows
    assert {r.session_id: r.progress_percentage for r in rows} == EXPECTED_PROGRESS


def test_techniques_are_the_strings_of_criteria_techniques_or_empty(conn: Connection) -> None:
    rows = list_sessions(conn, SessionFilter(limit=100))["sessions"]
    assert {r["session_id"]: r["techniques"] for r in rows} == EXPECTED_TECHNIQUES


def test_metrics_are_null_when_absent_or_not_numbers(conn: Connection) -> None:
    rows = {r.session_id: r for r in fetch_page(conn, SessionFilter(limit=100)).rows}
    assert (rows["s01"].size_reduction_percent, rows["s01"].accuracy_delta_percent) == (50.0, -0.5)
    assert rows["s02"].accuracy_delta_percent is None
    assert rows["s09"].size_reduction_percent is None
    assert rows["s09"].speed_improvement_percent == 12.0
    assert rows["s10"].size_reduction_percent is None
    assert rows["s03"].size_reduction_percent is None


def test_sqlite_rows_with_json_that_does_not_parse_show_empty_values(sqlite_db_url: str) -> None:
    writer = make_engine(Settings(sqlite_db_url, "--db"), read_only=False)
    init_db(writer)
    with writer.begin() as c:
        c.execute(
            insert(optimization_sessions),
            [
                session("bad1", "m", "completed", 1, criteria=Malformed("{not json"), results=None),
                session("bad2", "m", "completed", 2, results=Malformed("[1,")),
            ],
        )
    reader = make_engine(Settings(sqlite_db_url, "--db"))
    with reader.connect() as conn:
        rows = {r.session_id: r for r in fetch_page(conn, SessionFilter()).rows}
        assert rows["bad1"].techniques == () and rows["bad2"].size_reduction_percent is None
        assert count_data_issues(conn, SessionFilter()) == 2
        assert find_session(conn, "bad1")["criteria"] == Malformed("{not json")  # type: ignore[index]
