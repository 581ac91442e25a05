"""``sessions``: the endpoint's response as JSON, every match as CSV, a readable table."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.config import PROJECT_ROOT, Settings
from core.query.filter import SessionFilter
from core.query.pages import list_sessions
from core.store.engine import make_engine


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sessions_json_is_exactly_the_endpoint_response(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "sessions",
        "--db",
        demo_url,
        "--status",
        "completed",
        "--sort",
        "size_reduction_percent",
        "--limit",
        "5",
        "--skip",
        "5",
        "--format",
        "json",
    )
    assert code == 0
    engine = make_engine(Settings(demo_url, "--db"))
    with engine.connect() as conn:
        expected = list_sessions(
            conn, SessionFilter(statuses=("completed",), skip=5, limit=5, sort="size_reduction_percent")
        )
    assert json.loads(out) == expected


def test_sessions_csv_prints_every_match_not_one_page(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "sessions", "--db", demo_url, "--status", "failed", "--format", "csv", "--limit", "1"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    engine = make_engine(Settings(demo_url, "--db"))
    with engine.connect() as conn:
        total = list_sessions(conn, SessionFilter(statuses=("failed",)))["total"]
    assert code == 0 and len(rows) == total > 1
    assert {row["status"] for row in rows} == {"failed"}


def test_sessions_table_is_readable(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "--db", demo_url, "--limit", "3")
    assert code == 0
    assert out.splitlines()[0].startswith("session_id")
    assert out.rstrip().endswith("of 300 sessions")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "done"], "status: 'done' is not allowed"),
        (["--limit", "0"], "limit: 0 is not allowed"),
        (["--limit", "101"], "from 1 to 100"),
        (["--skip", "-1"], "skip: -1 is not allowed"),
        (["--sort", "colour"], "sort: 'colour'"),
        (["--start-date", "2024-02-02", "--end-date", "2024-02-01"], "not be after end_date"),
        (["--start-date", "02/02/2024"], "start_date: '02/02/2024'"),
    ],
)
def test_bad_parameters_exit_2_with_the_validation_message_on_stderr(
    sqlite_db_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "sessions", "--db", sqlite_db_url, *args)
    assert code == 2 and out == ""
    assert message in err


def test_a_missing_database_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core", "sessions", "--db", f"sqlite:///{tmp_path / 'none.db'}"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
