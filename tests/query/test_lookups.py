"""Look-ups beside the table (core.query.lookups): the detail view, the filters' choices, the data issues.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture, :mod:`tests.query.conftest`).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.query.filter import SessionFilter
from core.query.lookups import count_data_issues, distinct_techniques, find_session, model_choices
from core.query.pages import fetch_page


def test_rows_with_malformed_criteria_or_results_are_flagged_and_counted(conn: Connection) -> None:
    flagged = {r.session_id for r in fetch_page(conn, SessionFilter(limit=100)).rows if r.has_data_issue}
    assert flagged == {"s08", "s09", "s10"}
    assert count_data_issues(conn, SessionFilter()) == 3
    assert count_data_issues(conn, SessionFilter(statuses=("completed",))) == 2


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
