"""CSV export throughput at scale: rows/s (wall), rows per CPU-second, added memory.

Runs ``core.export.stream.iter_filtered_csv`` (what the download route runs) over every
session, or the first ``--rows``, and reports, besides the wall figures, the CPU it cost: this process's CPU
time, and on PostgreSQL the server backend's (read from /proc, the server running on the same
machine), so runs on a shared, loaded machine can still be compared.

``--path nocells`` runs the export as it was before the cells (on PostgreSQL: COPY with the
line built in SQL), ``--path plain`` without cells and without COPY: before/after comparisons
on one database, back to back. ``--write-cost N`` times platform UPDATEs with and without the
cells' triggers / generated columns (rolled back).

    .venv/bin/python benchmarks/bench_export.py --url sqlite:////tmp/benchdb/bench_1000000_s1_g1.db
    .venv/bin/python benchmarks/bench_export.py --url postgresql+psycopg://.../bench_1000000_s1_g1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sessions import peak_rss_mb, reset_peak_rss, rss_mb

from core.config import Settings
from core.export import stream as csv_stream
from core.query.filter import SessionFilter
from core.store.engine import make_engine


def _server_cpu_s(conn: Any) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend (same machine: /proc), or None."""
    if conn.dialect.name != "postgresql":
        return None
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, path: str, rows_limit: int | None, f: SessionFilter) -> dict[str, Any]:
    engine = make_engine(Settings(db_url=url, db_url_source="--url"), read_only=True)
    if path in ("plain", "nocells"):
        csv_stream.has_export_cells = lambda _connection: False  # type: ignore[assignment]
    if path == "plain":
        csv_stream.copy_csv_supported = lambda _connection, _f: False  # type: ignore[assignment]
    rows = size = 0
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        server_before = _server_cpu_s(conn)
        rss_before = rss_mb()
        reset_peak_rss()
        cpu_before = time.process_time()
        started = time.perf_counter()
        for chunk in csv_stream.iter_filtered_csv(conn, f):
            size += len(chunk)
            rows += chunk.count("\r\n")  # one line per row (no embedded newlines in this data)
            if rows_limit and rows > rows_limit:
                break
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        added = peak_rss_mb() - rss_before
        server_after = _server_cpu_s(conn)
    engine.dispose()
    rows -= 1  # the header
    out: dict[str, Any] = {
        "backend": engine.dialect.name,
        "path": path,
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "client_cpu_s": round(cpu, 2),
        "rows_per_client_cpu_s": round(rows / max(cpu, 1e-9)),
        "rss_peak_added_mb": round(added, 1),
        "load_1min": os.getloadavg()[0],
    }
    if server_before is not None and server_after is not None:
        server = server_after - server_before
        out.update(server_cpu_s=round(server, 2), rows_per_server_cpu_s=round(rows / max(server, 1e-9)))
    return out


def write_cost(url: str, updates: int) -> dict[str, Any]:
    """Mean ms of one platform UPDATE of a session (status, metrics, dates) with the export's
    structures and without them, each in a transaction rolled back (nothing is kept).

    Without them: the structures are dropped inside the transaction (DDL is transactional on
    both backends), so the rest of init-db's triggers still run in both measurements.
    """
    from sqlalchemy import text

    from core.speed.export_cells import MODEL_TRIGGERS, TRIGGERS

    engine = make_engine(Settings(db_url=url, db_url_source="--url"), read_only=False)
    sqlite = engine.dialect.name == "sqlite"
    results_cast = "" if sqlite else "CAST(:r AS jsonb)"
    statement = text(
        "UPDATE optimization_sessions SET status = 'completed', completed_steps = total_steps,"
        f" results = {results_cast or ':r'}, updated_at = :t, completed_at = :t WHERE session_id = :sid"
    )
    out: dict[str, Any] = {"backend": engine.dialect.name, "updates": updates}
    for label in ("without", "with", "without ", "with "):
        with engine.connect() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    text("SELECT session_id FROM optimization_sessions WHERE status = 'running' LIMIT :n"),
                    {"n": updates},
                )
            ]
            conn.rollback()
            transaction = conn.begin()
            # pysqlite opens its transaction at the first DML, not at DDL: start it first, or
            # the DROPs below would be kept.
            conn.execute(text("UPDATE optimization_sessions SET status = status WHERE 0 = 1"))
            if label.strip() == "without":
                if sqlite:
                    for name in (*TRIGGERS, *MODEL_TRIGGERS):
                        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
                else:
                    conn.exec_driver_sql(
                        "ALTER TABLE optimization_sessions DROP COLUMN IF EXISTS"
                        " export_post, DROP COLUMN IF EXISTS export_pre"
                    )
            started = time.perf_counter()
            for i, sid in enumerate(ids):
                conn.execute(
                    statement,
                    {
                        "sid": sid,
                        "t": f"2026-01-01 00:00:{i % 60:02d}.123456",
                        "r": json.dumps(
                            {
                                "size_reduction_percent": 41.5 + i / 7,
                                "speed_improvement_percent": 12.25,
                                "accuracy_delta_percent": -0.3,
                            }
                        ),
                    },
                )
            seconds = time.perf_counter() - started
            transaction.rollback()
        out.setdefault(label.strip() + "_ms", []).append(round(seconds * 1000 / max(1, len(ids)), 3))
    out["load_1min"] = os.getloadavg()[0]
    with engine.connect() as conn:
        assert csv_stream.has_export_cells(conn), "the export cells are gone: run init-db"
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="database URL (SQLite file or PostgreSQL)")
    parser.add_argument(
        "--path",
        choices=("auto", "nocells", "plain"),
        default="auto",
        help="auto: what the route runs; nocells: without the export cells (the COPY"
        " path builds each line in SQL); plain: without the cells and without COPY",
    )
    parser.add_argument("--rows", type=int, default=None, help="stop after this many rows")
    parser.add_argument("--status", action="append", default=[], help="filter on a status")
    parser.add_argument("--sort", default="created_at")
    parser.add_argument(
        "--write-cost",
        type=int,
        default=0,
        metavar="N",
        help="instead: time N session UPDATEs with and without the export's structures",
    )
    args = parser.parse_args(argv)
    if args.write_cost:
        print(json.dumps(write_cost(args.url, args.write_cost)))
        return 0
    f = SessionFilter(statuses=tuple(args.status), sort=args.sort)
    print(json.dumps(run(args.url, args.path, args.rows, f)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
