"""Credentials file, first start, login settings, throttle and the ``users`` CLI (no Streamlit)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import bcrypt
import pytest
import yaml

from core.auth import users as users_mod
from core.auth.settings import (
    AUTH_FILE_ENV,
    COOKIE_EXPIRY_ENV,
    COOKIE_KEY_ENV,
    DEFAULT_AUTH_FILE,
    AuthConfigError,
    load_auth_settings,
    validate_cookie_key,
)
from core.auth.throttle import LoginThrottle, ThrottlePolicy, format_wait
from core.auth.users import (
    CredentialsError,
    add_user,
    check_password,
    first_start,
    first_start_banner,
    load_credentials,
    remove_user,
    set_password,
)
from core.cli.main import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyz"
FAST = 4  # bcrypt cost for tests that do not measure time


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (AUTH_FILE_ENV, COOKIE_KEY_ENV, COOKIE_EXPIRY_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cred_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "auth" / "credentials.yaml"
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    return path


def run_cli(args: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(args)


# --- the file -------------------------------------------------------------------------------


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


# --- first start ----------------------------------------------------------------------------


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


# --- settings -------------------------------------------------------------------------------


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


# --- throttle -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_grows_caps_and_decays() -> None:
    clock = Clock()
    policy = ThrottlePolicy(free_attempts=3, base_delay=2, max_delay=60, half_life=600)
    throttle = LoginThrottle({"user": policy, "client": policy}, clock=clock)
    key = [("user", "alice")]
    for _ in range(2):
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) == 0  # two typos cost nothing
    throttle.record_failure(key)
    first = throttle.wait_seconds(key)
    assert 1.9 < first <= 2
    clock.now += first
    throttle.record_failure(key)
    second = throttle.wait_seconds(key)
    assert second > first * 1.5  # growing
    for _ in range(20):
        clock.now += throttle.wait_seconds(key)
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) == pytest.approx(60)  # capped
    clock.now += 6 * 3600  # hours later (half-life 10 min here) the score has decayed away
    assert throttle.wait_seconds(key) == 0
    throttle.record_failure(key)
    assert throttle.wait_seconds(key) == 0


def test_throttle_success_forgets_user_but_not_client() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    keys = [("user", "alice"), ("client", "10.0.0.1")]
    for _ in range(12):
        clock.now += 1
        throttle.record_failure(keys)
    throttle.record_success([keys[0]])
    assert throttle.wait_seconds([("user", "alice")]) == 0
    assert throttle.wait_seconds([("client", "10.0.0.1")]) > 0


def test_throttle_prunes_to_bounded_memory() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_entries=100)
    for i in range(1000):
        throttle.record_failure([("user", f"guess{i}")])
    assert len(throttle._entries) <= 100


def test_format_wait() -> None:
    assert format_wait(0.2) == "try again in 1 s"
    assert format_wait(7.01) == "try again in 8 s"


# --- CLI ------------------------------------------------------------------------------------


def test_cli_add_list_passwd_remove(cred_file: Path, monkeypatch, capsys) -> None:
    assert (
        run_cli(
            ["users", "add", "root", "--role", "admin", "--password-stdin"], "admin password\n", monkeypatch
        )
        == 0
    )
    assert (
        run_cli(
            [
                "users",
                "add",
                "Bob",
                "--role",
                "engineer",
                "--email",
                "bob@example.com",
                "--name",
                "Bob B.",
                "--password-stdin",
            ],
            "bob password\n",
            monkeypatch,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Added bob (engineer)" in out
    assert "Created the cookie key file" in out  # a fresh machine gets a key with its first user
    assert mode(cred_file) == 0o600
    assert mode(cred_file.parent / "cookie_key") == 0o600

    assert run_cli(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "root" in listing and "admin" in listing and "Bob B." in listing
    assert "bob@example.com" in listing and "$2b$" not in listing

    assert run_cli(["users", "passwd", "bob", "--password-stdin"], "bob new password\n", monkeypatch) == 0
    assert check_password("bob new password", load_credentials(cred_file)["bob"].password_hash)
    assert run_cli(["users", "remove", "bob"]) == 0
    assert list(load_credentials(cred_file)) == ["root"]


def test_cli_user_errors_exit_2_with_message(cred_file: Path, monkeypatch, capsys) -> None:
    run_cli(["users", "add", "root", "--role", "admin", "--password-stdin"], "admin password\n", monkeypatch)
    capsys.readouterr()
    cases = [
        (["users", "add", "root", "--password-stdin"], "pw123456\n", "already exists"),
        (["users", "add", "new", "--password-stdin"], "short\n", "at least 8"),
        (["users", "add", "new", "--password-stdin"], "", "No password on standard input"),
        (["users", "add", "bad name", "--password-stdin"], "pw123456\n", "not a valid user name"),
        (["users", "remove", "root"], "", "last admin"),
        (["users", "passwd", "ghost", "--password-stdin"], "pw123456\n", "no user 'ghost'"),
        (["users", "passwd", "root"], "", "--password-stdin"),  # stdin is no terminal
    ]
    for args, stdin, expected in cases:
        assert run_cli(args, stdin, monkeypatch) == 2, args
        assert expected in capsys.readouterr().err, args


def test_cli_asks_twice_without_echo_on_a_terminal(cred_file: Path, monkeypatch, capsys) -> None:
    answers = iter(["first password", "first password", "one thing", "another"])
    monkeypatch.setattr(users_mod.getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert main(["users", "add", "root", "--role", "admin"]) == 0
    assert check_password("first password", load_credentials(cred_file)["root"].password_hash)
    assert main(["users", "passwd", "root"]) == 2
    assert "differ" in capsys.readouterr().err


def test_cli_list_without_file_explains(cred_file: Path, capsys) -> None:
    assert main(["users", "list"]) == 0
    assert "first start" in capsys.readouterr().out


def test_cli_plain_text_file_is_reported_not_crashed(cred_file: Path, capsys) -> None:
    cred_file.parent.mkdir(parents=True)
    cred_file.write_text("credentials:\n  usernames:\n    bob:\n      password: hunter22\n")
    assert main(["users", "list"]) == 2
    assert "plain-text" in capsys.readouterr().err


def test_python_m_core_users_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, AUTH_FILE_ENV: str(tmp_path / "c.yaml"), COOKIE_KEY_ENV: STRONG_KEY}
    add = subprocess.run(
        [sys.executable, "-m", "core", "users", "add", "eve", "--role", "manager", "--password-stdin"],
        input="eve's password\n",
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
    )
    assert add.returncode == 0, add.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "core", "users", "list"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
    )
    assert listing.returncode == 0 and "eve" in listing.stdout and "manager" in listing.stdout
    assert not (tmp_path / "cookie_key").exists()  # a configured key is not duplicated


def test_default_policy_slows_a_patient_guesser() -> None:
    """One guess every 10 minutes must not stay free forever (the decay is slower than that)."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    key = [("user", "admin")]
    for _ in range(24):
        clock.now += 600 + throttle.wait_seconds(key)
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) > 0
