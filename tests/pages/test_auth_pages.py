"""The login gate and app shell through Streamlit's AppTest (real form, real session state).

The first test is the safety net for pages added later: it lists every script in ``pages/``
plus ``app.py`` and fails when any of them shows an anonymous visitor anything but the form.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import ui.auth
from core.auth import login as login_rules
from core.auth.credentials import add_user, load_credentials, remove_user, set_password
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.auth.users import check_password
from core.config import AUTH_FILE_ENV, DB_URL_ENV, Settings
from core.speed.install import install
from core.store.demo import write_demo
from core.store.engine import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = str(PROJECT_ROOT / "app.py")
PAGE_SCRIPTS = sorted(
    p.relative_to(PROJECT_ROOT).as_posix()
    for p in (PROJECT_ROOT / "pages").glob("*.py")
    if not p.name.startswith((".", "_"))
)
ALL_SCRIPTS = ["app.py", *PAGE_SCRIPTS]
STRONG_KEY = "test-cookie-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
DEMO_SESSIONS = 30
LOGIN_TITLE = ":material/lock: Optimization sessions"


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sessions.db'}"
    engine = make_engine(Settings(db_url=url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=DEMO_SESSIONS, model_count=5)
    engine.dispose()
    return url


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    login_rules.THROTTLE.reset()
    monkeypatch.setattr(login_rules.THROTTLE, "clock", fake)
    yield fake
    login_rules.THROTTLE.reset()


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_db: str, clock: Clock) -> Path:
    """Two users (cheap bcrypt cost), a strong key and the demo database, all temporary."""
    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "root", "root password", role="admin", name="Root", rounds=4)
    add_user(path, "alice", "alice password", role="manager", name="Alice Doe", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    monkeypatch.delenv(COOKIE_EXPIRY_ENV, raising=False)
    monkeypatch.setenv(DB_URL_ENV, demo_db)
    return path


def open_page(script: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for name, value in query.items():
        at.query_params[name] = value
    if script != "app.py":
        at.switch_page(script)
    return at.run()


def login(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key=ui.auth.USERNAME_KEY).input(username)
    at.text_input(key=ui.auth.PASSWORD_KEY).input(password)
    return at.button[0].click().run()


def leaves(node: Any) -> Iterator[Any]:
    children = getattr(node, "children", None)
    if children:
        for child in children.values():
            yield from leaves(child)
    elif children is None or not isinstance(children, dict):
        yield node


def describe(node: Any) -> tuple[str, str]:
    text = getattr(node, "label", None) or getattr(node, "value", None) or ""
    return node.type, str(text)


def all_text(at: AppTest) -> str:
    parts = []
    for node in leaves(at._tree):
        for attr in ("label", "value", "body"):
            value = getattr(node, attr, None)
            if isinstance(value, str):
                parts.append(value)
    return "\n".join(parts)


def is_login_form(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(describe(node)[1] for node in leaves(at.sidebar))


# --- anonymous visitors ------------------------------------------------------------------------


ALLOWED_FOR_ANONYMOUS = {
    ("component_instance", ""),  # the cookie reader of streamlit-authenticator (invisible)
    ("header", LOGIN_TITLE),
    ("caption", "Sign in to see the model optimization sessions."),
    ("text_input", "Username"),
    ("text_input", "Password"),
    ("button", "Login"),
}


@pytest.mark.parametrize("script", ALL_SCRIPTS)
def test_every_page_shows_anonymous_visitors_only_the_login_form(creds: Path, script: str) -> None:
    at = open_page(script, status="failed")
    assert not at.exception
    shown = {describe(node) for node in leaves(at.main)}
    assert shown <= ALLOWED_FOR_ANONYMOUS, f"{script} shows more than the login form: {shown}"
    assert is_login_form(at)
    assert not list(leaves(at.sidebar)), f"{script} draws a sidebar before login"
    assert not at.get("page_link")
    assert "authentication_status" not in at.session_state or not at.session_state["authentication_status"]


def test_pages_folder_is_covered() -> None:
    """Guard the guard: the parametrized list must really contain the page scripts."""
    assert {"pages/1_Sessions.py", "pages/2_Overview.py"} <= set(PAGE_SCRIPTS)


# --- signing in --------------------------------------------------------------------------------


def test_login_shows_home_with_shell_and_session_count(creds: Path) -> None:
    at = login(open_page("app.py"), "alice", "alice password")
    assert not at.exception
    assert not is_login_form(at)
    assert at.title[0].value == "Model optimization sessions"
    assert any(f"**{DEMO_SESSIONS}** optimization sessions" in m.value for m in at.markdown)
    links = [(link.proto.label, link.proto.page) for link in at.sidebar.get("page_link")]
    assert [label for label, _ in links] == ["Home"] + [
        re.sub(r"^\d+_", "", Path(p).stem).replace("_", " ") for p in PAGE_SCRIPTS
    ]
    side = sidebar_text(at)
    assert "Alice Doe" in side and "manager" in side
    assert creds.parent.name not in side  # the credentials path is nobody's business
    assert at.button(key="auth_logout_button").label == "Log out"
    assert at.session_state["authentication_status"] is True
    assert at.session_state["roles"] == ["manager"]


def test_home_says_whether_the_speed_layer_answers(
    creds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = login(open_page("app.py"), "alice", "alice password")
    (plain,) = [c.value.replace("\\", "") for c in at.caption if "platform's tables directly" in c.value]
    assert "python -m core init-db" in plain  # the reason, and how to end it
    url = f"sqlite:///{tmp_path / 'with-copy.db'}"
    settings = Settings(db_url=url, db_url_source="environment")
    engine = make_engine(settings, read_only=False)
    write_demo(engine, sessions=50, model_count=3)
    engine.dispose()
    install(settings, progress=lambda _: None)
    monkeypatch.setenv(DB_URL_ENV, url)
    at = login(open_page("app.py"), "alice", "alice password")
    assert any("dashboard's own copy" in c.value for c in at.caption)


@pytest.mark.parametrize("script", PAGE_SCRIPTS)
def test_login_on_a_deep_link_keeps_the_page_and_query(creds: Path, script: str) -> None:
    at = login(open_page(script, status="failed"), "Alice", "alice password")
    assert not at.exception
    assert not is_login_form(at)
    assert "failed" in at.query_params.get("status", [])
    assert "Alice Doe" in sidebar_text(at)


def test_unknown_user_and_wrong_password_get_the_same_message(creds: Path) -> None:
    wrong = login(open_page("app.py"), "alice", "not the password")
    unknown = login(open_page("app.py"), "mallory", "not the password")
    for at in (wrong, unknown):
        assert [e.value for e in at.error] == ["Incorrect user name or password."]
        assert is_login_form(at)
        assert at.text_input(key=ui.auth.PASSWORD_KEY).value == ""  # not kept in the session
    assert wrong.text_input(key=ui.auth.USERNAME_KEY).value == "alice"


def test_unknown_user_costs_the_same_bcrypt_time(creds: Path, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "timing.yaml"
    add_user(path, "timed", "timed password", role="admin", rounds=10)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))

    def duration(username: str) -> float:
        login_rules.THROTTLE.reset()
        start = time.perf_counter()
        record, message = login_rules.attempt_login(username, "wrong password", "test-client")
        assert record is None and message == login_rules.GENERIC_FAILURE
        return time.perf_counter() - start

    duration("warm-up")  # builds the dummy hash once
    known = statistics.median(duration("timed") for _ in range(5))
    unknown = statistics.median(duration("nobody") for _ in range(5))
    assert known > 0.02  # bcrypt really ran
    assert 0.6 < unknown / known < 1.6, (known, unknown)


def test_repeated_failures_are_slowed_down_then_allowed_again(creds: Path, clock: Clock) -> None:
    at = open_page("app.py")
    for _ in range(2):
        login(at, "alice", "wrong password")
        assert [e.value for e in at.error] == ["Incorrect user name or password."]
    login(at, "alice", "wrong password")
    assert at.error[0].value == (
        "Incorrect user name or password. Too many failed attempts, try again in 2 s."
    )
    login(at, "alice", "alice password")  # even the right password waits
    assert at.error[0].value == "Too many failed attempts, try again in 2 s."
    assert is_login_form(at)
    clock.now += 2.5
    login(at, "alice", "alice password")
    assert not is_login_form(at)


def test_one_client_guessing_many_names_is_slowed_down(creds: Path) -> None:
    at = open_page("app.py")
    for i in range(10):
        login(at, f"guess{i}", "wrong password")
    assert "Too many failed attempts" in at.error[0].value
    login(at, "root", "root password")  # a real account from that client has to wait too
    assert is_login_form(at)


# --- signing out and stale sessions ----------------------------------------------------------


def test_logout_clears_the_session_and_stays_logged_out(creds: Path) -> None:
    at = login(open_page("pages/1_Sessions.py"), "alice", "alice password")
    at.session_state["some_page_filter"] = "running"
    at.button(key="auth_logout_button").click().run()
    assert is_login_form(at)
    assert [i.value for i in at.info] == ["You have signed out."]
    assert "some_page_filter" not in at.session_state
    assert not at.session_state["authentication_status"]
    at.run()  # another rerun (what "back" does in a Streamlit tab) still shows only the form
    assert is_login_form(at)
    assert not list(leaves(at.sidebar))


@pytest.mark.parametrize("change", ["password", "removed"])
def test_password_change_or_removal_ends_open_sessions(creds: Path, change: str) -> None:
    at = login(open_page("app.py"), "alice", "alice password")
    assert not is_login_form(at)
    if change == "password":
        set_password(creds, "alice", "a brand new password", rounds=4)
    else:
        remove_user(creds, "alice")
    at.run()
    assert is_login_form(at)
    assert "sign in again" in at.warning[0].value


# --- configuration problems stop the app with a message --------------------------------------


def setup_error(at: AppTest) -> str:
    assert not at.exception
    assert not at.text_input, "no login form when the login is mis-configured"
    assert len(at.error) == 1
    return at.error[0].value


def test_plain_text_password_stops_the_app(creds: Path) -> None:
    creds.write_text("credentials:\n  usernames:\n    bob:\n      password: hunter22\n")
    message = setup_error(open_page("app.py"))
    assert "plain-text" in message and "users passwd bob" in message
    assert "hunter22" not in message


@pytest.mark.parametrize(
    ("key", "expected"),
    [("some_key", "published example key"), ("too-short-key", "at least 32 are needed")],
)
def test_weak_cookie_key_stops_the_app(creds: Path, monkeypatch, key: str, expected: str) -> None:
    monkeypatch.setenv(COOKIE_KEY_ENV, key)
    assert expected in setup_error(open_page("pages/1_Sessions.py"))


def test_configured_key_without_credentials_file_says_how_to_add_a_user(
    creds: Path, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(AUTH_FILE_ENV, str(tmp_path / "missing" / "credentials.yaml"))
    assert "users add NAME --role admin" in setup_error(open_page("app.py"))
    assert not (tmp_path / "missing").exists()


# --- first start -------------------------------------------------------------------------------


def test_first_start_creates_login_and_prints_password_once(
    tmp_path: Path, monkeypatch, demo_db: str, clock: Clock, capfd
) -> None:
    path = tmp_path / "fresh" / "credentials.yaml"
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.delenv(COOKIE_KEY_ENV, raising=False)
    monkeypatch.setenv(DB_URL_ENV, demo_db)
    at = open_page("app.py")
    assert is_login_form(at)
    assert "password printed in the terminal" in at.info[0].value
    err = capfd.readouterr().err
    password = re.search(r"password\s+(\S+)", err).group(1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((path.parent / "cookie_key").stat().st_mode) == 0o600
    assert check_password(password, load_credentials(path)["admin"].password_hash)
    assert password not in path.read_text()

    open_page("app.py")  # a second visit creates nothing and prints nothing
    assert password not in capfd.readouterr().err
    at = login(open_page("app.py"), "admin", password)
    assert not is_login_form(at)
    assert "Administrator" in sidebar_text(at) and "admin" in sidebar_text(at)


# --- the shell and the home page ---------------------------------------------------------------


def test_home_lists_the_latest_sessions_newest_first_with_a_link_to_all(creds: Path) -> None:
    at = login(open_page("app.py"), "alice", "alice password")
    table = at.dataframe[0].value
    assert len(table) == 10
    created = list(table["created_at"])
    assert created == sorted(created, reverse=True)
    main_links = [link.proto.page for link in at.main.get("page_link")]
    assert main_links == ["Sessions"]


def test_database_password_is_masked_and_unreachable_db_is_a_message(creds: Path, monkeypatch) -> None:
    monkeypatch.setenv(DB_URL_ENV, "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/sessions")
    at = login(open_page("app.py"), "alice", "alice password")
    assert not at.exception
    assert "reader:***@127.0.0.1:1/sessions" in sidebar_text(at)
    assert "s3cret-pw" not in all_text(at)
    assert "Could not read the sessions database" in at.error[0].value


def test_database_without_tables_gets_a_friendly_message(creds: Path, monkeypatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{empty}")
    at = login(open_page("app.py"), "alice", "alice password")
    assert not at.exception
    assert "has no sessions table yet" in at.warning[0].value
    assert "python -m core init-db" in at.warning[0].value


def _footer_script(source: str) -> None:
    from core.auth.users import User
    from core.config import Settings
    from ui.shell import draw_sidebar_footer

    settings = Settings(db_url="sqlite:////tmp/example.db", db_url_source=source)
    draw_sidebar_footer(User("bob", "Bob *B*", "engineer"), settings, lambda: None)


@pytest.mark.parametrize(("source", "badge"), [("default", True), ("environment", False)])
def test_footer_marks_the_demo_database(source: str, badge: bool) -> None:
    at = AppTest.from_function(_footer_script, args=(source,)).run()
    assert not at.exception
    text = "\n".join(m.value for m in at.sidebar.markdown)
    assert ("Demo database" in text) is badge
    assert r"Bob \*B\*" in text and "engineer" in text  # names are shown, not formatted


@pytest.mark.parametrize("script", ALL_SCRIPTS)
def test_a_broken_setting_stops_every_page_with_a_message_naming_it(
    creds: Path, script: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONS_STATEMENT_TIMEOUT_MS", "soon")
    at = open_page(script)
    assert not at.exception
    assert not is_login_form(at)
    assert "SESSIONS_STATEMENT_TIMEOUT_MS" in at.error[0].value
