"""``users add|remove|list|passwd``: passwords from stdin or asked twice, errors exit 2."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.auth.credentials import load_credentials
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.auth.users import check_password
from core.cli import main
from core.cli import users as cli_users
from core.config import AUTH_FILE_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


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
    monkeypatch.setattr(cli_users.getpass, "getpass", lambda prompt="": next(answers))
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
