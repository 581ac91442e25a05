"""The Overview and Compare pages in Chromium at 1440x900: screenshots and the models link.

One server with a temporary demo database (5,000 sessions ending today) serves the module.
Screenshots go to ``test-results/screenshots`` (overview-*.png, compare.png).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from core.auth.credentials import add_user
from core.config import Settings
from core.query.filter import SessionFilter
from core.stats.models import model_ranking
from core.stats.points import pareto_front, scatter
from core.store.demo import write_demo
from core.store.engine import make_engine

KEY = "overview-browser-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"
SLOW = 60_000


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("overview")
    url = f"sqlite:///{root / 'sessions.db'}"
    engine = make_engine(Settings(db_url=url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=5000, model_count=40)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def dashboard(start_dashboard, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    credentials = tmp_path_factory.mktemp("auth") / "credentials.yaml"
    add_user(credentials, "mia", "mia password", role="manager", name="Mia Manager", rounds=4)
    server = start_dashboard(
        {
            "SESSIONS_DB_URL": db_url,
            "DASHBOARD_AUTH_FILE": str(credentials),
            "DASHBOARD_COOKIE_KEY": KEY,
            "DASHBOARD_COOKIE_EXPIRY_DAYS": "1",
        }
    )
    yield server
    server.stop()


def snap(page: Page, screenshot_dir: Path, name: str) -> None:
    """Save a screenshot (also to $SCREENSHOT_COPY_DIR when set: test-results is shared)."""
    page.screenshot(path=screenshot_dir / name)
    extra = os.environ.get("SCREENSHOT_COPY_DIR")
    if extra:
        page.screenshot(path=Path(extra) / name)


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill("mia")
    page.get_by_role("textbox", name="Password").fill("mia password")
    page.get_by_role("button", name="Login").click()


def wait_for_charts(page: Page, count: int) -> None:
    expect(page.locator(".js-plotly-plot")).to_have_count(count, timeout=SLOW)
    page.wait_for_timeout(800)  # let Plotly finish its transitions before a screenshot


def test_overview_screenshots(dashboard, page: Page, screenshot_dir: Path) -> None:
    start = (datetime.now(UTC).date() - timedelta(days=89)).isoformat()
    sign_in(page, f"{dashboard.url}/Overview?start_date={start}")
    expect(page.get_by_text("Sessions started", exact=True)).to_be_visible(timeout=SLOW)
    wait_for_charts(page, 4)
    expect(page.get_by_text("Changes compare with the 90 days before")).to_be_visible()
    snap(page, screenshot_dir, "overview-top.png")
    page.get_by_text("Pareto front sessions").scroll_into_view_if_needed()
    page.mouse.wheel(0, -250)
    page.wait_for_timeout(500)
    snap(page, screenshot_dir, "overview-tradeoff.png")
    page.get_by_text("Models ranked by their best completed session").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    snap(page, screenshot_dir, "overview-bottom.png")


def test_models_link_opens_sessions_filtered_to_that_model(
    dashboard, db_url: str, page: Page, context: BrowserContext, screenshot_dir: Path
) -> None:
    engine = make_engine(Settings(db_url=db_url, db_url_source="environment"))
    with engine.connect() as connection:
        best = model_ranking(connection, SessionFilter(), limit=1).rows[0]
    engine.dispose()
    sign_in(page, f"{dashboard.url}/Overview")
    wait_for_charts(page, 4)
    table = page.locator(".st-key-overview_model_ranking")
    table.scroll_into_view_if_needed(timeout=SLOW)
    expect(table).to_be_visible(timeout=SLOW)
    page.wait_for_timeout(500)
    link_cell = table.get_by_test_id("glide-cell-7-0")
    expect(link_cell).to_have_text(f"Sessions?model_id={best.model_id}")
    box = table.bounding_box()
    assert box is not None
    # The grid is a canvas: click on the link text drawn in the last column of the first row.
    snap(page, screenshot_dir, "overview-models-table.png")
    # Hover first: the grid underlines the link, then a click opens it in a new tab.
    x, y = box["x"] + box["width"] - 100, box["y"] + 35 + 17
    page.mouse.move(x, y)
    page.wait_for_timeout(500)
    with context.expect_page(timeout=SLOW) as opened:
        page.mouse.click(x, y)
    sessions = opened.value
    sessions.wait_for_load_state()
    query = parse_qs(urlparse(sessions.url).query)
    assert urlparse(sessions.url).path.endswith("/Sessions")
    assert query["model_id"] == [best.model_id]
    expect(sessions.get_by_text(re.compile(r"Showing \d"))).to_be_visible(timeout=SLOW)
    snap(sessions, screenshot_dir, "overview-model-link-sessions.png")


def test_compare_screenshot(dashboard, db_url: str, page: Page, screenshot_dir: Path) -> None:
    engine = make_engine(Settings(db_url=db_url, db_url_source="environment"))
    with engine.connect() as connection:
        front = pareto_front(connection, SessionFilter())
        failed = scatter(connection, SessionFilter()).points[0]
    engine.dispose()
    ids = [p.session_id for p in front[:3]] + [failed.session_id]
    sign_in(page, f"{dashboard.url}/Compare?" + "&".join(f"compare={i}" for i in ids))
    expect(page.get_by_text("sessions side by side")).to_be_visible(timeout=SLOW)
    wait_for_charts(page, 1)
    snap(page, screenshot_dir, "compare.png")
