"""A real dashboard server (``streamlit run server.py``) for the API tests, on SQLite and PostgreSQL.

Package-scoped and parametrised by backend: each backend gets one database of demo sessions
(:func:`core.store.demo.write_demo`), a credentials file with an engineer, an admin and a
manager, a state store in a temp SQLite file, and one server process on a free port that all
the API test modules share. :class:`ApiServer` carries what a test needs to talk to it and to
run the CLI against the same database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core.auth.credentials import add_user
from core.auth.tokens import create_token
from core.config import Settings
from core.state.settings import StateSettings
from core.state.store import state_engine
from core.store.demo import write_demo
from core.store.engine import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEMO_SESSIONS = 400
PASSWORD = "api test password 1"
_ADDRESSES = (f"127.0.{i // 250}.{i % 250 + 2}" for i in range(1, 60_000))
USERS = (("ada", "engineer"), ("root", "admin"), ("mia", "manager"), ("gone", "engineer"))


@dataclass
class ApiServer:
    """One running server and the files behind it."""

    base: str  # http://127.0.0.1:PORT[/base]
    backend: str
    db_url: str
    env: dict[str, str]
    credentials: Path
    state: Engine

    @property
    def api(self) -> str:
        return self.base + "/optimization"

    def token(self, user: str = "ada", **kwargs: object) -> str:
        """A new token for ``user`` (plaintext), made as ``tokens create`` makes it."""
        _, plain = create_token(self.state, user, credentials_path=self.credentials, **kwargs)  # type: ignore[arg-type]
        return plain

    def client(self, token: str | None = None, *, own_address: bool = False) -> httpx.Client:
        """A client of the API; ``own_address``: from a loopback address no other client uses.

        Failed token attempts are throttled per client address and a success does not forgive
        them (as for logins), so each test that sends bad tokens does so from its own address.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.HTTPTransport(local_address=next(_ADDRESSES)) if own_address else None
        return httpx.Client(base_url=self.api, headers=headers, timeout=30, transport=transport)

    def cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """``python -m core ARGS --db URL`` in a subprocess, as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "core", *args, "--db", self.db_url],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'sessions.db'}"
        return
    admin, from_template = request.getfixturevalue("_pg_admin")
    name = f"api_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" {from_template}'))
    try:
        url = make_url(request.getfixturevalue("pg_server_url")).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_server(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1", *extra]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, port


def wait_healthy(process: subprocess.Popen[str], health_url: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(health_url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the server did not start:\n{output}")
        time.sleep(0.3)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(
    scope="package",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def api_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, dict[str, str], Path, Engine]]:
    """(backend, db url, environment, credentials file, state engine) with demo data loaded."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"api-{backend}")
    for url in _database(request, backend, folder):
        engine = make_engine(Settings(url, "environment"), read_only=False)
        write_demo(engine, sessions=DEMO_SESSIONS)
        engine.dispose()
        credentials = folder / "credentials.yaml"
        for user, role in USERS:
            add_user(credentials, user, PASSWORD, role=role, rounds=4)
        state_url = f"sqlite:///{folder / 'state.db'}"
        env = dict(
            os.environ,
            SESSIONS_DB_URL=url,
            SESSIONS_MIRROR="off",
            DASHBOARD_AUTH_FILE=str(credentials),
            DASHBOARD_COOKIE_KEY="api-test-key-" + "k" * 40,
            DASHBOARD_STATE_URL=state_url,
        )
        state = state_engine(StateSettings(state_url, "environment"))
        yield backend, url, env, credentials, state


@pytest.fixture(scope="package")
def server(api_env: tuple[str, str, dict[str, str], Path, Engine]) -> Iterator[ApiServer]:
    """``streamlit run server.py`` on a free port, serving the API at /optimization."""
    backend, url, env, credentials, state = api_env
    process, port = start_server(env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, f"{base}/_stcore/health")
        yield ApiServer(base, backend, url, env, credentials, state)
    finally:
        stop(process)


@pytest.fixture(scope="package")
def ada_token(server: ApiServer) -> str:
    return server.token("ada", label="tests")


@pytest.fixture
def ada(server: ApiServer, ada_token: str) -> Iterator[httpx.Client]:
    with server.client(ada_token) as client:
        yield client
