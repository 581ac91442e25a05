"""The CLI's tests share a small demo database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from core.cli import main


@pytest.fixture
def demo_url(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["demo", "--db", empty_db_url, "--sessions", "300", "--seed", "3", "--anchor", "2026-11-25"])
    out, _ = capsys.readouterr()
    assert code == 0 and "300 sessions" in out
    return empty_db_url
