"""The API's pure rules, in process: the 400/422 split, content negotiation, the Bearer header, JSON."""

from __future__ import annotations

import math

import pytest
from starlette.requests import Request

from core.query.filter import FilterError, SessionFilter
from web.api.auth import bearer_token
from web.api.errors import filter_error_status
from web.api.responses import finite
from web.api.sessions import wants_csv


def _error(**params: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        SessionFilter.from_params(params)
    return caught.value


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "nope"}, 400),
        ({"limit": "101"}, 400),
        ({"limit": "0"}, 400),
        ({"limit": "x"}, 422),
        ({"sort": "nope"}, 400),
        ({"order": "up"}, 400),
        ({"q": "x" * 300}, 400),
        ({"skip": "-1"}, 422),
        ({"skip": "x"}, 422),
        ({"start_date": "2026-02-30"}, 422),
        ({"end_date": "tomorrow"}, 422),
        ({"start_date": "2026-02-02", "end_date": "2026-02-01"}, 400),
    ],
)
def test_values_that_parse_are_400_and_values_that_do_not_are_422(
    params: dict[str, str], status: int
) -> None:
    assert filter_error_status(_error(**params)) == status


def _request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/csv", True),
        ("text/csv; charset=utf-8", True),
        ("text/csv, application/json", True),
        ("application/json, text/csv", False),
    ],
)
def test_accept_text_csv_asks_for_the_csv(accept: str, csv: bool) -> None:
    assert wants_csv(_request(accept=accept)) is csv


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Bearer", None), ("Basic abc", None), ("", None)],
)
def test_only_a_bearer_header_carries_a_token(header: str, token: str | None) -> None:
    assert bearer_token(_request(authorization=header)) == token


def test_non_finite_numbers_become_null_however_deep() -> None:
    value = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": "NaN"}
    assert finite(value) == {"a": None, "b": [1.0, None, {"c": None}], "d": "NaN"}


@pytest.mark.parametrize("name", ["status", "model_id", "q", "technique", "sort", "start_date", "skip"])
def test_a_nul_character_in_any_value_is_400_naming_the_parameter(name: str) -> None:
    from web.api.errors import ApiError
    from web.api.params import reject_nul

    reject_nul({name: ["fine", "also fine"]})
    with pytest.raises(ApiError) as caught:
        reject_nul({name: ["fine", "a\x00b"]})
    assert caught.value.status == 400 and f"`{name}`" in caught.value.detail and "NUL" in caught.value.detail


def test_the_openapi_document_is_one_the_bundled_reference_page_can_render() -> None:
    """Swagger UI 4 (swagger-ui-bundle) shows "unable to render this definition" for OpenAPI 3.1."""
    import re

    from swagger_ui_bundle import swagger_ui_path

    from web.api.app import create_app

    document = create_app().openapi()
    bundled = re.search(r"swagger-ui-(\d+)\.", str(swagger_ui_path))
    assert bundled is not None
    if int(bundled.group(1)) < 5:
        assert document["openapi"].startswith("3.0.")
    assert {"/sessions", "/sessions.csv", "/sessions/{session_id}", "/metrics"} <= set(document["paths"])
