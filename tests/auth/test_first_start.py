"""First start: one admin, a cookie key, a banner whose command works from anywhere."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from core.auth import first_start as first_start_mod
from core.auth.credentials import load_credentials
from core.auth.first_start import first_start, first_start_banner, passwd_command
from core.auth.settings import COOKIE_KEY_ENV, load_auth_settings, validate_cookie_key
from core.auth.users import check_password
from core.config import AUTH_FILE_ENV

STRONG_KEY = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyz"
FAST = 4  # bcrypt cost for tests that do not measure time


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_admin_and_cookie_key(cred_file: Path) -> None:
    result = first_start(load_auth_settings(secrets={}), rounds=FAST)
    assert result is not None and result.username == "admin"
    assert mode(cred_file) == 0o600
    assert result.cookie_key_file == cred_file.parent / "cookie_key"
    assert mode(result.cookie_key_file) == 0o600
    record = load_credentials(cred_file)["admin"]
    assert record.role == "admin" and record.password_generated
    assert check_password(result.password, record.password_hash)
    assert result.password not in cred_file.read_text()
    banner = first_start_banner(result)
    assert result.password in banner and "users passwd admin" in banner

    settings = load_auth_settings(secrets={})
    assert settings.cookie_key_source == "key file"
    assert validate_cookie_key(settings) == result.cookie_key_file.read_text().strip()
    assert first_start(settings, rounds=FAST) is None  # only once


def test_first_start_regenerates_login_after_credentials_deleted(cred_file: Path) -> None:
    first = first_start(load_auth_settings(secrets={}), rounds=FAST)
    key = first.cookie_key_file.read_text()
    cred_file.unlink()
    again = first_start(load_auth_settings(secrets={}), rounds=FAST)
    assert again is not None and again.password != first.password
    assert again.cookie_key_file is None and first.cookie_key_file.read_text() == key


def test_no_first_start_when_operator_configured_a_key(cred_file: Path, monkeypatch) -> None:
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    assert first_start(load_auth_settings(secrets={}), rounds=FAST) is None
    assert not cred_file.exists()


def test_concurrent_first_starts_create_one_admin(cred_file: Path) -> None:
    settings = load_auth_settings(secrets={})
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(first_start(settings, rounds=FAST))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [r for r in results if r is not None]
    assert len(created) == 1
    assert check_password(created[0].password, load_credentials(cred_file)["admin"].password_hash)


@pytest.mark.parametrize("installed", [True, False], ids=["console-script", "python-m-core"])
def test_banner_command_works_as_printed_from_another_folder(
    cred_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: bool
) -> None:
    if not installed:  # no console script beside this Python: the `cd ... && python -m core` form
        monkeypatch.setattr(first_start_mod, "CONSOLE_SCRIPT", "no-such-script")
    result = first_start(load_auth_settings(secrets={}), rounds=FAST)
    assert result is not None
    command = passwd_command(result)
    assert command in first_start_banner(result)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (AUTH_FILE_ENV, "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"  # no venv on the PATH, as in a fresh terminal
    done = subprocess.run(
        ["bash", "-c", f"{command} --password-stdin"],
        input="a new admin password\n",
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Changed the password of admin" in done.stdout
    record = load_credentials(cred_file)["admin"]
    assert check_password("a new admin password", record.password_hash) and not record.password_generated
