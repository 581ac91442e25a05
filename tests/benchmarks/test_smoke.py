"""The scale benchmark (benchmarks/bench_sessions.py) still runs end to end, at a small size.

The benchmark itself is not a test; this runs it on 20,000 sessions so it cannot rot. It checks
that the script exits cleanly and prints every operation, the aggregates, the export and the
memory lines, and the pandas comparison. Timings are not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_sessions.py"
SESSIONS = 20_000

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_sessions import AGGREGATES, OPERATIONS  # noqa: E402


def run_benchmark(tmp_path: Path, *args: str) -> tuple[str, dict]:
    out = tmp_path / "results.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--sessions",
        str(SESSIONS),
        "--repeat",
        "2",
        "--pandas-repeat",
        "1",
        "--db-dir",
        str(tmp_path / "db"),
        "--json",
        str(out),
        "--tag",
        f"smoke{uuid.uuid4().hex[:8]}",
        "--drop-after",
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if k != "BENCH_PG_URL"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def check_output(stdout: str, results: dict, backend: str) -> None:
    for name, _ in OPERATIONS:
        assert f"| {name} |" in stdout  # one table row per operation
    result = results[backend]
    ops = result["sql"]["ops"]
    assert [op["name"] for op in ops] == [name for name, _ in OPERATIONS]
    for op in ops:
        assert op["page"]["runs"] == 2 and op["page"]["p95"] >= op["page"]["p50"] > 0
    assert ops[0]["total"] == SESSIONS and ops[0]["rows"] == 50
    assert [a["name"] for a in result["sql"]["aggregates"]] == list(AGGREGATES)
    for name in AGGREGATES:
        assert f"| {name} |" in stdout
    export = result["sql"]["export"]
    assert export["rows"] == SESSIONS and export["rows_per_s"] > 0
    assert "tracemalloc_peak_mb" in export
    assert result["sql"]["memory"]["rss_peak_mb"] > 0
    assert [op["name"] for op in result["pandas"]["ops"]] == [name for name, _ in OPERATIONS]
    # The pandas way finds the same totals as the database.
    assert [op["total"] for op in result["pandas"]["ops"]] == [op["total"] for op in ops]
    for line in (
        "CSV export, streaming",
        "dashboard process RSS",
        "pandas: load whole table",
        "init-db on the bare database",
        "machine: 1-min load",
    ):
        assert line in stdout


def test_benchmark_runs_on_sqlite(tmp_path: Path) -> None:
    stdout, results = run_benchmark(tmp_path, "--backend", "sqlite")
    check_output(stdout, results, "sqlite")
    assert not list((tmp_path / "db").glob("*.db"))  # --drop-after removed the file


@pytest.mark.postgres
def test_benchmark_runs_on_postgresql(tmp_path: Path, pg_server_url: str) -> None:
    stdout, results = run_benchmark(tmp_path, "--backend", "postgresql", "--pg-url", pg_server_url)
    check_output(stdout, results, "postgresql")
