"""The Sessions page through Streamlit's AppTest: filters, the URL, paging, states and export.

Each test signs in through the real login form on a deep link, as a person would, and checks
the page against the core query engine (the table must show exactly ``fetch_page`` of the
filter the URL describes) and the URL against the widgets.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from starlette.applications import Starlette
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

import ui.auth
import ui.compare
import ui.export
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.config import AUTH_FILE_ENV, DB_URL_ENV, Settings
from core.query.filter import SessionFilter
from core.query.pages import fetch_page, list_sessions
from core.speed.install import install
from core.store.demo import write_demo
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from core.store.types import Malformed
from tests.asgi_client import get as asgi_get
from ui import pager, sidebar, table_grid, url_state
from ui.view import ViewState
from web.download import dispose_engines, export_routes
from web.routes import ROUTES_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = str(PROJECT_ROOT / "app.py")
PAGE = "pages/1_Sessions.py"
ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)
DEMO_SESSIONS = 260
STRONG_KEY = "test-cookie-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
EXTRA_ROWS = 2  # the formula session and the malformed one (below)
MALFORMED_SESSION = "opt-malformed-criteria"
MALFORMED_TEXT = '{"techniques": ["quantization",'
FORMULA_SESSION = "=SUM(1,2)-session"
FORMULA_MODEL = '=HYPERLINK("https://example.com","x")'


def _add_formula_rows(url: str) -> None:
    """A model and a session whose text a spreadsheet would run as formulas."""
    engine = make_engine(Settings(url, "environment"), read_only=False)
    with engine.begin() as connection:
        connection.execute(
            insert(models),
            [
                {
                    "model_id": "mdl-formula",
                    "name": FORMULA_MODEL,
                    "framework": "onnx",
                    "original_size_mb": 12.5,
                }
            ],
        )
        connection.execute(
            insert(optimization_sessions),
            [
                {
                    "session_id": FORMULA_SESSION,
                    "model_id": "mdl-formula",
                    "status": "completed",
                    "criteria": {"techniques": ["pruning"]},
                    "total_steps": 10,
                    "completed_steps": 10,
                    "results": {
                        "size_reduction_percent": 40.0,
                        "speed_improvement_percent": 20.0,
                        "accuracy_delta_percent": -0.5,
                    },
                    "created_at": ANCHOR - timedelta(days=3),
                    "updated_at": ANCHOR - timedelta(days=3),
                    "completed_at": ANCHOR - timedelta(days=3) + timedelta(hours=1),
                }
            ],
        )
        # As a buggy writer might leave it: criteria that are not JSON at all. PostgreSQL's
        # JSONB cannot hold that, so there the same session gets a wrongly typed field.
        criteria: Any = (
            Malformed(MALFORMED_TEXT) if url.startswith("sqlite") else {"techniques": "quantization"}
        )
        connection.execute(
            insert(optimization_sessions),
            [
                {
                    "session_id": MALFORMED_SESSION,
                    "model_id": "mdl-0001",
                    "status": "failed",
                    "criteria": criteria,
                    "total_steps": 10,
                    "completed_steps": 4,
                    "results": None,
                    "error_message": "worker lost",
                    "created_at": ANCHOR - timedelta(days=5),
                    "updated_at": ANCHOR - timedelta(days=5),
                    "completed_at": ANCHOR - timedelta(days=5),
                }
            ],
        )
    engine.dispose()


def build_database(url: str) -> str:
    engine = make_engine(Settings(url, "environment"), read_only=False)
    write_demo(engine, sessions=DEMO_SESSIONS, model_count=6, anchor=ANCHOR)
    engine.dispose()
    _add_formula_rows(url)
    install(Settings(url, "environment"), progress=lambda _: None)  # the pages read the copy
    return url


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_database(f"sqlite:///{tmp_path_factory.mktemp('sessions') / 'sessions.db'}")


@pytest.fixture
def login_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with a cheap bcrypt cost and a strong cookie key, all temporary."""
    from core.auth.credentials import add_user

    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "eve", "eve password", role="engineer", name="Eve", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    monkeypatch.delenv(COOKIE_EXPIRY_ENV, raising=False)
    monkeypatch.setenv(ROUTES_ENV, "1")  # as started by server.py: "Download CSV" is the route
    ui.auth.THROTTLE.reset()
    return path


@pytest.fixture
def db(demo_url: str, login_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DB_URL_ENV, demo_url)
    return demo_url


def open_sessions(query: dict[str, str | list[str]] | None = None) -> AppTest:
    """The Sessions page opened on a link with ``query``, signed in through the form."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.switch_page(PAGE)
    at.run()
    at.text_input(key=ui.auth.USERNAME_KEY).input("eve")
    at.text_input(key=ui.auth.PASSWORD_KEY).input("eve password")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def url(at: AppTest) -> dict[str, list[str]]:
    """The page's query string, every value as a list."""
    return {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in at.query_params.items()}


def shown_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["session_id"])


def expected(db_url: str, f: SessionFilter) -> tuple[list[str], int]:
    engine = make_engine(Settings(db_url, "environment"))
    with engine.connect() as connection:
        page = fetch_page(connection, f)
    engine.dispose()
    return [r.session_id for r in page.rows], page.total


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def assert_shows(at: AppTest, db_url: str, f: SessionFilter) -> None:
    ids, total = expected(db_url, f)
    assert shown_ids(at) == ids
    first = f.skip + 1
    assert f"Showing **{first:,}–{f.skip + len(ids):,}** of **{total:,}**" in markdown(at)


# --- the first view ------------------------------------------------------------------------------


def test_first_view_is_the_newest_sessions_with_a_clean_url(db: str) -> None:
    at = open_sessions()
    assert url(at) == {}
    assert_shows(at, db, SessionFilter())
    assert len(shown_ids(at)) == 50
    assert [m.label for m in at.metric] == [
        "Sessions",
        "Completed",
        "Median size reduction",
        "Median speed-up",
    ]
    assert at.metric[0].value == f"{DEMO_SESSIONS + EXTRA_ROWS:,}"
    assert "Page **1** of **6**" in markdown(at)
    # the demo data has malformed rows: the notice counts them
    assert any("malformed criteria or results" in i.value for i in at.info)


# --- each filter changes the table and the URL ---------------------------------------------------


def _set(key: str, value: Any) -> Callable[[AppTest], None]:
    def apply(at: AppTest) -> None:
        widget = (
            at.get("multiselect")
            + at.get("selectbox")
            + at.get("text_input")
            + at.get("date_input")
            + at.get("button_group")
        )
        found = [w for w in widget if getattr(w, "key", None) == key]
        assert found, f"no widget {key}"
        if found[0].type == "text_input":
            found[0].input(value)
        else:
            found[0].set_value(value)

    return apply


FILTER_CASES = [
    pytest.param(
        _set(sidebar.K_STATUS, ["failed", "running"]),
        {"status": ["failed", "running"]},
        SessionFilter(statuses=("failed", "running")),
        id="status",
    ),
    pytest.param(
        _set(sidebar.K_MODELS, ["mdl-0002"]),
        {"model_id": ["mdl-0002"]},
        SessionFilter(model_ids=("mdl-0002",)),
        id="model",
    ),
    pytest.param(
        _set(sidebar.K_TECHNIQUES, ["distillation"]),
        {"technique": ["distillation"]},
        SessionFilter(techniques=("distillation",)),
        id="technique",
    ),
    pytest.param(
        _set(sidebar.K_FROM, date(2026, 3, 1)),
        {"start_date": ["2026-03-01"]},
        SessionFilter(start_date=date(2026, 3, 1)),
        id="start_date",
    ),
    pytest.param(
        _set(sidebar.K_TO, date(2025, 12, 31)),
        {"end_date": ["2025-12-31"]},
        SessionFilter(end_date=date(2025, 12, 31)),
        id="end_date",
    ),
    pytest.param(
        _set(sidebar.K_SEARCH, "mdl-0003"), {"q": ["mdl-0003"]}, SessionFilter(search="mdl-0003"), id="search"
    ),
    pytest.param(
        _set(sidebar.K_SORT, "size_reduction_percent"),
        {"sort": ["size_reduction_percent"]},
        SessionFilter(sort="size_reduction_percent"),
        id="sort",
    ),
    pytest.param(_set(sidebar.K_ORDER, "asc"), {"order": ["asc"]}, SessionFilter(order="asc"), id="order"),
    pytest.param(_set(sidebar.K_LIMIT, 10), {"limit": ["10"]}, SessionFilter(limit=10), id="page_size"),
]


@pytest.mark.parametrize(("change", "params", "f"), FILTER_CASES)
def test_each_filter_changes_the_table_and_the_url(
    db: str, change: Callable[[AppTest], None], params: dict[str, list[str]], f: SessionFilter
) -> None:
    at = open_sessions()
    before = shown_ids(at)
    change(at)
    at.run()
    assert not at.exception
    assert url(at) == params
    assert_shows(at, db, f)
    assert shown_ids(at) != before


def test_quick_date_choice_sets_an_open_ended_start(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(url_state, "today_utc", lambda: date(2026, 6, 1))
    at = open_sessions()
    _set(sidebar.K_RANGE, "30")(at)
    at.run()
    assert url(at) == {"start_date": ["2026-05-03"]}
    assert at.date_input(key=sidebar.K_FROM).value == date(2026, 5, 3)
    assert at.date_input(key=sidebar.K_TO).value is None
    assert_shows(at, db, SessionFilter(start_date=date(2026, 5, 3)))


def test_changing_a_filter_returns_to_the_first_page(db: str) -> None:
    at = open_sessions({"skip": "100", "sort": "model_name", "order": "asc"})
    assert_shows(at, db, SessionFilter(skip=100, sort="model_name", order="asc"))
    _set(sidebar.K_STATUS, ["completed"])(at)
    at.run()
    assert url(at) == {"status": ["completed"], "sort": ["model_name"], "order": ["asc"]}
    assert_shows(at, db, SessionFilter(statuses=("completed",), sort="model_name", order="asc"))


def test_hiding_and_showing_columns_is_part_of_the_url(db: str) -> None:
    at = open_sessions()
    assert list(at.dataframe[0].proto.column_order) == table_grid.visible_columns(ViewState())
    columns = at.multiselect(key=sidebar.K_COLUMNS)
    visible = [c for c in columns.value if c != "duration"] + ["model_id"]
    columns.set_value(visible).run()
    assert url(at) == {"hide": ["duration"], "show": ["model_id"]}
    order = list(at.dataframe[0].proto.column_order)
    assert "duration" not in order and "model_id" in order and order[0] == "session_id"


# --- the URL restores the view -----------------------------------------------------------------


def test_a_url_restores_exactly_that_view(db: str) -> None:
    query = {
        "status": ["completed", "failed"],
        "model_id": ["mdl-0001", "mdl-0002"],
        "technique": ["quantization"],
        "start_date": "2025-09-01",
        "end_date": "2026-05-31",
        "q": "mdl",
        "sort": "speed_improvement_percent",
        "order": "asc",
        "skip": "10",
        "limit": "10",
        "hide": "duration",
        "refresh": "off",
    }
    at = open_sessions(query)
    f = SessionFilter(
        statuses=("completed", "failed"),
        model_ids=("mdl-0001", "mdl-0002"),
        techniques=("quantization",),
        start_date="2025-09-01",
        end_date="2026-05-31",
        search="mdl",
        sort="speed_improvement_percent",
        order="asc",
        skip=10,
        limit=10,
    )
    assert not warnings(at)
    assert url(at) == {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    assert_shows(at, db, f)
    assert at.multiselect(key=sidebar.K_STATUS).value == ["completed", "failed"]
    assert at.multiselect(key=sidebar.K_MODELS).value == ["mdl-0001", "mdl-0002"]
    assert at.multiselect(key=sidebar.K_TECHNIQUES).value == ["quantization"]
    assert at.date_input(key=sidebar.K_FROM).value == date(2025, 9, 1)
    assert at.date_input(key=sidebar.K_TO).value == date(2026, 5, 31)
    assert at.text_input(key=sidebar.K_SEARCH).value == "mdl"
    assert at.selectbox(key=sidebar.K_SORT).value == "speed_improvement_percent"
    assert at.selectbox(key=sidebar.K_LIMIT).value == 10
    assert at.toggle(key=sidebar.K_REFRESH).value is False
    assert "Page **2** of" in markdown(at)


def test_a_date_time_bound_in_the_url_is_kept_as_written(db: str) -> None:
    at = open_sessions({"start_date": "2026-05-20T12:30:00Z"})
    assert url(at) == {"start_date": ["2026-05-20T12:30:00Z"]}
    assert_shows(at, db, SessionFilter(start_date="2026-05-20T12:30:00Z"))
    at.text_input(key=sidebar.K_SEARCH).input("resnet").run()
    assert url(at) == {"start_date": ["2026-05-20T12:30:00Z"], "q": ["resnet"]}


# --- bad URL parameters -----------------------------------------------------------------------


BAD_PARAMETERS = [
    ({"status": "exploded"}, "status", "exploded", "choose from pending, running"),
    ({"limit": "500"}, "limit", "500", "from 1 to 100"),
    ({"limit": "ten"}, "limit", "ten", "from 1 to 100"),
    ({"skip": "-1"}, "skip", "-1", "0 or more"),
    (
        {"start_date": "2026-05-01", "end_date": "2026-04-01"},
        "start_date",
        "2026-05-01",
        "must not be after end_date 2026-04-01",
    ),
    ({"start_date": "2026-13-45"}, "start_date", "2026-13-45", "use a date like"),
    ({"end_date": "yesterday"}, "end_date", "yesterday", "use a date like"),
    ({"sort": "vibes"}, "sort", "vibes", "choose from created_at"),
    ({"order": "sideways"}, "order", "sideways", "use asc or desc"),
    ({"model_id": "mdl-9999"}, "model_id", "mdl-9999", "no session or model has this id"),
    ({"technique": "magic"}, "technique", "magic", "choose from distillation"),
    ({"hide": "nothing"}, "hide", "nothing", "columns are"),
    ({"refresh": "sometimes"}, "refresh", "sometimes", "use on or off"),
]


@pytest.mark.parametrize(
    ("query", "parameter", "value", "allowed"),
    BAD_PARAMETERS,
    ids=[f"{p}={v}" for _, p, v, _ in BAD_PARAMETERS],
)
def test_each_bad_url_parameter_gives_a_clear_warning_and_its_default(
    db: str, query: dict[str, str], parameter: str, value: str, allowed: str
) -> None:
    at = open_sessions(query)
    assert not at.exception
    found = [w for w in warnings(at) if f"`{parameter}=" in w]
    assert len(found) == 1, warnings(at)
    assert value in found[0] and allowed in found[0]
    # the page still shows sessions, with that parameter back at its default
    assert shown_ids(at)
    assert parameter not in url(at)
    # the warning belongs to the link: it goes once the view changes
    at.text_input(key=sidebar.K_SEARCH).input("mdl").run()
    assert not [w for w in warnings(at) if f"`{parameter}=" in w]


def test_good_parameters_survive_beside_a_bad_one(db: str) -> None:
    at = open_sessions({"status": ["failed", "bogus"], "limit": "500", "sort": "status"})
    assert len(warnings(at)) == 2
    assert url(at) == {"status": ["failed"], "sort": ["status"]}
    assert_shows(at, db, SessionFilter(statuses=("failed",), sort="status"))


# --- pagination -------------------------------------------------------------------------------


def _pager(at: AppTest) -> dict[str, bool]:
    return {
        name: at.button(key=f"sessions_{name}").disabled for name in ("first", "previous", "next", "last")
    }


def test_pagination_moves_within_bounds(db: str) -> None:
    at = open_sessions({"limit": "25"})
    pages = -(-(DEMO_SESSIONS + EXTRA_ROWS) // 25)
    assert _pager(at) == {"first": True, "previous": True, "next": False, "last": False}
    at.button(key="sessions_next").click().run()
    assert url(at) == {"limit": ["25"], "skip": ["25"]}
    assert_shows(at, db, SessionFilter(limit=25, skip=25))
    assert f"Page **2** of **{pages}**" in markdown(at)
    assert _pager(at) == {"first": False, "previous": False, "next": False, "last": False}
    at.button(key="sessions_last").click().run()
    last_skip = (pages - 1) * 25
    assert url(at)["skip"] == [str(last_skip)]
    assert_shows(at, db, SessionFilter(limit=25, skip=last_skip))
    assert _pager(at) == {"first": False, "previous": False, "next": True, "last": True}
    at.button(key="sessions_previous").click().run()
    assert url(at)["skip"] == [str(last_skip - 25)]
    at.number_input(key=pager.K_PAGE).set_value(3).run()
    assert url(at)["skip"] == ["50"]
    assert_shows(at, db, SessionFilter(limit=25, skip=50))
    at.button(key="sessions_first").click().run()
    assert url(at) == {"limit": ["25"]}


def test_a_page_past_the_end_shows_the_last_page_with_a_warning(db: str) -> None:
    at = open_sessions({"skip": "5000"})
    assert any("`skip=5000` is past the last" in w for w in warnings(at))
    last_skip = (DEMO_SESSIONS + EXTRA_ROWS) // 50 * 50
    assert url(at) == {"skip": [str(last_skip)]}
    assert_shows(at, db, SessionFilter(skip=last_skip))


# --- states ------------------------------------------------------------------------------------


def test_no_match_shows_a_friendly_empty_state_with_a_reset(db: str) -> None:
    at = open_sessions({"q": "no-such-session-anywhere", "status": "failed"})
    assert not at.dataframe
    assert "No sessions match these filters" in markdown(at)
    assert at.metric[0].value == "0"
    at.button(key="sessions_reset_empty").click().run()
    assert url(at) == {}
    assert_shows(at, db, SessionFilter())
    assert at.metric[0].value == f"{DEMO_SESSIONS + EXTRA_ROWS:,}"  # the whole page follows
    assert at.multiselect(key=sidebar.K_STATUS).value == []


def test_reset_filters_keeps_sort_and_page_size(db: str) -> None:
    at = open_sessions({"status": "failed", "q": "mdl", "sort": "status", "limit": "10"})
    at.button(key="sessions_reset").click().run()
    assert url(at) == {"sort": ["status"], "limit": ["10"]}


def test_an_unreachable_database_is_named_with_its_password_masked(
    login_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_URL_ENV, "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:9/sessions")
    at = open_sessions({"status": "failed"})
    assert not at.exception
    text = "\n".join(e.value for e in at.error)
    assert "not answering" in text and "127.0.0.1:9/sessions" in text and "***" in text
    assert "s3cret-pw" not in text
    assert at.button(key="sessions_retry").label == "Retry"
    assert at.query_params["status"] == ["failed"] or at.query_params["status"] == "failed"
    at.button(key="sessions_retry").click().run()
    assert not at.exception


def test_a_missing_sqlite_file_says_what_to_do(
    login_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{tmp_path / 'nowhere.db'}")
    at = open_sessions()
    text = "\n".join(e.value for e in at.error)
    assert "nowhere.db" in text and "does not exist" in text


# --- detail -------------------------------------------------------------------------------------


def test_a_session_link_opens_its_detail(db: str) -> None:
    ids, _ = expected(db, SessionFilter(statuses=("failed",), limit=1))
    at = open_sessions({"session": ids[0]})
    text = markdown(at) + "\n".join(e.value for e in at.error)
    assert ids[0].replace("-", "\\-") in text  # shown as typed: Markdown characters escaped
    assert "Error:" in text
    assert "of" in at.get("progress")[0].proto.text
    at.button(key="sessions_detail_close").click().run()
    assert "session" not in url(at)


def test_an_unknown_session_link_says_so(db: str) -> None:
    at = open_sessions({"session": "opt-does-not-exist"})
    assert any("No session has the id" in w for w in warnings(at))


# --- export ------------------------------------------------------------------------------------


@pytest.fixture
def deferred_downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Callable[[], Any]]]:
    """The callables the page hands to ``st.download_button``, by file name."""
    captured: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(
        self: MediaFileManager, data_callable: Callable[[], Any], *args: Any, **kwargs: Any
    ) -> str:
        captured[kwargs.get("file_name") or ""] = data_callable
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    yield captured


def page_csv(at: AppTest) -> tuple[str, bytes]:
    """Follow the page's "Download CSV" link through the real route: (file name, body)."""
    (button,) = [b for b in at.get("link_button") if b.proto.label == "Download CSV"]
    reply = asgi_get(Starlette(routes=export_routes()), button.proto.url)
    dispose_engines()
    assert reply.status == 200, reply.text
    disposition = reply.headers["content-disposition"]
    return disposition.split('filename="', 1)[1].rstrip('"'), reply.body


def _cli_csv(db_url: str, *args: str) -> bytes:
    result = subprocess.run(
        [sys.executable, "-m", "core", "sessions", "--db", db_url, "--format", "csv", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    return result.stdout


def test_csv_export_equals_the_cli_for_the_same_filters(db: str) -> None:
    at = open_sessions(
        {
            "status": ["completed", "failed"],
            "technique": "pruning",
            "sort": "size_reduction_percent",
            "order": "asc",
            "skip": "50",
            "limit": "25",
        }
    )
    name, body = page_csv(at)
    assert "status-completed+failed" in name and "technique-pruning" in name
    cli_csv = _cli_csv(
        db,
        "--status",
        "completed",
        "--status",
        "failed",
        "--technique",
        "pruning",
        "--sort",
        "size_reduction_percent",
        "--order",
        "asc",
    )
    assert body == cli_csv
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) > 25  # every match, not just the page on screen
    formula = [r for r in rows if r["model_id"] == "mdl-formula"]
    assert formula and formula[0]["session_id"] == "'" + FORMULA_SESSION
    assert formula[0]["model_name"] == "'" + FORMULA_MODEL


def test_without_server_py_a_small_csv_downloads_in_the_page(
    db: str, monkeypatch: pytest.MonkeyPatch, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    monkeypatch.delenv(ROUTES_ENV)  # `streamlit run app.py`: no route, so no link to it
    at = open_sessions({"status": "failed", "limit": "10"})
    assert not [b for b in at.get("link_button") if b.proto.label == "Download CSV"]
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download CSV"]
    assert not button.proto.disabled
    assert "bash scripts/run" in button.proto.help
    (name,) = [n for n in deferred_downloads if n.endswith(".csv")]
    assert "status-failed" in name
    assert deferred_downloads[name]() == _cli_csv(db, "--status", "failed")


def test_without_server_py_a_large_csv_says_how_to_start_the_dashboard(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROUTES_ENV)
    monkeypatch.setattr(ui.export, "IN_PAGE_MAX_ROWS", 10)
    at = open_sessions()
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download CSV"]
    assert button.proto.disabled
    assert "bash scripts/run" in button.proto.help and "streamlit run server.py" in button.proto.help


def test_json_export_is_the_current_page_in_the_endpoint_shape(
    db: str, deferred_downloads: dict[str, Callable[[], Any]]
) -> None:
    open_sessions({"status": "completed", "skip": "20", "limit": "10"})
    name = next(n for n in deferred_downloads if n.endswith(".json"))
    assert name.endswith("_page-3.json")
    body = json.loads(deferred_downloads[name]())
    engine = make_engine(Settings(db, "environment"))
    with engine.connect() as connection:
        assert body == list_sessions(connection, SessionFilter(statuses=("completed",), skip=20, limit=10))
    engine.dispose()
    assert set(body) == {"sessions", "total", "skip", "limit"}


# --- both backends ------------------------------------------------------------------------------


def test_filters_paging_and_export_agree_with_the_core_on_each_backend(
    empty_db_url: str,
    login_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_database(empty_db_url)
    monkeypatch.setenv(DB_URL_ENV, empty_db_url)
    query = {
        "status": ["completed", "cancelled"],
        "q": "mdl-000",
        "sort": "model_name",
        "order": "asc",
        "skip": "20",
        "limit": "10",
    }
    at = open_sessions(query)
    assert not warnings(at)
    assert_shows(
        at,
        empty_db_url,
        SessionFilter(
            statuses=("completed", "cancelled"),
            search="mdl-000",
            sort="model_name",
            order="asc",
            skip=20,
            limit=10,
        ),
    )
    assert page_csv(at)[1] == _cli_csv(
        empty_db_url,
        "--status",
        "completed",
        "--status",
        "cancelled",
        "--search",
        "mdl-000",
        "--sort",
        "model_name",
        "--order",
        "asc",
    )
    at.button(key="sessions_next").click().run()
    assert url(at)["skip"] == ["30"]


# --- charts and cancellation -----------------------------------------------------------------


def test_one_chart_at_a_time_follows_the_filters(db: str) -> None:
    at = open_sessions({"status": "completed"})
    assert len(at.get("plotly_chart")) == 1
    scatter = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "sample" in json.dumps(scatter["layout"]["title"]) or "completed sessions" in json.dumps(
        scatter["layout"]["title"]
    )
    at.segmented_control(key="sessions_chart").set_value("techniques").run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "By technique" in json.dumps(figure["layout"]["title"])
    assert url(at) == {"status": ["completed"]}  # the chart choice is not part of the view


def test_an_abandoned_views_query_is_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement of a run that was told to stop ends within moments, not when it is done."""
    import threading
    import time as clock

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from ui import cancel

    class Coordinator:
        def __init__(self) -> None:
            self.stop = threading.Event()

        def should_stop(self) -> bool:
            return self.stop.is_set()

    class Context:  # what the watcher reads of Streamlit's script-run context
        parallel_coordinator = Coordinator()
        script_requests = None

    coordinator = Context.parallel_coordinator
    monkeypatch.setattr(cancel, "run_context", lambda: Context)
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    engine = cancel.install(make_engine(Settings(url, "environment"), read_only=False))
    slow = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 300000000) SELECT count(*) FROM n"
    )
    threading.Timer(0.3, coordinator.stop.set).start()
    started = clock.monotonic()
    with pytest.raises(OperationalError, match="interrupted"), engine.connect() as connection:
        connection.execute(slow).scalar_one()
    assert clock.monotonic() - started < 3
    engine.dispose()


def test_a_waiting_full_rerun_abandons_the_run_but_a_queued_refresh_does_not() -> None:
    """Reads Streamlit's real request object, so a change of its shape shows up here."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

    from ui import cancel

    class Context:
        parallel_coordinator = None

        def __init__(self, requests: ScriptRequests) -> None:
            self.script_requests = requests

    idle = ScriptRequests()
    assert not cancel._abandoned_run(Context(idle))
    full = ScriptRequests()
    full.request_rerun(RerunData(query_string="status=failed"))
    assert cancel._abandoned_run(Context(full))
    refresh = ScriptRequests()
    refresh.request_rerun(RerunData(fragment_id_queue=["sessions-table"]))
    assert not cancel._abandoned_run(Context(refresh))
    stopped = ScriptRequests()
    stopped.request_stop()
    assert cancel._abandoned_run(Context(stopped))


def test_malformed_criteria_are_shown_as_stored_not_as_a_failure(db: str) -> None:
    at = open_sessions({"session": MALFORMED_SESSION})
    assert not at.exception
    assert any("not valid JSON; shown as stored" in w for w in warnings(at))
    assert MALFORMED_TEXT in [c.value for c in at.code]
    assert any("malformed" in w for w in warnings(at))


# --- ticking rows: one opens its detail, 2 to 5 compare -----------------------------------------


def tick(at: AppTest, *rows: int) -> AppTest:
    """Tick these rows of the grid (the selection state the browser would send)."""
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": list(rows), "columns": []}}
    return at.run()


def compare_button(at: AppTest) -> Any:
    links = [p for p in at.get("page_link") if p.proto.page == "Compare" and p.proto.label != "Compare"]
    assert len(links) == 1, [p.proto.label for p in at.get("page_link")]
    return links[0].proto


def query_of(ids: list[str]) -> str:
    return ui.compare.compare_link(ids).split("?", 1)[1]


def test_ticking_two_rows_offers_a_link_to_compare_them_and_no_detail(db: str) -> None:
    at = open_sessions({"status": "completed"})
    assert compare_button(at).disabled  # nothing ticked: the bar explains, the link waits
    assert "tick 2 to 5 to compare" in markdown(at)
    ids = shown_ids(at)
    tick(at, 0, 3)
    assert not at.exception
    link = compare_button(at)
    assert (link.label, link.disabled) == ("Compare 2 sessions", False)
    assert link.query_string == query_of([ids[0], ids[3]])
    assert "**2 sessions ticked.**" in markdown(at)
    assert "session" not in url(at)  # the detail stays closed
    assert url(at) == {"status": ["completed"]}
    tick(at, 0, 1, 3, 4, 5)
    assert compare_button(at).label == "Compare 5 sessions" and not compare_button(at).disabled


def test_more_than_five_ticked_rows_say_how_many_to_untick(db: str) -> None:
    at = open_sessions()
    tick(at, 0, 1, 2, 3, 4, 5, 6)
    link = compare_button(at)
    assert (link.label, link.disabled) == ("Compare 7 sessions", True)
    assert "Pick at most 5 sessions to compare" in markdown(at)
    at.button(key="sessions_clear_selection").click().run()
    assert compare_button(at).disabled and "sessions ticked" not in markdown(at)


def test_one_ticked_row_opens_its_detail_and_unticking_to_one_does_not(db: str) -> None:
    at = open_sessions()
    ids = shown_ids(at)
    tick(at, 2)
    assert url(at) == {"session": [ids[2]]}  # the detail dialog, as a link
    at.button(key="sessions_detail_close").click().run()
    assert "session" not in url(at)
    assert "**1 session ticked.** Tick up to 4 more" in markdown(at)  # the tick stays...
    tick(at, 2, 4)
    assert compare_button(at).label == "Compare 2 sessions"
    tick(at, 4)  # ...and unticking back to one opens nothing
    assert "session" not in url(at)
    assert "**1 session ticked.**" in markdown(at)


def test_ticks_follow_their_sessions_and_clear_on_another_page_or_filter(db: str) -> None:
    at = open_sessions({"limit": "10"})
    ids = shown_ids(at)
    tick(at, 1, 2)
    assert compare_button(at).query_string == query_of(ids[1:3])
    at.run()  # a rerun (e.g. the auto-refresh) keeps them
    assert compare_button(at).query_string == query_of(ids[1:3])
    at.button(key="sessions_next").click().run()
    assert compare_button(at).disabled and "sessions ticked" not in markdown(at)
    tick(at, 0, 1)
    _set(sidebar.K_STATUS, ["failed"])(at)
    at.run()
    assert compare_button(at).disabled and "sessions ticked" not in markdown(at)
