"""The CSV export's fast paths (export cells, PostgreSQL COPY) write exactly what the row-by-row
writer writes, for tricky values, random cells and boundary values, on both backends.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert

from core.export.stream import iter_csv, iter_filtered_csv
from core.fields import SORT_KEYS
from core.query.filter import SessionFilter
from core.query.pages import count_sessions, iter_sessions
from core.speed.build import init_db
from core.store.tables import STATUSES, models, optimization_sessions

if TYPE_CHECKING:
    pass
from tests.speed.equivalence import (
    copy_row_kinds,
    engines,
)
from tests.speed.random_sessions import (
    BASE,
    SEARCHES,
    SEED,
    TRICKY_NUMBERS,
    load,
    load_random_cells,
)


def test_export_cells_match_for_tricky_values(empty_db_url: str) -> None:
    """The database-shaped CSV cells (numbers, durations, timestamps) equal Python's, value by value."""
    writer, reader = engines(empty_db_url)
    rng = random.Random(SEED + 9)
    try:
        init_db(writer)
        rows = []
        for index, number in enumerate(TRICKY_NUMBERS * 3):
            created = BASE + timedelta(
                seconds=rng.randrange(0, 10**6),
                microseconds=rng.choice([0, 50, 150, 999950, 999999, 500000, rng.randrange(10**6)]),
            )
            completed = created + timedelta(
                seconds=rng.choice([-5, 0, 0, 1, 3600, 10**7]),
                microseconds=rng.choice([0, 50, -50, 149, 151, 999950, rng.randrange(10**6)]),
            )
            done = rng.choice([0, 1, 2, 3, 7, 9, 10, 33, 200, 333])
            rows.append(
                {
                    "session_id": f"t-{index:03d}",
                    "model_id": rng.choice(["m-00", "=cmd", "-x", "@y"]),
                    "status": rng.choice(["running", "failed", "completed", "cancelled"]),
                    "criteria": {"techniques": rng.choice([["=SUM(A1)"], ["+a", "b"], ["pruning"]])},
                    "total_steps": rng.choice([3, 7, 9, 1000, 2000, 3]),
                    "completed_steps": done,
                    "results": {
                        "size_reduction_percent": number,
                        "speed_improvement_percent": -number if isinstance(number, float) else number,
                        "accuracy_delta_percent": number / 7,
                    },
                    "error_message": None,
                    "created_at": created,
                    "updated_at": created,
                    "completed_at": completed if index % 5 else None,
                }
            )
        with writer.begin() as conn:
            conn.execute(insert(models), [{"model_id": "m-00", "name": " =HYPERLINK()"}])
            conn.execute(insert(optimization_sessions), rows)
        with reader.connect() as conn:
            for f in (SessionFilter(), SessionFilter(sort="size_reduction_percent", order="asc")):
                fast = "".join(iter_filtered_csv(conn, f)).split("\r\n")
                plain = "".join(iter_csv(iter_sessions(conn, f))).split("\r\n")
                assert len(fast) == len(plain) == len(rows) + 2
                for a, b in zip(fast, plain, strict=True):
                    assert a == b
    finally:
        reader.dispose()
        writer.dispose()


def test_export_random_cells_equal_the_reference(empty_db_url: str) -> None:
    """Both export paths give the reference text, on cells drawn around every boundary."""
    from core.export.copy import copy_csv_supported

    writer, reader = engines(empty_db_url)
    backend = writer.dialect.name
    rng = random.Random(SEED + 11)
    try:
        init_db(writer)
        load_random_cells(writer, backend, rng, 1500)
        filters = [
            SessionFilter(),
            SessionFilter(sort="size_reduction_percent", order="asc"),
            SessionFilter(sort="accuracy_delta_percent"),
            SessionFilter(sort="model_name", order="asc"),
            SessionFilter(sort="techniques"),
            SessionFilter(statuses=("completed", "failed"), sort="completed_at", order="asc"),
            *(SessionFilter(search=s) for s in SEARCHES),
            SessionFilter(techniques=("a,b", 'q"t', "back\\slash", "x'y")),
        ]
        filters += [
            SessionFilter(
                sort=rng.choice(SORT_KEYS),
                order=rng.choice(("asc", "desc")),
                search=rng.choice(["", "", *SEARCHES]),
                statuses=tuple(rng.sample(STATUSES, rng.randrange(0, 3))),
            )
            for _ in range(10)
        ]
        with reader.connect() as conn:
            if backend == "postgresql":
                assert copy_csv_supported(conn, SessionFilter())
                lines, fallbacks = copy_row_kinds(conn, SessionFilter())
                # Both ways are exercised: lines made by the server and rows left to Python.
                assert lines > 300 and fallbacks > 300, (lines, fallbacks)
            for f in filters:
                expected = "".join(iter_csv(iter_sessions(conn, f)))
                for chunk_rows in (1, 7, 2000):
                    fast = "".join(iter_filtered_csv(conn, f, chunk_rows=chunk_rows, batch_size=97))
                    if fast != expected:
                        pairs = zip(fast.split("\r\n"), expected.split("\r\n"), strict=False)
                        first = next(((a, b) for a, b in pairs if a != b), None)
                        raise AssertionError(f"{f} chunk_rows={chunk_rows}: {first!r}")
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_cells_for_boundary_values(empty_db_url: str) -> None:
    """Value by value: numbers on both sides of every limit, each in its own row."""
    writer, reader = engines(empty_db_url)
    backend = writer.dialect.name
    edges = [
        0.0,
        -0.0,
        1e-5,
        -1e-5,
        0.00005,
        0.00015,
        0.00025,
        0.03125,
        0.03135,
        2.675,
        1.00005,
        40.0,
        99999999.9999,
        99999999.99995,
        1e8,
        100000000.0001,
        1e11,
        1e15,
        1e16,
        1.5e300,
        5e-324,
        -1234.56785,
        12.34565,
        12.34575,
        0.1 + 0.2,
        1 / 3,
        2**53,
        -(2**53) - 2,
    ]
    try:
        init_db(writer)
        rows = []
        for index, number in enumerate(edges):
            for sign in (1, -1):
                created = BASE + timedelta(microseconds=index * 37)
                rows.append(
                    {
                        "session_id": f"e-{index:03d}-{sign}",
                        "model_id": "m",
                        "status": "running",
                        "criteria": {"techniques": []},
                        "total_steps": 32,
                        "completed_steps": index % 33,
                        "results": {
                            "size_reduction_percent": sign * number,
                            "speed_improvement_percent": number / 3,
                            "accuracy_delta_percent": sign * number * 10000,
                        },
                        "error_message": None,
                        "created_at": created,
                        "updated_at": created,
                        "completed_at": created
                        + timedelta(
                            microseconds=int(abs(number) * 10**6) % 10**12 if abs(number) < 1e9 else 50
                        ),
                    }
                )
        with writer.begin() as conn:
            conn.execute(insert(optimization_sessions), rows)
        with reader.connect() as conn:
            f = SessionFilter(sort="session_id", order="asc")
            fast = "".join(iter_filtered_csv(conn, f)).split("\r\n")
            plain = "".join(iter_csv(iter_sessions(conn, f))).split("\r\n")
            assert len(fast) == len(plain) == len(rows) + 2
            for a, b in zip(fast, plain, strict=True):
                assert a == b
            assert backend != "postgresql" or sum(copy_row_kinds(conn, f)) == len(rows)
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_abandoned_midway_leaves_a_usable_connection(empty_db_url: str) -> None:
    """A download cancelled after a few chunks stops the COPY; the connection is reusable."""
    writer, reader = engines(empty_db_url)
    try:
        init_db(writer)
        load(writer, writer.dialect.name, random.Random(SEED + 12), 600)
        with reader.connect() as conn:
            chunks = iter_filtered_csv(conn, SessionFilter(), chunk_rows=50)
            assert next(chunks).startswith("session_id,")
            next(chunks)
            chunks.close()
            conn.rollback()
            assert count_sessions(conn, SessionFilter()) == 600
            whole = "".join(iter_filtered_csv(conn, SessionFilter()))
            assert whole == "".join(iter_csv(iter_sessions(conn, SessionFilter())))
    finally:
        reader.dispose()
        writer.dispose()


def test_copy_export_is_declined_where_its_proof_does_not_hold(empty_db_url: str) -> None:
    """With extra_float_digits = 0 the driver reads floats rounded to 15 digits, so the server
    would format other doubles than the reference: the streamed path runs, and still matches."""
    from core.export.copy import copy_csv_supported

    writer, reader = engines(empty_db_url)
    backend = writer.dialect.name
    try:
        init_db(writer)
        load_random_cells(writer, backend, random.Random(SEED + 13), 200)
        with reader.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql("SET extra_float_digits = 0")
            assert not copy_csv_supported(conn, SessionFilter())
            f = SessionFilter(sort="speed_improvement_percent")
            assert "".join(iter_filtered_csv(conn, f)) == "".join(iter_csv(iter_sessions(conn, f)))
    finally:
        reader.dispose()
        writer.dispose()
