"""``first-start`` and ``run``: a fresh checkout's set-up, then Streamlit with forwarded arguments."""

from __future__ import annotations

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


def test_first_start_creates_the_demo_database_once_and_never_touches_a_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.speed.install
    import core.store.demo

    target = tmp_path / "data" / "sessions.db"
    monkeypatch.setattr(core.store.demo, "DEFAULT_DB_PATH", target)
    default = Settings(f"sqlite:///{target}", "default")
    assert core.speed.install.ensure_demo_database(default) is True
    assert core.speed.install.ensure_demo_database(default) is False  # already there: left alone
    with make_engine(default).connect() as conn:
        assert list_sessions(conn, SessionFilter(limit=1))["total"] == 5000
    # No temp or WAL files; the speed layer's copy in its own folder.
    assert sorted(p.name for p in target.parent.iterdir()) == [".dashboard-copy", "sessions.db"]
    assert [p.name for p in (target.parent / ".dashboard-copy").iterdir()] == ["sessions.db"]
    configured = Settings(f"sqlite:///{tmp_path / 'other.db'}", "environment")
    assert core.speed.install.ensure_demo_database(configured) is False
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


def test_run_starts_streamlit_on_server_py_from_the_project_folder_with_forwarded_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.cli import run as run_mod

    prepared: list[str | None] = []
    started: list[list[str]] = []
    monkeypatch.setattr(run_mod, "prepare", prepared.append)
    monkeypatch.setattr(run_mod.os, "execv", lambda path, args: started.append([path, *args[1:]]))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--server.port", "8502", "--server.headless", "true"]) == 0
    assert prepared == [None]  # the first start happens in this terminal, before Streamlit
    forwarded = ["--server.port", "8502", "--server.headless", "true"]
    assert started == [
        [sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "server.py"), *forwarded]
    ]
    assert Path.cwd() == PROJECT_ROOT  # where Streamlit finds the project's .streamlit/config.toml


def test_other_commands_refuse_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sessions", "--server.port", "8502"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --server.port 8502" in capsys.readouterr().err


def test_console_script_works_from_any_folder(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "optimization-dashboard"
    if not script.is_file():
        pytest.skip("the project is not installed in this Python (pip install -e .)")
    done = subprocess.run(
        [str(script), "sessions", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: optimization-dashboard sessions")
