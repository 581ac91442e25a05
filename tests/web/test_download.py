"""The CSV download route (``ui/download.py``) as a browser or curl meets it.

Every request goes through the real Starlette route in-process (``tests/asgi_client.py``);
the database is a real SQLite file or PostgreSQL database (``empty_db_url`` runs each test
on both), the login a real credentials file and cookie key. A valid link must give exactly
what ``python -m core sessions --format csv`` prints for the same filters.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert
from starlette.applications import Starlette

from core.auth.credentials import add_user, load_credentials, remove_user, set_password
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.auth.users import password_fingerprint
from core.config import AUTH_FILE_ENV, DB_URL_ENV, Settings
from core.export.links import (
    EXPIRED_MESSAGE,
    INVALID_MESSAGE,
    LINK_LIFETIME_S,
    MISSING_MESSAGE,
    canonical_query,
    derive_key,
    make_token,
)
from core.export.names import export_filename
from core.export.stream import iter_filtered_csv
from core.query.filter import SessionFilter
from core.speed.install import install
from core.store.demo import write_demo
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from tests.asgi_client import get
from ui.export import csv_link
from web import csv_body, download
from web.download import EXPORT_PATH, export_routes

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COOKIE_KEY = "route-test-cookie-key-0123456789abcdefghijklmnopqrstuvwxyz"
ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)
FORMULA_SESSION = "=SUM(1,2)-session"
FORMULA_MODEL = '=HYPERLINK("https://example.com","x")'
FILTER = SessionFilter(
    statuses=("completed", "failed"), techniques=("pruning",), sort="size_reduction_percent", order="asc"
)
CLI_ARGS = (
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


def build_database(url: str) -> None:
    engine = make_engine(Settings(url, "environment"), read_only=False)
    write_demo(engine, sessions=300, model_count=6, anchor=ANCHOR)
    with engine.begin() as connection:
        connection.execute(insert(models), [{"model_id": "mdl-formula", "name": FORMULA_MODEL}])
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
                    "results": {"size_reduction_percent": 40.0, "speed_improvement_percent": 20.0},
                    "created_at": ANCHOR - timedelta(days=3),
                    "updated_at": ANCHOR - timedelta(days=3),
                    "completed_at": ANCHOR - timedelta(days=3, hours=-1),
                }
            ],
        )
    engine.dispose()
    install(Settings(url, "environment"), progress=lambda _: None)  # the route reads the copy


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "ada", "ada password", role="engineer", name="Ada", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.setenv(COOKIE_KEY_ENV, COOKIE_KEY)
    monkeypatch.delenv(COOKIE_EXPIRY_ENV, raising=False)
    return path


@pytest.fixture
def db_url(empty_db_url: str, credentials: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    build_database(empty_db_url)
    monkeypatch.setenv(DB_URL_ENV, empty_db_url)
    yield empty_db_url
    download.dispose_engines()  # before the PostgreSQL database is dropped


@pytest.fixture(scope="module")
def app() -> Starlette:
    return Starlette(routes=export_routes())


def fingerprint(user: str = "ada") -> str:
    """The user's current password fingerprint, from the credentials file the route reads."""
    return password_fingerprint(load_credentials(Path(os.environ[AUTH_FILE_ENV]))[user])


def link(f: SessionFilter = FILTER, user: str = "ada", now: float | None = None) -> str:
    return csv_link(user, fingerprint(user), f, COOKIE_KEY, now=now)


def cli_csv(db_url: str, *args: str) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "core", "sessions", "--db", db_url, "--format", "csv", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout


def assert_refused(reply: object, message: str) -> None:
    assert reply.status == 403, reply.text  # type: ignore[attr-defined]
    assert reply.text.strip() == message  # type: ignore[attr-defined]
    assert reply.headers["content-type"].startswith("text/plain")  # type: ignore[attr-defined]
    assert "content-disposition" not in reply.headers  # type: ignore[attr-defined]


# --- a valid link ------------------------------------------------------------------------------


def test_a_valid_link_downloads_exactly_what_the_cli_prints(app: Starlette, db_url: str) -> None:
    reply = get(app, link())
    assert reply.status == 200, reply.text
    assert reply.completed
    assert reply.body == cli_csv(db_url, *CLI_ARGS)
    name = export_filename(FILTER, datetime.now(UTC).date())
    assert name.startswith(f"sessions_{datetime.now(UTC).date().isoformat()}_status-completed+failed")
    assert reply.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) > 50  # every match, not a page
    formula = next(r for r in rows if r["model_id"] == "mdl-formula")
    assert formula["session_id"] == "'" + FORMULA_SESSION
    assert formula["model_name"] == "'" + FORMULA_MODEL
    assert reply.body_messages > 1 or len(rows) < 2000  # sent in chunks, not as one body


def test_every_match_whatever_page_and_screen_options_the_page_link_had(app: Starlette, db_url: str) -> None:
    """The Sessions page's own URL parameters may ride along; paging never cuts the export."""
    paged = SessionFilter(statuses=("completed",), skip=50, limit=25)
    query = canonical_query(paged)
    token = make_token(derive_key(COOKIE_KEY), "ada", query, credential=fingerprint())
    reply = get(
        app, f"{EXPORT_PATH}?{query}&skip=50&limit=25&hide=updated_at&session=x&refresh=off&token={token}"
    )
    assert reply.status == 200, reply.text
    assert reply.body == cli_csv(db_url, "--status", "completed")


def test_an_empty_result_is_a_header_only_file(app: Starlette, db_url: str) -> None:
    f = SessionFilter(search="no-such-session-anywhere")
    reply = get(app, link(f))
    assert reply.status == 200
    assert reply.body == cli_csv(db_url, "--search", "no-such-session-anywhere")
    assert reply.text.count("\r\n") == 1


# --- refused links -----------------------------------------------------------------------------


def test_without_a_token_the_route_refuses(app: Starlette, db_url: str) -> None:
    assert_refused(get(app, f"{EXPORT_PATH}?status=failed"), MISSING_MESSAGE)
    assert_refused(get(app, EXPORT_PATH), MISSING_MESSAGE)


def test_a_tampered_token_is_refused(app: Starlette, db_url: str) -> None:
    url = link()
    head, mac = url.rsplit(".", 1)
    assert_refused(get(app, f"{head}.{mac[::-1]}"), INVALID_MESSAGE)
    assert_refused(get(app, url.replace("token=v1.YWRh", "token=v1.Ym9i")), INVALID_MESSAGE)


def test_an_expired_link_says_to_click_download_again(app: Starlette, db_url: str) -> None:
    reply = get(app, link(now=time.time() - LINK_LIFETIME_S - 1))
    assert_refused(reply, EXPIRED_MESSAGE)
    assert "go back to the Sessions page and click Download CSV again" in reply.text


def test_a_token_for_other_filters_does_not_open_these(app: Starlette, db_url: str) -> None:
    token = link(SessionFilter(statuses=("failed",))).rsplit("token=", 1)[1]
    # Same token, widened filter: the whole table instead of the failed sessions.
    assert_refused(get(app, f"{EXPORT_PATH}?token={token}"), INVALID_MESSAGE)
    assert_refused(get(app, f"{EXPORT_PATH}?status=failed&status=completed&token={token}"), INVALID_MESSAGE)


def test_a_removed_user_can_no_longer_use_their_link(app: Starlette, db_url: str, credentials: Path) -> None:
    url = link()
    add_user(credentials, "bob", "bob password", role="engineer", name="Bob", rounds=4)
    remove_user(credentials, "ada")
    assert_refused(get(app, url), INVALID_MESSAGE)


def test_a_password_change_voids_links_made_before_it(app: Starlette, db_url: str, credentials: Path) -> None:
    url = link()
    assert get(app, url).status == 200
    set_password(credentials, "ada", "a brand new password", rounds=4)
    assert_refused(get(app, url), INVALID_MESSAGE)
    assert get(app, link()).status == 200  # a link made after the change works


def test_a_link_signed_with_an_old_cookie_key_is_refused(
    app: Starlette, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = link()
    monkeypatch.setenv(COOKIE_KEY_ENV, COOKIE_KEY + "-rotated")
    assert_refused(get(app, url), INVALID_MESSAGE)


# --- bad filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter", "allowed"),
    [
        ("status=bogus", "status", "choose from pending, running, completed, failed, cancelled"),
        ("limit=500", "limit", "from 1 to 100"),
        ("skip=-1", "skip", "0 or more"),
        ("start_date=2024-13-45", "start_date", "use a date like 2024-05-31"),
        ("start_date=2024-02-01&end_date=2024-01-01", "start_date", "must not be after end_date"),
        ("sort=password", "sort", "choose from created_at"),
        ("order=sideways", "order", "use asc or desc"),
        ("colour=red", "colour", "the parameters are status, model_id"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(
    app: Starlette, db_url: str, query: str, parameter: str, allowed: str
) -> None:
    reply = get(app, f"{EXPORT_PATH}?{query}&token={link().rsplit('token=', 1)[1]}")
    assert reply.status == 400
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text.startswith(f"Bad parameter `{parameter}`:")
    assert allowed in reply.text
    assert "Traceback" not in reply.text


# --- failures and resources ----------------------------------------------------------------------


def test_a_missing_database_is_a_503_naming_it_without_a_traceback(
    app: Starlette, credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{tmp_path / 'nowhere.db'}")
    reply = get(app, link())
    download.dispose_engines()
    assert reply.status == 503
    assert "nowhere.db" in reply.text and "does not exist" in reply.text
    assert "Traceback" not in reply.text


def test_a_client_that_goes_away_releases_the_database_connection(
    app: Starlette, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled download ends the query at once: no connection, no open read transaction."""
    monkeypatch.setattr(
        csv_body.stream,
        "iter_filtered_csv",
        lambda c, f: iter_filtered_csv(c, f, chunk_rows=10, batch_size=20),
    )
    whole = get(app, link(SessionFilter()))
    assert whole.completed and whole.body_messages > 20  # many small chunks
    engine = download.engine_for(Settings(db_url, "environment"))
    assert engine.pool.checkedout() == 0
    reply = get(app, link(SessionFilter()), disconnect_after=2, on_done=engine.pool.checkedout)
    assert reply.status == 200 and not reply.completed
    assert whole.body.startswith(reply.body)
    assert reply.after == 0  # returned when the response ended, not whenever GC gets to it


def test_the_page_link_is_relative_to_the_base_url_path() -> None:
    url = csv_link("ada", "fingerprint", SessionFilter(statuses=("failed",)), COOKIE_KEY, "/dash/")
    assert url.startswith("/dash/export/sessions.csv?status=failed&token=v1.")
    assert [r.path for r in export_routes("/dash/")] == ["/dash/export/sessions.csv"]
    assert urlencode({"q": "a b"}) == "q=a+b"  # what canonical_query relies on for spaces


def test_server_py_is_what_streamlit_run_serves_with_the_route() -> None:
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(PROJECT_ROOT / "server.py")
    assert found.is_asgi_app and found.app_name == "app"
