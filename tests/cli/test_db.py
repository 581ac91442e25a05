"""``init-db``, ``demo`` and ``load``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.cli import main
from core.config import Settings
from core.query.filter import SessionFilter
from core.query.pages import list_sessions
from core.store.demo import generate_sessions
from core.store.engine import make_engine


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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


def test_demo_writes_the_rows_then_builds_the_speed_layer_once(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.speed.install import plan_install

    settings = Settings(demo_url, "--db")
    assert plan_install(settings).copy_action == "sync"  # the copy exists and is current
    code, out, err = run(capsys, "demo", "--db", demo_url, "--sessions", "50", "--anchor", "2026-11-25")
    assert code == 0 and "50 sessions" in out and "installed the speed layer" in out
    assert "copied 50 sessions" in out  # built anew from the finished tables, not synced row by row
    assert err == ""  # no progress bars when stderr is not a terminal
    code, out, _ = run(capsys, "sessions", "--db", demo_url, "--limit", "1")
    assert out.rstrip().endswith("of 50 sessions")


def test_demo_and_load_report_progress_in_batches(sqlite_db_url: str, tmp_path: Path) -> None:
    from core.store.demo import write_demo
    from core.store.loader import load_lines

    engine = make_engine(Settings(sqlite_db_url, "--db"), read_only=False)
    written: list[int] = []
    write_demo(engine, sessions=120, batch_size=50, progress=written.append)
    assert written == [50, 50, 20]
    read: list[int] = []
    lines = ["{not json"] * 25
    load_lines(engine, lines, batch_size=10, progress=read.append)
    assert read == [10, 10, 5]
    engine.dispose()
