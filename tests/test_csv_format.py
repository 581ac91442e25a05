"""The CSV cell rules (core.csv_format) rendered as SQL match the Python rules exactly.

Every Basic Multilingual Plane character is tested as the first character of a cell, on SQLite
and on PostgreSQL: the server's test must flag exactly the characters Python lists.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from core.csv_format import (
    CSV_HEADER,
    FORMULA_FIRST,
    FORMULA_START,
    QUOTED,
    pg_class_chars,
    sql_text,
    sqlite_char_list,
)

# No surrogates (not characters) and no NUL (not valid in PostgreSQL text).
CODES = [c for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]


def test_the_formula_pattern_skips_leading_spaces_and_ignores_other_text() -> None:
    assert FORMULA_START.match("  =1")
    assert FORMULA_START.match("\u3000\uff0b1")
    assert not FORMULA_START.match("a=1")
    assert not FORMULA_START.match("   ")
    assert CSV_HEADER.endswith("\r\n") and CSV_HEADER.startswith("session_id,")


def test_sqlite_first_character_list_is_the_formula_characters(sqlite_db_url: str) -> None:
    engine = create_engine(sqlite_db_url)
    with engine.connect() as conn:
        flagged = conn.execute(
            text(
                "WITH RECURSIVE n(c) AS (SELECT 1 UNION ALL SELECT c + 1 FROM n WHERE c < 65535)"
                f" SELECT c FROM n WHERE char(c) IN {sqlite_char_list(FORMULA_FIRST)}"
            )
        ).scalars()
        assert {chr(c) for c in flagged} == set(FORMULA_FIRST)
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_bracket_matches_exactly_its_characters(pg_server_url: str) -> None:
    engine = create_engine(pg_server_url)
    with engine.connect() as conn:
        for chars in (FORMULA_FIRST, QUOTED + "\\", "]^-a"):
            pattern = sql_text(f"^[{pg_class_chars(chars)}]$")
            flagged = conn.execute(
                text(f"SELECT g FROM unnest(CAST(:codes AS int[])) AS g WHERE chr(g) ~ {pattern}"),
                {"codes": CODES},
            ).scalars()
            assert {chr(c) for c in flagged} == set(chars), chars
    engine.dispose()
