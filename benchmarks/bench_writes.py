"""What a dashboard design installed in the platform's database costs the platform's writes.

Two databases hold the same rows: the platform's bare tables (``core.store.tables.metadata``) filled in
bulk with ``--sessions`` realistic sessions over 2,000 models (``benchmarks/datagen.py``). One is
left bare, the other gets a candidate installed (``--candidate``, see :data:`CANDIDATES`). Then
the platform's three kinds of write run on both, through the DBAPI with plain SQL, each write its
own transaction, the same rows in the same order on both databases:

* ``progress tick``: ``completed_steps + 1`` and ``updated_at`` of a running session;
* ``new session``: a pending session INSERTed with every column (criteria with techniques);
* ``session finishes``: a running session becomes ``completed`` with its results.

The two databases take turns write by write (which one goes first alternates), in ``--rounds``
rounds of ``--writes`` writes per kind, after a few unmeasured warm-up writes. A session finishes
only once, so the load turns the newest completed, failed or cancelled sessions into running
ones, enough for every finishing write; that change is made to the rows before either database
is filled. Reported per kind: the median microseconds per write on each database (median of the
per-round medians), the ratio installed / bare (median of the per-round ratios), and the
microseconds the candidate adds to a write (median over rounds of the median difference between
the two runs of each write, which a slow moment of the machine disturbs the least).

SQLite files live in ``--db-dir`` in WAL mode with the default ``synchronous``; PostgreSQL
databases are created for the run on the server of ``--pg-url``, VACUUM ANALYZEd, and dropped at
the end. After the install both databases are settled the same way, so that only the installed
objects differ: VACUUM ANALYZE and CHECKPOINT on PostgreSQL; on SQLite a checkpoint, then a WAL
grown past its steady size and restarted (see :meth:`Backend.settle`).

    .venv/bin/python benchmarks/bench_writes.py --backend sqlite
    .venv/bin/python benchmarks/bench_writes.py --backend both --pg-url postgresql+psycopg://.../postgres \\
        --candidate legacy --candidate dashboard --candidate indexes --candidate changelog --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from datagen import ANCHOR, MODEL_COLUMNS, MODEL_COUNT, SESSION_COLUMNS, model_rows, session_rows
from sqlalchemy.engine import Connection, Engine, make_url

from core.config import Settings
from core.store.demo import TECHNIQUE_MIXES
from core.store.engine import make_engine
from core.store.tables import metadata

KINDS = ("progress tick", "new session", "session finishes")
WARMUP_WRITES = 20  # per kind and database, before the measured rounds
TICK_POOL_MIN = 64  # running sessions the progress ticks spread over, at least
SEED = 11
SESSIONS = "optimization_sessions"
WAL_FILL_BYTES = 6_000_000  # SQLite: more than the 1,000 pages between auto-checkpoints
DASHBOARD_INDEX = "ix_dashboard_changed"
CHANGES_TABLE = "dashboard_changes"
_COLUMN = {name: index for index, name in enumerate(SESSION_COLUMNS)}


# -- candidates: what each design installs in the platform's database ---------------------------


def install_legacy(engine: Engine) -> str | None:
    """Today's ``python -m core init-db``: generated columns, indexes, tables and triggers."""
    from core.speed import build as schema  # in-table, as init-db installed it before the copy

    schema.init_db(engine)
    return None


def install_dashboard(engine: Engine) -> str | None:
    """The new design: at most one index, to find the rows changed since the last look.

    Returns what installed it: the speed layer's own installer, or this module's stand-in."""
    try:
        from core.speed.platform import install_platform_objects  # type: ignore[import-not-found]
    except ImportError:
        print(
            "note: core.speed.platform is not there yet; the stand-in index was installed"
            f" ({DASHBOARD_INDEX})",
            flush=True,
        )
        _install_dashboard_index(engine)
        return "stand-in index (core.speed.platform missing)"
    install_platform_objects(engine)
    return "core.speed.platform.install_platform_objects"


def _install_dashboard_index(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {DASHBOARD_INDEX} ON {SESSIONS}"
                " (strftime('%Y-%m-%d %H:%M:%f', updated_at), session_id)"
            )
        return
    with _autocommit(engine) as conn:
        conn.exec_driver_sql(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {DASHBOARD_INDEX} ON {SESSIONS}"
            " (updated_at, session_id)"
        )


def install_indexes(engine: Engine) -> str | None:
    """Today's generated-column indexes (``core.speed.indexes.SORT_INDEXES``) as plain expression
    indexes on the platform's table: no generated columns, no triggers; CONCURRENTLY on PostgreSQL."""
    statements = expression_index_statements(engine.dialect.name)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
        return None
    with _autocommit(engine) as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    return None


def expression_index_statements(dialect: str) -> list[str]:
    from core.speed.expressions import expressions as dialect_expressions
    from core.speed.indexes import NULLABLE_SORT_COLUMNS, SORT_INDEXES

    expressions = dialect_expressions(dialect)
    nullable = NULLABLE_SORT_COLUMNS
    statements = []
    for name, columns in SORT_INDEXES.items():
        parts = []
        for column in columns:
            if dialect == "postgresql" and column.endswith("_key"):
                part = column.replace("_key", "_at")  # timestamps are real timestamps there
            elif column in expressions:
                part = f"({expressions[column].replace('{t}', '')})"
            else:
                part = column
            if dialect == "postgresql" and column in nullable:
                part += " NULLS FIRST"  # as init-db orders them (see core.speed.indexes)
            parts.append(part)
        concurrently = " CONCURRENTLY" if dialect == "postgresql" else ""
        statements.append(
            f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {SESSIONS} ({', '.join(parts)})"
        )
    return statements


def install_changelog(engine: Engine) -> str | None:
    """Change capture only: each inserted, updated or deleted session id goes to a log table."""
    if engine.dialect.name == "sqlite":
        statements = [
            f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " session_id TEXT, changed_at TIMESTAMP DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')))",
            f"CREATE TRIGGER IF NOT EXISTS trg_dashboard_changes_insert AFTER INSERT ON {SESSIONS}"
            f" BEGIN INSERT INTO {CHANGES_TABLE} (session_id) VALUES (NEW.session_id); END",
            f"CREATE TRIGGER IF NOT EXISTS trg_dashboard_changes_update AFTER UPDATE ON {SESSIONS}"
            f" BEGIN INSERT INTO {CHANGES_TABLE} (session_id) VALUES (NEW.session_id);"
            f" INSERT INTO {CHANGES_TABLE} (session_id) SELECT OLD.session_id"
            " WHERE OLD.session_id IS NOT NEW.session_id; END",
            f"CREATE TRIGGER IF NOT EXISTS trg_dashboard_changes_delete AFTER DELETE ON {SESSIONS}"
            f" BEGIN INSERT INTO {CHANGES_TABLE} (session_id) VALUES (OLD.session_id); END",
        ]
    else:
        statements = [
            f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (id bigserial PRIMARY KEY, session_id text,"
            " changed_at timestamp DEFAULT (now() AT TIME ZONE 'UTC'))",
            "CREATE OR REPLACE FUNCTION dashboard_record_change() RETURNS trigger AS $$ BEGIN"
            f" IF TG_OP <> 'INSERT' THEN INSERT INTO {CHANGES_TABLE} (session_id) VALUES (OLD.session_id);"
            " END IF;"
            " IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.session_id IS DISTINCT FROM OLD.session_id)"
            f" THEN INSERT INTO {CHANGES_TABLE} (session_id) VALUES (NEW.session_id); END IF;"
            " RETURN NULL; END $$ LANGUAGE plpgsql",
            f"DROP TRIGGER IF EXISTS trg_dashboard_changes ON {SESSIONS}",
            f"CREATE TRIGGER trg_dashboard_changes AFTER INSERT OR UPDATE OR DELETE ON {SESSIONS}"
            " FOR EACH ROW EXECUTE FUNCTION dashboard_record_change()",
        ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    return None


# Each installs one design in the platform's database; the optional text says how.
CANDIDATES: dict[str, Callable[[Engine], str | None]] = {
    "legacy": install_legacy,
    "dashboard": install_dashboard,
    "indexes": install_indexes,
    "changelog": install_changelog,
}


@contextmanager
def _autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection outside any transaction (CREATE INDEX CONCURRENTLY, VACUUM), no timeout."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET statement_timeout = 0")
        try:
            yield conn
        finally:
            conn.exec_driver_sql("RESET statement_timeout")


# -- rows and the write plan --------------------------------------------------------------------


@dataclass
class Dataset:
    """The rows both databases are filled with, and the sessions the writes may touch."""

    dialect: str
    models: list[tuple[Any, ...]]
    sessions: list[tuple[Any, ...]]
    tick_pool: list[str]  # running sessions that get progress ticks
    finish_pool: list[str]  # running sessions that finish, one write each (disjoint from ticks)


def make_dataset(dialect: str, sessions: int, finishes: int) -> Dataset:
    """``sessions`` rows as ``datagen`` makes them, with enough running sessions for the writes."""
    rows = [list(row) for row in session_rows(sessions, SEED, dialect)]
    status = _COLUMN["status"]
    running = [i for i, row in enumerate(rows) if row[status] == "running"]
    wanted = max(TICK_POOL_MIN, len(running)) + finishes
    # The newest finished sessions become running ones (a busier platform), nothing else changes.
    for index in range(len(rows) - 1, -1, -1):
        if len(running) >= wanted:
            break
        row = rows[index]
        if row[status] in ("completed", "failed", "cancelled"):
            total = row[_COLUMN["total_steps"]] or 10
            row[status] = "running"
            row[_COLUMN["completed_steps"]] = max(1, total // 2)
            for name in ("results", "error_message", "completed_at"):
                row[_COLUMN[name]] = None
            running.append(index)
    if len(running) < wanted:
        raise SystemExit(f"--sessions {sessions} is too few for {finishes} finishing writes")
    ids = [rows[i][0] for i in sorted(running)]
    random.Random(SEED).shuffle(ids)
    return Dataset(
        dialect=dialect,
        models=model_rows(dialect),
        sessions=[tuple(r) for r in rows],
        tick_pool=ids[finishes:],
        finish_pool=ids[:finishes],
    )


@dataclass
class Write:
    kind: str
    sql: str
    params: dict[str, Any]


def _param_sql(sql: str, dialect: str) -> str:
    """``:name`` placeholders as the DBAPI of ``dialect`` wants them."""
    return sql if dialect == "sqlite" else re.sub(r":(\w+)", r"%(\1)s", sql)


_TICK = (
    "UPDATE optimization_sessions SET completed_steps = completed_steps + 1, updated_at = :now"
    " WHERE session_id = :sid"
)
_INSERT = (
    f"INSERT INTO optimization_sessions ({', '.join(SESSION_COLUMNS)}) VALUES"
    f" ({', '.join(':' + c for c in SESSION_COLUMNS)})"
)
_FINISH = (
    "UPDATE optimization_sessions SET status = 'completed', completed_steps = total_steps,"
    " results = :results, completed_at = :now, updated_at = :now WHERE session_id = :sid"
)


class Planner:
    """The writes, deterministic: the same list for every database and every candidate."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.rng = random.Random(SEED + 1)
        self.clock = ANCHOR.replace(tzinfo=None) + timedelta(days=1)
        self.inserted = 0
        self.finished = 0
        self.sql = {
            kind: _param_sql(sql, data.dialect)
            for kind, sql in zip(KINDS, (_TICK, _INSERT, _FINISH), strict=True)
        }

    def _now(self) -> Any:
        self.clock += timedelta(milliseconds=7)
        if self.data.dialect == "sqlite":
            return self.clock.strftime("%Y-%m-%d %H:%M:%S.%f")
        return self.clock

    def write(self, kind: str) -> Write:
        rng = self.rng
        if kind == "progress tick":
            params: dict[str, Any] = {"sid": rng.choice(self.data.tick_pool), "now": self._now()}
        elif kind == "new session":
            now = self._now()
            created: datetime = self.clock
            params = {
                "session_id": f"opt-{created:%Y%m%d}-{len(self.data.sessions) + self.inserted:06d}",
                "model_id": f"mdl-{rng.randrange(1, MODEL_COUNT + 1):04d}",
                "status": "pending",
                "criteria": json.dumps(
                    {
                        "techniques": list(rng.choice(TECHNIQUE_MIXES)),
                        "target_size_reduction_percent": rng.choice((20, 30, 40, 50)),
                    },
                    separators=(",", ":"),
                ),
                "total_steps": rng.choice((10, 20, 25, 40, 50, 100)),
                "completed_steps": 0,
                "results": None,
                "error_message": None,
                "created_at": now,
                "updated_at": now,
                "completed_at": None,
            }
            self.inserted += 1
        else:
            results = {
                "size_reduction_percent": round(rng.uniform(15, 90), 1),
                "speed_improvement_percent": round(rng.uniform(5, 80), 1),
                "accuracy_delta_percent": round(rng.uniform(-3, 0), 2),
            }
            params = {
                "sid": self.data.finish_pool[self.finished],
                "now": self._now(),
                "results": json.dumps(results, separators=(",", ":")),
            }
            self.finished += 1
        return Write(kind, self.sql[kind], params)


# -- databases ------------------------------------------------------------------------------------


def _writer_engine(url: str) -> Engine:
    """The engine a platform-side writer gets (SQLite: WAL, busy_timeout; core.store.engine.make_engine)."""
    return make_engine(Settings(db_url=url, db_url_source="--db"), read_only=False)


def _fsync(path: str | Path) -> None:
    """On disk now: a file's dirty pages written back later would slow the measured fsyncs."""
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _admin(server_url: str) -> Engine:
    return sa.create_engine(
        make_url(server_url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )


def _pg_url(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@dataclass
class Backend:
    """Creates, copies and drops the benchmark databases of one backend."""

    name: str
    pg_url: str | None = None
    db_dir: Path = Path("/tmp/bench_writes")
    prefix: str = field(default_factory=lambda: f"bench_writes_{os.getpid()}")
    created: list[str] = field(default_factory=list)

    def load_template(self, data: Dataset) -> str:
        """Fill the template database in bulk; copies of it are the databases measured."""
        started = time.perf_counter()
        url = self.create("template")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        metadata.create_all(engine)
        raw = engine.raw_connection()
        try:
            if self.name == "sqlite":
                self._load_sqlite(raw, data)
            else:
                self._load_postgresql(raw, data)
        finally:
            raw.close()
            engine.dispose()
        if self.name == "postgresql":
            self.vacuum(url)
        else:
            _fsync(make_url(url).database or "")
        _log(f"{self.name}: {len(data.sessions):,} sessions loaded in {time.perf_counter() - started:.1f} s")
        return url

    @staticmethod
    def _load_sqlite(raw: Any, data: Dataset) -> None:
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        marks = ", ".join("?" * len(MODEL_COLUMNS))
        cursor.executemany(f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}) VALUES ({marks})", data.models)
        marks = ", ".join("?" * len(SESSION_COLUMNS))
        cursor.executemany(
            f"INSERT INTO optimization_sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({marks})",
            data.sessions,
        )
        raw.commit()
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA journal_mode = WAL")  # persistent: every copy is a WAL database
        cursor.close()

    @staticmethod
    def _load_postgresql(raw: Any, data: Dataset) -> None:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY models ({', '.join(MODEL_COLUMNS)}) FROM STDIN") as copy:
                for row in data.models:
                    copy.write_row(row)
            with cursor.copy(f"COPY optimization_sessions ({', '.join(SESSION_COLUMNS)}) FROM STDIN") as copy:
                for row in data.sessions:
                    copy.write_row(row)
        raw.commit()

    def create(self, label: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); its URL."""
        if self.name == "sqlite":
            self.db_dir.mkdir(parents=True, exist_ok=True)
            path = self.db_dir / f"{self.prefix}_{label}.db"
            self._remove_sqlite(path)
            if template:
                shutil.copyfile(make_url(template).database or "", path)
                _fsync(path)
            self.created.append(str(path))
            return f"sqlite:///{path}"
        assert self.pg_url
        name = f"{self.prefix}_{label}"
        admin = _admin(self.pg_url)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            source = f' TEMPLATE "{make_url(template).database}"' if template else ""
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{source}')
        admin.dispose()
        self.created.append(name)
        return _pg_url(self.pg_url, name)

    def vacuum(self, url: str) -> None:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with _autocommit(engine) as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        engine.dispose()

    def settle(self, engine: Engine, raw: Any) -> None:
        """The same after-install state on both databases of a pair, ``raw`` being the connection
        the writes will run on (its WAL must stay open on SQLite)."""
        if self.name == "sqlite":
            # A commit that grows the WAL costs more than one that overwrites it (the file's size
            # changes with every fsync), so both start from a WAL already larger than it grows
            # between auto-checkpoints, restarted from its beginning: a busy platform's steady
            # state. The filler table's pages stay on the free list, in both databases.
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("CREATE TABLE bench_wal_fill (b BLOB)")
            cursor.execute("INSERT INTO bench_wal_fill VALUES (zeroblob(?))", (WAL_FILL_BYTES,))
            raw.commit()
            cursor.execute("DROP TABLE bench_wal_fill")
            raw.commit()
            cursor.execute("PRAGMA wal_checkpoint(RESTART)")
            cursor.close()
            return
        with _autocommit(engine) as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            conn.exec_driver_sql("CHECKPOINT")

    def hot_updates(self, engine: Engine) -> dict[str, int] | None:
        """PostgreSQL: how many of the sessions' updates were HOT (no index entry written)."""
        if self.name == "sqlite":
            return None
        engine.dispose()  # the writers' connections report their counts as they close
        time.sleep(1.0)
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                f"SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = '{SESSIONS}'"
            ).one()
        return {"updates": row[0], "hot": row[1]}

    def drop_all(self) -> None:
        if self.name == "sqlite":
            for path in self.created:
                self._remove_sqlite(Path(path))
        elif self.pg_url:
            admin = _admin(self.pg_url)
            with admin.connect() as conn:
                for name in self.created:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        self.created.clear()

    @staticmethod
    def _remove_sqlite(path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def settings(self, engine: Engine) -> dict[str, str]:
        """The durability settings the writes ran under."""
        with engine.connect() as conn:
            if self.name == "sqlite":
                return {
                    "sqlite_version": conn.exec_driver_sql("SELECT sqlite_version()").scalar_one(),
                    "journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                    "synchronous": str(conn.exec_driver_sql("PRAGMA synchronous").scalar_one()),
                }
            return {
                name: conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            }


# -- measuring ------------------------------------------------------------------------------------


def _execute(raw: Any, write: Write) -> int:
    """Run one write in its own transaction; nanoseconds from the statement to the commit."""
    cursor = raw.cursor()
    started = time.perf_counter_ns()
    cursor.execute(write.sql, write.params)
    raw.commit()
    elapsed = time.perf_counter_ns() - started
    if cursor.rowcount != 1:
        raise RuntimeError(f"{write.kind} changed {cursor.rowcount} rows: {write.params}")
    cursor.close()
    return elapsed


def measure_pair(
    backend: Backend, engines: dict[str, Engine], data: Dataset, rounds: int, writes: int
) -> dict[str, dict[str, list[list[float]]]]:
    """Per kind, per database (``bare``, ``installed``), per round: the microseconds of each write."""
    planner = Planner(data)
    connections = {label: engine.raw_connection() for label, engine in engines.items()}
    for raw in connections.values():
        raw.rollback()  # no snapshot left open by the pool's ping while VACUUM runs
    out: dict[str, dict[str, list[list[float]]]] = {kind: {"bare": [], "installed": []} for kind in KINDS}
    try:
        for label, raw in connections.items():
            backend.settle(engines[label], raw)
        for kind in KINDS:  # warm-up, same rows on both
            for _ in range(WARMUP_WRITES):
                write = planner.write(kind)
                for raw in connections.values():
                    _execute(raw, write)
        for round_ in range(rounds):
            for kind in KINDS:
                samples: dict[str, list[float]] = {"bare": [], "installed": []}
                for i in range(writes):
                    write = planner.write(kind)
                    order = ("bare", "installed") if (round_ + i) % 2 == 0 else ("installed", "bare")
                    for label in order:
                        samples[label].append(_execute(connections[label], write) / 1000)
                for label, values in samples.items():
                    out[kind][label].append(values)
    finally:
        for raw in connections.values():
            raw.close()
    return out


def summarize(samples: dict[str, dict[str, list[list[float]]]]) -> dict[str, dict[str, Any]]:
    summary = {}
    for kind, by_db in samples.items():
        bare = [statistics.median(r) for r in by_db["bare"]]
        installed = [statistics.median(r) for r in by_db["installed"]]
        ratios = [i / b for i, b in zip(installed, bare, strict=True)]
        # Write i ran on both databases back to back: its difference is the least disturbed by
        # the machine's slow moments (while fsyncs are slow, every ratio tends to 1).
        added = [
            statistics.median(i - b for i, b in zip(ri, rb, strict=True))
            for ri, rb in zip(by_db["installed"], by_db["bare"], strict=True)
        ]
        summary[kind] = {
            "bare_us": round(statistics.median(bare), 1),
            "installed_us": round(statistics.median(installed), 1),
            "ratio": round(statistics.median(ratios), 2),
            "round_ratios": [round(r, 2) for r in ratios],
            "added_us": round(statistics.median(added), 1),
            "bare_round_medians_us": [round(v, 1) for v in bare],
            "installed_round_medians_us": [round(v, 1) for v in installed],
        }
    return summary


def run_backend(
    backend: Backend, candidates: list[str], sessions: int, rounds: int, writes: int
) -> dict[str, Any]:
    data = make_dataset(backend.name, sessions, WARMUP_WRITES + rounds * writes)
    out: dict[str, Any] = {
        "sessions": sessions,
        "rounds": rounds,
        "writes": writes,
        "running_sessions_ticked": len(data.tick_pool),
        "candidates": {},
    }
    try:
        template = backend.load_template(data)
        for candidate in candidates:
            urls = {
                label: backend.create(f"{candidate}_{label}", template) for label in ("bare", "installed")
            }
            engines = {label: _writer_engine(url) for label, url in urls.items()}
            try:
                started = time.perf_counter()
                installed_by = CANDIDATES[candidate](engines["installed"])
                install_s = time.perf_counter() - started
                _log(f"{backend.name}: {candidate} installed in {install_s:.2f} s")
                out.setdefault("settings", backend.settings(engines["bare"]))
                samples = measure_pair(backend, engines, data, rounds, writes)
                hot = {label: backend.hot_updates(engine) for label, engine in engines.items()}
            finally:
                for engine in engines.values():
                    engine.dispose()
                if backend.name == "postgresql":  # nothing of this pair is needed any more
                    _drop_some(backend, [f"{backend.prefix}_{candidate}_{lbl}" for lbl in urls])
            out["candidates"][candidate] = {
                "install_s": round(install_s, 2),
                "installed_by": installed_by,
                "hot_updates": hot,
                "summary": summarize(samples),
                "samples_us": samples,
            }
            print_table(backend.name, out, only=candidate)
    finally:
        backend.drop_all()
    return out


def _drop_some(backend: Backend, names: list[str]) -> None:
    assert backend.pg_url
    admin = _admin(backend.pg_url)
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
    backend.created = [n for n in backend.created if n not in names]


# -- output ---------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[bench_writes] {message}", file=sys.stderr, flush=True)


def print_table(backend: str, result: dict[str, Any], only: str | None = None) -> None:
    settings = ", ".join(f"{k}={v}" for k, v in result.get("settings", {}).items())
    if only is None:
        print(
            f"\n{backend}: {result['sessions']:,} sessions, {result['rounds']} rounds x"
            f" {result['writes']} writes per kind ({settings})"
        )
        print(
            f"{'candidate':<10} {'install s':>9}  {'write kind':<16} {'bare us':>9}"
            f" {'installed us':>12} {'ratio':>6} {'added us':>9}  per-round ratios"
        )
    for name, candidate in result["candidates"].items():
        if only is not None and name != only:
            continue
        for i, (kind, row) in enumerate(candidate["summary"].items()):
            head = f"{name:<10} {candidate['install_s']:>9.2f}" if i == 0 else " " * 20
            rounds = " / ".join(f"{r:.2f}" for r in row["round_ratios"])
            line = (
                f"{head}  {kind:<16} {row['bare_us']:>9.1f} {row['installed_us']:>12.1f}"
                f" {row['ratio']:>6.2f} {row['added_us']:>9.1f}  {rounds}"
            )
            print(line if only is None else f"[{backend}] {line.strip()}", flush=True)
        if only is not None and candidate["installed_by"]:
            print(f"[{backend}] {name} installed by {candidate['installed_by']}", flush=True)
        hot = candidate.get("hot_updates") or {}
        if only is None and all(hot.values()) and hot:
            shares = ", ".join(f"{label} {h['hot']:,} of {h['updates']:,}" for label, h in hot.items())
            print(f"{'':<20}  HOT updates: {shares}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL"),
        help="SQLAlchemy URL of the PostgreSQL server (default: $BENCH_PG_URL)",
    )
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=300, help="measured writes per kind and round")
    parser.add_argument("--db-dir", type=Path, default=Path("/tmp/bench_writes"))
    parser.add_argument(
        "--candidate", action="append", choices=sorted(CANDIDATES), help="repeatable (default: dashboard)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every sample here")
    args = parser.parse_args(argv)
    candidates = args.candidate or ["dashboard"]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg_url:
        parser.error(
            "PostgreSQL needs --pg-url or BENCH_PG_URL (a server URL; its databases"
            " are created and dropped by this run)"
        )
    results: dict[str, Any] = {}
    for name in backends:
        backend = Backend(name, pg_url=args.pg_url, db_dir=args.db_dir)
        results[name] = run_backend(backend, candidates, args.sessions, args.rounds, args.writes)
    for name, result in results.items():
        print_table(name, result)
    if args.json:
        args.json.write_text(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
