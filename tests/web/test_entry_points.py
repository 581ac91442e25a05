"""Every documented way to start the dashboard serves the pages and the CSV route over real HTTP.

``bash scripts/run`` and ``optimization-dashboard run`` end in ``streamlit run server.py``;
``uvicorn server:app`` serves the same ``st.App`` directly. Each is started here as a user
would, on a free port, and asked for the page, Streamlit's health check and the CSV route.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.auth.credentials import add_user
from core.config import Settings
from core.store.demo import write_demo
from core.store.engine import make_engine
from web.download import EXPORT_PATH

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = "entry-points-test-key-" + "k" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    """Status and body; status 0 while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("entry")
    url = f"sqlite:///{folder / 'sessions.db'}"
    engine = make_engine(Settings(url, "environment"), read_only=False)
    write_demo(engine, sessions=200)
    engine.dispose()
    credentials = folder / "credentials.yaml"
    add_user(credentials, "ada", "ada password", rounds=4)
    return dict(
        os.environ,
        SESSIONS_DB_URL=url,
        DASHBOARD_AUTH_FILE=str(credentials),
        DASHBOARD_COOKIE_KEY=KEY,
        SESSIONS_MIRROR="off",
    )


def _started(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/_stcore/health")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"{' '.join(command)} did not start:\n{output}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(
    scope="module",
    params=["streamlit run server.py", "uvicorn server:app"],
)
def server(request: pytest.FixtureRequest, environment: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    if request.param.startswith("streamlit"):
        command = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port)]
        command += ["--server.headless", "true"]
    else:
        command = [str(BIN / "uvicorn"), "server:app", "--port", str(port), "--host", "127.0.0.1"]
    yield from _started(command, environment, port)


def test_the_dashboard_page_is_served(server: str) -> None:
    status, body = _get(f"{server}/")
    assert status == 200
    assert "<html" in body.lower()


def test_the_csv_route_is_mounted_and_asks_for_a_signed_link(server: str) -> None:
    status, body = _get(f"{server}{EXPORT_PATH}?status=failed")
    assert status == 403
    assert "Sessions page" in body  # what to do: a link made by the page, not an HTML page


def test_a_bad_filter_on_the_csv_route_is_named_not_a_page(server: str) -> None:
    status, body = _get(f"{server}{EXPORT_PATH}?limit=1000&token=x")
    assert status in (400, 403)
    assert "<html" not in body.lower()


def test_requests_on_a_kept_alive_connection_do_not_stall(server: str) -> None:
    """The second request on a connection used to wait for the client's delayed ACK (about
    40 ms, Nagle's algorithm on Streamlit's socket): each must now answer at once."""
    import httpx

    with httpx.Client() as client:
        client.get(f"{server}/_stcore/health")
        took = []
        for _ in range(9):
            started = time.perf_counter()
            client.get(f"{server}/_stcore/health")
            took.append(time.perf_counter() - started)
    assert sorted(took)[4] < 0.030, f"median {sorted(took)[4] * 1000:.0f} ms"
