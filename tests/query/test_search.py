"""Free-text search (core.query.search): id, model id and model name, kept right under plain-SQL writes.

Every test runs on SQLite and on PostgreSQL (the ``empty_db_url`` fixture, :mod:`tests.query.conftest`).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.store.engine import make_engine
from tests.query.sample import ids


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("s0", ["s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"]),
        ("S1", ["S11", "s10"]),
        ("bert base", ["S11", "s01", "s02", "s07"]),
        ("RESNET", ["s03", "s04", "s09", "s10"]),
        ("ghost", ["s05", "s06"]),
        ("100%_", ["s08"]),
        ("0%", ["s08"]),
        ("_", ["s08"]),
        ("m-ghos", ["s05", "s06"]),
        ('"quote', []),
    ],
)
def test_free_text_search_is_a_case_insensitive_substring_of_id_model_id_or_name(
    conn: Connection, search: str, expected: list[str]
) -> None:
    assert sorted(ids(conn, search=search, limit=100)) == expected


def test_rows_inserted_updated_and_deleted_with_plain_sql_keep_search_and_techniques_right(
    empty_db_url: str, engine: Engine
) -> None:
    writer = make_engine(Settings(empty_db_url, "--db"), read_only=False)
    with writer.begin() as c:
        c.execute(
            text(
                "INSERT INTO optimization_sessions (session_id, model_id, status, criteria,"
                " created_at, updated_at) VALUES ('new-xyz', 'm-bert', 'running',"
                " :crit, '2024-03-12 00:00:00', '2024-03-12 00:00:00')"
            ),
            {"crit": '{"techniques": ["distillation"]}'},
        )
        c.execute(
            text("UPDATE optimization_sessions SET criteria = :crit WHERE session_id = 's07'"),
            {"crit": '{"techniques": ["pruning"]}'},
        )
        c.execute(text("DELETE FROM optimization_sessions WHERE session_id = 's04'"))
    writer.dispose()
    with engine.connect() as conn:
        assert ids(conn, techniques=["distillation"]) == ["new-xyz"]
        assert "s07" in ids(conn, techniques=["pruning"])
        assert ids(conn, search="w-xy") == ["new-xyz"]
        assert ids(conn, search="s04") == []
