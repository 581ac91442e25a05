"""``tokens create|list|revoke``: the token alone on the last line, never listed, errors exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.auth.credentials import add_user, remove_user
from core.auth.tokens import TOKEN_PREFIX, TokenRejected, authenticate_token
from core.cli import main
from core.config import AUTH_FILE_ENV
from core.state.audit import read_audit
from core.state.settings import STATE_URL_ENV, StateSettings
from core.state.store import forget_engines, state_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def setup(tmp_path: Path, empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A credentials file with one user of each role, and a state store of this test's own."""
    creds = tmp_path / "auth" / "credentials.yaml"
    add_user(creds, "admin", "admin-password", role="admin", rounds=4)
    add_user(creds, "alice", "alice-password", role="engineer", rounds=4)
    add_user(creds, "molly", "molly-password", role="manager", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(creds))
    monkeypatch.setenv(STATE_URL_ENV, empty_db_url)
    forget_engines()
    yield creds
    forget_engines()


def create(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["tokens", "create", *args])
    return code, capsys.readouterr().out


def test_create_prints_a_working_token_alone_on_the_last_line(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = create(capsys, "--user", "Alice", "--label", "CI nightly", "--expires-days", "30")
    assert code == 0
    *lines, token = out.rstrip("\n").split("\n")
    assert token.startswith(TOKEN_PREFIX) and token == token.strip() and " " not in token
    assert "CI nightly" in lines[0] and "alice" in lines[0] and "30 days" in lines[0]
    assert "only this once" in out
    identity = authenticate_token(
        state_engine(StateSettings(os.environ[STATE_URL_ENV], "env")),
        token,
        client="cli-test",
        credentials_path=setup,
    )
    assert identity.username == "alice"


def test_list_shows_each_token_and_never_the_token(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = create(capsys, "--user", "alice", "--label", "notebook")
    token = out.split()[-1]
    create(capsys, "--user", "admin", "--expires-days", "1")
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert token not in listing and token[len(TOKEN_PREFIX) :] not in listing
    header, first, second = listing.splitlines()[:3]
    assert header.split() == ["ID", "USER", "LABEL", "CREATED", "(UTC)", "LAST", "USED", "EXPIRES", "STATE"]
    assert first.split()[:3] == ["1", "alice", "notebook"] and first.split()[-3:] == [
        "never",
        "never",
        "active",
    ]
    assert second.split()[:3] == ["2", "admin", "-"] and second.split()[-1] == "active"
    assert "2 token(s)" in listing
    assert main(["tokens", "list", "--user", "admin"]) == 0
    only_admin = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in only_admin[1:] if line] == ["admin", "token(s)"]


def test_revoke_stops_the_token_and_list_says_so(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = create(capsys, "--user", "alice")
    token = out.split()[-1]
    assert main(["tokens", "revoke", "1"]) == 0
    assert "Revoked API token 1 of alice" in capsys.readouterr().out
    assert main(["tokens", "revoke", "1"]) == 0
    assert "already revoked" in capsys.readouterr().out
    main(["tokens", "list"])
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "revoked"
    engine = state_engine(StateSettings(os.environ[STATE_URL_ENV], "env"))
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate_token(engine, token, client="cli-test", credentials_path=setup)
    actions = [(e.action, (e.actor or "").startswith("cli")) for e in reversed(read_audit(engine))]
    assert actions[:2] == [("token.create", True), ("token.revoke", True)]


def test_list_marks_the_tokens_of_a_removed_user(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create(capsys, "--user", "alice")
    remove_user(setup, "alice")
    main(["tokens", "list"])
    assert capsys.readouterr().out.splitlines()[1].endswith("user removed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody"], "there is no user 'nobody'"),
        (["create", "--user", "molly"], "role 'manager', which has no API access"),
        (["create", "--user", "alice", "--label", "x" * 101], "at most 100"),
        (["revoke", "42"], "no API token with id 42"),
    ],
)
def test_refusals_exit_2_with_a_message_and_no_token(
    setup: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["tokens", *args]) == 2
    out, err = capsys.readouterr()
    assert message in err and TOKEN_PREFIX not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["create", "--user", "alice", "--expires-days", "0"],
            "--expires-days: 0 is out of range; give 1 to 3650",
        ),
        (["create", "--user", "alice", "--expires-days", "3651"], "3651 is out of range"),
        (["create", "--user", "alice", "--expires-days", "soon"], "'soon' is not a whole number of days"),
        (["create"], "--user"),
        (["revoke", "x1"], "'x1' is not a token id"),
        (["revoke", "0"], "'0' is not a token id"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(
    setup: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["tokens", *args])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unusable_state_url_exits_2_naming_the_variable(
    setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "mysql://u@h/db")
    assert main(["tokens", "list"]) == 2
    assert "DASHBOARD_STATE_URL" in capsys.readouterr().err


def test_python_m_core_prints_the_token_last(setup: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core", "tokens", "create", "--user", "admin", "--label", "script"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith(TOKEN_PREFIX) and len(last) == len(TOKEN_PREFIX) + 43
