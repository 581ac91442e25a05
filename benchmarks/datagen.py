"""Bulk benchmark data: N sessions over 2,000 models, 5% on models missing from ``models``.

The rows come from :func:`core.store.demo.generate_sessions` (about 14 s per million on this machine),
serialised once into the text the platform's columns hold, and loaded the fast way:

* SQLite: the bare platform tables (``metadata.create_all``), then one ``executemany`` with the
  journal off;
* PostgreSQL: the bare tables, ``COPY ... FROM STDIN``, then ``VACUUM ANALYZE`` (what autovacuum
  does on a live server; index-only counts need it).

Then, once the database is in place, the speed layer is installed as ``python -m core init-db``
does (:func:`core.speed.install.install`, timed: "init-db on an existing platform database"):
one index in the platform's tables, the dashboard's copy with every derived structure beside.

Each database is built once and reused: a SQLite file / a PostgreSQL database named by size,
seed and generator version. A small table ``bench_build_info`` in it records how the build went.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core.config import Settings
from core.speed.install import install
from core.store.demo import build_models, generate_sessions
from core.store.engine import make_engine
from core.store.tables import metadata
from core.store.types import Malformed

GENERATOR_VERSION = 1
MODEL_COUNT = 2000
ORPHAN_SHARE = 0.05
ORPHAN_MODELS = 100
MALFORMED_PER_MILLION = 1000
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SESSION_COLUMNS = (
    "session_id",
    "model_id",
    "status",
    "criteria",
    "total_steps",
    "completed_steps",
    "results",
    "error_message",
    "created_at",
    "updated_at",
    "completed_at",
)
MODEL_COLUMNS = ("model_id", "name", "framework", "original_size_mb", "created_at")
INFO_TABLE = "bench_build_info"


def database_name(sessions: int, seed: int, tag: str = "") -> str:
    name = f"bench_{sessions}_s{seed}_g{GENERATOR_VERSION}"
    return f"{name}_{tag}" if tag else name


_encode = json.JSONEncoder(separators=(",", ":")).encode


def _json(value: Any, dialect: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, Malformed):
        # PostgreSQL's jsonb cannot hold broken text: a JSON string is the closest (flagged too).
        return value.raw if dialect == "sqlite" else _encode(value.raw)
    return _encode(value)


def _ts(value: datetime | None, dialect: str) -> Any:
    """Naive UTC; on SQLite the text ``UTCTimestamp`` writes (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    if value is None:
        return None
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.utcoffset() else value.replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds") if dialect == "sqlite" else naive


def model_rows(dialect: str) -> list[tuple[Any, ...]]:
    rows = build_models(random.Random(7), MODEL_COUNT, ANCHOR)
    return [
        (m["model_id"], m["name"], m["framework"], m["original_size_mb"], _ts(m["created_at"], dialect))
        for m in rows
    ]


def session_rows(count: int, seed: int, dialect: str) -> Iterator[tuple[Any, ...]]:
    """``count`` sessions as tuples in :data:`SESSION_COLUMNS` order, stored-text form."""
    model_ids = [f"mdl-{i:04d}" for i in range(1, MODEL_COUNT + 1)]
    malformed = max(3, count * MALFORMED_PER_MILLION // 1_000_000)
    for index, row in enumerate(
        generate_sessions(
            count, model_ids, seed=seed, anchor=ANCHOR, orphan_share=ORPHAN_SHARE, malformed=malformed
        )
    ):
        model_id = row["model_id"]
        if model_id.startswith("mdl-missing"):  # spread the orphans over more unknown models
            model_id = f"mdl-missing-{index % ORPHAN_MODELS:03d}"
        yield (
            row["session_id"],
            model_id,
            row["status"],
            _json(row["criteria"], dialect),
            row["total_steps"],
            row["completed_steps"],
            _json(row["results"], dialect),
            row["error_message"],
            _ts(row["created_at"], dialect),
            _ts(row["updated_at"], dialect),
            _ts(row["completed_at"], dialect),
        )


def _write_info(engine: Engine, info: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
        conn.exec_driver_sql(f"DELETE FROM {INFO_TABLE}")
        conn.execute(
            sa.text(f"INSERT INTO {INFO_TABLE} (key, value) VALUES (:k, :v)"),
            [{"k": k, "v": json.dumps(v)} for k, v in info.items()],
        )


def read_info(engine: Engine) -> dict[str, Any] | None:
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT key, value FROM {INFO_TABLE}").all()
    except sa.exc.DBAPIError:
        return None
    return {k: json.loads(v) for k, v in rows} or None


def _writer(url: str) -> Engine:
    return make_engine(Settings(db_url=url, db_url_source="--db"), read_only=False)


def _log(message: str) -> None:
    print(f"[build] {message}", flush=True)


# -- SQLite ------------------------------------------------------------------------------------


def build_sqlite(path: Path, sessions: int, seed: int, *, init: bool = True) -> dict[str, Any]:
    """Write a platform database at ``path`` (bare tables, bulk rows), then time ``init-db``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{temporary}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{temporary}"
    bare = sa.create_engine(url)
    metadata.create_all(bare)  # the platform's tables, nothing derived
    bare.dispose()

    started = time.perf_counter()
    raw = bare.raw_connection()  # plain sqlite3: no per-row SQLAlchemy work
    cursor = raw.cursor()
    cursor.execute("PRAGMA journal_mode = OFF")
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.execute("PRAGMA cache_size = -262144")
    marks = ", ".join("?" * len(MODEL_COLUMNS))
    cursor.executemany(
        f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}) VALUES ({marks})", model_rows("sqlite")
    )
    marks = ", ".join("?" * len(SESSION_COLUMNS))
    cursor.executemany(
        f"INSERT INTO optimization_sessions ({', '.join(SESSION_COLUMNS)}) VALUES ({marks})",
        session_rows(sessions, seed, "sqlite"),
    )
    raw.commit()
    cursor.close()
    raw.close()
    bare.dispose()
    load_s = time.perf_counter() - started
    _log(f"sqlite: {sessions:,} sessions loaded in {load_s:.1f} s")

    info: dict[str, Any] = {"sessions": sessions, "seed": seed, "load_s": round(load_s, 2)}
    engine = _writer(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    os.replace(temporary, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{temporary}{suffix}").unlink(missing_ok=True)
    if init:
        info["install_s"] = _install(f"sqlite:///{path}", "sqlite", sessions)
    engine = _writer(f"sqlite:///{path}")
    try:
        _write_info(engine, info)
    finally:
        engine.dispose()
    return info


def _install(url: str, backend: str, sessions: int) -> float:
    """``init-db`` on the built platform database, timed."""
    started = time.perf_counter()
    install(Settings(db_url=url, db_url_source="--db"), progress=lambda m: _log(f"{backend}: {m}"))
    seconds = round(time.perf_counter() - started, 2)
    _log(f"{backend}: init-db on the {sessions:,}-session platform database took {seconds} s")
    return seconds


def ensure_sqlite(
    db_dir: Path, sessions: int, seed: int, *, rebuild: bool = False, tag: str = ""
) -> tuple[str, dict]:
    db_dir.mkdir(parents=True, exist_ok=True)
    path = db_dir / f"{database_name(sessions, seed, tag)}.db"
    url = f"sqlite:///{path}"
    if path.exists() and not rebuild:
        engine = _writer(url)
        try:
            info = read_info(engine)
            if info is not None:
                # Idempotent: a newer version's steps, a copy built or synced.
                install(Settings(db_url=url, db_url_source="--db"), progress=_log)
                return url, info
        finally:
            engine.dispose()
    _log(f"sqlite: building {path}")
    return url, build_sqlite(path, sessions, seed)


# -- PostgreSQL --------------------------------------------------------------------------------


def _admin(server_url: str) -> Engine:
    return sa.create_engine(
        make_url(server_url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )


def build_postgresql(
    server_url: str, name: str, sessions: int, seed: int, *, init: bool = True
) -> dict[str, Any]:
    admin = _admin(server_url)
    temporary = f"{name}_building"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{temporary}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{temporary}"')
    url = make_url(server_url).set(database=temporary).render_as_string(hide_password=False)
    bare = sa.create_engine(url, poolclass=sa.pool.NullPool)
    metadata.create_all(bare)
    started = time.perf_counter()
    raw = bare.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f"COPY models ({', '.join(MODEL_COLUMNS)}) FROM STDIN") as copy:
                for row in model_rows("postgresql"):
                    copy.write_row(row)
            with cursor.copy(f"COPY optimization_sessions ({', '.join(SESSION_COLUMNS)}) FROM STDIN") as copy:
                for row in session_rows(sessions, seed, "postgresql"):
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
        bare.dispose()
    load_s = time.perf_counter() - started
    _log(f"postgresql: {sessions:,} sessions copied in {load_s:.1f} s")
    info: dict[str, Any] = {"sessions": sessions, "seed": seed, "load_s": round(load_s, 2)}
    engine = _writer(url)
    try:
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        info["vacuum_s"] = round(time.perf_counter() - started, 2)
        _write_info(engine, info)
    finally:
        engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'ALTER DATABASE "{temporary}" RENAME TO "{name}"')
    admin.dispose()
    if init:
        final = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        info["install_s"] = _install(final, "postgresql", sessions)
        engine = _writer(final)
        try:
            _write_info(engine, info)
        finally:
            engine.dispose()
    return info


def ensure_postgresql(
    server_url: str, sessions: int, seed: int, *, rebuild: bool = False, tag: str = ""
) -> tuple[str, dict]:
    name = database_name(sessions, seed, tag)
    admin = _admin(server_url)
    with admin.connect() as conn:
        exists = (
            conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            is not None
        )
    admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if exists and not rebuild:
        engine = _writer(url)
        try:
            info = read_info(engine)
            if info is not None:
                install(Settings(db_url=url, db_url_source="--db"), progress=_log)
                return url, info
        finally:
            engine.dispose()
    _log(f"postgresql: building database {name}")
    return url, build_postgresql(server_url, name, sessions, seed)


def drop(url: str) -> None:
    """Remove a benchmark database (SQLite file and its WAL, or the PostgreSQL database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = _admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    admin.dispose()
