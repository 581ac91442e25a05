"""API tokens on SQLite and PostgreSQL: lifecycle, who may hold one, the shared throttle, the audit log."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.auth.credentials import add_user, remove_user
from core.auth.tokens import (
    API_ROLES,
    CLIENT_POLICY,
    THROTTLE_PREFIX,
    TOKEN_PREFIX,
    TokenError,
    TokenIdentity,
    TokenRejected,
    TokenThrottled,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from core.state.audit import read_audit
from core.state.settings import StateSettings
from core.state.store import forget_engines, open_state_engine, state_engine
from core.state.tables import api_tokens, audit_log, throttle

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    path = tmp_path / "auth" / "credentials.yaml"
    add_user(path, "admin", "admin-password", role="admin", rounds=4)
    add_user(path, "alice", "alice-password", role="engineer", rounds=4)
    add_user(path, "molly", "molly-password", role="manager", rounds=4)
    return path


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[sa.Engine]:
    forget_engines()
    yield state_engine(StateSettings(empty_db_url, "test"))
    forget_engines()


def use(
    engine: sa.Engine, token: str | None, creds: Path, *, at: datetime = T0, client: str = "10.0.0.1"
) -> TokenIdentity:
    return authenticate_token(engine, token, client=client, credentials_path=creds, now=at)


def rejection(engine: sa.Engine, token: str | None, creds: Path, **kwargs: object) -> TokenRejected:
    with pytest.raises(TokenRejected) as raised:
        use(engine, token, creds, **kwargs)  # type: ignore[arg-type]
    return raised.value


def test_a_new_token_grants_its_users_identity_and_is_stored_only_as_a_hash(
    engine: sa.Engine, creds: Path
) -> None:
    token_id, token = create_token(engine, "alice", label="ci", credentials_path=creds, now=T0)
    assert token.startswith(TOKEN_PREFIX) and len(token) == len(TOKEN_PREFIX) + 43
    assert use(engine, token, creds) == TokenIdentity(
        token_id=token_id, username="alice", role="alice" and "engineer"
    )
    with engine.connect() as connection:
        row = connection.execute(sa.select(api_tokens)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(tuple(row))


def test_two_tokens_are_never_alike(engine: sa.Engine, creds: Path) -> None:
    tokens = {create_token(engine, "alice", credentials_path=creds)[1] for _ in range(20)}
    assert len(tokens) == 20


def test_list_shows_every_field_but_the_token_and_filters_by_user(engine: sa.Engine, creds: Path) -> None:
    first, _ = create_token(
        engine, "alice", label="notebook", expires_days=30, credentials_path=creds, now=T0
    )
    second, _ = create_token(engine, "admin", credentials_path=creds, now=T0)
    everyone = list_tokens(engine)
    assert [t.id for t in everyone] == [first, second]
    assert not any(hasattr(t, "token_hash") or hasattr(t, "token") for t in everyone)
    alice = list_tokens(engine, username="alice")
    assert [(t.username, t.label, t.created_at, t.expires_at, t.last_used_at) for t in alice] == [
        ("alice", "notebook", T0, T0 + timedelta(days=30), None)
    ]
    assert alice[0].state(T0) == "active"


def test_use_records_last_used_at_most_once_a_second(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", credentials_path=creds, now=T0)
    use(engine, token, creds, at=T0 + timedelta(seconds=5))
    use(engine, token, creds, at=T0 + timedelta(seconds=5.5))
    assert list_tokens(engine)[0].last_used_at == T0 + timedelta(seconds=5)
    use(engine, token, creds, at=T0 + timedelta(seconds=6.2))
    assert list_tokens(engine)[0].last_used_at == T0 + timedelta(seconds=6.2)
    assert len(read_audit(engine, action="token.use")) == 3  # every use is audited, throttled or not


def test_an_expired_token_is_refused_with_when_it_expired(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", expires_days=1, credentials_path=creds, now=T0)
    use(engine, token, creds, at=T0 + timedelta(hours=23))
    refused = rejection(engine, token, creds, at=T0 + timedelta(days=1))
    assert refused.reason == "expired" and "2026-11-26 12:00" in str(refused)
    assert list_tokens(engine)[0].state(T0 + timedelta(days=2)) == "expired"


def test_a_revoked_token_stops_working_at_once(engine: sa.Engine, creds: Path) -> None:
    token_id, token = create_token(engine, "alice", credentials_path=creds, now=T0)
    use(engine, token, creds)
    info = revoke_token(engine, token_id, by="admin", now=T0 + timedelta(minutes=1))
    assert (info.revoked_at, info.revoked_by, info.state()) == (T0 + timedelta(minutes=1), "admin", "revoked")
    assert rejection(engine, token, creds, at=T0 + timedelta(minutes=1)).reason == "revoked"
    # Revoking again changes nothing and writes no second audit row.
    assert revoke_token(engine, token_id, by="alice").revoked_by == "admin"
    assert len(read_audit(engine, action="token.revoke")) == 1


def test_a_revocation_through_one_replica_is_seen_by_another(empty_db_url: str, creds: Path) -> None:
    one = open_state_engine(StateSettings(empty_db_url, "test"))
    other = open_state_engine(StateSettings(empty_db_url, "test"))
    try:
        state_engine(StateSettings(empty_db_url, "test"))  # migrates
        token_id, token = create_token(one, "alice", credentials_path=creds)
        use(other, token, creds)
        revoke_token(one, token_id, by="admin")
        assert rejection(other, token, creds).reason == "revoked"
    finally:
        one.dispose()
        other.dispose()
        forget_engines()


def test_revoking_an_unknown_or_anothers_token_says_there_is_none(engine: sa.Engine, creds: Path) -> None:
    token_id, _ = create_token(engine, "admin", credentials_path=creds)
    with pytest.raises(TokenError, match="no API token with id 999"):
        revoke_token(engine, 999, by="admin")
    with pytest.raises(TokenError, match=f"no API token with id {token_id} of user 'alice'"):
        revoke_token(engine, token_id, by="alice", owner="alice")
    assert list_tokens(engine)[0].revoked_at is None


def test_a_removed_users_tokens_stop_working(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", credentials_path=creds)
    use(engine, token, creds)
    remove_user(creds, "alice")
    refused = rejection(engine, token, creds)
    assert refused.reason == "user removed" and "'alice'" in str(refused)


def test_the_role_is_read_from_the_credentials_file_at_each_use(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", credentials_path=creds)
    remove_user(creds, "alice")
    add_user(creds, "alice", "alice-password", role="manager", rounds=4)
    identity = use(engine, token, creds)
    assert identity.role == "manager" and identity.role not in API_ROLES  # the API answers 403


def test_a_missing_or_unknown_token_is_refused_with_what_to_do(engine: sa.Engine, creds: Path) -> None:
    missing = rejection(engine, None, creds)
    assert missing.reason == "missing" and "Authorization: Bearer" in str(missing)
    assert rejection(engine, "", creds).reason == "missing"
    assert rejection(engine, TOKEN_PREFIX + "x" * 43, creds).reason == "unknown"


@pytest.mark.parametrize(
    ("username", "kwargs", "message"),
    [
        ("nobody", {}, "there is no user 'nobody'"),
        ("molly", {}, "role 'manager', which has no API access"),
        ("Not A Name!", {}, "not a valid user name"),
        ("alice", {"expires_days": 0}, "expires_days is 0; give 1 to 3650"),
        ("alice", {"expires_days": 3651}, "expires_days is 3651; give 1 to 3650"),
        ("alice", {"label": "x" * 101}, "label is 101 characters long; use at most 100"),
        ("alice", {"label": "a\nb"}, "control characters"),
        ("alice", {"label": "my token odt_" + "a" * 43}, "looks like an API token"),
    ],
)
def test_a_token_is_refused_to_whoever_may_not_hold_one(
    engine: sa.Engine, creds: Path, username: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TokenError, match=message):
        create_token(engine, username, credentials_path=creds, **kwargs)  # type: ignore[arg-type]
    assert list_tokens(engine) == []


def _throttle_row(engine: sa.Engine, client: str) -> sa.Row[tuple[object, ...]] | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(throttle).where(throttle.c.key == THROTTLE_PREFIX + client)
        ).one_or_none()


def test_ten_failures_are_free_then_the_client_waits_doubling_delays(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", credentials_path=creds)
    at = T0
    for _ in range(CLIENT_POLICY.free_attempts):
        rejection(engine, "odt_wrong", creds, at=at)
    use(engine, token, creds, at=at)  # still allowed
    rejection(engine, "odt_wrong", creds, at=at)  # the 11th failure locks for 2 s
    with pytest.raises(TokenThrottled) as raised:
        use(engine, token, creds, at=at + timedelta(seconds=1.5))  # even a good token waits
    assert raised.value.retry_after == pytest.approx(0.5)
    at += timedelta(seconds=2)
    rejection(engine, "odt_wrong", creds, at=at)  # the 12th: 4 s
    with pytest.raises(TokenThrottled) as raised:
        use(engine, token, creds, at=at + timedelta(seconds=1))
    assert raised.value.retry_after == pytest.approx(3.0)
    assert use(engine, token, creds, at=at + timedelta(seconds=4)).username == "alice"
    assert use(engine, token, creds, at=at, client="10.0.0.2").username == "alice"  # other clients unaffected


def test_the_lock_never_exceeds_five_minutes_and_an_idle_client_is_forgiven(
    engine: sa.Engine, creds: Path
) -> None:
    for _ in range(40):
        rejection(engine, "odt_wrong", creds, at=T0)
        with engine.begin() as connection:  # skip the waits: the test is about the counts
            connection.execute(sa.update(throttle).values(locked_until=0.0))
    rejection(engine, "odt_wrong", creds, at=T0)
    row = _throttle_row(engine, "10.0.0.1")
    assert row is not None and row.locked_until - T0.timestamp() == pytest.approx(300.0)
    _, token = create_token(engine, "alice", credentials_path=creds)
    assert use(engine, token, creds, at=T0 + timedelta(hours=2)).username == "alice"
    rejection(engine, "odt_wrong", creds, at=T0 + timedelta(hours=2))
    row = _throttle_row(engine, "10.0.0.1")
    assert row is not None and row.failures == 1  # counting started again


def test_a_client_without_failures_leaves_no_throttle_row(engine: sa.Engine, creds: Path) -> None:
    _, token = create_token(engine, "alice", credentials_path=creds)
    use(engine, token, creds)
    assert _throttle_row(engine, "10.0.0.1") is None


def test_parallel_bad_tokens_from_two_replicas_are_each_counted(empty_db_url: str, creds: Path) -> None:
    forget_engines()
    state_engine(StateSettings(empty_db_url, "test"))
    replicas = [open_state_engine(StateSettings(empty_db_url, "test")) for _ in range(2)]
    attempts = 24
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attack(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            use(engine, "odt_guess", creds, at=T0)
            result = "accepted"
        except TokenRejected:
            result = "rejected"
        except TokenThrottled:
            result = "throttled"
        except Exception as error:
            result = repr(error)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attack, args=(replicas[i % 2],)) for i in range(attempts)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        free = CLIENT_POLICY.free_attempts
        # Judged one at a time: the free ones, the one that sets the lock, then only waits.
        assert sorted(outcomes) == ["rejected"] * (free + 1) + ["throttled"] * (attempts - free - 1)
        row = _throttle_row(replicas[0], "10.0.0.1")
        assert row is not None and row.failures == free + 1
    finally:
        for engine in replicas:
            engine.dispose()
        forget_engines()


def test_the_audit_log_records_each_step_and_never_the_token(engine: sa.Engine, creds: Path) -> None:
    token_id, token = create_token(engine, "alice", label="ci", credentials_path=creds, by="cli:root", now=T0)
    use(engine, token, creds)
    rejection(engine, token[:-1] + "A" if token[-1] != "A" else token[:-1] + "B", creds)
    revoke_token(engine, token_id, by="admin")
    rejection(engine, token, creds)
    entries = list(reversed(read_audit(engine)))
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("token.create", "cli:root", f"token:{token_id}"),
        ("token.use", "alice", f"token:{token_id}"),
        ("token.rejected", None, None),
        ("token.revoke", "admin", f"token:{token_id}"),
        ("token.rejected", "alice", f"token:{token_id}"),
    ]
    assert entries[0].detail["label"] == "ci"
    assert [e.detail.get("reason") for e in entries if e.action == "token.rejected"] == ["unknown", "revoked"]
    with engine.connect() as connection:
        dump = repr(connection.execute(sa.select(audit_log)).all())
    assert token not in dump and token[len(TOKEN_PREFIX) :] not in dump
    assert hashlib.sha256(token.encode()).hexdigest() not in dump
