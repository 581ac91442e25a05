"""Every auth test starts from no login settings in the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.config import AUTH_FILE_ENV


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (AUTH_FILE_ENV, COOKIE_KEY_ENV, COOKIE_EXPIRY_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cred_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "auth" / "credentials.yaml"
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    return path
