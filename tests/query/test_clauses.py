"""The SQL of a filter (core.query.clauses): every filter and sort key, on a real database.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture, :mod:`tests.query.conftest`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.fields import SORT_KEYS
from core.query.filter import SessionFilter
from core.query.pages import fetch_page
from core.store.engine import make_engine
from tests.query.sample import SESSIONS, ids


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
