"""How long a candidate's install takes on a live platform database, and what its writes wait.

A bare platform database is filled in bulk with ``--sessions`` sessions (default 100,000; the
rows and candidates of ``bench_writes.py``). A platform writer thread, on its own connection,
ticks progress every 20 ms (``completed_steps + 1`` and ``updated_at`` of a random running
session, each UPDATE its own transaction, no statement timeout; on SQLite ``busy_timeout``
5000) and records each write's latency, from the statement to the commit. After a quiet
baseline, the candidate (``--candidate``, repeatable, each on a fresh copy of the database) is
installed on another connection, the way ``python -m core init-db`` would. Reported: the
install's duration, and the latency of the writes that overlapped it (p50, p99, max, how many
waited more than 1 s, how many failed), beside the baseline's.

    .venv/bin/python benchmarks/bench_install.py --pg-url postgresql+psycopg://.../postgres \\
        --candidate legacy --candidate dashboard
    .venv/bin/python benchmarks/bench_install.py --backend sqlite --candidate dashboard --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from bench_writes import _TICK, CANDIDATES, Backend, _param_sql, _writer_engine, make_dataset
from sqlalchemy.engine import make_url

TICK_INTERVAL_S = 0.020
BASELINE_S = 2.0  # writes before the install starts
AFTER_S = 1.0  # writes after it ended
LONG_WAIT_S = 1.0


@dataclass
class Tick:
    started: float  # perf_counter seconds
    seconds: float
    error: str | None = None


class TickWriter(threading.Thread):
    """The platform: one progress tick every 20 ms (or at once, when the last one was late)."""

    def __init__(self, url: str, tick_pool: list[str]) -> None:
        super().__init__(name="platform-writer", daemon=True)
        self.url = url
        self.tick_pool = tick_pool
        self.ticks: list[Tick] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.failure: BaseException | None = None

    def _connect(self) -> Any:
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            raw = sqlite3.connect(parsed.database or "", timeout=5.0)
            raw.execute("PRAGMA busy_timeout = 5000")
            raw.execute("PRAGMA journal_mode = WAL")
            return raw
        return psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by the main thread
            self.failure = error
            self.ready.set()

    def _run(self) -> None:
        sqlite = self.url.startswith("sqlite")
        raw = self._connect()
        sql = _param_sql(_TICK, "sqlite" if sqlite else "postgresql")
        rng = random.Random(5)
        self.ready.set()
        due = time.perf_counter()
        try:
            while not self.stop.is_set():
                now = datetime.now(UTC).replace(tzinfo=None)
                params = {
                    "sid": rng.choice(self.tick_pool),
                    "now": now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now,
                }
                started = time.perf_counter()
                error = None
                try:
                    raw.execute(sql, params)
                    raw.commit()
                except Exception as failed:  # a lock wait that gave up: the platform would retry
                    raw.rollback()
                    error = f"{type(failed).__name__}: {failed}"
                self.ticks.append(Tick(started, time.perf_counter() - started, error))
                due = max(due + TICK_INTERVAL_S, time.perf_counter())
                time.sleep(max(0.0, due - time.perf_counter()))
        finally:
            raw.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _latencies(ticks: list[Tick]) -> dict[str, Any]:
    ms = [t.seconds * 1000 for t in ticks]
    if not ms:
        return {"writes": 0}
    return {
        "writes": len(ms),
        "p50_ms": round(_percentile(ms, 0.5), 2),
        "p99_ms": round(_percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 1),
        "over_1s": sum(t.seconds > LONG_WAIT_S for t in ticks),
        "errors": sum(t.error is not None for t in ticks),
        "first_error": next((t.error for t in ticks if t.error), None),
    }


def run_candidate(backend: Backend, template: str, candidate: str, tick_pool: list[str]) -> dict[str, Any]:
    url = backend.create(f"install_{candidate}", template)
    engine = _writer_engine(url)
    writer = TickWriter(url, tick_pool)
    writer.start()
    writer.ready.wait()
    if writer.failure:
        raise writer.failure
    time.sleep(BASELINE_S)
    started = time.perf_counter()
    try:
        installed_by = CANDIDATES[candidate](engine)
        ended = time.perf_counter()
        time.sleep(AFTER_S)
    finally:
        writer.stop.set()
        writer.join()
        engine.dispose()
    if writer.failure:
        raise writer.failure
    during = [t for t in writer.ticks if t.started < ended and t.started + t.seconds > started]
    before = [t for t in writer.ticks if t.started + t.seconds <= started]
    return {
        "candidate": candidate,
        "install_s": round(ended - started, 2),
        "installed_by": installed_by,
        "during": _latencies(during),
        "baseline": _latencies(before),
        "ticks": [(round(t.started - started, 4), round(t.seconds * 1000, 3), t.error) for t in writer.ticks],
    }


def print_table(backend: str, sessions: int, rows: list[dict[str, Any]]) -> None:
    print(f"\n{backend}, {sessions:,} sessions, a progress tick every {TICK_INTERVAL_S * 1000:.0f} ms")
    print(
        f"{'candidate':<10} {'install s':>9} {'writes':>6} {'p50 ms':>8} {'p99 ms':>9} {'max ms':>9}"
        f" {'>1 s':>5} {'errors':>6}   baseline p50 / max ms"
    )
    for row in rows:
        d, b = row["during"], row["baseline"]
        if not d["writes"]:
            print(f"{row['candidate']:<10} {row['install_s']:>9.2f}      0 (no write overlapped)")
            continue
        print(
            f"{row['candidate']:<10} {row['install_s']:>9.2f} {d['writes']:>6} {d['p50_ms']:>8.2f}"
            f" {d['p99_ms']:>9.2f} {d['max_ms']:>9.1f} {d['over_1s']:>5} {d['errors']:>6}"
            f"   {b.get('p50_ms', 0):.2f} / {b.get('max_ms', 0):.1f}"
        )
        if d["first_error"]:
            print(f"{'':<10} first error: {d['first_error']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL"),
        help="SQLAlchemy URL of the PostgreSQL server (default: $BENCH_PG_URL)",
    )
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--db-dir", type=Path, default=Path("/tmp/bench_writes"))
    parser.add_argument(
        "--candidate", action="append", choices=sorted(CANDIDATES), help="repeatable (default: dashboard)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every tick here")
    args = parser.parse_args(argv)
    if args.backend == "postgresql" and not args.pg_url:
        parser.error(
            "PostgreSQL needs --pg-url or BENCH_PG_URL (a server URL; its databases"
            " are created and dropped by this run)"
        )
    with contextlib.suppress(ImportError):  # imported now, not inside the timed install
        import core.speed.platform  # noqa: F401
    backend = Backend(
        args.backend, pg_url=args.pg_url, db_dir=args.db_dir, prefix=f"bench_install_{os.getpid()}"
    )
    data = make_dataset(args.backend, args.sessions, 0)
    rows = []
    try:
        template = backend.load_template(data)
        for candidate in args.candidate or ["dashboard"]:
            rows.append(run_candidate(backend, template, candidate, data.tick_pool))
            print_table(args.backend, args.sessions, rows[-1:])
    finally:
        backend.drop_all()
    if len(rows) > 1:
        print_table(args.backend, args.sessions, rows)
    if args.json:
        args.json.write_text(
            json.dumps({"backend": args.backend, "sessions": args.sessions, "results": rows})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
