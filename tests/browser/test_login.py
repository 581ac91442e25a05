"""The login as a browser sees it: Chromium against ``streamlit run app.py``.

One server with a temporary database, credentials file and cookie key serves the module;
the first-start case gets its own server with nothing configured. Screenshots of the login
page and of every page after login go to ``test-results/screenshots``.
"""

from __future__ import annotations

import contextlib
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml
from playwright.sync_api import Page, expect

from core.auth.credentials import add_user
from core.auth.users import check_password
from core.config import Settings
from core.store.demo import write_demo
from core.store.engine import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COOKIE_NAME = "optimization_dashboard_auth"
STRONG_KEY = "browser-test-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
GENERIC_FAILURE = "Incorrect user name or password."
SLOW = 20_000  # ms: first load of a page compiles the frontend bundle in a cold browser

# Text an anonymous visitor may see. "lock" and "visibility" are icon ligatures (the padlock
# in the heading and the show-password eye).
LOGIN_TEXT = {
    "lock Optimization sessions",
    "Sign in to see the model optimization sessions.",
    "Username",
    "Password",
    "visibility",
    "Login",
    "Press Enter to submit form",
}


def page_scripts() -> list[Path]:
    return sorted(
        (p for p in (PROJECT_ROOT / "pages").glob("*.py") if not p.name.startswith((".", "_"))),
        key=lambda p: (int(m.group(1)) if (m := re.match(r"^(\d+)", p.stem)) else 10**9, p.stem),
    )


def url_path(script: Path) -> str:
    """Streamlit's URL for a classic page: ``pages/1_Sessions.py`` -> ``Sessions``."""
    return re.sub(r"^\d+_", "", script.stem)


PAGE_PATHS = ["", *(url_path(p) for p in page_scripts())]


@pytest.fixture(scope="module")
def dashboard(start_dashboard, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    root = tmp_path_factory.mktemp("login")
    db_url = f"sqlite:///{root / 'sessions.db'}"
    engine = make_engine(Settings(db_url=db_url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=300, model_count=8)
    engine.dispose()
    credentials = root / "auth" / "credentials.yaml"
    add_user(credentials, "alice", "alice password", role="manager", name="Alice Doe", rounds=4)
    add_user(credentials, "root", "root password", role="admin", name="Root", rounds=4)
    server = start_dashboard(
        {
            "SESSIONS_DB_URL": db_url,
            "DASHBOARD_AUTH_FILE": str(credentials),
            "DASHBOARD_COOKIE_KEY": STRONG_KEY,
            "DASHBOARD_COOKIE_EXPIRY_DAYS": "1",
        }
    )
    yield server
    server.stop()


def settle(page: Page) -> None:
    """Give the script run (and the reruns the cookie widget triggers) time to finish.

    Best effort: a page with auto-refresh may show "running" again at any time, so this
    never fails; assertions wait for the elements they need instead.
    """
    page.wait_for_timeout(300)
    with contextlib.suppress(AssertionError):
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=5_000)
    page.wait_for_timeout(300)


def expect_login_form(page: Page) -> None:
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Login")).to_be_visible()


def sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Login").click()


def expect_signed_in(page: Page, name: str) -> None:
    expect(page.get_by_role("textbox", name="Username")).to_have_count(0, timeout=SLOW)
    expect(page.get_by_test_id("stSidebar").get_by_text(name, exact=True)).to_be_visible(timeout=SLOW)


def auth_cookie(page: Page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE_NAME), None)


def wait_for_cookie(page: Page, present: bool, timeout: float = 10.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cookie = auth_cookie(page)
        if (cookie is not None) is present:
            return cookie
        page.wait_for_timeout(100)
    raise AssertionError(f"login cookie {'never appeared' if present else 'still there'}")


@pytest.mark.parametrize("path", PAGE_PATHS, ids=lambda p: p or "home")
def test_anonymous_visitor_sees_only_the_login_form(
    dashboard, page: Page, screenshot_dir: Path, path: str
) -> None:
    page.goto(f"{dashboard.url}/{path}?status=failed")
    expect_login_form(page)
    settle(page)
    lines = {line.strip() for line in page.get_by_test_id("stMain").inner_text().splitlines() if line.strip()}
    assert lines <= LOGIN_TEXT, f"/{path} shows more than the login form: {lines - LOGIN_TEXT}"
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)  # no sidebar, no page list
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    assert auth_cookie(page) is None
    if not path:
        page.screenshot(path=screenshot_dir / "login.png")


def test_wrong_password_and_unknown_user_are_refused_alike(
    dashboard, page: Page, screenshot_dir: Path
) -> None:
    page.goto(f"{dashboard.url}/Sessions")
    expect_login_form(page)
    sign_in(page, "alice", "not her password")
    expect(page.get_by_text(GENERIC_FAILURE, exact=True)).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("textbox", name="Password")).to_have_value("")
    page.screenshot(path=screenshot_dir / "login-refused.png")
    sign_in(page, "mallory", "not a password")
    expect(page.get_by_text(GENERIC_FAILURE, exact=True)).to_be_visible(timeout=SLOW)
    settle(page)
    expect_login_form(page)
    assert auth_cookie(page) is None


def test_right_password_keeps_the_deep_link_and_shows_every_page(
    dashboard, page: Page, screenshot_dir: Path
) -> None:
    page.goto(f"{dashboard.url}/Sessions?status=failed")
    expect_login_form(page)
    sign_in(page, "Alice", "alice password")
    expect_signed_in(page, "Alice Doe")
    assert re.search(r"/Sessions\?(.*&)?status=failed", page.url), page.url
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Alice Doe · manager")).to_be_visible()
    expect(sidebar.get_by_role("button", name=re.compile("Log out"))).to_have_count(1, timeout=SLOW)
    cookie = wait_for_cookie(page, present=True)
    assert cookie["sameSite"] == "Strict"
    assert 0 < cookie["expires"] - time.time() <= 86400 + 60  # one day, as configured
    settle(page)
    page.screenshot(path=screenshot_dir / "after-login-sessions-deep-link.png")

    for path in PAGE_PATHS:
        label = path or "Home"
        target = re.compile(rf"{re.escape(dashboard.url)}/{path}(\?.*)?$")
        for attempt in range(2):  # a click while the previous page still runs can be lost
            settle(page)
            sidebar.get_by_role("link", name=label).click()
            try:
                expect(page).to_have_url(target)
                break
            except AssertionError:
                if attempt:
                    raise
        expect_signed_in(page, "Alice Doe")
        settle(page)
        page.screenshot(path=screenshot_dir / f"after-login-{label.lower()}.png", full_page=True)
        if not path:
            expect(page.get_by_text("optimization sessions.", exact=False).first).to_be_visible()


def test_logout_clears_the_cookie_and_a_reload_stays_logged_out(
    dashboard, page: Page, screenshot_dir: Path
) -> None:
    page.goto(dashboard.url)
    expect_login_form(page)
    sign_in(page, "root", "root password")
    expect_signed_in(page, "Root")
    wait_for_cookie(page, present=True)
    settle(page)
    page.reload()  # the re-login cookie signs this new browser session in
    expect_signed_in(page, "Root")
    sidebar = page.get_by_test_id("stSidebar")
    settle(page)
    sidebar.get_by_role("link", name="Sessions").click()  # a data page to come "back" to
    expect(page).to_have_url(re.compile(r"/Sessions"))
    expect_signed_in(page, "Root")
    settle(page)
    page.goto(dashboard.url)  # a new browser session again, signed in by the cookie
    expect_signed_in(page, "Root")

    sidebar.get_by_role("button", name=re.compile("Log out")).click()
    expect_login_form(page)
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    wait_for_cookie(page, present=False)
    settle(page)
    expect(page.get_by_text("Sign in to see the model optimization sessions.")).to_have_count(1)
    page.screenshot(path=screenshot_dir / "logged-out.png")
    page.reload()
    expect_login_form(page)
    settle(page)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    page.go_back()  # to the Sessions page seen before logging out
    expect(page).to_have_url(re.compile(r"/Sessions"))
    expect_login_form(page)
    settle(page)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)


@pytest.mark.parametrize(
    ("case", "signed_in"),
    [
        ("valid", True),
        ("wrong key", False),
        ("library example key", False),
        ("unsigned", False),
        ("expired", False),
        ("issued before the password was set", False),
        ("unknown user", False),
        ("garbage", False),
    ],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # forging on purpose
def test_only_a_valid_cookie_signs_a_browser_in(dashboard, page: Page, case: str, signed_in: bool) -> None:
    now = time.time()
    day = 86400
    claims = {"username": "alice", "exp_date": now + day - 5}
    key, algorithm = STRONG_KEY, "HS256"
    if case == "wrong key":
        key = "another-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
    elif case == "library example key":
        key = "some_key"
    elif case == "expired":
        claims["exp_date"] = now - 60
    elif case == "issued before the password was set":
        claims["exp_date"] = now + day - 7200  # issued two hours ago
    elif case == "unknown user":
        claims["username"] = "mallory"
    if case == "unsigned":
        token = jwt.encode(claims, None, algorithm="none")
    elif case == "garbage":
        token = "not.a.token"
    else:
        token = jwt.encode(claims, key, algorithm=algorithm)
    page.context.add_cookies(
        [{"name": COOKIE_NAME, "value": token, "url": dashboard.url, "sameSite": "Strict"}]
    )
    page.goto(f"{dashboard.url}/Sessions")
    if signed_in:
        expect_signed_in(page, "Alice Doe")
    else:
        expect_login_form(page)
        settle(page)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)


def test_first_start_creates_an_admin_with_a_hashed_password(
    start_dashboard, page: Page, tmp_path: Path, screenshot_dir: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'sessions.db'}"
    engine = make_engine(Settings(db_url=db_url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=50, model_count=4)
    engine.dispose()
    credentials = tmp_path / "fresh" / "credentials.yaml"
    server = start_dashboard(
        {
            "SESSIONS_DB_URL": db_url,
            "DASHBOARD_AUTH_FILE": str(credentials),
            "DASHBOARD_COOKIE_KEY": "",  # nothing configured: a fresh machine
        }
    )
    try:
        page.goto(server.url)
        expect_login_form(page)
        expect(page.get_by_text("password printed in the terminal")).to_be_visible()
        settle(page)
        page.screenshot(path=screenshot_dir / "login-first-start.png")

        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        key_file = credentials.parent / "cookie_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert len(key_file.read_text().strip()) >= 32
        entry = yaml.safe_load(credentials.read_text())["credentials"]["usernames"]["admin"]
        assert re.fullmatch(r"\$2b\$12\$[./A-Za-z0-9]{53}", entry["password"])
        assert entry["roles"] == ["admin"]

        match = re.search(r"password\s+(\S+)", server.output())
        assert match, server.output()
        password = match.group(1)
        assert check_password(password, entry["password"])
        assert password not in credentials.read_text()

        sign_in(page, "admin", password)
        expect_signed_in(page, "Administrator")
        settle(page)
        assert server.output().count(password) == 1  # printed once, never again
    finally:
        server.stop()
