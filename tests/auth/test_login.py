"""The login's rules without Streamlit: attempts, re-login cookies, revoked logouts, stale sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.auth import login
from core.auth.credentials import add_user, load_credentials
from core.auth.settings import COOKIE_KEY_ENV, load_auth_settings
from core.auth.users import password_fingerprint

STRONG_KEY = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyz"
FAST = 4  # bcrypt cost for tests that do not measure time


@pytest.fixture
def alice(cred_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    add_user(cred_file, "alice", "alice password", rounds=FAST)
    login.THROTTLE.reset()
    yield cred_file
    login.THROTTLE.reset()


def test_unknown_name_and_wrong_password_get_one_message(alice: Path) -> None:
    assert login.attempt_login("ghost", "alice password", "c")[1] == login.GENERIC_FAILURE
    assert login.attempt_login("alice", "wrong password", "c")[1] == login.GENERIC_FAILURE
    record, problem = login.attempt_login(" Alice ", "alice password", "c")
    assert record is not None and record.username == "alice" and problem == ""
    assert login.attempt_login("", "x", "c") == (None, "Enter your user name and password.")


def test_cookie_is_refused_after_logout_password_change_or_past_its_lifetime(alice: Path) -> None:
    auth = load_auth_settings(secrets={})
    record = load_credentials(alice)["alice"]
    lifetime = auth.cookie_expiry_days * 86400
    exp = time.time() + lifetime
    assert login.cookie_accepted(record, exp, auth)
    assert not login.cookie_accepted(record, exp + lifetime, auth)  # longer than configured
    issued_before_change = (record.password_changed_at or 0) - 10 + lifetime
    assert not login.cookie_accepted(record, issued_before_change, auth)
    login.revoke_token("alice", exp)
    assert not login.cookie_accepted(record, exp, auth)


def test_session_is_stale_when_user_removed_or_password_changed(alice: Path) -> None:
    users = load_credentials(alice)
    current = password_fingerprint(users["alice"])
    assert not login.session_is_stale(users, "alice", current)
    assert login.session_is_stale(users, "alice", "an older fingerprint")
    assert login.session_is_stale(users, "bob", current)


def test_missing_credentials_file_is_a_setup_error(cred_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)  # a managed deployment: no first start
    with pytest.raises(login.LoginSetupError, match="no credentials file"):
        login.login_setup()
