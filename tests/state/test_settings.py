"""Where the state store lives: the environment, secrets.toml, else state.db beside the logins."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth.settings import load_auth_settings
from core.config import AUTH_FILE_ENV, PROJECT_ROOT
from core.state.settings import STATE_URL_ENV, StateConfigError, load_state_settings


def test_default_is_state_db_beside_the_default_credentials_file() -> None:
    settings = load_state_settings({})
    assert settings.source == "default"
    assert settings.sqlite_path == load_auth_settings({}).credentials_file.parent / "state.db"


def test_default_follows_the_credentials_file_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUTH_FILE_ENV, str(tmp_path / "logins" / "users.yaml"))
    settings = load_state_settings({})
    assert settings.sqlite_path == tmp_path / "logins" / "state.db"
    assert settings.sqlite_path == load_auth_settings({}).credentials_file.parent / "state.db"


def test_default_follows_the_credentials_file_named_in_secrets() -> None:
    secrets = {"auth": {"credentials_file": "elsewhere/creds.yaml"}}
    settings = load_state_settings(secrets)
    assert settings.sqlite_path == PROJECT_ROOT / "elsewhere" / "state.db"
    assert settings.sqlite_path == load_auth_settings(secrets).credentials_file.parent / "state.db"


def test_environment_url_wins_over_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "postgresql+psycopg://u:pw@db/state")
    settings = load_state_settings({"state": {"url": "sqlite:////tmp/other.db"}})
    assert (settings.url, settings.source) == ("postgresql+psycopg://u:pw@db/state", "environment")
    assert settings.masked_url == "postgresql+psycopg://u:***@db/state"
    assert settings.sqlite_path is None


def test_secrets_url_with_a_relative_sqlite_path_is_anchored_at_the_project() -> None:
    settings = load_state_settings({"state": {"url": "sqlite:///var/state.db"}})
    assert settings.source == "secrets.toml"
    assert settings.sqlite_path == PROJECT_ROOT / "var" / "state.db"


def test_a_url_that_does_not_parse_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "not a url")
    with pytest.raises(StateConfigError, match=r"DASHBOARD_STATE_URL is 'not a url'.*SQLite.*PostgreSQL"):
        load_state_settings({})


def test_another_database_kind_is_refused_without_showing_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "mysql://root:hunter2@db/state")
    with pytest.raises(StateConfigError, match="a mysql database") as raised:
        load_state_settings({})
    assert "hunter2" not in str(raised.value)
