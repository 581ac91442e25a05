"""Playwright harness: Debian's chromium + a real `streamlit run` server.

* Every test under tests/browser gets the ``browser`` marker (``-m "not browser"`` skips them).
* Chromium is Debian's ``/usr/bin/chromium`` (never ``playwright install``); viewport 1440x900,
  downloads accepted.
* ``start_dashboard(env, script=None) -> DashboardServer`` (session-scoped factory): starts
  ``python -m streamlit run server.py`` (or ``script``) from the project root on a free 127.0.0.1 port
  with ``env`` added to the environment (SESSIONS_DB_URL, DASHBOARD_AUTH_FILE, ...), waits for
  ``/_stcore/health``; ``.url`` is the base URL. Stop it yourself with ``.stop()`` (e.g. at the
  end of a module-scoped fixture); anything still running is stopped at the end of the session.
  ``server.py`` is what ``bash scripts/run`` starts: ``st.App`` serving ``app.py`` and
  ``pages/`` plus the CSV download route, so the tests meet the dashboard as users do.

      @pytest.fixture(scope="module")
      def dashboard(start_dashboard, tmp_path_factory):
          server = start_dashboard({"SESSIONS_DB_URL": ...})
          yield server
          server.stop()

* ``screenshot_dir``: ``test-results/screenshots`` under the project (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

# A Streamlit rerun on a loaded 2-core CI machine can take several seconds; Playwright's 5 s
# default made assertions about what a person sees fail on timing, not on content.
expect.set_options(timeout=20_000)

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
STARTUP_TIMEOUT = 30.0

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: mark only the ones under this directory.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    executable = shutil.which("chromium")
    if executable is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {
        **browser_context_args,
        "viewport": {"width": 1440, "height": 900},
        "accept_downloads": True,
    }


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    # Same value as pytest-playwright's fallback fixture, which pytest 9 flags as deprecated
    # (a session fixture defined as an instance method): overriding it silences that warning.
    try:
        return pytestconfig.getoption("--base-url") or pytestconfig.getini("base_url") or None
    except (ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    path = PROJECT_ROOT / "test-results" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python() -> str:
    venv_python = PROJECT_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


@dataclass
class DashboardServer:
    """A running `streamlit run`; stdout and stderr go to ``log_path``."""

    process: subprocess.Popen
    port: int
    log_path: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far (for assertion messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its own process group (start_new_session): no stray children survive.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


def launch_dashboard(
    env: dict[str, str] | None = None, script: str | os.PathLike | None = None
) -> DashboardServer:
    """Start streamlit on ``script`` (default: the project's server.py) and wait until healthy."""
    target = str(script) if script is not None else "server.py"
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        **{k: str(v) for k, v in (env or {}).items()},
    }
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between picking and binding
        port = _free_port()
        fd, log_name = tempfile.mkstemp(prefix=f"streamlit-{port}-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen(
                [
                    _python(),
                    "-m",
                    "streamlit",
                    "run",
                    target,
                    "--server.headless",
                    "true",
                    "--server.port",
                    str(port),
                    "--server.address",
                    "127.0.0.1",
                    "--server.fileWatcherType",
                    "none",
                ],
                cwd=PROJECT_ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = DashboardServer(process=process, port=port, log_path=Path(log_name))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(server.url):
                return server
            time.sleep(0.1)
        last_error = server.output()
        exited = process.poll()
        server.stop()
        if exited is None or not ("already in use" in last_error or "is not available" in last_error):
            break
    raise RuntimeError(
        f"streamlit run {target} did not answer /_stcore/health within {STARTUP_TIMEOUT:.0f} s "
        f"(exit code {exited}); its output:\n{last_error}"
    )


@pytest.fixture(scope="session")
def start_dashboard() -> Iterator[Callable[..., DashboardServer]]:
    servers: list[DashboardServer] = []

    def start(env: dict[str, str] | None = None, script: str | os.PathLike | None = None) -> DashboardServer:
        server = launch_dashboard(env, script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
