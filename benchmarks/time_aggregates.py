"""Time the aggregates alone, cold (no cache), on an existing database: a quick check while iterating.

    .venv/bin/python benchmarks/time_aggregates.py --db sqlite:////tmp/benchdb/bench_1000000_s1_g1.db
    .venv/bin/python benchmarks/time_aggregates.py --db postgresql+psycopg://... --filter 90d

Each aggregate runs ``--repeat`` times on a fresh connection, without :mod:`core.stats.cache`; the
"overview (sum)" line adds the p50s of the page's calls (summary with its previous period,
series, scatter, Pareto front, techniques, models), and "overview page" runs them as
ui.overview does, three at a time on their own connections (``--page-repeat`` times, p95
too). Prints p50 / max milliseconds and the 1-minute load, and the CPU time of this process
(SQLite's work included; PostgreSQL's is the server's).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Settings
from core.query.filter import SessionFilter
from core.speed import SpeedLayer
from core.speed.capabilities import capabilities, override_capabilities
from core.stats.models import model_ranking
from core.stats.periods import period_stats
from core.stats.points import pareto_front, scatter
from core.stats.sql import has_facts_index
from core.stats.summary import status_counts, summary, summary_change
from core.stats.techniques import technique_stats

CALLS: list[tuple[str, Any, dict[str, Any]]] = [
    ("summary", summary, {}),
    ("summary_change", summary_change, {}),
    ("status_counts", status_counts, {}),
    ("technique_stats", technique_stats, {}),
    ("period_stats", period_stats, {}),
    ("scatter", scatter, {}),
    ("pareto_front", pareto_front, {}),
    ("model_ranking", model_ranking, {"limit": 50}),
]
OVERVIEW = ("summary_change", "period_stats", "scatter", "pareto_front", "technique_stats", "model_ranking")


def make_filter(spec: str, today: date) -> SessionFilter:
    if spec == "all":
        return SessionFilter()
    if spec.endswith("d"):
        days = int(spec[:-1])
        return SessionFilter(start_date=today - timedelta(days=days - 1))
    if spec == "completed":
        return SessionFilter(statuses=("completed",))
    if spec.startswith("technique="):
        return SessionFilter(techniques=(spec.split("=", 1)[1],))
    if spec.startswith("q="):
        return SessionFilter(search=spec.split("=", 1)[1])
    raise SystemExit(f"unknown filter {spec!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        required=True,
        help="the platform's database URL: read through the "
        "speed layer (its copy when current, else the platform's tables)",
    )
    parser.add_argument(
        "--filter", default="all", help="all, completed, Nd (last N days to --today), technique=NAME, q=TEXT"
    )
    parser.add_argument("--today", default="2025-12-31")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--page-repeat",
        type=int,
        default=0,
        help="time the whole Overview page (three calls at a time) this many times",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="as without the rollups and partial indexes (the plain queries), for A/B",
    )
    args = parser.parse_args()
    f = make_filter(args.filter, date.fromisoformat(args.today))
    layer = SpeedLayer(
        Settings(db_url=args.db, db_url_source="--db", statement_timeout_ms=0), max_lag_s=float("inf")
    )
    layer.ensure_fresh()
    plan = layer.plan()
    print(f"answered by the {plan.source}{': ' + plan.reason if plan.reason else ''}")
    engine = plan.engine
    with engine.connect() as connection:  # capabilities and index list, read once per engine
        caps = capabilities(connection)
        has_facts_index(connection)
    if args.plain:
        override_capabilities(engine, replace(caps, rollups=False, points_indexes=False))
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for name, fn, kwargs in CALLS:
        if args.only and name not in args.only:
            continue
        for _ in range(args.repeat):
            with engine.connect() as connection:
                started, cpu_started = time.perf_counter(), time.process_time()
                fn(connection, f, **kwargs)
                times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
                cpu.setdefault(name, []).append((time.process_time() - cpu_started) * 1000)
        print(
            f"{name:16s} p50 {statistics.median(times[name]):8.1f} ms  max {max(times[name]):8.1f} ms"
            f"  this process's CPU p50 {statistics.median(cpu[name]):8.1f} ms"
            f"  (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    if all(name in times for name in OVERVIEW):
        total = sum(statistics.median(times[name]) for name in OVERVIEW)
        print(f"{'overview (sum)':16s} p50 {total:8.1f} ms")
    if args.page_repeat:
        pages = [overview_page(engine, f) for _ in range(args.page_repeat)]
        p95 = sorted(pages)[max(0, math.ceil(0.95 * len(pages)) - 1)]
        print(
            f"{'overview page':16s} p50 {statistics.median(pages):8.1f} ms  p95 {p95:8.1f} ms"
            f"  max {max(pages):8.1f} ms  (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    return 0


def overview_page(engine: Any, f: SessionFilter) -> float:
    """Milliseconds for the Overview's calls run as ui.overview runs them, uncached."""
    from concurrent.futures import ThreadPoolExecutor

    def call(name: str) -> None:
        fn, kwargs = next((fn, kwargs) for n, fn, kwargs in CALLS if n == name)
        with engine.connect() as connection:
            fn(connection, f, **kwargs)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(call, name) for name in OVERVIEW]:
            future.result()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    raise SystemExit(main())
