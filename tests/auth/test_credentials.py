"""The credentials file: bcrypt only, owner-only, atomic, clear messages for bad files."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from core.auth import users as users_mod
from core.auth.credentials import add_user, load_credentials, remove_user, set_password
from core.auth.users import CredentialsError, check_password

FAST = 4  # bcrypt cost for tests that do not measure time


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_add_user_writes_bcrypt_hash_owner_only_and_atomically(cred_file: Path) -> None:
    add_user(
        cred_file,
        "Alice",
        "correct horse",
        role="manager",
        name="Alice Doe",
        email="alice@example.com",
        rounds=FAST,
    )
    assert mode(cred_file) == 0o600
    assert mode(cred_file.parent) == 0o700
    text = cred_file.read_text()
    assert "correct horse" not in text
    entry = yaml.safe_load(text)["credentials"]["usernames"]["alice"]
    assert entry["password"].startswith("$2b$")
    assert bcrypt.checkpw(b"correct horse", entry["password"].encode())
    assert entry["roles"] == ["manager"]
    assert entry["name"] == "Alice Doe"
    assert sorted(p.name for p in cred_file.parent.iterdir()) == ["credentials.yaml"]  # no temp left
    record = load_credentials(cred_file)["alice"]
    assert record.public() == users_mod.User("alice", "Alice Doe", "manager", "alice@example.com")


def test_plain_text_password_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("credentials:\n  usernames:\n    bob:\n      name: Bob\n      password: hunter22\n")
    with pytest.raises(CredentialsError) as error:
        load_credentials(path)
    message = str(error.value)
    assert "plain-text" in message and "'bob'" in message and str(path) in message
    assert "users passwd bob" in message
    assert "hunter22" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("credentials: [\n", "not valid YAML (line"),
        ("just a string\n", "must contain a mapping"),
        ("credentials:\n  usernames:\n    Bob:\n      password: x\n", "not valid; use lower-case"),
        ("credentials:\n  usernames:\n    bob: yes\n", "must be a mapping"),
        ("credentials:\n  usernames:\n    bob:\n      name: Bob\n", "has no password"),
        (
            "credentials:\n  usernames:\n    bob:\n      password: '$2b$04$"
            + "a" * 53
            + "'\n      roles: [root]\n",
            "unknown role 'root'",
        ),
        (
            "credentials:\n  usernames:\n    bob:\n      password: '$2b$04$"
            + "a" * 53
            + "'\n      roles: [admin, manager]\n",
            "exactly one role",
        ),
    ],
)
def test_bad_files_get_messages(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load_credentials(path)


def test_library_style_file_without_roles_defaults_to_engineer(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    hashed = users_mod.hash_password("long enough", rounds=FAST)
    path.write_text(f"credentials:\n  usernames:\n    carol:\n      password: '{hashed}'\n")
    assert load_credentials(path)["carol"].role == "engineer"


def test_remove_and_passwd(cred_file: Path) -> None:
    add_user(cred_file, "root", "admin password", role="admin", rounds=FAST)
    add_user(cred_file, "bob", "bob password", rounds=FAST)
    before = load_credentials(cred_file)["bob"]
    time.sleep(0.01)
    set_password(cred_file, "bob", "new bob password", rounds=FAST)
    after = load_credentials(cred_file)["bob"]
    assert check_password("new bob password", after.password_hash)
    assert not check_password("bob password", after.password_hash)
    assert after.password_changed_at > before.password_changed_at
    remove_user(cred_file, "bob")
    assert list(load_credentials(cred_file)) == ["root"]
    with pytest.raises(CredentialsError, match="last admin"):
        remove_user(cred_file, "root")
    with pytest.raises(CredentialsError, match="no user 'ghost'"):
        set_password(cred_file, "ghost", "whatever123", rounds=FAST)
    assert mode(cred_file) == 0o600
