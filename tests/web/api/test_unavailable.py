"""503 JSON when the sessions database cannot be read: a server whose database is gone or down."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.web.api.conftest import ApiServer, free_port, start_server, stop, wait_healthy


@pytest.fixture(scope="module", params=["missing-file", "server-down"])
def broken(request: pytest.FixtureRequest, server: ApiServer, ada_token: str) -> Iterator[httpx.Client]:
    if server.backend != "sqlite":
        pytest.skip("one broken server per kind is enough; run beside the SQLite suite")
    folder = server.credentials.parent
    url = (
        f"sqlite:///{folder / 'no-such-folder' / 'gone.db'}"
        if request.param == "missing-file"
        else f"postgresql+psycopg://nobody:secret@127.0.0.1:{free_port()}/nothing"
    )
    process, port = start_server({**server.env, "SESSIONS_DB_URL": url})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, f"{base}/_stcore/health")
        headers = {"Authorization": f"Bearer {ada_token}"}
        with httpx.Client(base_url=base + "/optimization", headers=headers, timeout=60) as client:
            yield client
    finally:
        stop(process)


@pytest.mark.parametrize("path", ["/sessions", "/sessions.csv", "/metrics", "/sessions/opt-1"])
def test_an_unreadable_database_is_503_json_naming_it_without_the_password(
    broken: httpx.Client, path: str
) -> None:
    reply = broken.get(path)
    assert reply.status_code == 503, reply.text
    detail = reply.json()["detail"]
    assert "could not be read" in detail and "secret" not in detail
    assert "Traceback" not in reply.text
