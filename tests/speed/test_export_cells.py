"""The export cells init-db keeps (core.speed.export_cells) give exactly the reference CSV.

The reference is ``iter_csv(iter_sessions(conn, f))``. The data is random around every boundary
of the SQL's proofs (tests.test_equivalence's generators: ties, zeros, huge numbers, odd
timestamps, text a spreadsheet would run or csv.writer quotes, malformed JSON), and it is
compared again after the platform writes with plain SQL (inserts, updates, renames, deletes,
REPLACE, UPDATE OR REPLACE): the table must then still equal the cells computed afresh.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.export.stream import CELLS_LINE, iter_csv, iter_filtered_csv
from core.fields import SORT_KEYS
from core.query.clauses import build_select
from core.query.filter import SessionFilter
from core.query.pages import iter_sessions
from core.speed.build import init_db
from core.speed.capabilities import capabilities
from core.speed.export_cells import CELLS_TABLE, cells_select, has_export_cells, init_export_cells
from core.speed.tables import export_cells
from core.store.tables import STATUSES
from core.store.tables import optimization_sessions as S
from tests.speed.equivalence import copy_row_kinds, engines, platform_writes
from tests.speed.random_sessions import SEARCHES, SEED, TRICKY_NUMBERS, load_random_cells, random_number


def _filters(rng: random.Random) -> list[SessionFilter]:
    filters = [
        SessionFilter(),
        SessionFilter(sort="size_reduction_percent", order="asc"),
        SessionFilter(sort="model_name", order="asc"),
        SessionFilter(sort="techniques"),
        SessionFilter(statuses=("completed", "failed"), sort="completed_at", order="asc"),
        SessionFilter(techniques=("a,b", "pruning")),
        SessionFilter(model_ids=("m-00", "m-gone")),
        SessionFilter(start_date="2024-03-01", end_date="2024-06-30"),
        *(SessionFilter(search=s) for s in SEARCHES[:6]),
    ]
    filters += [
        SessionFilter(
            sort=rng.choice(SORT_KEYS),
            order=rng.choice(("asc", "desc")),
            search=rng.choice(["", "", *SEARCHES]),
            statuses=tuple(rng.sample(STATUSES, rng.randrange(0, 3))),
        )
        for _ in range(6)
    ]
    return filters


def _check(conn: Connection, filters: list[SessionFilter]) -> None:
    for f in filters:
        expected = "".join(iter_csv(iter_sessions(conn, f)))
        for chunk_rows, batch_size in ((1, 5000), (7, 97), (2000, 5000)):
            fast = "".join(iter_filtered_csv(conn, f, chunk_rows=chunk_rows, batch_size=batch_size))
            if fast != expected:
                pairs = zip(fast.split("\r\n"), expected.split("\r\n"), strict=False)
                first = next(((a, b) for a, b in pairs if a != b), None)
                raise AssertionError(f"{f} chunk_rows={chunk_rows}: {first!r}")


def _line_kinds(conn: Connection) -> tuple[int, int]:
    """(lines made by SQL, rows left to Python) of the unfiltered export."""
    base = build_select(SessionFilter(), capabilities(conn))
    statement = base.with_only_columns(CELLS_LINE, maintain_column_froms=False).outerjoin(
        export_cells, export_cells.c.session_id == S.c.session_id
    )
    lines = [r[0] for r in conn.execute(statement)]
    python = sum(line.startswith("[") for line in lines)
    return len(lines) - python, python


def _assert_cells_current(conn: Connection) -> None:
    """What the triggers kept equals the cells computed now from the rows (and nothing more)."""
    kept = conn.exec_driver_sql(f"SELECT session_id, line FROM {CELLS_TABLE} ORDER BY session_id").all()
    fresh = sorted(conn.exec_driver_sql(cells_select("s")).all())
    assert kept == fresh


def _more_platform_writes(engine: Engine, rng: random.Random) -> None:
    """Plain-SQL changes of every cell's inputs and of model names, in other writers' forms too."""
    sqlite = engine.dialect.name == "sqlite"
    jsonb = "" if sqlite else "::jsonb"
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT session_id FROM optimization_sessions"))]
        picked = rng.sample(ids, 60)
        for sid in picked[:25]:
            results = {
                "size_reduction_percent": random_number(rng),
                "speed_improvement_percent": rng.choice(TRICKY_NUMBERS),
                "accuracy_delta_percent": random_number(rng),
            }
            conn.execute(
                text(
                    f"UPDATE optimization_sessions SET results = CAST(:r AS TEXT){jsonb},"
                    " completed_steps = completed_steps + 1 WHERE session_id = :sid"
                ),
                {"sid": sid, "r": json.dumps(results)},
            )
        for sid in picked[25:30]:
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET criteria ="
                    f' \'{{"techniques": ["=x"]}}\'{jsonb} WHERE session_id = :sid'
                ),
                {"sid": sid},
            )
        for sid in picked[30:35]:
            conn.execute(
                text(
                    "UPDATE optimization_sessions SET status = 'odd,status', completed_at = NULL"
                    " WHERE session_id = :sid"
                ),
                {"sid": sid},
            )
        if sqlite:  # what only a text column can hold
            for sid in picked[35:40]:
                conn.execute(
                    text(
                        "UPDATE optimization_sessions SET criteria = '{\"techniques\": [',"
                        " updated_at = '2024-13-01 00:00:00.000000', completed_at ="
                        " replace(created_at, ' ', 'T') || 'Z' WHERE session_id = :sid"
                    ),
                    {"sid": sid},
                )
            # UPDATE OR REPLACE: the renamed row takes over an existing id (that row goes, silently).
            for old, new in zip(picked[40:43], picked[43:46], strict=True):
                conn.execute(
                    text(
                        "UPDATE OR REPLACE optimization_sessions SET session_id = :new"
                        " WHERE session_id = :old"
                    ),
                    {"old": old, "new": new},
                )
            columns = (
                "session_id, model_id, status, criteria, total_steps, completed_steps, results,"
                " error_message, created_at, updated_at, completed_at"
            )
            conn.execute(
                text(
                    f"INSERT OR IGNORE INTO optimization_sessions ({columns}) SELECT {columns}"
                    " FROM optimization_sessions WHERE session_id = :sid"
                ),
                {"sid": picked[52]},
            )
        conn.execute(
            text("DELETE FROM optimization_sessions WHERE session_id IN (:a, :b)"),
            {"a": picked[50], "b": picked[51]},
        )
        # Models: their names are in the lines. Renamed (to a cell Python must write, and back
        # to a plain one), added for sessions that had none, replaced, re-keyed, deleted.
        conn.execute(text("UPDATE models SET name = '=evil,name' WHERE model_id = 'm-00'"))
        conn.execute(text("UPDATE models SET name = 'plain-again' WHERE model_id = 'm-01'"))
        conn.execute(text("INSERT INTO models (model_id, name) VALUES ('m-gone', 'found again')"))
        # UPSERTs (their conflict policy would override a trigger's own INSERT OR REPLACE).
        conn.execute(
            text(
                "INSERT INTO models (model_id, name) VALUES ('m-02', 'upserted')"
                " ON CONFLICT (model_id) DO UPDATE SET name = EXCLUDED.name"
            )
        )
        conn.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, created_at,"
                " updated_at) SELECT session_id, 'm-05', 'failed', created_at, updated_at"
                " FROM optimization_sessions WHERE session_id IN (:a, :b) ON CONFLICT (session_id)"
                " DO UPDATE SET model_id = EXCLUDED.model_id, status = EXCLUDED.status"
            ),
            {"a": picked[53], "b": picked[54]},
        )
        if sqlite:
            conn.execute(text("INSERT OR REPLACE INTO models (model_id, name) VALUES ('m-06', 'replaced')"))
            conn.execute(text("INSERT OR IGNORE INTO models (model_id, name) VALUES ('m-07', 'ignored')"))
        conn.execute(text("UPDATE models SET model_id = 'm,x' WHERE model_id = 'm-03'"))
        conn.execute(text("DELETE FROM models WHERE model_id = 'm-04'"))


@pytest.fixture
def loaded(empty_db_url: str) -> Any:
    writer, reader = engines(empty_db_url)
    try:
        init_db(writer)
        load_random_cells(writer, writer.dialect.name, random.Random(SEED + 21), 1200)
        yield writer, reader
    finally:
        reader.dispose()
        writer.dispose()


def test_export_from_kept_cells_equals_the_reference(loaded: tuple[Engine, Engine]) -> None:
    writer, reader = loaded
    backend = writer.dialect.name
    rng = random.Random(SEED + 22)
    filters = _filters(rng)
    with reader.connect() as conn:
        assert has_export_cells(conn)
        made, python = _line_kinds(conn) if backend == "sqlite" else copy_row_kinds(conn, SessionFilter())
        assert made > 50 and python > 300, (made, python)  # both ways are exercised
        if backend == "sqlite":
            _assert_cells_current(conn)
        _check(conn, filters)
    platform_writes(writer, backend, random.Random(SEED + 23))
    _more_platform_writes(writer, random.Random(SEED + 24))
    with reader.connect() as conn:
        if backend == "sqlite":
            _assert_cells_current(conn)
        _check(conn, filters)


def test_a_database_without_the_cells_exports_the_same(loaded: tuple[Engine, Engine]) -> None:
    """Dropping the table or a trigger (or never running init-db) falls back to the plain path,
    and init_export_cells adds them back without touching the platform's rows."""
    writer, reader = loaded
    sqlite = writer.dialect.name == "sqlite"
    filters = _filters(random.Random(SEED + 25))[:6]
    platform = (
        "SELECT session_id, model_id, status, criteria, total_steps, completed_steps, results,"
        " error_message, created_at, updated_at, completed_at FROM optimization_sessions"
        " ORDER BY session_id"
    )
    with reader.connect() as conn:
        expected = {f: "".join(iter_csv(iter_sessions(conn, f))) for f in filters}
    with writer.begin() as conn:
        before = conn.exec_driver_sql(platform).all()
        conn.exec_driver_sql(
            "DROP TRIGGER trg_export_cells_update" if sqlite else "ALTER TABLE models DROP COLUMN export_name"
        )
    with reader.connect() as conn:
        assert not has_export_cells(conn)
        for f in filters:
            assert "".join(iter_filtered_csv(conn, f)) == expected[f]
    with writer.begin() as conn:
        conn.exec_driver_sql(
            f"DROP TABLE {CELLS_TABLE}"
            if sqlite
            else "ALTER TABLE optimization_sessions DROP COLUMN export_post"
        )
        init_export_cells(conn)
        init_export_cells(conn)  # idempotent
        assert conn.exec_driver_sql(platform).all() == before
    with reader.connect() as conn:
        assert has_export_cells(conn)
        if sqlite:
            _assert_cells_current(conn)
        for f in filters:
            assert "".join(iter_filtered_csv(conn, f, chunk_rows=13)) == expected[f]


def test_an_empty_export_from_cells_is_the_header(loaded: tuple[Engine, Engine]) -> None:
    _, reader = loaded
    with reader.connect() as conn:
        f = SessionFilter(search="no such session anywhere")
        assert "".join(iter_filtered_csv(conn, f)) == "".join(iter_csv([]))
