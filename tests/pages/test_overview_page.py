"""The Overview and Compare pages through Streamlit's AppTest (real login, real database).

Checks that the cards show the aggregates' numbers, that filters and the URL follow each
other both ways, that bad link values are named in warnings, the empty state, the downloads,
and the comparison with metrics missing from some sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

import ui.auth
from core.auth.credentials import add_user
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.config import AUTH_FILE_ENV, DB_URL_ENV, Settings
from core.query.filter import SessionFilter
from core.speed.install import install
from core.stats.cache import default_cache
from core.stats.points import scatter
from core.stats.summary import summary
from core.stats.types import Summary
from core.store.demo import write_demo
from core.store.engine import make_engine
from core.store.tables import optimization_sessions
from ui import overview_filters as OF

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = str(PROJECT_ROOT / "app.py")
OVERVIEW = "pages/2_Overview.py"
COMPARE = "pages/3_Compare.py"
STRONG_KEY = "test-cookie-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sessions.db'}"
    engine = make_engine(Settings(db_url=url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=600, model_count=8, anchor=ANCHOR)
    with engine.begin() as connection:  # a session reporting an extra metric, for Compare
        at = datetime(2025, 5, 30, 12)
        connection.execute(
            insert(optimization_sessions),
            [
                {
                    "session_id": "cmp-extra",
                    "model_id": "mdl-0001",
                    "status": "completed",
                    "criteria": {"techniques": ["pruning"]},
                    "total_steps": 10,
                    "completed_steps": 10,
                    "results": {"size_reduction_percent": 99.0, "latency_ms": 3.5},
                    "created_at": at,
                    "updated_at": at,
                    "completed_at": at,
                }
            ],
        )
    engine.dispose()
    install(Settings(db_url=url, db_url_source="environment"), progress=lambda _: None)
    return url


@pytest.fixture
def signed_in_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_db: str) -> Iterator[str]:
    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "mia", "mia password", role="manager", name="Mia", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    monkeypatch.delenv(COOKIE_EXPIRY_ENV, raising=False)
    monkeypatch.setenv(DB_URL_ENV, demo_db)
    ui.auth.THROTTLE.reset()
    default_cache.clear()
    yield demo_db
    ui.auth.THROTTLE.reset()


def open_page(script: str, query: dict[str, str | list[str]] | None = None) -> AppTest:
    """Open ``script`` with a query string, sign in through the real form."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.switch_page(script)
    at.run()
    at.text_input(key=ui.auth.USERNAME_KEY).input("mia")
    at.text_input(key=ui.auth.PASSWORD_KEY).input("mia password")
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning)


def params(at: AppTest) -> dict[str, list[str]]:
    """The page's query string after the run, every value as a list."""
    return {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in at.query_params.items()}


def summary_for(url: str, f: SessionFilter) -> Summary:
    engine = make_engine(Settings(db_url=url, db_url_source="environment"))
    try:
        with engine.connect() as connection:
            return summary(connection, f)
    finally:
        engine.dispose()


def charts(at: AppTest) -> list[Any]:
    return at.get("plotly_chart")


def test_cards_show_the_aggregates(signed_in_env: str) -> None:
    at = open_page(OVERVIEW)
    expected = summary_for(signed_in_env, SessionFilter())
    shown = metrics(at)
    assert shown["Sessions started"] == f"{expected.sessions:,}"
    assert shown["Success rate"] == f"{expected.success_rate * 100:.1f}%"
    assert shown["Median size cut"] == f"{expected.median_size_reduction:.1f}%"
    assert shown["Running now"] == f"{expected.running:,}"
    assert [c.key for c in charts(at)] == ["sessions-over-time", "median-trend", "tradeoff", "techniques"]
    assert at.dataframe  # the ranked models
    assert "All time" in at.caption[0].value


def test_url_restores_filters_and_cards_follow(signed_in_env: str) -> None:
    query = {
        "status": ["completed", "failed"],
        "technique": "pruning",
        "start_date": "2025-03-01",
        "end_date": "2025-05-31",
    }
    at = open_page(OVERVIEW, query)
    assert at.multiselect(key=OF.K_STATUS).value == ["completed", "failed"]
    assert at.multiselect(key=OF.K_TECHNIQUES).value == ["pruning"]
    f = SessionFilter(
        statuses=("completed", "failed"),
        techniques=("pruning",),
        start_date="2025-03-01",
        end_date="2025-05-31",
    )
    assert metrics(at)["Sessions started"] == f"{summary_for(signed_in_env, f).sessions:,}"
    assert not warnings(at)
    # The previous period is the 92 days before March 1st.
    assert any("2024-11-29 to 2025-02-28" in c.value for c in at.caption)
    assert params(at) == {k: v if isinstance(v, list) else [v] for k, v in query.items()}


def test_widget_change_rewrites_the_url(signed_in_env: str) -> None:
    at = open_page(OVERVIEW)
    at.multiselect(key=OF.K_STATUS).select("failed").run()
    assert params(at) == {"status": ["failed"]}
    expected = summary_for(signed_in_env, SessionFilter(statuses=("failed",)))
    assert metrics(at)["Sessions started"] == f"{expected.sessions:,}"
    assert metrics(at)["Success rate"] == "0.0%"


def test_bad_link_values_are_named(signed_in_env: str) -> None:
    at = open_page(
        OVERVIEW,
        {"status": "finished", "technique": "magic", "start_date": "2025-13-40", "model_id": "mdl-nope"},
    )
    text = warnings(at)
    for part in ("status=finished", "technique=magic", "start_date=2025-13-40", "model_id=mdl-nope"):
        assert part in text
    assert at.multiselect(key=OF.K_STATUS).value == []
    assert metrics(at)  # the page still shows, with those parameters at their defaults


def test_empty_range_shows_a_message_not_charts(signed_in_env: str) -> None:
    at = open_page(OVERVIEW, {"start_date": "2010-01-01", "end_date": "2010-01-31"})
    assert any("No sessions match these filters" in i.value for i in at.info)
    assert not charts(at) and not at.metric
    at.button(key="overview_empty_reset").click().run()
    assert metrics(at)["Sessions started"] != "0"


def test_metrics_csv_downloads(signed_in_env: str) -> None:
    at = open_page(OVERVIEW)
    buttons = at.get("download_button")
    assert len(buttons) == 2


def test_compare_aligns_metrics_and_marks_best(signed_in_env: str) -> None:
    engine = make_engine(Settings(db_url=signed_in_env, db_url_source="environment"))
    with engine.connect() as connection:
        other = scatter(connection, SessionFilter(start_date="2025-05-25")).points[0].session_id
    engine.dispose()
    at = open_page(COMPARE, {"compare": ["cmp-extra", other, "no-such-session"]})
    assert "no-such-session" in warnings(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["cmp-extra", other]
    assert table.loc["latency_ms"].tolist() == ["3.5", ""]  # one session only: blank, no star
    size = table.loc["Size reduction"].tolist()
    assert size[0] == "99.0% ★" and "★" not in size[1]  # 99 % beats any demo session
    speed = table.loc["Speed improvement"].tolist()
    assert speed[0] == "" and speed[1].endswith("%")
    assert len(charts(at)) == 1


def test_compare_needs_two_sessions(signed_in_env: str) -> None:
    at = open_page(COMPARE, {"compare": "cmp-extra"})
    assert any("2 to 5" in i.value for i in at.info)
    assert not at.dataframe
