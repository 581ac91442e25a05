"""The Sessions page's "Download CSV" end to end: `streamlit run server.py`, a signed link, curl.

    SESSIONS_DB_URL=sqlite:////tmp/benchdb/bench_1000000_s1_g1.db \\
        .venv/bin/python benchmarks/bench_download.py [--status completed] [--gzip]

Starts the dashboard exactly as ``bash scripts/run`` does (``streamlit run server.py``, one
process) on a free port with a throwaway user and cookie key, signs a link for the filter the
way the page does (``ui.export.csv_link``), downloads it with curl to /dev/null and samples the
server process's RSS every 50 ms. Prints rows, bytes, seconds, rows/s, time to the first byte,
the server's CPU seconds and its RSS before, at the peak and after. Needs curl.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.auth.credentials import add_user, load_credentials  # noqa: E402
from core.auth.users import password_fingerprint  # noqa: E402
from core.query.filter import SessionFilter  # noqa: E402
from ui.export import csv_link  # noqa: E402

KEY = "bench-download-cookie-key-0123456789abcdefghijklmnopqrstuvwxyz"


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", action="append", default=[], help="filter (repeatable)")
    parser.add_argument("--sort", default="created_at")
    parser.add_argument("--order", default="desc")
    parser.add_argument("--gzip", action="store_true", help="ask for gzip, as browsers do")
    args = parser.parse_args()
    if not os.environ.get("SESSIONS_DB_URL"):
        parser.error("set SESSIONS_DB_URL to the database to export")
    f = SessionFilter(statuses=tuple(args.status), sort=args.sort, order=args.order)
    with tempfile.TemporaryDirectory() as folder:
        credentials = Path(folder) / "credentials.yaml"
        add_user(credentials, "bench", "bench password", role="engineer", name="Bench", rounds=4)
        credential = password_fingerprint(load_credentials(credentials)["bench"])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "DASHBOARD_AUTH_FILE": str(credentials),
            "DASHBOARD_COOKIE_KEY": KEY,
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "server.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the dashboard did not start") from None
                    time.sleep(0.1)
            pid = server.pid
            before_kb, cpu_before = _status_kb(pid, "VmRSS"), _cpu_s(pid)
            peak_kb = [before_kb]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak_kb[0] = max(peak_kb[0], _status_kb(pid, "VmRSS"))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            url = base + csv_link("bench", credential, f, KEY)
            curl = ["curl", "-sS", "-f", "-o", "-", "-w", "%{stderr}%{time_starttransfer}"]
            if args.gzip:
                curl.append("--compressed")
            started = time.monotonic()
            download = subprocess.Popen([*curl, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert download.stdout is not None and download.stderr is not None
            size = lines = 0
            while block := download.stdout.read(1 << 20):
                size += len(block)
                lines += block.count(b"\n")
            first_byte = download.stderr.read().decode().strip()
            if download.wait() != 0:
                raise SystemExit(f"curl failed: {first_byte}")
            seconds = time.monotonic() - started
            done.set()
            sampler.join()
            rows = lines - 1
            query = csv_link("bench", credential, f, KEY).split("?", 1)[1].split("token=")[0].rstrip("&")
            print(f"filter: {query or '-'}{' (gzip on the wire)' if args.gzip else ''}")
            print(
                f"rows {rows:,}, {size / 1e6:.1f} MB, {seconds:.1f} s, "
                f"{rows / seconds:,.0f} rows/s, first byte {float(first_byte or 0):.2f} s"
            )
            print(
                f"server CPU {_cpu_s(pid) - cpu_before:.1f} s; RSS before {before_kb / 1024:.0f} MB, "
                f"peak {peak_kb[0] / 1024:.0f} MB (+{(peak_kb[0] - before_kb) / 1024:.0f} MB), "
                f"after {_status_kb(pid, 'VmRSS') / 1024:.0f} MB"
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
