"""The "API access" section on Home, through AppTest: create (shown once), list, revoke, by role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

import ui.auth
from core.auth import login as login_rules
from core.auth.credentials import add_user
from core.auth.settings import COOKIE_EXPIRY_ENV, COOKIE_KEY_ENV
from core.auth.tokens import TOKEN_PREFIX, TokenRejected, authenticate_token, create_token, list_tokens
from core.config import AUTH_FILE_ENV, DB_URL_ENV, Settings
from core.state.settings import STATE_URL_ENV, StateSettings
from core.state.store import forget_engines, state_engine
from core.store.demo import write_demo
from core.store.engine import make_engine
from ui.api_access import EXPIRY_KEY, LABEL_KEY, SECTION_TITLE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP = str(PROJECT_ROOT / "app.py")
STRONG_KEY = "test-cookie-key-" + "0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sessions.db'}"
    engine = make_engine(Settings(db_url=url, db_url_source="environment"), read_only=False)
    write_demo(engine, sessions=10, model_count=3)
    engine.dispose()
    return url


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_db: str, empty_db_url: str) -> Iterator[Path]:
    """Users of every role, the demo sessions, and a state store of this test's own (SQLite or PostgreSQL)."""
    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "root", "root password", role="admin", rounds=4)
    add_user(path, "alice", "alice password", role="engineer", rounds=4)
    add_user(path, "bob", "bob password", role="engineer", rounds=4)
    add_user(path, "molly", "molly password", role="manager", rounds=4)
    monkeypatch.setenv(AUTH_FILE_ENV, str(path))
    monkeypatch.setenv(COOKIE_KEY_ENV, STRONG_KEY)
    monkeypatch.delenv(COOKIE_EXPIRY_ENV, raising=False)
    monkeypatch.setenv(DB_URL_ENV, demo_db)
    monkeypatch.setenv(STATE_URL_ENV, empty_db_url)
    login_rules.THROTTLE.reset()
    forget_engines()
    yield path
    forget_engines()
    login_rules.THROTTLE.reset()


def engine_of_test() -> Engine:
    return state_engine(StateSettings(os.environ[STATE_URL_ENV], "environment"))


def home_as(username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key=ui.auth.USERNAME_KEY).input(username)
    at.text_input(key=ui.auth.PASSWORD_KEY).input(f"{username} password")
    at = at.button[0].click().run()
    assert not at.exception
    return at


def shown_tokens(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.value.startswith(TOKEN_PREFIX)]


def has_section(at: AppTest) -> bool:
    return any(h.value == SECTION_TITLE for h in at.subheader)


def button(at: AppTest, label: str) -> Any:
    (found,) = [b for b in at.button if b.label == label]
    return found


def test_managers_do_not_see_the_section(creds: Path) -> None:
    at = home_as("molly")
    assert at.title[0].value == "Model optimization sessions"
    assert not has_section(at)
    assert not any(b.label == "Create token" for b in at.button)


def test_an_engineer_creates_a_token_shown_once_that_works(creds: Path) -> None:
    at = home_as("alice")
    assert has_section(at)
    at.text_input(key=LABEL_KEY).input("notebook")
    at.selectbox(key=EXPIRY_KEY).select(30)
    at = button(at, "Create token").click().run()
    assert not at.exception
    (token,) = shown_tokens(at)
    assert any("only this once" in w.value for w in at.warning)
    identity = authenticate_token(engine_of_test(), token, client="t", credentials_path=creds)
    assert identity.username == "alice"
    (info,) = list_tokens(engine_of_test())
    assert (info.username, info.label) == ("alice", "notebook")
    assert info.expires_at is not None and (info.expires_at - info.created_at).days == 30
    assert any(m.value == "notebook" for m in at.markdown)  # listed under "Your tokens"
    at = at.run()
    assert shown_tokens(at) == []  # gone on the next run: shown once
    assert token not in "\n".join(m.value for m in at.markdown)


def test_an_engineer_sees_and_revokes_only_their_own_tokens(creds: Path) -> None:
    engine = engine_of_test()
    _, mine = create_token(engine, "alice", label="mine", credentials_path=creds)
    create_token(engine, "bob", label="bobs", credentials_path=creds)
    at = home_as("alice")
    texts = [m.value for m in at.markdown]
    assert "mine" in texts and "bobs" not in texts
    at = button(at, "Revoke").click().run()
    assert not at.exception
    assert any("Revoked token 1 of alice" in s.value for s in at.success)
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate_token(engine, mine, client="t", credentials_path=creds)
    assert [t.revoked_by for t in list_tokens(engine)] == ["alice", None]
    assert not any(b.label == "Revoke" for b in at.button)


def test_an_admin_sees_everyones_tokens_and_revokes_anothers(creds: Path) -> None:
    engine = engine_of_test()
    create_token(engine, "alice", label="alices", credentials_path=creds)
    create_token(engine, "bob", label="bobs", credentials_path=creds)
    at = home_as("root")
    texts = [m.value for m in at.markdown]
    assert {"alices", "bobs", "alice", "bob", "**All tokens**"} <= set(texts)
    revoke_bob = next(b for b in at.button if b.key == "api_revoke_2")
    at = revoke_bob.click().run()
    assert not at.exception
    assert [(t.username, t.revoked_by) for t in list_tokens(engine)] == [("alice", None), ("bob", "root")]


def test_a_refused_label_is_a_message_and_no_token(creds: Path) -> None:
    at = home_as("alice")
    at.text_input(key=LABEL_KEY).input("tab\there")
    at = button(at, "Create token").click().run()
    assert not at.exception
    assert shown_tokens(at) == []
    assert any("No token was created" in e.value and "control characters" in e.value for e in at.error)


def test_an_unusable_state_store_is_a_message_not_a_traceback(
    creds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_URL_ENV, "mysql://u@h/db")
    at = home_as("alice")
    assert has_section(at)
    assert any("DASHBOARD_STATE_URL" in e.value for e in at.error)
