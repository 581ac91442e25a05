"""The query engine on a real database: every filter, sort, page, total and enrichment rule.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture). The data is a small
fixed set with explicit timestamps, ties, nulls and malformed values; expectations are written
out by hand or computed by a plain-Python reference of the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.fields import RESPONSE_FIELDS, SORT_KEYS
from core.query.filter import SessionFilter
from core.query.sessions import (
    count_data_issues,
    count_sessions,
    distinct_techniques,
    fetch_page,
    find_session,
    iter_sessions,
    list_sessions,
    model_choices,
)
from core.speed.derived import init_db
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from core.store.types import Malformed


def ts(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


MODELS = [
    {"model_id": "m-bert", "name": "BERT Base", "framework": "pytorch", "original_size_mb": 420.0},
    {"model_id": "m-resnet", "name": "ResNet-50", "framework": "onnx", "original_size_mb": 98.0},
    {"model_id": "m-pct", "name": "Weird 100%_name", "framework": None, "original_size_mb": None},
]


def session(
    sid: str,
    model: str,
    status: str,
    day: int,
    *,
    hour: int = 0,
    techniques: Any = None,
    total: int | None = 10,
    done: int | None = 0,
    results: Any = None,
    criteria: Any = "default",
    completed_day: int | None = None,
) -> dict[str, Any]:
    if criteria == "default":
        criteria = {"techniques": techniques or []}
    return {
        "session_id": sid,
        "model_id": model,
        "status": status,
        "criteria": criteria,
        "total_steps": total,
        "completed_steps": done,
        "results": results,
        "error_message": "boom" if status == "failed" else None,
        "created_at": ts(day, hour),
        "updated_at": ts(day, hour + 1),
        "completed_at": ts(completed_day, 5) if completed_day else None,
    }


SESSIONS = [
    session(
        "s01",
        "m-bert",
        "completed",
        1,
        techniques=["quantization"],
        done=10,
        results={
            "size_reduction_percent": 50.0,
            "speed_improvement_percent": 20.0,
            "accuracy_delta_percent": -0.5,
        },
        completed_day=1,
    ),
    session(
        "s02",
        "m-bert",
        "completed",
        2,
        techniques=["quantization", "pruning"],
        done=10,
        results={"size_reduction_percent": 50.0, "speed_improvement_percent": 35.5},
        completed_day=3,
    ),
    session("s03", "m-resnet", "running", 3, hour=12, techniques=["pruning"], total=8, done=2),
    session("s04", "m-resnet", "running", 4, techniques=["distillation"], total=0, done=5),
    session("s05", "m-ghost", "running", 5, techniques=["quantization"], total=4, done=9),
    session("s06", "m-ghost", "pending", 6, techniques=["pruning"], done=3),
    session(
        "s07", "m-bert", "failed", 7, techniques=["distillation"], total=None, done=None, completed_day=7
    ),
    session("s08", "m-pct", "cancelled", 8, criteria={"techniques": "quantization"}, done=4, completed_day=8),
    session(
        "s09",
        "m-resnet",
        "completed",
        9,
        techniques=["pruning", 7],
        done=10,
        results={"size_reduction_percent": "n/a", "speed_improvement_percent": 12},
        completed_day=9,
    ),
    session("s10", "m-resnet", "completed", 10, criteria=None, done=10, results=[1, 2], completed_day=10),
    session("S11", "m-bert", "running", 10, techniques=["quantization"], total=3, done=-1),
]
EXPECTED_PROGRESS = {
    "s01": 100.0,
    "s02": 100.0,
    "s03": 25.0,
    "s04": 0.0,
    "s05": 100.0,
    "s06": 0.0,
    "s07": 0.0,
    "s08": 40.0,
    "s09": 100.0,
    "s10": 100.0,
    "S11": 0.0,
}
EXPECTED_TECHNIQUES = {
    "s01": ["quantization"],
    "s02": ["quantization", "pruning"],
    "s03": ["pruning"],
    "s04": ["distillation"],
    "s05": ["quantization"],
    "s06": ["pruning"],
    "s07": ["distillation"],
    "s08": [],
    "s09": ["pruning"],
    "s10": [],
    "S11": ["quantization"],
}


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    init_db(writer)
    with writer.begin() as connection:
        connection.execute(insert(models), MODELS)
        connection.execute(insert(optimization_sessions), SESSIONS)
    writer.dispose()
    reader = make_engine(Settings(empty_db_url, "--db"), read_only=True)
    yield reader
    reader.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


def ids(connection: Connection, **kwargs: Any) -> list[str]:
    return [row.session_id for row in fetch_page(connection, SessionFilter(**kwargs)).rows]


# -- the response contract -------------------------------------------------------------------


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


def test_rows_with_malformed_criteria_or_results_are_flagged_and_counted(conn: Connection) -> None:
    flagged = {r.session_id for r in fetch_page(conn, SessionFilter(limit=100)).rows if r.has_data_issue}
    assert flagged == {"s08", "s09", "s10"}
    assert count_data_issues(conn, SessionFilter()) == 3
    assert count_data_issues(conn, SessionFilter(statuses=("completed",))) == 2


def test_no_match_gives_an_empty_list_and_total_zero(conn: Connection) -> None:
    assert list_sessions(conn, SessionFilter(search="nothing-like-this")) == {
        "sessions": [],
        "total": 0,
        "skip": 0,
        "limit": 50,
    }


# -- filters -----------------------------------------------------------------------------------


def test_filter_by_one_or_several_statuses(conn: Connection) -> None:
    assert ids(conn, statuses=["failed"]) == ["s07"]
    assert sorted(ids(conn, statuses=["pending", "cancelled"])) == ["s06", "s08"]


def test_filter_by_one_or_several_model_ids_including_models_without_metadata(conn: Connection) -> None:
    assert sorted(ids(conn, model_ids=["m-ghost"])) == ["s05", "s06"]
    assert sorted(ids(conn, model_ids=["m-ghost", "m-pct"])) == ["s05", "s06", "s08"]


def test_date_range_is_inclusive_and_a_date_means_the_whole_day(conn: Connection) -> None:
    assert sorted(ids(conn, start_date="2024-03-03", end_date="2024-03-04")) == ["s03", "s04"]
    assert sorted(ids(conn, end_date="2024-03-02")) == ["s01", "s02"]
    assert sorted(ids(conn, start_date="2024-03-10")) == ["S11", "s10"]


def test_date_time_bounds_cut_inside_a_day(conn: Connection) -> None:
    assert ids(conn, start_date="2024-03-03T12:00:00Z", end_date="2024-03-03T12:00:00Z") == ["s03"]
    assert ids(conn, start_date="2024-03-03T12:00:01Z", end_date="2024-03-03") == []
    # 14:00 in UTC+02:00 is 12:00 UTC
    assert ids(conn, start_date="2024-03-03T14:00:00+02:00", end_date="2024-03-03") == ["s03"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("s0", ["s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"]),
        ("S1", ["S11", "s10"]),
        ("bert base", ["S11", "s01", "s02", "s07"]),
        ("RESNET", ["s03", "s04", "s09", "s10"]),
        ("ghost", ["s05", "s06"]),
        ("100%_", ["s08"]),
        ("0%", ["s08"]),
        ("_", ["s08"]),
        ("m-ghos", ["s05", "s06"]),
        ('"quote', []),
    ],
)
def test_free_text_search_is_a_case_insensitive_substring_of_id_model_id_or_name(
    conn: Connection, search: str, expected: list[str]
) -> None:
    assert sorted(ids(conn, search=search, limit=100)) == expected


def test_filter_by_techniques_matches_sessions_using_any_of_them(conn: Connection) -> None:
    assert sorted(ids(conn, techniques=["distillation"])) == ["s04", "s07"]
    assert sorted(ids(conn, techniques=["distillation", "pruning"])) == [
        "s02",
        "s03",
        "s04",
        "s06",
        "s07",
        "s09",
    ]


def test_filters_combine_with_and(conn: Connection) -> None:
    assert ids(conn, statuses=["running"], techniques=["quantization"], search="ghost") == ["s05"]
    assert ids(conn, statuses=["completed"], model_ids=["m-bert"], end_date="2024-03-01") == ["s01"]


# -- sorting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_sort_key_orders_all_matches_with_nulls_smallest_and_id_as_tie_breaker(
    conn: Connection, key: str, order: str
) -> None:
    rows = fetch_page(conn, SessionFilter(sort=key, order=order, limit=100)).rows
    got = [r.session_id for r in rows]
    values = {r.session_id: _sort_value(r, key, conn.dialect.name) for r in rows}
    # Reference: NULLs are the smallest value; equal values fall back to session_id.
    expected = sorted(
        values,
        key=lambda sid: (
            values[sid] is not None,
            values[sid] or 0 if not isinstance(values[sid], str) else values[sid],
            sid,
        ),
        reverse=order == "desc",
    )
    assert got == expected


def _sort_value(row: Any, key: str, dialect: str) -> Any:
    if key == "techniques":
        # Sorted by the stored techniques array as JSON text (NULL when it is not an array).
        criteria = next(s["criteria"] for s in SESSIONS if s["session_id"] == row.session_id)
        techniques = (criteria or {}).get("techniques")
        if not isinstance(techniques, list):
            return None
        return json.dumps(techniques, separators=(",", ":") if dialect == "sqlite" else (", ", ": "))
    if key == "model_name":
        return row.model_name
    return getattr(row, key)


def test_sorting_by_size_reduction_spans_all_pages(conn: Connection) -> None:
    first = ids(conn, sort="size_reduction_percent", order="desc", limit=1)
    second = ids(conn, sort="size_reduction_percent", order="desc", limit=1, skip=1)
    # s01 and s02 tie at 50.0: the id decides, in the sort's direction
    assert first + second == ["s02", "s01"]


# -- paging and totals ------------------------------------------------------------------------


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


# -- lookups ---------------------------------------------------------------------------------------


def test_find_session_returns_every_field_for_the_detail_view(conn: Connection) -> None:
    detail = find_session(conn, "s07")
    assert detail is not None
    assert detail["error_message"] == "boom" and detail["row"].model_name == "BERT Base"
    assert detail["criteria"] == {"techniques": ["distillation"]}
    assert detail["framework"] == "pytorch"
    assert find_session(conn, "nope") is None


def test_technique_and_model_choices_include_models_without_metadata(conn: Connection) -> None:
    assert distinct_techniques(conn) == ["distillation", "pruning", "quantization"]
    choices = model_choices(conn)
    assert ("m-ghost", "m-ghost") in choices and ("m-bert", "BERT Base") in choices


# -- written by someone else ----------------------------------------------------------------


def test_timestamps_with_t_separator_or_zone_suffix_are_read_filtered_and_sorted(
    empty_db_url: str, engine: Engine
) -> None:
    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    with writer.begin() as c:
        for sid, created in (
            ("t1", "2024-03-11T08:00:00Z"),
            ("t2", "2024-03-11T07:30:00+00:00"),
            ("t3", "2024-03-11 09:15:00"),
        ):
            c.execute(
                text(
                    "INSERT INTO optimization_sessions (session_id, model_id, status,"
                    " created_at, updated_at) VALUES (:s, 'm-bert', 'pending', :c, :c)"
                ),
                {"s": sid, "c": created},
            )
    writer.dispose()
    with engine.connect() as conn:
        day = fetch_page(conn, SessionFilter(start_date="2024-03-11", sort="created_at", order="asc"))
        assert [r.session_id for r in day.rows] == ["t2", "t1", "t3"]
        assert day.rows[1].created_at == datetime(2024, 3, 11, 8, 0, tzinfo=UTC)
        assert ids(conn, start_date="2024-03-11T08:00:00Z", end_date="2024-03-11T08:00:00Z") == ["t1"]


def test_rows_inserted_updated_and_deleted_with_plain_sql_keep_search_and_techniques_right(
    empty_db_url: str, engine: Engine
) -> None:
    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    with writer.begin() as c:
        c.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria,"
                " created_at, updated_at) VALUES ('new-xyz', 'm-bert', 'running',"
                " :crit, '2024-03-12 00:00:00', '2024-03-12 00:00:00')"
            ),
            {"crit": '{"techniques": ["distillation"]}'},
        )
        c.execute(
            text("UPDATE optimization_sessions SET criteria = :crit WHERE session_id = 's07'"),
            {"crit": '{"techniques": ["pruning"]}'},
        )
        c.execute(text("DELETE FROM optimization_sessions WHERE session_id = 's04'"))
    writer.dispose()
    with engine.connect() as conn:
        assert ids(conn, techniques=["distillation"]) == ["new-xyz"]
        assert "s07" in ids(conn, techniques=["pruning"])
        assert ids(conn, search="w-xy") == ["new-xyz"]
        assert ids(conn, search="s04") == []


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


def test_a_bare_platform_database_without_init_db_gives_the_same_answers(empty_db_url: str) -> None:
    from core.speed.derived import forget_capabilities
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
