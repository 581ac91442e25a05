"""Tokens on a real server: create, use, list, revoke, expiry, removed user, roles, throttling.

Tokens are made with :func:`core.auth.tokens.create_token` (what ``tokens create`` runs) in the
server's state store, a temp SQLite file; the server checks each request against it, so a
revocation or a removed user takes effect on the next request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.auth.credentials import add_user, remove_user
from core.auth.tokens import create_token, list_tokens, revoke_token
from tests.web.api.conftest import PASSWORD, ApiServer


def test_a_new_token_works_at_once_and_its_use_is_recorded(server: ApiServer) -> None:
    token_id, token = create_token(server.state, "root", label="ci job", credentials_path=server.credentials)
    before = {t.id: t for t in list_tokens(server.state, username="root")}[token_id]
    assert before.last_used_at is None and before.label == "ci job"
    with server.client(token, own_address=True) as client:
        assert client.get("/sessions", params={"limit": 1}).status_code == 200
    after = {t.id: t for t in list_tokens(server.state, username="root")}[token_id]
    assert after.last_used_at is not None
    assert all(token not in repr(t) for t in list_tokens(server.state))  # the token is never listed


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic YWRhOnNlY3JldA==", "Bearer odt_not-a-real-token", "Token abc"],
    ids=["missing", "empty", "basic", "unknown", "other-scheme"],
)
def test_a_missing_or_unknown_token_is_401_with_a_bearer_challenge(
    server: ApiServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with server.client(own_address=True) as client:
        for path in ("/sessions", "/sessions.csv", "/metrics", "/sessions/any"):
            reply = client.get(path, headers=headers)
            assert reply.status_code == 401, (path, reply.text)
            assert reply.headers["www-authenticate"].startswith("Bearer")
            assert "tokens create" in reply.json()["detail"] or "not recognised" in reply.json()["detail"]


def test_a_revoked_token_stops_working_on_the_next_request(server: ApiServer) -> None:
    token_id, token = create_token(server.state, "ada", credentials_path=server.credentials)
    with server.client(token, own_address=True) as client:
        assert client.get("/sessions").status_code == 200
        revoke_token(server.state, token_id, by="root")
        reply = client.get("/sessions")
    assert reply.status_code == 401 and "revoked" in reply.json()["detail"]
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_is_401_saying_so(server: ApiServer) -> None:
    created = datetime.now(UTC) - timedelta(days=2)
    _, token = create_token(
        server.state, "ada", expires_days=1, credentials_path=server.credentials, now=created
    )
    with server.client(token, own_address=True) as client:
        reply = client.get("/metrics")
    assert reply.status_code == 401 and "expired" in reply.json()["detail"]
    _, fresh = create_token(server.state, "ada", expires_days=1, credentials_path=server.credentials)
    with server.client(fresh) as client:
        assert client.get("/metrics").status_code == 200


def test_a_removed_user_loses_api_access(server: ApiServer) -> None:
    add_user(server.credentials, "temp", PASSWORD, role="engineer", rounds=4)
    _, token = create_token(server.state, "temp", credentials_path=server.credentials)
    with server.client(token, own_address=True) as client:
        assert client.get("/sessions").status_code == 200
        remove_user(server.credentials, "temp")
        reply = client.get("/sessions")
    assert reply.status_code == 401 and "temp" in reply.json()["detail"]


def test_a_manager_is_403_even_with_a_token(server: ApiServer) -> None:
    add_user(server.credentials, "viewer", PASSWORD, role="engineer", rounds=4)
    _, token = create_token(server.state, "viewer", credentials_path=server.credentials)
    remove_user(server.credentials, "viewer")  # the role changes after the token was made
    add_user(server.credentials, "viewer", PASSWORD, role="manager", rounds=4)
    with server.client(token, own_address=True) as client:
        for path in ("/sessions", "/metrics", "/sessions.csv"):
            reply = client.get(path)
            assert reply.status_code == 403, reply.text
            assert "manager" in reply.json()["detail"] and "engineer" in reply.json()["detail"]


def test_engineers_and_admins_both_have_access(server: ApiServer) -> None:
    for user in ("ada", "root"):
        with server.client(server.token(user)) as client:
            assert client.get("/sessions", params={"limit": 1}).status_code == 200


def test_repeated_bad_tokens_from_one_client_are_throttled_with_retry_after(server: ApiServer) -> None:
    with server.client(own_address=True) as client:
        statuses = [
            client.get("/sessions", headers={"Authorization": "Bearer odt_wrong"}).status_code
            for _ in range(14)
        ]
        assert statuses[0] == 401 and 429 in statuses, statuses
        throttled = client.get("/sessions", headers={"Authorization": f"Bearer {server.token('ada')}"})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "try again" in throttled.json()["detail"]
