"""How fresh the speed layer's copy stays: the cost of one sync, idle and after platform writes.

    .venv/bin/python benchmarks/bench_sync.py --db sqlite:////tmp/benchdb/bench_1000000_s1_g1.db
    .venv/bin/python benchmarks/bench_sync.py --db postgresql+psycopg://.../bench_1000000_s1_g1

The database must have the speed layer installed (``python -m core init-db``). The script
WRITES TO THE PLATFORM'S TABLES (progress ticks, sessions finishing, new sessions, deletes, as
plain SQL, each its own transaction): use a benchmark database. For each batch size it makes
that many platform writes, then times the sync that brings the copy up to date, and prints
seconds per sync and rows per second; also an idle sync (nothing changed) and a full sync
(every row compared). A write shows on the pages at most one sync interval plus one sync
after it was made.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from core.config import Settings
from core.speed import SpeedLayer
from core.store.engine import make_engine


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def platform_writes(writer: object, ids: list[str], count: int, rng: random.Random) -> None:
    """``count`` writes, a mix of the platform's three kinds, each its own transaction."""
    dialect = writer.dialect.name  # type: ignore[attr-defined]
    results = "CAST(:r AS jsonb)" if dialect == "postgresql" else ":r"
    for i in range(count):
        kind = i % 4
        with writer.begin() as conn:  # type: ignore[attr-defined]
            if kind in (0, 1):
                conn.execute(
                    text(
                        "UPDATE optimization_sessions SET completed_steps ="
                        " coalesce(completed_steps, 0) + 1, updated_at = :now"
                        " WHERE session_id = :sid"
                    ),
                    {"sid": rng.choice(ids), "now": _now()},
                )
            elif kind == 2:
                conn.execute(
                    text(
                        "UPDATE optimization_sessions SET status = 'completed',"
                        " completed_steps = total_steps,"
                        f" results = {results}, completed_at = :now, updated_at = :now"
                        " WHERE session_id = :sid"
                    ),
                    {
                        "sid": rng.choice(ids),
                        "now": _now(),
                        "r": '{"size_reduction_percent": 42.5, "speed_improvement_percent": 17.0}',
                    },
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO optimization_sessions (session_id, model_id, status, total_steps,"
                        " completed_steps, created_at, updated_at) VALUES (:sid, 'mdl-0001', 'pending',"
                        " 100, 0, :now, :now)"
                    ),
                    {"sid": f"bench-sync-{time.time_ns()}-{i}", "now": _now()},
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="platform database URL (speed layer installed)")
    parser.add_argument("--batches", default="10,100,1000", help="writes per sync, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    settings = Settings(db_url=args.db, db_url_source="--db")
    layer = SpeedLayer(settings)
    if layer.sync() is None:
        print(f"no usable copy: {layer.plan().reason}", file=sys.stderr)
        return 2
    writer = make_engine(settings, read_only=False, wal=False)
    rng = random.Random(7)
    with writer.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT session_id FROM optimization_sessions WHERE status = 'running' LIMIT 20000")
            )
        ]
    print(f"{settings.masked_db_url}: copy at {layer.location.description if layer.location else '-'}")
    print(f"{'case':<28} {'sync s (p50)':>13} {'max':>8} {'rows/s':>10}")
    idle = []
    for _ in range(max(3, args.repeat)):
        started = time.perf_counter()
        layer.sync()
        idle.append(time.perf_counter() - started)
    print(f"{'idle (nothing changed)':<28} {statistics.median(idle):>13.4f} {max(idle):>8.4f} {'-':>10}")
    for batch in (int(b) for b in args.batches.split(",")):
        times = []
        for _ in range(args.repeat):
            platform_writes(writer, ids, batch, rng)
            started = time.perf_counter()
            report = layer.sync()
            times.append(time.perf_counter() - started)
            assert report is not None and report.sessions_written >= batch * 0.9, report
        median = statistics.median(times)
        print(f"{f'after {batch} writes':<28} {median:>13.4f} {max(times):>8.4f} {batch / median:>10,.0f}")
    with writer.begin() as conn:
        conn.execute(text("DELETE FROM optimization_sessions WHERE session_id LIKE 'bench-sync-%'"))
    started = time.perf_counter()
    report = layer.sync()
    print(
        f"{'after deleting the inserts':<28} {time.perf_counter() - started:>13.4f} {'':>8} "
        f"{(report.sessions_deleted if report else 0):>10,} deleted"
    )
    started = time.perf_counter()
    layer.sync(full=True)
    print(f"{'full (every row compared)':<28} {time.perf_counter() - started:>13.4f}")
    layer.dispose()
    writer.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
