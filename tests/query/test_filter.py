"""SessionFilter: validation messages, date meaning, query-string round trip. Pure, no database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from core.query.filter import MAX_LIMIT, FilterError, SessionFilter


def test_defaults_match_the_original_endpoint() -> None:
    f = SessionFilter()
    assert (f.skip, f.limit, f.sort, f.order) == (0, 50, "created_at", "desc")
    assert f.to_params() == {}


def test_multi_values_are_deduplicated_and_ordered_so_equal_filters_hash_equal() -> None:
    a = SessionFilter(statuses=["running", "failed", "running"], model_ids=("m2", "m1"))
    b = SessionFilter(statuses=("failed", "running"), model_ids=["m1", "m2"])
    assert a == b and hash(a) == hash(b)
    assert a.statuses == ("failed", "running")


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"statuses": ["done"]}, "status", "choose from pending, running, completed, failed, cancelled"),
        ({"limit": 0}, "limit", "from 1 to 100"),
        ({"limit": 101}, "limit", "from 1 to 100"),
        ({"skip": -1}, "skip", "0 or more"),
        ({"sort": "colour"}, "sort", "choose from created_at"),
        ({"order": "up"}, "order", "asc or desc"),
        ({"start_date": "2024-13-01"}, "start_date", "2024-05-31"),
        ({"end_date": "yesterday"}, "end_date", "2024-05-31"),
        ({"start_date": "2024-02-02", "end_date": "2024-02-01"}, "start_date", "not be after end_date"),
    ],
)
def test_each_bad_value_names_the_field_the_value_and_what_is_allowed(
    kwargs: dict[str, object], field: str, allowed: str
) -> None:
    with pytest.raises(FilterError) as raised:
        SessionFilter(**kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field
    message = str(raised.value)
    assert message.startswith(f"{field}: ")
    assert allowed in message


def test_a_date_alone_covers_its_whole_day_and_end_is_inclusive() -> None:
    f = SessionFilter(start_date="2024-03-01", end_date="2024-03-01")
    assert f.created_range() == (datetime(2024, 3, 1), datetime(2024, 3, 2))


def test_date_times_are_converted_to_utc_and_the_end_instant_is_included() -> None:
    f = SessionFilter(start_date="2024-03-01T10:00:00+02:00", end_date="2024-03-01T12:00:00Z")
    start, end = f.created_range()
    assert start == datetime(2024, 3, 1, 8, 0)
    assert end is not None and end > datetime(2024, 3, 1, 12, 0) and end.second == 0


def test_the_same_day_as_start_and_end_is_allowed() -> None:
    assert SessionFilter(start_date=date(2024, 1, 1), end_date=date(2024, 1, 1)).start_date


def test_query_string_round_trips_every_field() -> None:
    f = SessionFilter(
        statuses=("completed", "failed"),
        model_ids=("mdl-1", "mdl missing"),
        start_date="2024-01-01",
        end_date="2024-01-31T23:00:00Z",
        search="bert 50%",
        techniques=("pruning", "quantization"),
        sort="size_reduction_percent",
        order="asc",
        skip=100,
        limit=25,
    )
    params = f.to_params()
    assert params["status"] == ["completed", "failed"]
    assert params["technique"] == ["pruning", "quantization"]
    assert params["q"] == ["bert 50%"]
    assert SessionFilter.from_params(params) == f


def test_from_params_accepts_single_strings_and_ignores_blank_values() -> None:
    f = SessionFilter.from_params({"status": "running", "q": "  ", "limit": "10"})
    assert f == SessionFilter(statuses=("running",), limit=10)


def test_lenient_parsing_puts_each_bad_parameter_back_to_its_default_and_keeps_the_rest() -> None:
    f, errors = SessionFilter.from_params_lenient(
        {
            "status": ["failed", "finished"],
            "limit": "500",
            "skip": "-1",
            "sort": "size_reduction_percent",
            "start_date": "2024-02-10",
            "end_date": "2024-02-01",
            "q": "bert",
        }
    )
    assert f.statuses == ("failed",)
    assert f.limit == 50 and f.skip == 0
    assert f.sort == "size_reduction_percent" and f.search == "bert"
    assert f.start_date is None and f.end_date == date(2024, 2, 1)
    assert {e.field for e in errors} == {"status", "limit", "skip", "start_date"}
    assert any("'finished'" in str(e) for e in errors)


def test_lenient_parsing_reports_non_numbers_and_malformed_dates() -> None:
    f, errors = SessionFilter.from_params_lenient({"limit": "lots", "end_date": "31/01/2024"})
    assert f == SessionFilter()
    assert [e.field for e in errors] == ["end_date", "limit"]
    assert "'lots'" in str(errors[1]) and f"1 to {MAX_LIMIT}" in str(errors[1])


def test_page_arithmetic() -> None:
    f = SessionFilter(limit=25, skip=50)
    assert f.page_number == 3
    assert f.with_page(1).skip == 0 and f.with_page(5).skip == 100
    assert f.first_page().skip == 0


def test_filter_params_names_every_parameter_a_filter_writes() -> None:
    """The CSV route accepts exactly these; a new filter parameter must be listed there too."""
    from core.query.filter import FILTER_PARAMS

    full = SessionFilter(
        statuses=("failed",),
        model_ids=("m",),
        search="x",
        techniques=("t",),
        sort="model_name",
        order="asc",
        skip=5,
        limit=10,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 2, 1),
    )
    assert set(full.to_params()) == set(FILTER_PARAMS)
    assert SessionFilter.from_params(full.to_params()) == full


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"search": "a\x00b"}, "q"),
        ({"model_ids": ("m\x00",)}, "model_id"),
        ({"techniques": ("\x00",)}, "technique"),
    ],
)
def test_a_nul_character_in_text_is_refused_naming_the_parameter(
    kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(FilterError) as raised:
        SessionFilter(**kwargs)
    assert raised.value.field == parameter
    assert "NUL" in str(raised.value)


def test_a_link_with_a_nul_character_keeps_the_other_values_and_names_the_bad_one() -> None:
    f, errors = SessionFilter.from_params_lenient({"q": ["x\x00"], "model_id": ["m\x00", "m-1"]})
    assert f.model_ids == ("m-1",) and f.search == ""
    assert sorted(e.field for e in errors) == ["model_id", "q"]
