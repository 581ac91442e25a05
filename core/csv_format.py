"""The CSV cell rules, once: every constant that decides the text of an exported cell.

Three writers must produce the same bytes: the Python formatter (:mod:`core.export.cells`), the
PostgreSQL COPY export's SQL (:mod:`core.export.copy`) and the copy's precomputed lines
(:mod:`core.speed.export_cells`, kept by the copy's triggers and generated columns). The rules
live here, beside the field catalogue and below both packages, because the speed layer sits
below the export; the SQL renderings of the character sets are built from the same constants,
so a rule changed here changes every writer.
"""

from __future__ import annotations

import re

from core.fields import EXPORT_HEADERS

CSV_COLUMNS: tuple[str, ...] = EXPORT_HEADERS
# The header line, as csv.writer writes it (no column name needs quoting).
CSV_HEADER = ",".join(CSV_COLUMNS) + "\r\n"
TECHNIQUE_SEPARATOR = "; "

# OWASP CSV injection: a cell a spreadsheet would evaluate starts, after optional spaces
# (FORMULA_LEAD), with one of FORMULA_CHARS, full-width forms included. Such a cell gets
# FORMULA_PREFIX in front, unless it is a real number (NUMBER).
FORMULA_LEAD = " \u3000"
FORMULA_CHARS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
FORMULA_PREFIX = "'"
# Every first character of a cell that may need the prefix (a superset of what gets it: the
# SQL writers leave such cells, numbers included, to Python).
FORMULA_FIRST = FORMULA_LEAD + FORMULA_CHARS
FORMULA_START = re.compile(f"^[{re.escape(FORMULA_LEAD)}]*[{re.escape(FORMULA_CHARS)}]")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

# Characters csv.writer (QUOTE_MINIMAL, "\r\n" line ends) quotes a cell for.
QUOTED = ',"\n\r'

# Timestamps are naive UTC, written as datetime.isoformat() (no fraction when it is zero) with
# this zone suffix; TIMESTAMP_SEPARATOR is what isoformat() puts between date and time.
TIMESTAMP_ZONE = "+00:00"
TIMESTAMP_SEPARATOR = "T"


def sql_text(value: str) -> str:
    """``value`` as a SQL string literal (both backends; printable text only)."""
    return "'" + value.replace("'", "''") + "'"


def sqlite_char(char: str) -> str:
    """One character as SQLite text: a literal when printable ASCII, else ``char(code)``."""
    if " " <= char <= "~":
        return sql_text(char)
    return f"char({ord(char)})"


def sqlite_char_list(chars: str) -> str:
    """``(c1, c2, ...)`` for SQLite's ``IN``."""
    return "(" + ", ".join(map(sqlite_char, chars)) + ")"


def pg_class_chars(chars: str) -> str:
    """The inside of a PostgreSQL regular-expression bracket matching exactly ``chars``.

    Printable ASCII as itself (``\\``, ``]`` and ``^`` escaped, ``-`` last), anything else as
    ``\\xhh`` or ``\\uhhhh``, so the pattern is plain ASCII whatever the client encoding.
    """
    parts = []
    for char in chars.replace("-", ""):
        if char in "\\]^":
            parts.append("\\" + char)
        elif " " <= char <= "~":
            parts.append(char)
        elif ord(char) < 0x80:
            parts.append(f"\\x{ord(char):02x}")
        else:
            parts.append(f"\\u{ord(char):04x}")
    return "".join(parts) + ("-" if "-" in chars else "")
