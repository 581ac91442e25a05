"""The settings: which database URL wins, how paths resolve, what is masked, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import DEFAULT_DB_URL, PROJECT_ROOT, load_settings, mask_url


def test_settings_precedence_is_flag_then_environment_then_secrets_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {"connections": {"sessions": {"url": "postgresql+psycopg://u:pw@db/s"}}}
    monkeypatch.setenv("SESSIONS_DB_URL", "sqlite:////tmp/env.db")
    assert load_settings("sqlite:////tmp/flag.db", secrets).db_url_source == "--db"
    assert load_settings(None, secrets).db_url == "sqlite:////tmp/env.db"
    monkeypatch.delenv("SESSIONS_DB_URL")
    from_secrets = load_settings(None, secrets)
    assert (from_secrets.db_url_source, from_secrets.masked_db_url) == (
        "secrets.toml",
        "postgresql+psycopg://u:***@db/s",
    )
    default = load_settings(None, {})
    assert default.db_url == DEFAULT_DB_URL and default.is_default_database


def test_relative_sqlite_paths_resolve_against_the_project_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings("sqlite:///data/other.db", {})
    assert settings.db_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'other.db'}"


def test_masked_urls_never_show_the_password() -> None:
    assert "secret" not in mask_url("postgresql+psycopg://me:secret@host:5432/db")


@pytest.mark.parametrize("bad", ["soon", "-5", "1.5"])
def test_a_bad_statement_timeout_setting_is_named_in_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    from core.config import SettingsError

    monkeypatch.setenv("SESSIONS_STATEMENT_TIMEOUT_MS", bad)
    with pytest.raises(SettingsError, match=r"SESSIONS_STATEMENT_TIMEOUT_MS .* whole number"):
        load_settings(None, {})
