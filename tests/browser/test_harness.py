"""Self-test of the browser harness: a trivial Streamlit script seen through Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect


def test_streamlit_page_renders_in_chromium(
    start_dashboard, page: Page, tmp_path: Path, screenshot_dir: Path
) -> None:
    script = tmp_path / "hello.py"
    script.write_text('import streamlit as st\n\nst.write("hello")\n')
    server = start_dashboard({"HARNESS_SELF_TEST": "1"}, script=script)
    try:
        page.goto(server.url)
        expect(page.get_by_text("hello", exact=True)).to_be_visible(timeout=20_000)
        page.screenshot(path=screenshot_dir / "harness-hello.png")
    finally:
        server.stop()
