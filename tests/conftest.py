"""Shared test infrastructure: database URLs for both backends.

Fixtures (put test-specific fixtures in your own test files, not here):

* ``pg_server_url`` (session): SQLAlchemy URL (``str``) of a PostgreSQL test server.
  ``TEST_PG_URL`` when set (the role needs CREATEDB); otherwise the suite starts a throwaway
  server with ``scripts/pg-test-server`` and stops it at the end. When no server can be had the
  PostgreSQL tests are skipped, unless ``REQUIRE_POSTGRES=1`` (CI), which makes them fail.
* ``empty_db_url`` (function, parametrized ``sqlite`` / ``postgresql``): URL (``str``) of a
  brand-new empty database for this test only. SQLite: a file under ``tmp_path``. PostgreSQL: a
  uniquely named database cloned from a template that already has ``pg_trgm``, dropped (FORCE)
  after the test. The PostgreSQL case carries the ``postgres`` marker (``-m "not postgres"``).
* ``sqlite_db_url`` (function): the SQLite case alone.

No tables are created: tests call the schema code themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_TEST_SERVER = PROJECT_ROOT / "scripts" / "pg-test-server"


def _require_postgres() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").strip().lower() in {"1", "true", "yes"}


def _no_postgres(reason: str) -> None:
    """Skip, or fail when REQUIRE_POSTGRES=1 says PostgreSQL tests must run."""
    if _require_postgres():
        pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL test server: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL test server: {reason}")


def _check_connect(url: str) -> str | None:
    """None when the server answers, else the error text."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver/DNS/auth error means "not usable"
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_PG_URL", "").strip()
    if url:
        error = _check_connect(url)
        if error:  # an explicit setting that does not work is an error, never a skip
            pytest.fail(f"TEST_PG_URL={url!r} is not reachable: {error}", pytrace=False)
        yield url
        return

    if not PG_TEST_SERVER.exists():
        _no_postgres(f"{PG_TEST_SERVER} is missing and TEST_PG_URL is not set")
    # As root the server runs as "pgtest", which must reach the directory: not pytest's tmp dir
    # (/tmp/pytest-of-root is 0700) and not a private $TMPDIR, but a fresh directory in /tmp.
    root_tmp = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
    workdir = tempfile.mkdtemp(prefix="pytest-pg-", dir=root_tmp)
    try:
        try:
            proc = subprocess.run(
                ["bash", str(PG_TEST_SERVER), "start", workdir],
                capture_output=True,
                text=True,
                timeout=180,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _no_postgres(f"scripts/pg-test-server failed: {exc}")
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            _no_postgres(
                "TEST_PG_URL is not set and scripts/pg-test-server could not start one "
                f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        yield lines[-1]
    finally:  # also after a failed or partial start; a no-op when nothing runs
        subprocess.run(
            ["bash", str(PG_TEST_SERVER), "stop", workdir],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_admin(pg_server_url: str) -> Iterator[tuple[sa.Engine, str]]:
    """Autocommit engine on the maintenance db + CREATE DATABASE clause for a pg_trgm template."""
    url = make_url(pg_server_url)
    engine = sa.create_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=2
    )
    template = f"tmpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{template}"'))
        version = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one())
    # PostgreSQL 15+: FILE_COPY writes no WAL for the copy; with fsync=off it is the quicker one.
    strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
    tmpl_engine = sa.create_engine(
        url.set(database=template), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with tmpl_engine.connect() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        warnings.warn(f"pg_trgm not available in test databases: {exc}", stacklevel=1)
    finally:
        tmpl_engine.dispose()  # no session may stay connected to a template being copied
    try:
        yield engine, f'TEMPLATE "{template}"{strategy}'
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        engine.dispose()


def _new_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield _new_sqlite_url(tmp_path)
        return

    # Looked up lazily so SQLite-only runs never start PostgreSQL.
    admin, from_template = request.getfixturevalue("_pg_admin")
    name = f"test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" {from_template}'))
    try:
        url = make_url(request.getfixturevalue("pg_server_url")).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_db_url(tmp_path: Path) -> str:
    return _new_sqlite_url(tmp_path)
