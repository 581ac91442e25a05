"""Crafted links: every page parameter given hostile values still renders its page.

For each page (Home, Sessions, Overview, Compare) and each kind of hostile value (empty,
huge, negative, non-numeric, far past, far future, reversed ranges, unicode, SQL-looking,
repeated), the page is opened on a link that gives that value to every parameter it reads.
It must render without an exception, warn about what it ignored, and still show its main
content. The two links that once broke a page are checked on their own as well.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages import test_overview_page as overview_page
from tests.pages.test_overview_page import OVERVIEW, open_page

demo_db = overview_page.demo_db  # the Overview tests' database and signed-in manager
signed_in_env = overview_page.signed_in_env

HOME = "app.py"
SESSIONS = "pages/1_Sessions.py"
COMPARE = "pages/3_Compare.py"
FILTER_PARAMS = ("status", "model_id", "technique", "start_date", "end_date")
PAGE_PARAMS = {
    HOME: FILTER_PARAMS,  # the Home page reads none; stray parameters must not matter
    SESSIONS: (
        *FILTER_PARAMS,
        *("q", "sort", "order", "skip", "limit", "hide", "show", "session", "compare", "refresh"),
    ),
    OVERVIEW: FILTER_PARAMS,
    COMPARE: ("compare", *FILTER_PARAMS),
}
TOMORROW = (date.today() + timedelta(days=2)).isoformat()
HOSTILE: dict[str, list[str]] = {
    "empty": [""],
    "huge": ["9" * 400],
    "negative": ["-1"],
    "non-numeric": ["abc"],
    "far-past": ["1999-12-31"],
    "far-future": ["2099-01-01"],
    "tomorrow": [TOMORROW],
    "unicode": ["Ωmega 🚀 \u202e"],
    "sql": ["' OR 1=1; DROP TABLE optimization_sessions; --"],
    "nul": ["a\x00b"],
    "repeated": ["completed", "completed", "-5", "2099-01-01", "x" * 300],
}
REVERSED = {"start_date": ["2026-05-01"], "end_date": ["2025-01-01"]}


def _sessions_shown(at: AppTest) -> bool:
    empty = any("No sessions match" in m.value for m in at.markdown)
    return bool(at.dataframe) or empty


def _overview_shown(at: AppTest) -> bool:
    empty = any("No sessions match" in i.value for i in at.info)
    return "Overview" in [t.value for t in at.title] and (bool(at.metric) or empty)


def _compare_shown(at: AppTest) -> bool:
    return any("Compare" in t.value for t in at.title)


def _home_shown(at: AppTest) -> bool:
    return "Model optimization sessions" in [t.value for t in at.title]


MAIN_CONTENT: dict[str, Callable[[AppTest], bool]] = {
    HOME: _home_shown,
    SESSIONS: _sessions_shown,
    OVERVIEW: _overview_shown,
    COMPARE: _compare_shown,
}


def _warned(at: AppTest) -> bool:
    return bool(at.warning) or any("Choose" in i.value or "Fewer" in i.value for i in at.info)


def _check(at: AppTest, script: str, *, expect_warning: bool) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert MAIN_CONTENT[script](at), f"{script} lost its main content"
    if expect_warning and script != HOME:
        assert _warned(at), f"{script} ignored a bad link without a warning"


@pytest.mark.usefixtures("signed_in_env")
@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("script", list(PAGE_PARAMS))
def test_every_parameter_with_a_hostile_value_still_renders_the_page(script: str, kind: str) -> None:
    query: dict[str, str | list[str]] = {name: HOSTILE[kind] for name in PAGE_PARAMS[script]}
    at = open_page(script, query)
    _check(at, script, expect_warning=kind not in ("empty", "tomorrow"))


@pytest.mark.usefixtures("signed_in_env")
@pytest.mark.parametrize("script", [SESSIONS, OVERVIEW])
def test_a_reversed_date_range_is_a_warning_and_a_fallback(script: str) -> None:
    at = open_page(script, dict(REVERSED))
    _check(at, script, expect_warning=True)


@pytest.mark.usefixtures("signed_in_env")
@pytest.mark.parametrize(
    ("script", "query", "parameter"),
    [
        (SESSIONS, {"end_date": "1999-12-31"}, "end_date"),
        (SESSIONS, {"start_date": "2099-01-01"}, "start_date"),
        (OVERVIEW, {"start_date": "2099-01-01"}, "start_date"),
        (OVERVIEW, {"start_date": TOMORROW}, "start_date"),
        (OVERVIEW, {"end_date": "1999-12-31"}, "end_date"),
    ],
)
def test_a_date_the_widgets_cannot_show_is_named_and_dropped(
    script: str, query: dict[str, str], parameter: str
) -> None:
    at = open_page(script, dict(query))
    _check(at, script, expect_warning=True)
    assert any(f"`{parameter}=" in w.value for w in at.warning), [w.value for w in at.warning]
    assert parameter not in at.query_params
