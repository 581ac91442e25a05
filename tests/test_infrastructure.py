"""Self-test of the shared database fixtures in tests/conftest.py."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

# URLs handed out so far, per backend, in test order (tests in a module run in file order).
_seen: dict[str, list[str]] = {}


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


def test_empty_db_is_empty_and_writable(empty_db_url: str) -> None:
    engine = sa.create_engine(empty_db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        meta = sa.MetaData()
        probe = sa.Table(
            "probe",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(50), nullable=False),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(probe.insert(), [{"name": "alpha"}, {"name": "beta"}])
        with engine.connect() as conn:
            rows = conn.execute(sa.select(probe.c.name).order_by(probe.c.id)).scalars().all()
        assert rows == ["alpha", "beta"]
    finally:
        engine.dispose()
    _seen.setdefault(_backend(empty_db_url), []).append(empty_db_url)


def test_next_db_is_empty_again(empty_db_url: str) -> None:
    backend = _backend(empty_db_url)
    earlier = _seen.get(backend, [])
    assert empty_db_url not in earlier
    engine = sa.create_engine(empty_db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        if backend == "postgresql":
            with engine.connect() as conn:
                # Databases come from a template that already has pg_trgm.
                assert conn.execute(sa.text("SELECT similarity('abc', 'abd') > 0")).scalar()
                # The previous test's database was dropped.
                names = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
            assert not names & {make_url(u).database for u in earlier}
    finally:
        engine.dispose()


def test_sqlite_db_url(sqlite_db_url: str) -> None:
    assert _backend(sqlite_db_url) == "sqlite"
    engine = sa.create_engine(sqlite_db_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (42)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t")).scalar_one() == 42
    finally:
        engine.dispose()
