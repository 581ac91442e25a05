"""User records: names, roles and the password rules every writer shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth import users as users_mod
from core.auth.credentials import add_user
from core.auth.users import CredentialsError, check_password

FAST = 4  # bcrypt cost for tests that do not measure time


@pytest.mark.parametrize(
    ("password", "expected"),
    [("short", "at least 8"), ("é" * 40, "longer than 72 bytes"), ("Bobby123", "user name")],
)
def test_password_policy(cred_file: Path, password: str, expected: str) -> None:
    with pytest.raises(CredentialsError, match=expected):
        add_user(cred_file, "bobby123", password, rounds=FAST)


def test_check_password_handles_what_bcrypt_refuses() -> None:
    hashed = users_mod.hash_password("x" * 10, rounds=FAST)
    assert check_password("x" * 10, hashed)
    assert not check_password("x" * 100, hashed)  # bcrypt 5 would raise on > 72 bytes
    assert not check_password("x" * 10, "$2b$04$" + "!" * 53)
