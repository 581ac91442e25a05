"""Scale benchmark: the dashboard's operations at N sessions on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_sessions.py --sessions 1000000 --backend both --repeat 20

For each backend it builds (once; later runs reuse it) a database of N sessions over 2,000 models,
5% of them on models missing from ``models`` (see ``benchmarks/datagen.py``), then measures in a
fresh process, the way the dashboard runs them (``core.query.pages`` / ``core.stats`` /
``core.export.stream`` through a read-only engine):

* p50 / p95 / first-run milliseconds of each page operation: one page of 50 enriched rows plus
  the exact total (the count alone is shown as well);
* the aggregates, cold (cache cleared) and repeated;
* the CSV export: rows per second and the memory it adds (RSS peak and tracemalloc peak);
* the process's memory (RSS now and peak) with Streamlit, pandas and Plotly imported.

Then, in another fresh process, the same operations the way a typical Streamlit dashboard does
them (whole table in one pandas DataFrame, filtered and sorted there), and the ratio.

PostgreSQL: ``--pg-url`` (or ``BENCH_PG_URL``) names a server whose role may create databases;
without it ``scripts/pg-test-server`` runs one in ``DB_DIR/pg`` for the duration of the run (its
data stays there, so the built database is reused next time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

DEFAULT_DB_DIR = HERE / "out"
PG_TEST_SERVER = ROOT / "scripts" / "pg-test-server"
RESULT_MARK = "BENCH-RESULT "

# The operations of issue 6. ``None`` skip means "the last page", resolved against the total.
MODEL_ID = "mdl-0001"
MODEL_RANGE = (date(2025, 6, 1), date(2025, 6, 30))
SEARCH_MODEL_NAME = "whisper"
SEARCH_SESSION_ID = "20250615"
OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("first page, unfiltered", {}),
    ("status=completed, skip=500000", {"statuses": ("completed",), "skip": 500_000}),
    ("status=completed, last page", {"statuses": ("completed",), "skip": None}),
    (
        "one model + 30 days",
        {"model_ids": (MODEL_ID,), "start_date": MODEL_RANGE[0], "end_date": MODEL_RANGE[1]},
    ),
    (
        "status=completed by size reduction",
        {"statuses": ("completed",), "sort": "size_reduction_percent", "order": "desc"},
    ),
    (f"search model name '{SEARCH_MODEL_NAME}'", {"search": SEARCH_MODEL_NAME}),
    (f"search session id '{SEARCH_SESSION_ID}'", {"search": SEARCH_SESSION_ID}),
]


# -- measuring helpers -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 20 runs is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def timings(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p95": percentile(values, 0.95),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def measure(func: Callable[[], Any], repeat: int) -> tuple[dict[str, float], Any]:
    """One first (cold-ish) run, then ``repeat`` timed runs, in milliseconds.

    Also this process's CPU time per run (``cpu_p50``): on SQLite the whole query runs in this
    process, so it shows the cost without the waiting a busy machine adds to wall time.
    """
    started = time.perf_counter()
    result = func()
    first = (time.perf_counter() - started) * 1000
    runs, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = func()
        runs.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    stats = timings(runs)
    stats["first"] = first
    stats["cpu_p50"] = statistics.median(cpu)
    return stats, result


def machine_state() -> dict[str, Any]:
    """Load average and a fixed CPU-bound Python loop: how busy the (shared) machine was."""
    started = time.perf_counter()
    sum(range(3_000_000))
    loop_ms = (time.perf_counter() - started) * 1000
    with open("/proc/loadavg") as handle:
        load = float(handle.read().split()[0])
    return {"load_1min": load, "cpu_loop_ms": loop_ms, "cpus": os.cpu_count()}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


def rss_parts_mb() -> dict[str, float]:
    """RssAnon (the process's own memory) and RssFile (mapped files, e.g. SQLite's mmap)."""
    return {"rss_anon_mb": _status_kb("RssAnon") / 1024, "rss_file_mb": _status_kb("RssFile") / 1024}


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak belongs to what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def filter_for(spec: dict[str, Any], last_skip: int) -> Any:
    from core.query.filter import SessionFilter

    spec = dict(spec)
    if "skip" in spec and spec["skip"] is None:
        spec["skip"] = last_skip
    return SessionFilter(**spec)


def last_page_skip(total: int, limit: int = 50) -> int:
    return max(0, (total - 1) // limit * limit)


# -- worker: the dashboard's way ---------------------------------------------------------------


def explain(connection: Any, statement: Any) -> list[str]:
    dialect = connection.dialect.name
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
        return [f"{'  ' * 0}{row[-1]}" for row in rows]
    # psycopg reads % as a placeholder marker in a statement run without parameters too
    rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql.replace("%", "%%"))
    return [row[0] for row in rows]


AGGREGATES = (
    "summary",
    "status_counts",
    "technique_stats",
    "period_stats",
    "scatter",
    "pareto_front",
    "model_ranking",
    "overview page",
)  # the last: the Overview's calls together


def _aggregate_functions() -> dict[str, Any]:
    """The aggregate functions by name, from their modules in ``core.stats`` (empty when absent)."""
    try:
        from core.stats.models import model_ranking
        from core.stats.periods import period_stats
        from core.stats.points import pareto_front, scatter
        from core.stats.summary import status_counts, summary, summary_change
        from core.stats.techniques import technique_stats
    except ImportError:
        return {}
    return {
        "summary": summary,
        "summary_change": summary_change,
        "status_counts": status_counts,
        "technique_stats": technique_stats,
        "period_stats": period_stats,
        "scatter": scatter,
        "pareto_front": pareto_front,
        "model_ranking": model_ranking,
    }


def _aggregate_calls(engine: Any) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """(name, call through the aggregate cache, clear the cache) per ``core.stats`` aggregate.

    Unfiltered: the whole million, the heaviest case. ``period_stats`` per week.
    """
    aggregates = _aggregate_functions()
    try:
        from core.stats.cache import AggregateCache
    except ImportError:
        return []
    if not aggregates:
        return []
    from core.query.filter import SessionFilter

    cache = AggregateCache(ttl=600.0, version_ttl=600.0)
    f = SessionFilter()
    found = []
    for name in AGGREGATES:
        func = aggregates.get(name)
        if func is None:
            continue
        kwargs = {"granularity": "week"} if name == "period_stats" else {}
        found.append(
            (name, lambda func=func, kwargs=kwargs: cache.call(engine, func, f, **kwargs), cache.clear)
        )
    if "summary_change" in aggregates:
        found.append(("overview page", lambda: _overview_page(engine, cache, f), cache.clear))
    return found


def _overview_page(engine: Any, cache: Any, f: Any) -> None:
    """Every aggregate the Overview page asks for, side by side as ui.overview runs them
    (three at a time through the cache): issue 5's "the whole page's queries together"."""
    from concurrent.futures import ThreadPoolExecutor

    aggregates = _aggregate_functions()
    calls: list[tuple[Any, dict[str, Any]]] = [
        (aggregates["summary_change"], {}),
        (aggregates["period_stats"], {}),
        (aggregates["scatter"], {}),
        (aggregates["pareto_front"], {}),
        (aggregates["technique_stats"], {}),
        (aggregates["model_ranking"], {"limit": 50}),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(cache.call, engine, fn, f, **kwargs) for fn, kwargs in calls]:
            future.result()


def worker_sql(
    url: str,
    repeat: int,
    export_rows: int | None,
    show_plans: bool,
    sqlite_mmap_mb: int = 0,
    skip_aggregates: bool = False,
) -> dict[str, Any]:
    import tracemalloc

    rss_start = rss_mb()
    # What the dashboard process imports anyway.
    import pandas  # noqa: F401
    import plotly.express  # noqa: F401
    import streamlit  # noqa: F401

    from core.config import Settings
    from core.export.stream import iter_filtered_csv
    from core.query.clauses import build_count
    from core.query.filter import SessionFilter
    from core.query.pages import build_page_select, count_sessions, fetch_page
    from core.speed import SpeedLayer
    from core.speed.capabilities import capabilities

    rss_imported = rss_mb()
    layer = SpeedLayer(Settings(db_url=url, db_url_source="--db"), max_lag_s=float("inf"))
    layer.ensure_fresh()
    plan = layer.plan()
    if not plan.uses_copy:
        print(f"warning: the plain path answers ({plan.reason})", file=sys.stderr, flush=True)
    engine = plan.engine
    if sqlite_mmap_mb and engine.dialect.name == "sqlite":
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _mmap(dbapi_connection: Any, _record: Any) -> None:  # what store.make_engine could do
            dbapi_connection.execute(f"PRAGMA mmap_size = {sqlite_mmap_mb * 2**20}")

    out: dict[str, Any] = {
        "backend": engine.dialect.name,
        "ops": [],
        "plans": {},
        "source": plan.source,
        "sqlite_mmap_mb": sqlite_mmap_mb,
        "machine_start": machine_state(),
        "memory": {"rss_start_mb": rss_start, "rss_after_imports_mb": rss_imported},
    }

    with engine.connect() as conn:
        completed_total = count_sessions(conn, SessionFilter(statuses=("completed",)))
        out["sessions_total"] = count_sessions(conn, SessionFilter())
    last_skip = last_page_skip(completed_total)

    for name, spec in OPERATIONS:
        f = filter_for(spec, last_skip)

        def page(f: SessionFilter = f) -> Any:
            with engine.connect() as conn:
                return fetch_page(conn, f)

        def count(f: SessionFilter = f) -> int:
            with engine.connect() as conn:
                return count_sessions(conn, f)

        stats, result = measure(page, repeat)
        count_stats, _ = measure(count, max(3, repeat // 2))
        out["ops"].append(
            {
                "name": name,
                "skip": f.skip,
                "rows": len(result.rows),
                "total": result.total,
                "page": stats,
                "count": count_stats,
            }
        )
        print(
            f"  {name}: p50 {stats['p50']:.1f} ms, p95 {stats['p95']:.1f} ms "
            f"(count p50 {count_stats['p50']:.1f} ms), total {result.total:,}",
            file=sys.stderr,
            flush=True,
        )
        if show_plans:
            with engine.connect() as conn:
                caps = capabilities(conn)
                out["plans"][name] = {
                    "count": explain(conn, build_count(f, caps)),
                    "page": explain(conn, build_page_select(f, caps, result.total)),
                }

    # Aggregates: cold (cache cleared: data version + computation) and repeated (a cache hit).
    out["aggregates"] = []
    for name, call, clear in [] if skip_aggregates else _aggregate_calls(engine):
        colds = []
        try:
            for _ in range(max(2, min(3, repeat // 4))):
                clear()
                started = time.perf_counter()
                call()
                colds.append((time.perf_counter() - started) * 1000)
        except Exception as error:  # e.g. the statement timeout: report it, measure the rest
            out["aggregates"].append({"name": name, "error": f"{type(error).__name__}: {error}"[:300]})
            print(f"  aggregate {name}: FAILED {type(error).__name__}", file=sys.stderr, flush=True)
            continue
        repeated = [0.0] * repeat
        for i in range(repeat):
            started = time.perf_counter()
            call()
            repeated[i] = (time.perf_counter() - started) * 1000
        out["aggregates"].append({"name": name, "cold": timings(colds), "repeated": timings(repeated)})
        print(
            f"  aggregate {name}: cold p50 {statistics.median(colds):.0f} ms, repeated p50 "
            f"{statistics.median(repeated):.2f} ms",
            file=sys.stderr,
            flush=True,
        )

    # CSV export of every session (no filter): rows/s and added memory.
    def export(limit: int | None) -> tuple[int, int, float]:
        rows = size = 0
        started = time.perf_counter()
        with engine.connect() as conn:
            for chunk in iter_filtered_csv(conn, SessionFilter()):
                size += len(chunk)
                rows += chunk.count("\r\n")  # one line per row (no embedded newlines here)
                if limit and rows >= limit:
                    break
        return rows - 1, size, time.perf_counter() - started

    export_out: dict[str, Any] = {}
    rss_before = rss_mb()
    reset_peak_rss()
    cpu_started = time.process_time()
    rows, size, seconds = export(export_rows)
    cpu_seconds = time.process_time() - cpu_started
    export_out.update(
        rows=rows,
        bytes=size,
        seconds=seconds,
        rows_per_s=rows / seconds,
        rows_per_cpu_s=rows / max(cpu_seconds, 1e-9),
        rss_before_mb=rss_before,
        rss_peak_added_mb=peak_rss_mb() - rss_before,
    )
    tracemalloc.start()
    _, _, traced_seconds = export(export_rows)
    export_out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    export_out["traced_seconds"] = traced_seconds
    out["export"] = export_out
    print(
        f"  export: {rows:,} rows at {rows / seconds:,.0f} rows/s, "
        f"+{export_out['rss_peak_added_mb']:.1f} MB "
        f"RSS peak, {export_out['tracemalloc_peak_mb']:.1f} MB traced",
        file=sys.stderr,
        flush=True,
    )

    # PostgreSQL COPY export, when core offers one.
    try:
        from core.export.copy import copy_csv_supported, iter_copy_csv
    except ImportError:
        copy_csv_supported = None
    if copy_csv_supported is not None:
        with engine.connect() as conn:
            supported = copy_csv_supported(conn, SessionFilter())
        if supported:
            rss_before = rss_mb()
            reset_peak_rss()
            rows = size = 0
            started = time.perf_counter()
            with engine.connect() as conn:
                for chunk in iter_copy_csv(conn, SessionFilter()):
                    size += len(chunk)
                    rows += chunk.count("\r\n")
            seconds = time.perf_counter() - started
            out["export_copy"] = {
                "rows": rows - 1,
                "bytes": size,
                "seconds": seconds,
                "rows_per_s": (rows - 1) / seconds,
                "rss_peak_added_mb": peak_rss_mb() - rss_before,
            }
            print(
                f"  export via COPY: {rows - 1:,} rows at {(rows - 1) / seconds:,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )

    engine.dispose()
    out["memory"].update(rss_end_mb=rss_mb(), rss_peak_mb=peak_rss_mb(), **rss_parts_mb())
    out["machine_end"] = machine_state()
    return out


# -- orchestration -----------------------------------------------------------------------------


def run_worker(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {' '.join(args[:2])} failed with exit code {proc.returncode}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise SystemExit("worker printed no result")


class PgServer:
    """A PostgreSQL server: the given URL, or scripts/pg-test-server in DB_DIR/pg."""

    def __init__(self, url: str | None, directory: Path, shared_buffers: str = "2GB") -> None:
        self.url = url
        self.directory = directory
        self.shared_buffers = shared_buffers
        self.started = False

    def _start(self) -> str:
        proc = subprocess.run(
            ["bash", str(PG_TEST_SERVER), "start", str(self.directory)],
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise SystemExit("could not start PostgreSQL with scripts/pg-test-server (or pass --pg-url)")
        self.started = True
        return lines[-1]

    def __enter__(self) -> str:
        if self.url:
            return self.url
        import sqlalchemy as sa

        self.directory.mkdir(parents=True, exist_ok=True)
        url = self._start()
        # The test server's 128MB of shared buffers is a laptop setting; a team's server gives
        # PostgreSQL a share of its memory. Set once in this server's own data directory.
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            current = conn.exec_driver_sql("SHOW shared_buffers").scalar_one()
            if self.shared_buffers and current != self.shared_buffers:
                conn.exec_driver_sql(f"ALTER SYSTEM SET shared_buffers = '{self.shared_buffers}'")
        engine.dispose()
        if self.shared_buffers and current != self.shared_buffers:
            subprocess.run(
                ["bash", str(PG_TEST_SERVER), "stop", str(self.directory)],
                stdout=subprocess.DEVNULL,
                timeout=300,
                check=True,
            )
            url = self._start()
        self.url = url
        return url

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            subprocess.run(
                ["bash", str(PG_TEST_SERVER), "stop", str(self.directory)],
                stdout=subprocess.DEVNULL,
                timeout=300,
                check=False,
            )


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The Markdown tables printed at the end (and pasted into README.md)."""
    backends = list(results)
    lines = [
        f"{args.sessions:,} sessions, {args.repeat} runs per operation (p50 / p95 ms; "
        "page = 50 enriched rows + exact total)",
        "",
    ]
    header = (
        "| operation | "
        + " | ".join(
            f"{b} p50 / p95 (CPU p50) | {b} count p50 | pandas p50 | ratio"
            if "pandas" in results[b]
            else f"{b} p50 / p95 (CPU p50) | {b} count p50"
            for b in backends
        )
        + " |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for index, (name, _) in enumerate(OPERATIONS):
        cells = [name]
        for backend in backends:
            op = results[backend]["sql"]["ops"][index]
            cells.append(
                f"{_fmt_ms(op['page']['p50'])} / {_fmt_ms(op['page']['p95'])}"
                f" ({_fmt_ms(op['page']['cpu_p50'])})"
            )
            cells.append(_fmt_ms(op["count"]["p50"]))
            if "pandas" in results[backend]:
                pandas_op = results[backend]["pandas"]["ops"][index]
                cells.append(_fmt_ms(pandas_op["p50"]))
                cells.append(f"{pandas_op['p50'] / max(op['page']['p50'], 0.001):.0f}x")
        lines.append("| " + " | ".join(cells) + " |")

    agg_names: list[str] = []
    for backend in backends:
        for agg in results[backend]["sql"]["aggregates"]:
            if agg["name"] not in agg_names:
                agg_names.append(agg["name"])
    if agg_names:
        lines += [
            "",
            "| aggregate | "
            + " | ".join(f"{b} cold p50 / max | {b} repeated p50 / p95" for b in backends)
            + " |",
            "|---|" + "---|---|" * len(backends),
        ]
        for name in agg_names:
            cells = [name]
            for backend in backends:
                agg = next((a for a in results[backend]["sql"]["aggregates"] if a["name"] == name), None)
                if agg is None or "error" in agg:
                    cells += ["failed: " + agg["error"].split(":")[0] if agg else "-", "-"]
                    continue
                cells.append(f"{_fmt_ms(agg['cold']['p50'])} / {_fmt_ms(agg['cold']['max'])}")
                cells.append(f"{agg['repeated']['p50']:.2f} / {agg['repeated']['p95']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines += ["", "aggregates: the core.stats aggregates are not there (not measured)"]

    lines += ["", "| | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(results[b]) for b in backends) + " |")

    row(
        "build: load / init-db on the bare database (s)",
        lambda r: f"{r['build'].get('load_s', '-')} / {r['build'].get('install_s', '-')}",
    )
    row(
        "CSV export, streaming: rows/s wall (rows per CPU-second of the exporting process)",
        lambda r: "{rows_per_s:,.0f} ({rows_per_cpu_s:,.0f})".format(**r["sql"]["export"]),
    )
    row(
        "CSV export added memory: RSS peak / tracemalloc peak (MB)",
        lambda r: (
            f"{r['sql']['export']['rss_peak_added_mb']:.1f} / {r['sql']['export']['tracemalloc_peak_mb']:.1f}"
        ),
    )
    row(
        "CSV export via COPY (rows/s, added RSS MB)",
        lambda r: (
            (
                f"{r['sql']['export_copy']['rows_per_s']:,.0f}, "
                f"{r['sql']['export_copy']['rss_peak_added_mb']:.1f}"
            )
            if "export_copy" in r["sql"]
            else "-"
        ),
    )
    row(
        "dashboard process RSS: end / peak (MB), of which own (anon) / mapped files",
        lambda r: "{rss_end_mb:.0f} / {rss_peak_mb:.0f}, {rss_anon_mb:.0f} / {rss_file_mb:.0f}".format(
            **r["sql"]["memory"]
        ),
    )

    def machine(r: dict[str, Any]) -> str:
        start, end = r["sql"]["machine_start"], r["sql"]["machine_end"]
        return (
            f"{start['load_1min']:.1f} / {start['cpu_loop_ms']:.0f}, "
            f"{end['load_1min']:.1f} / {end['cpu_loop_ms']:.0f}"
        )

    row("machine: 1-min load / CPU loop ms (lower = less contended), at start, at end", machine)
    if any("pandas" in results[b] for b in backends):
        row(
            "pandas: load whole table (s) / process RSS (MB)",
            lambda r: f"{r['pandas']['load_s']:.1f} / {r['pandas']['rss_mb']:.0f}" if "pandas" in r else "-",
        )
        row(
            "pandas: CSV export (rows/s) / added RSS (MB)",
            lambda r: (
                f"{r['pandas']['export_rows_per_s']:,.0f} / {r['pandas']['export_added_mb']:.0f}"
                if "pandas" in r
                else "-"
            ),
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--db-dir",
        type=Path,
        default=DEFAULT_DB_DIR,
        help="where SQLite files (and the PostgreSQL test server) live; default %(default)s",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL"),
        help="PostgreSQL server URL (role needs CREATEDB); default: start one",
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--pandas-repeat", type=int, default=3)
    parser.add_argument("--no-pandas", action="store_true", help="skip the whole-table pandas baseline")
    parser.add_argument("--export-rows", type=int, default=None, help="stop the export after N rows")
    parser.add_argument("--rebuild", action="store_true", help="build the databases again")
    parser.add_argument("--tag", default="", help="appended to the database names (separate copies)")
    parser.add_argument(
        "--drop-after",
        action="store_true",
        help="drop the PostgreSQL database and delete the SQLite file at the end",
    )
    parser.add_argument("--plans", action="store_true", help="print each operation's query plan")
    parser.add_argument("--skip-aggregates", action="store_true", help="do not measure the aggregates")
    parser.add_argument(
        "--sqlite-mmap-mb",
        type=int,
        default=0,
        help="measure SQLite with PRAGMA mmap_size (MB); 0 = as the dashboard opens it",
    )
    parser.add_argument(
        "--pg-shared-buffers",
        default="2GB",
        help="shared_buffers of a PostgreSQL server this script starts (%(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", choices=("sql", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "sql":
        result = worker_sql(
            args.url, args.repeat, args.export_rows, args.plans, args.sqlite_mmap_mb, args.skip_aggregates
        )
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0
    if args.worker == "pandas":
        from pandas_baseline import worker_pandas

        result = worker_pandas(args.url, args.pandas_repeat)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    import datagen

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, Any]] = {}
    built: list[tuple[str, str]] = []
    pg = PgServer(args.pg_url, args.db_dir / "pg", args.pg_shared_buffers)
    try:
        for backend in backends:
            print(f"== {backend}: {args.sessions:,} sessions", file=sys.stderr, flush=True)
            if backend == "sqlite":
                url, info = datagen.ensure_sqlite(
                    args.db_dir, args.sessions, args.seed, rebuild=args.rebuild, tag=args.tag
                )
            else:
                server = pg.__enter__()
                url, info = datagen.ensure_postgresql(
                    server, args.sessions, args.seed, rebuild=args.rebuild, tag=args.tag
                )
            built.append((backend, url))
            worker_args = [
                "--worker",
                "sql",
                "--url",
                url,
                "--repeat",
                str(args.repeat),
                "--sqlite-mmap-mb",
                str(args.sqlite_mmap_mb),
            ]
            if args.export_rows:
                worker_args += ["--export-rows", str(args.export_rows)]
            if args.plans:
                worker_args.append("--plans")
            if args.skip_aggregates:
                worker_args.append("--skip-aggregates")
            results[backend] = {"build": info, "url": url, "sql": run_worker(worker_args)}
            if args.plans:
                for name, plans in results[backend]["sql"]["plans"].items():
                    print(f"-- {backend} plan: {name}")
                    for part, plan in plans.items():
                        print(f"   [{part}]")
                        for line in plan:
                            print(f"     {line}")
            if not args.no_pandas:
                print(
                    f"== {backend}: pandas baseline (whole table in one DataFrame)",
                    file=sys.stderr,
                    flush=True,
                )
                results[backend]["pandas"] = run_worker(
                    ["--worker", "pandas", "--url", url, "--pandas-repeat", str(args.pandas_repeat)]
                )
    finally:
        if args.drop_after:
            for _, url in built:
                datagen.drop(url)
        pg.__exit__(None, None, None)

    text = report(results, args)
    print()
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
