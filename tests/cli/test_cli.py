"""``python -m core``: init-db, demo, load and sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.cli.main import main
from core.config import PROJECT_ROOT, Settings
from core.query.filter import SessionFilter
from core.query.sessions import list_sessions
from core.store.demo import generate_sessions
from core.store.engine import make_engine


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo_url(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(
        capsys, "demo", "--db", empty_db_url, "--sessions", "300", "--seed", "3", "--anchor", "2026-11-25"
    )
    assert code == 0 and "300 sessions" in out
    return empty_db_url


def test_init_db_names_a_copy_folder_it_cannot_write(
    sqlite_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the copy's folder would be")
    monkeypatch.setenv("SESSIONS_MIRROR", str(blocked / "copy.db"))
    code, _, err = run(capsys, "init-db", "--db", sqlite_db_url)
    assert code == 2 and "cannot write the dashboard's copy" in err and "SESSIONS_MIRROR" in err
    assert "Traceback" not in err


def test_init_db_is_idempotent(empty_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init-db", "--db", empty_db_url)[0] == 0
    assert run(capsys, "init-db", "--db", empty_db_url)[0] == 0


def test_demo_data_is_deterministic_for_a_seed_and_anchor() -> None:
    anchor = datetime(2026, 11, 25, tzinfo=UTC)
    first = list(generate_sessions(5000, ["a", "b"], seed=5, anchor=anchor))
    again = list(generate_sessions(5000, ["a", "b"], seed=5, anchor=anchor))
    other = list(generate_sessions(5000, ["a", "b"], seed=6, anchor=anchor))
    assert first == again and first != other
    statuses = {row["status"] for row in first}
    assert statuses == {"pending", "running", "completed", "failed", "cancelled"}
    assert any(
        row["model_id"].startswith("mdl-missing")
        for row in generate_sessions(5000, ["a"], seed=7, anchor=anchor)
    )


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


def test_load_keeps_good_lines_reports_bad_ones_and_upserts(
    empty_db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = {
        "session_id": "j1",
        "model_id": "mx",
        "model_name": "Model X",
        "framework": "jax",
        "status": "running",
        "criteria": {"techniques": ["pruning"]},
        "total_steps": 4,
        "completed_steps": 1,
        "created_at": "2024-06-01T10:00:00Z",
        "updated_at": "2024-06-01T10:05:00Z",
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "session_id": "j2", "status": "paused"}),
        json.dumps({**good, "session_id": "j3", "created_at": "yesterday"}),
        json.dumps({**good, "session_id": "j4", "criteria": ["pruning"]}),
        json.dumps({**good, "session_id": "j5", "colour": "red"}),
        "",
        json.dumps({**good, "completed_steps": 3}),  # same id again: the later line wins
    ]
    source = tmp_path / "sessions.jsonl"
    source.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "load", str(source), "--db", empty_db_url)
    assert code == 1
    assert "1 session(s) loaded, 1 model(s) created or updated, 5 line(s) rejected" in out
    assert f"{source}:2: not valid JSON" in err
    assert f"{source}:3: status 'paused' is not one of" in err
    assert f"{source}:4: created_at must be an ISO 8601 timestamp" in err
    assert f"{source}:5: criteria must be a JSON object" in err
    assert f"{source}:6: unknown field(s) colour" in err
    engine = make_engine(Settings(empty_db_url, "--db"))
    with engine.connect() as conn:
        rows = list_sessions(conn, SessionFilter())["sessions"]
    assert [(r["session_id"], r["model_name"], r["progress_percentage"]) for r in rows] == [
        ("j1", "Model X", 75.0)
    ]
    # Loading again updates in place (upsert by id), never duplicates.
    source.write_text(json.dumps({**good, "status": "completed", "completed_at": "2024-06-01T11:00:00Z"}))
    assert run(capsys, "load", str(source), "--db", empty_db_url)[0] == 0
    with engine.connect() as conn:
        rows = list_sessions(conn, SessionFilter())["sessions"]
    assert [(r["session_id"], r["status"]) for r in rows] == [("j1", "completed")]


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


def test_first_start_creates_the_demo_database_once_and_never_touches_a_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.store.demo

    target = tmp_path / "data" / "sessions.db"
    monkeypatch.setattr(core.store.demo, "DEFAULT_DB_PATH", target)
    default = Settings(f"sqlite:///{target}", "default")
    assert core.store.demo.ensure_demo_database(default) is True
    assert core.store.demo.ensure_demo_database(default) is False  # already there: left alone
    with make_engine(default).connect() as conn:
        assert list_sessions(conn, SessionFilter(limit=1))["total"] == 5000
    # No temp or WAL files; the speed layer's copy in its own folder.
    assert sorted(p.name for p in target.parent.iterdir()) == [".dashboard-copy", "sessions.db"]
    assert [p.name for p in (target.parent / ".dashboard-copy").iterdir()] == ["sessions.db"]
    configured = Settings(f"sqlite:///{tmp_path / 'other.db'}", "environment")
    assert core.store.demo.ensure_demo_database(configured) is False
    assert not (tmp_path / "other.db").exists()


def test_first_start_command_creates_the_admin_login_once_and_prints_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DASHBOARD_COOKIE_KEY", raising=False)
    monkeypatch.setenv("DASHBOARD_AUTH_FILE", str(tmp_path / "auth" / "credentials.yaml"))
    db = f"sqlite:///{tmp_path / 'configured.db'}"
    code, out, _ = run(capsys, "first-start", "--db", db)
    assert code == 0 and "Sign in as   admin" in out and "password" in out
    credentials = tmp_path / "auth" / "credentials.yaml"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert "$2b$" in credentials.read_text()
    assert not (tmp_path / "configured.db").exists()  # a configured database is never written
    code, out, _ = run(capsys, "first-start", "--db", db)
    assert code == 0 and out == ""  # the password is shown only once
