"""The Sessions page in a real Chromium: sign in, filter, sort, page, download, live progress.

The grid draws its cells on a canvas; their text is read from the accessibility cells
(``glide-cell-<column>-<row>``, column 0 being the row checkboxes). A header click needs
mouse coordinates: the table's columns have fixed widths (``core.fields.Field.width``), so the
position of a header follows from the visible columns. Waits are on data, never on time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert, update

from core.auth.credentials import add_user
from core.config import Settings
from core.fields import BY_KEY
from core.query.filter import SessionFilter
from core.query.pages import fetch_page, iter_sessions
from core.speed.install import install
from core.store.demo import write_demo
from core.store.engine import make_engine
from core.store.tables import models, optimization_sessions
from ui.compare import compare_link
from ui.table_grid import visible_columns
from ui.view import ViewState

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)
STRONG_KEY = "browser-test-cookie-key-0123456789abcdefghijklmnopqrstuvwxyz"
LIVE_ID = "opt-live-progress-0001"
FORMULA_SESSION = "=SUM(1,2)-session"
FORMULA_MODEL = '=HYPERLINK("https://example.com","x")'
ROW_MARKER_PX = 34  # width of the checkbox column of a selectable grid
HEADER_PX = 35
TIMEOUT_MS = 45_000
BENCH_DB_ENV = "SESSIONS_BENCH_DB_URL"


def _writer(url: str) -> Any:
    return make_engine(Settings(url, "environment"), read_only=False)


def build_database(url: str) -> None:
    engine = _writer(url)
    write_demo(engine, sessions=400, model_count=8, anchor=ANCHOR)
    now = datetime.now(UTC)
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
                    "created_at": ANCHOR - timedelta(days=2),
                    "updated_at": ANCHOR - timedelta(days=2),
                    "completed_at": ANCHOR - timedelta(days=2, hours=-1),
                },
                {
                    "session_id": LIVE_ID,
                    "model_id": "mdl-0001",
                    "status": "running",
                    "criteria": {"techniques": ["quantization"]},
                    "total_steps": 100,
                    "completed_steps": 10,
                    "results": None,
                    "created_at": now - timedelta(minutes=5),
                    "updated_at": now,
                    "completed_at": None,
                },
            ],
        )
    engine.dispose()
    # The speed layer as init-db installs it: the pages read the copy, kept by the server's sync.
    install(Settings(url, "environment"), progress=lambda _: None)


def core_page(url: str, f: SessionFilter) -> tuple[list[str], int]:
    engine = make_engine(Settings(url, "environment"))
    with engine.connect() as connection:
        page = fetch_page(connection, f)
    engine.dispose()
    return [r.session_id for r in page.rows], page.total


@pytest.fixture(scope="module")
def dashboard(start_dashboard: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("sessions-browser")
    url = f"sqlite:///{folder / 'sessions.db'}"
    build_database(url)
    credentials = folder / "auth" / "credentials.yaml"
    add_user(credentials, "ada", "ada password", role="engineer", name="Ada", rounds=4)
    server = start_dashboard(
        {"SESSIONS_DB_URL": url, "DASHBOARD_AUTH_FILE": str(credentials), "DASHBOARD_COOKIE_KEY": STRONG_KEY}
    )
    server.db_url = url
    yield server
    server.stop()


@pytest.fixture
def viewer(browser: Browser, browser_context_args: dict, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A browser tab in Berlin time, so "the viewer's time zone" is not the server's."""
    context = browser.new_context(**browser_context_args, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # a busy CI machine renders slowly
    yield page
    expect.set_options(timeout=5_000)
    if os.environ.get("SESSIONS_DEBUG_SHOTS"):
        page.screenshot(path=f"{os.environ['SESSIONS_DEBUG_SHOTS']}/{request.node.name}.png")
    context.close()


def sign_in(page: Page, base_url: str, query: str = "") -> None:
    page.goto(f"{base_url}/Sessions{query}")
    page.get_by_role("textbox", name="Username").fill("ada")
    page.get_by_role("textbox", name="Password").fill("ada password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Showing")).to_be_visible(timeout=TIMEOUT_MS)
    hover_grid(page)
    expect(page.get_by_test_id("glide-cell-1-0")).not_to_have_text("", timeout=TIMEOUT_MS)


def hover_grid(page: Page) -> None:
    """The grid builds its accessible cells (which tests read) once a pointer is over it."""
    grid = page.get_by_test_id("stDataFrame")
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    assert box is not None
    grid.hover(position={"x": 300, "y": min(120, box["height"] - 15)})


def cell(page: Page, column: int, row: int) -> Any:
    return page.get_by_test_id(f"glide-cell-{column}-{row}")


def column_index(key: str, view: ViewState | None = None) -> int:
    """The grid column of a field (the checkbox column is 0)."""
    return visible_columns(view or ViewState()).index(key) + 1


def shown_ids(page: Page, rows: int) -> list[str]:
    return [cell(page, 1, r).inner_text() for r in range(rows)]


def query(page: Page) -> str:
    return page.evaluate("window.location.search")


def wait_for_query(page: Page, text: str) -> None:
    page.wait_for_function("t => window.location.search.includes(t)", arg=text, timeout=TIMEOUT_MS)


def click_header(page: Page, key: str) -> None:
    box = page.get_by_test_id("stDataFrame").bounding_box()
    assert box is not None
    keys = visible_columns(ViewState())
    left = ROW_MARKER_PX + sum(BY_KEY[k].width for k in keys[: keys.index(key)])
    page.mouse.click(box["x"] + left + BY_KEY[key].width / 2, box["y"] + HEADER_PX / 2)


def test_sign_in_on_a_filtered_link_shows_exactly_those_rows(
    dashboard: Any, viewer: Page, screenshot_dir: Path
) -> None:
    sign_in(viewer, dashboard.url, "?status=failed&status=cancelled&sort=model_name&order=asc")
    ids, total = core_page(
        dashboard.db_url, SessionFilter(statuses=("failed", "cancelled"), sort="model_name", order="asc")
    )
    expect(cell(viewer, 1, 0)).to_have_text(ids[0])
    assert shown_ids(viewer, 8) == ids[:8]
    expect(viewer.get_by_text(f"of {total:,} sessions")).to_be_visible()
    assert query(viewer) == "?status=cancelled&status=failed&sort=model_name&order=asc"
    viewer.screenshot(path=screenshot_dir / "sessions-filtered-link.png")


def test_change_a_filter_then_sort_by_size_reduction_then_page_forward(
    dashboard: Any, viewer: Page, screenshot_dir: Path
) -> None:
    sign_in(viewer, dashboard.url)
    viewer.screenshot(path=screenshot_dir / "sessions-default.png")

    # a filter: completed sessions only
    sidebar = viewer.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stMultiSelect").filter(has_text="Status").click()
    viewer.get_by_role("option", name="Completed").click()
    viewer.keyboard.press("Escape")
    wait_for_query(viewer, "status=completed")
    completed = SessionFilter(statuses=("completed",))
    ids, total = core_page(dashboard.db_url, completed)
    expect(cell(viewer, 1, 0)).to_have_text(ids[0])
    expect(viewer.get_by_text(f"of {total:,} sessions")).to_be_visible()

    # sort by size reduction with a header click: done in the database, across all matches
    click_header(viewer, "size_reduction_percent")
    wait_for_query(viewer, "sort=size_reduction_percent")
    by_size = SessionFilter(statuses=("completed",), sort="size_reduction_percent")
    ids, _ = core_page(dashboard.db_url, by_size)
    expect(cell(viewer, 1, 0)).to_have_text(ids[0])
    column = column_index("size_reduction_percent")
    values = [float(cell(viewer, column, r).inner_text()) for r in range(10)]
    assert values == sorted(values, reverse=True)
    assert shown_ids(viewer, 10) == ids[:10]
    viewer.screenshot(path=screenshot_dir / "sessions-sorted-by-size.png")

    # a second click on the same header reverses the order
    click_header(viewer, "size_reduction_percent")
    wait_for_query(viewer, "order=asc")
    ascending, _ = core_page(
        dashboard.db_url, SessionFilter(statuses=("completed",), sort="size_reduction_percent", order="asc")
    )
    expect(cell(viewer, 1, 0)).to_have_text(ascending[0])

    # page forward
    viewer.get_by_role("button", name="Next").click()
    wait_for_query(viewer, "skip=50")
    second, _ = core_page(
        dashboard.db_url,
        SessionFilter(statuses=("completed",), sort="size_reduction_percent", order="asc", skip=50),
    )
    expect(cell(viewer, 1, 0)).to_have_text(second[0])
    expect(viewer.get_by_text("Showing 51–100")).to_be_visible()
    assert viewer.get_by_role("button", name="Previous").is_enabled()


def test_download_csv_has_every_match_and_neutralised_formulas(dashboard: Any, viewer: Page) -> None:
    sign_in(viewer, dashboard.url, "?technique=pruning&sort=model_name&order=desc")
    with viewer.expect_download(timeout=TIMEOUT_MS) as download_info:
        viewer.get_by_role("link", name="Download CSV").click()  # streamed by the route
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    assert "technique-pruning" in download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    f = SessionFilter(techniques=("pruning",), sort="model_name", order="desc")
    engine = make_engine(Settings(dashboard.db_url, "environment"))
    with engine.connect() as connection:
        expected_ids = [r.session_id for r in iter_sessions(connection, f)]
    engine.dispose()
    assert len(rows) == len(expected_ids) > 50  # all matches, not the page on screen
    assert [r["session_id"].removeprefix("'") for r in rows] == expected_ids
    formula = next(r for r in rows if r["model_id"] == "mdl-formula")
    assert formula["session_id"] == "'" + FORMULA_SESSION
    assert formula["model_name"] == "'" + FORMULA_MODEL


def test_a_running_session_updates_on_screen_while_it_progresses(
    dashboard: Any, viewer: Page, screenshot_dir: Path
) -> None:
    sign_in(viewer, dashboard.url, f"?q={LIVE_ID}")
    progress = column_index("progress_percentage")
    expect(cell(viewer, 1, 0)).to_have_text(LIVE_ID)
    expect(cell(viewer, progress, 0)).to_have_text("10")
    main = viewer.get_by_test_id("stMain")
    main.evaluate("element => element.scrollTo(0, 150)")
    scrolled = main.evaluate("element => element.scrollTop")
    assert scrolled > 0
    engine = _writer(dashboard.db_url)
    try:
        for done in (35, 60):
            with engine.begin() as connection:
                connection.execute(
                    update(optimization_sessions)
                    .where(optimization_sessions.c.session_id == LIVE_ID)
                    .values(completed_steps=done, updated_at=datetime.now(UTC))
                )
            # no click, no reload: the table refreshes itself
            expect(cell(viewer, progress, 0)).to_have_text(str(done), timeout=TIMEOUT_MS)
    finally:
        engine.dispose()
    assert query(viewer) == f"?q={LIVE_ID}"  # the view did not move...
    assert main.evaluate("element => element.scrollTop") == scrolled  # ...nor did the page
    viewer.screenshot(path=screenshot_dir / "sessions-live-progress.png")


def test_detail_opens_from_a_row_and_closes_back_to_the_table(
    dashboard: Any, viewer: Page, screenshot_dir: Path
) -> None:
    sign_in(viewer, dashboard.url, "?status=failed")
    ids, _ = core_page(dashboard.db_url, SessionFilter(statuses=("failed",)))
    box = viewer.get_by_test_id("stDataFrame").bounding_box()
    assert box is not None
    viewer.mouse.click(box["x"] + ROW_MARKER_PX / 2, box["y"] + HEADER_PX * 1.5)
    wait_for_query(viewer, f"session={ids[0]}")
    dialog = viewer.get_by_role("dialog")
    expect(dialog.get_by_text("Error:")).to_be_visible()
    expect(dialog.get_by_text(ids[0], exact=True)).to_be_visible()
    # Berlin time with the zone named (CET in winter, CEST in summer)
    expect(dialog.get_by_text(re.compile(r"\d{2}:\d{2}:\d{2} CES?T")).first).to_be_visible()
    viewer.screenshot(path=screenshot_dir / "sessions-detail.png")
    viewer.locator(".st-key-sessions_detail_close button").click()
    expect(dialog).to_have_count(0)
    assert "session=" not in query(viewer)
    assert "status=failed" in query(viewer)


def test_stored_text_in_the_detail_is_never_a_live_link(dashboard: Any, viewer: Page) -> None:
    """A model name holding a URL (here a spreadsheet formula) is shown as text, not as a link."""
    viewer.goto(f"{dashboard.url}/Sessions?" + urlencode({"session": FORMULA_SESSION}))
    viewer.get_by_role("textbox", name="Username").fill("ada")
    viewer.get_by_role("textbox", name="Password").fill("ada password")
    viewer.get_by_role("button", name="Login").click()
    dialog = viewer.get_by_role("dialog")
    expect(dialog.get_by_text(FORMULA_SESSION, exact=True)).to_be_visible()
    shown = dialog.inner_text().replace("\u2060", "")
    assert FORMULA_MODEL in shown  # exactly as stored, once the invisible joiners are dropped
    assert dialog.locator("a[href*='example.com']").count() == 0


def tick_row(page: Page, row: int) -> None:
    """Tick a row's box (the grid's first column)."""
    box = page.get_by_test_id("stDataFrame").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + ROW_MARKER_PX / 2, box["y"] + HEADER_PX * (row + 1.5))


def test_tick_two_rows_and_compare_them_side_by_side(
    dashboard: Any, viewer: Page, screenshot_dir: Path
) -> None:
    sign_in(viewer, dashboard.url, "?status=completed")
    ids, _ = core_page(dashboard.db_url, SessionFilter(statuses=("completed",)))
    expect(viewer.get_by_text("tick 2 to 5 to compare them side by side")).to_be_visible()
    # one tick opens that session's detail, as before; closing it keeps the tick
    tick_row(viewer, 0)
    wait_for_query(viewer, urlencode({"session": ids[0]}))
    viewer.locator(".st-key-sessions_detail_close button").click()
    expect(viewer.get_by_role("dialog")).to_have_count(0)
    expect(viewer.get_by_text("1 session ticked.")).to_be_visible()
    # a second tick: no dialog, a primary "Compare 2 sessions" link instead
    tick_row(viewer, 2)
    expect(viewer.get_by_text("2 sessions ticked.")).to_be_visible()
    compare = viewer.get_by_role("link", name="Compare 2 sessions")
    expect(compare).to_be_visible()
    assert "session=" not in query(viewer)
    expect(viewer.get_by_role("dialog")).to_have_count(0)
    viewer.mouse.move(5, 5)
    viewer.screenshot(path=screenshot_dir / "sessions-two-ticked.png")
    compare.click()
    viewer.wait_for_url(re.compile(r"/Compare\?"), timeout=TIMEOUT_MS)
    assert query(viewer) == "?" + compare_link([ids[0], ids[2]]).split("?", 1)[1]
    expect(viewer.get_by_role("heading", name="Compare sessions")).to_be_visible()
    expect(viewer.get_by_text("2 sessions side by side")).to_be_visible()
    table = viewer.get_by_test_id("stDataFrame")
    hover_grid(viewer)  # the grid builds its accessible headers under a pointer
    expect(cell(viewer, 1, 0)).not_to_have_text("")
    headers = table.locator("th[role=columnheader]")
    for index, session_id in enumerate((ids[0], ids[2]), start=1):  # one column per session
        expect(headers.nth(index)).to_have_text(session_id)
    expect(viewer.get_by_test_id("stPlotlyChart")).to_be_visible()  # size and speed bars
    viewer.mouse.move(5, 5)
    viewer.wait_for_timeout(500)  # let the chart finish drawing before the picture
    viewer.screenshot(path=screenshot_dir / "compare-from-sessions.png")


def test_bad_link_and_empty_result_read_well(dashboard: Any, viewer: Page, screenshot_dir: Path) -> None:
    sign_in(viewer, dashboard.url, "?limit=500&status=exploded&status=failed")
    expect(viewer.get_by_text("Ignored limit=500 in the link")).to_be_visible()
    expect(viewer.get_by_text("Ignored status=exploded in the link")).to_be_visible()
    viewer.screenshot(path=screenshot_dir / "sessions-bad-link.png")
    viewer.goto(f"{dashboard.url}/Sessions?q=nothing-matches-this")
    expect(viewer.get_by_text("No sessions match these filters")).to_be_visible()
    viewer.screenshot(path=screenshot_dir / "sessions-empty.png")
    # Click once the empty page's run has ended, as a reader would: on a loaded CI machine a
    # click during that run was once not followed by the reset (not reproduced since).
    with contextlib.suppress(AssertionError):
        expect(viewer.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=10_000)
    viewer.get_by_role("button", name="Reset filters").last.click()
    expect(viewer.get_by_text("Showing")).to_be_visible()
    hover_grid(viewer)
    expect(cell(viewer, 1, 0)).not_to_have_text("")
    # The URL is rewritten by the same run that draws the cells, possibly a moment later.
    viewer.wait_for_function("() => window.location.search === ''", timeout=TIMEOUT_MS)
    assert query(viewer) == ""
    # the whole page follows the reset: the cards count every session again, the search is empty
    expect(viewer.get_by_test_id("stMetricValue").first).to_have_text("402")
    expect(viewer.get_by_role("textbox", name="Search")).to_have_value("")


BENCH_SEARCHES = (
    "resnet",
    "bert",
    "vit",
    "mdl-0001",
    "mdl-0002",
    "yolo",
    "whisper",
    "mdl-0003",
    "gpt2",
    "unet",
    "clip",
    "llama",
    "mdl-0010",
    "mdl-0011",
    "roberta",
    "distil",
    "mobilenet",
    "efficientnet",
    "t5-",
    "mdl-0020",
)
# Measured in the page itself: from the Enter key event to the moment the "of N sessions" line
# (drawn with the table, in the same run) shows the new total. No test-driver overhead.
_WATCH = """() => {
    document.addEventListener('keydown', e => {
        if (e.key === 'Enter') { window.__t0 = performance.now(); }
    }, true);
    window.__watch = (text) => {
        window.__t1 = null;
        const observer = new MutationObserver(() => {
            if (document.body.innerText.includes(text)) {
                window.__t1 = performance.now();
                observer.disconnect();
            }
        });
        observer.observe(document.body, {subtree: true, childList: true, characterData: true});
    };
}"""


@pytest.mark.skipif(not os.environ.get(BENCH_DB_ENV), reason=f"set {BENCH_DB_ENV} to a big database")
def test_filter_change_latency_on_the_benchmark_database(
    start_dashboard: Any, viewer: Page, tmp_path: Path
) -> None:
    """20 filter changes (a new search each, so no cache helps) on e.g. 1,000,000 sessions."""
    url = os.environ[BENCH_DB_ENV]
    expected = {}
    for term in BENCH_SEARCHES:
        ids, total = core_page(url, SessionFilter(search=term))
        expected[term] = (ids[0], total)
    credentials = tmp_path / "auth" / "credentials.yaml"
    add_user(credentials, "ada", "ada password", rounds=4)
    server = start_dashboard(
        {"SESSIONS_DB_URL": url, "DASHBOARD_AUTH_FILE": str(credentials), "DASHBOARD_COOKIE_KEY": STRONG_KEY}
    )
    expect.set_options(timeout=120_000)
    try:
        sign_in(viewer, server.url, "?refresh=off")
        viewer.evaluate(_WATCH)
        search = viewer.get_by_role("textbox", name="Search")
        timings = []
        for term in BENCH_SEARCHES:
            first_id, total = expected[term]
            search.fill(term)
            viewer.evaluate("text => window.__watch(text)", f"of {total:,} session")
            search.press("Enter")
            expect(viewer.get_by_text(f"of {total:,} session")).to_be_visible()
            hover_grid(viewer)
            expect(cell(viewer, 1, 0)).to_have_text(first_id)
            timings.append(viewer.evaluate("() => (window.__t1 - window.__t0) / 1000"))
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[round(0.95 * (len(timings) - 1))]
        print(
            f"\nfilter change -> updated table over {len(timings)} changes: "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms"
        )
    finally:
        server.stop()
