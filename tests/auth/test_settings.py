"""Login settings: precedence, the git-ignored default location, weak keys, lifetimes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.auth.settings import (
    COOKIE_EXPIRY_ENV,
    COOKIE_KEY_ENV,
    AuthConfigError,
    load_auth_settings,
    validate_cookie_key,
)
from core.config import AUTH_FILE_ENV, DEFAULT_AUTH_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "auth": {
            "credentials_file": "elsewhere/creds.yaml",
            "cookie_key": "from-secrets",
            "cookie_expiry_days": 2,
        }
    }
    default = load_auth_settings(secrets={})
    assert default.credentials_file == DEFAULT_AUTH_FILE
    assert default.cookie_expiry_days == 1
    from_secrets = load_auth_settings(secrets=secrets)
    assert from_secrets.credentials_file == PROJECT_ROOT / "elsewhere" / "creds.yaml"
    assert (from_secrets.cookie_key, from_secrets.cookie_key_source) == ("from-secrets", "secrets.toml")
    assert from_secrets.cookie_expiry_days == 2
    monkeypatch.setenv(AUTH_FILE_ENV, str(tmp_path / "env.yaml"))
    monkeypatch.setenv(COOKIE_KEY_ENV, "from-env")
    monkeypatch.setenv(COOKIE_EXPIRY_ENV, "0.5")
    from_env = load_auth_settings(secrets=secrets)
    assert from_env.credentials_file == tmp_path / "env.yaml"
    assert (from_env.cookie_key, from_env.cookie_key_source) == ("from-env", "environment")
    assert from_env.cookie_expiry_days == 0.5


def test_default_credentials_location_is_git_ignored() -> None:
    relative = DEFAULT_AUTH_FILE.relative_to(PROJECT_ROOT)
    result = subprocess.run(["git", "check-ignore", "-q", str(relative)], cwd=PROJECT_ROOT)
    assert result.returncode == 0
    key = (DEFAULT_AUTH_FILE.parent / "cookie_key").relative_to(PROJECT_ROOT)
    assert subprocess.run(["git", "check-ignore", "-q", str(key)], cwd=PROJECT_ROOT).returncode == 0


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (None, "No cookie key"),
        ("some_key", "published example key"),
        ("some_signature_key", "published example key"),
        ("short-but-random-Zq8", "at least 32 are needed"),
        ("ab" * 20, "does not look random"),
    ],
)
def test_weak_cookie_keys_are_refused(monkeypatch, key: str | None, expected: str) -> None:
    if key:
        monkeypatch.setenv(COOKIE_KEY_ENV, key)
    settings = load_auth_settings(secrets={"auth": {"credentials_file": "/nonexistent/c.yaml"}})
    with pytest.raises(AuthConfigError, match=expected) as error:
        validate_cookie_key(settings)
    assert "secrets.token_urlsafe" in str(error.value)


@pytest.mark.parametrize("value", ["soon", "-1", "365"])
def test_bad_cookie_lifetime(monkeypatch, value: str) -> None:
    monkeypatch.setenv(COOKIE_EXPIRY_ENV, value)
    with pytest.raises(AuthConfigError, match=COOKIE_EXPIRY_ENV):
        load_auth_settings(secrets={})
