"""The HTTP API's benchmark: the page operations of ``bench_sessions.py`` through a real server.

    .venv/bin/python benchmarks/bench_api.py --url sqlite:///benchmarks/out/sessions_1000000.db --repeat 20

Starts ``streamlit run server.py`` (``--server uvicorn``: ``uvicorn server:app``) on a free
loopback port against ``--url`` (its speed layer as the dashboard would use it: build it first
with ``init-db`` or ``bench_sessions.py``), with a throwaway credentials file, one engineer and
a state store in a temp folder, creates an API token the way ``tokens create`` does, and
measures over HTTP with ``httpx``:

* per page operation of ``bench_sessions.OPERATIONS``: first, p50 and p95 milliseconds of
  ``GET /optimization/sessions`` (auth, the query, JSON and loopback included);
* throughput: ``--clients`` threads (default 8), each with its own connection, cycling the
  operations for ``--seconds``; requests per second and the p50/p95 seen under that load;
* ``GET /optimization/sessions.csv`` of every match (or ``--csv-rows`` of them): rows per
  second, and the server's RSS before and at its peak while streaming (sampled every 20 ms);
* the server process's RSS after all of it.

Prints a table (Markdown) and one ``BENCH-RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import httpx  # noqa: E402
from bench_sessions import OPERATIONS, RESULT_MARK, filter_for, last_page_skip, percentile  # noqa: E402

USER = "bench"
PASSWORD = "benchmark password 1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_of(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """``streamlit run server.py`` for one database, with its own login files; a context manager."""

    def __init__(self, url: str, folder: Path, how: str = "streamlit") -> None:
        self.how = how
        self.url = url
        self.folder = folder
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}/optimization"
        self.credentials = folder / "credentials.yaml"
        self.state_url = f"sqlite:///{folder / 'state.db'}"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            SESSIONS_DB_URL=self.url,
            DASHBOARD_AUTH_FILE=str(self.credentials),
            DASHBOARD_COOKIE_KEY="bench-api-key-" + "k" * 40,
            DASHBOARD_STATE_URL=self.state_url,
        )

    def token(self) -> str:
        from core.auth.credentials import add_user
        from core.auth.tokens import create_token
        from core.state.settings import StateSettings
        from core.state.store import state_engine

        add_user(self.credentials, USER, PASSWORD, role="engineer", rounds=4)
        engine = state_engine(StateSettings(self.state_url, "environment"))
        _, plain = create_token(engine, USER, label="bench_api", credentials_path=self.credentials)
        return plain

    def __enter__(self) -> Server:
        if self.how == "uvicorn":
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "server:app",
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
            ]
        else:
            command = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(self.port)]
            command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
        log = open(self.folder / "server.log", "wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 180
        health = f"http://127.0.0.1:{self.port}/_stcore/health"
        while True:
            try:
                if httpx.get(health, timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {self.folder / 'server.log'}")
            time.sleep(0.3)

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def operation_params(client: httpx.Client) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each benchmark operation as query parameters (the last page resolved against the total)."""
    total = client.get("/sessions", params={"status": "completed", "limit": 1}).json()["total"]
    out = []
    for name, spec in OPERATIONS:
        params = filter_for(spec, last_page_skip(total)).to_params()
        out.append((name, [(k, v) for k, values in params.items() for v in values]))
    return out


def _get_ms(client: httpx.Client, params: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    reply = client.get("/sessions", params=tuple(params))
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200:
        raise SystemExit(f"GET /sessions {params} answered {reply.status_code}: {reply.text[:300]}")
    return elapsed


def per_request(
    client: httpx.Client, ops: list[tuple[str, list[tuple[str, str]]]], repeat: int
) -> list[dict[str, Any]]:
    rows = []
    for name, params in ops:
        first = _get_ms(client, params)
        runs = [_get_ms(client, params) for _ in range(repeat)]
        rows.append(
            {"operation": name, "first": first, "p50": statistics.median(runs), "p95": percentile(runs, 0.95)}
        )
    return rows


def throughput(
    base: str, token: str, ops: list[tuple[str, list[tuple[str, str]]]], clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` threads cycling the operations for ``seconds``; requests/s and latency under load."""
    times: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def work(offset: int) -> None:
        mine = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            i = offset
            while time.monotonic() < stop_at:
                mine.append(_get_ms(c, ops[i % len(ops)][1]))
                i += 1
        with lock:
            times.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(times),
        "per_second": len(times) / wall,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
    }


def _sample_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_of(pid))
        time.sleep(0.02)


def csv_export(client: httpx.Client, pid: int, max_rows: int | None) -> dict[str, Any]:
    """Every match as CSV (or the first ``max_rows``): rows/s and the server's RSS peak meanwhile."""
    before = rss_of(pid)
    peak = [before]
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(pid, stop, peak))
    sampler.start()
    lines = 0
    started = time.perf_counter()
    try:
        with client.stream("GET", "/sessions.csv") as reply:
            if reply.status_code != 200:
                raise SystemExit(f"GET /sessions.csv answered {reply.status_code}")
            for chunk in reply.iter_bytes():
                lines += chunk.count(b"\n")
                if max_rows is not None and lines - 1 >= max_rows:
                    break
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
    rows = max(0, lines - 1)
    return {
        "rows": rows,
        "seconds": elapsed,
        "rows_per_second": rows / elapsed,
        "rss_before_mb": before,
        "rss_peak_mb": peak[0],
    }


PAGE_VIEWS = (
    "/Sessions",
    "/Overview",
    "/Sessions?status=completed&sort=size_reduction_percent",
    "/Overview?q=bert",
)


class PageUsers:
    """``count`` headless Chromium sessions (Debian's /usr/bin/chromium), signed in as the
    benchmark's engineer, cycling the Sessions and Overview pages until stopped: the API is then
    measured while the dashboard's pages are in use. Each browser has its own thread and
    Playwright instance (its sync API is per thread)."""

    def __init__(self, base: str, count: int) -> None:
        self.base = base.removesuffix("/optimization")
        self.count = count
        self.stop = threading.Event()
        self.views = 0
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._browse, daemon=True) for _ in range(count)]
        self._ready = threading.Barrier(count + 1)

    def _browse(self) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            try:
                page.goto(f"{self.base}/")
                page.get_by_role("textbox", name="Username").fill(USER)
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.get_by_role("button", name="Login").click()
                page.get_by_text("Model optimization sessions").first.wait_for(timeout=60_000)
            except Exception as error:  # a benchmark reports, it does not stop
                self.errors.append(f"sign-in: {error}")
            self._ready.wait()
            i = 0
            while not self.stop.is_set():
                try:
                    page.goto(f"{self.base}{PAGE_VIEWS[i % len(PAGE_VIEWS)]}")
                    # Both pages end with metric cards computed over every match.
                    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=30_000)
                    self.views += 1
                except Exception as error:
                    self.errors.append(str(error)[:200])
                i += 1
            browser.close()

    def __enter__(self) -> PageUsers:
        for thread in self.threads:
            thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def report(result: dict[str, Any]) -> str:
    out = [
        f"HTTP API, {result['url']} ({result['total']:,} sessions), {result['repeat']} runs per operation",
        "",
    ]
    out += ["| operation (ms) | first | p50 | p95 |", "|---|---|---|---|"]
    for row in result["requests"]:
        out.append(f"| {row['operation']} | {row['first']:.1f} | {row['p50']:.1f} | {row['p95']:.1f} |")
    t, c = result["throughput"], result["csv"]
    out += [
        "",
        "| | value |",
        "|---|---|",
        f"| throughput, {t['clients']} clients | {t['per_second']:.0f} requests/s ({t['requests']} requests; "
        f"p50 {t['p50']:.1f} / p95 {t['p95']:.1f} ms) |",
        f"| CSV route | {c['rows_per_second']:,.0f} rows/s for {c['rows']:,} rows "
        f"(server RSS {c['rss_before_mb']:.0f} -> peak {c['rss_peak_mb']:.0f} MB, "
        f"+{c['rss_peak_mb'] - c['rss_before_mb']:.0f} MB) |",
        f"| server RSS after the run | {result['server_rss_mb']:.0f} MB |",
    ]
    if result.get("with_pages"):
        w = result["with_pages"]
        out += [
            "",
            f"While {w['browsers']} browsers cycle the pages ({w['views']} page views, "
            f"{len(w['errors'])} errors):",
            "",
            "| operation (ms) | first | p50 | p95 |",
            "|---|---|---|---|",
        ]
        for row in w["requests"]:
            out.append(f"| {row['operation']} | {row['first']:.1f} | {row['p50']:.1f} | {row['p95']:.1f} |")
    return "\n".join(out)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
        Server(args.url, Path(tmp), args.server) as server,
    ):
        token = server.token()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=300) as client:
            total = client.get("/sessions", params={"limit": 1}).json()["total"]
            ops = operation_params(client)
            requests = per_request(client, ops, args.repeat)
            load = throughput(server.base, token, ops, args.clients, args.seconds)
            assert server.process is not None
            csv = csv_export(client, server.process.pid, args.csv_rows)
            rss = rss_of(server.process.pid)
            with_pages = None
            if args.pages:
                with PageUsers(server.base, args.pages) as users:
                    busy = per_request(client, ops, args.repeat)
                with_pages = {
                    "browsers": args.pages,
                    "views": users.views,
                    "errors": users.errors,
                    "first_error": users.errors[0] if users.errors else "",
                    "requests": busy,
                }
    return {
        "url": _masked(args.url),
        "server": args.server,
        "total": total,
        "repeat": args.repeat,
        "requests": requests,
        "throughput": load,
        "csv": csv,
        "server_rss_mb": rss,
        "with_pages": with_pages,
    }


def _masked(url: str) -> str:
    from core.config import mask_url

    return mask_url(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the sessions database URL (SQLite or PostgreSQL)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per operation (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the throughput run lasts")
    parser.add_argument(
        "--pages", type=int, default=0, help="then measure again while N browsers use the pages (chromium)"
    )
    parser.add_argument(
        "--server",
        choices=("streamlit", "uvicorn"),
        default="streamlit",
        help="start it as bash scripts/run does (streamlit run server.py) or as uvicorn server:app",
    )
    parser.add_argument("--csv-rows", type=int, default=None, help="stop the CSV after this many rows")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.clients < 1 or args.seconds <= 0:
        parser.error("--repeat and --clients must be at least 1, --seconds above 0")
    result = run(args)
    print(report(result))
    print(RESULT_MARK + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
