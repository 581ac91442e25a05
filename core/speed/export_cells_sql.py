"""The SQL that writes a session's CSV line on the server, for :mod:`core.speed.export_cells`.

A line is written only when the SQL can prove its text is exactly what
:func:`core.export.cells.csv_record` and ``csv.writer`` write (the proofs are set out in
:mod:`core.export.copy`); otherwise the expression gives NULL and the export formats that row in
Python. The character sets and separators come from :mod:`core.csv_format`, the same
constants the Python formatter uses.
"""

from __future__ import annotations

from core.csv_format import (
    FORMULA_FIRST,
    QUOTED,
    TECHNIQUE_SEPARATOR,
    TIMESTAMP_SEPARATOR,
    TIMESTAMP_ZONE,
    pg_class_chars,
    sql_text,
    sqlite_char,
    sqlite_char_list,
)
from core.speed.expressions import SESSIONS, expressions

MAX_TIE_DISTANCE = "0.001"
# The three metrics, as the line's SQL names them (SQLite; PostgreSQL's function).
_METRICS = ("size_reduction", "speed_improvement", "accuracy_delta")
_TIMES = ("ca", "ua", "coa")
_DURATION_OK = "(mu IS NULL OR mu <= 0 OR (mu < 500000000000000 AND mu % 100 <> 50))"

# -- SQLite: the export_cells table's line, written by triggers -----------------------------------

# First characters neutralise() may prefix (a superset of what it does prefix: real numbers
# are left alone there, but here they go to Python, which is merely slower).
_FORMULA_FIRST = sqlite_char_list(FORMULA_FIRST)
# Control characters: csv.writer quotes CR and LF, and json.loads refuses raw ones in strings.
_CONTROL = "'*[' || " + " || ".join(f"char({i})" for i in range(1, 32)) + " || ']*'"
_CANONICAL_TIMESTAMP = (
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    ".[0-9][0-9][0-9][0-9][0-9][0-9]"
)


def plain_text(x: str) -> str:
    """SQL: ``x`` is text csv_record leaves as is and csv.writer does not quote."""
    unquoted = " AND ".join(f"instr({x}, {sqlite_char(c)}) = 0" for c in QUOTED)
    return f"(typeof({x}) = 'text' AND substr({x}, 1, 1) NOT IN {_FORMULA_FIRST} AND {unquoted})"


def _decimal(sign: str, n: str, places: int) -> str:
    """``sign``, the integer ``n`` / 10**places, ``.``, its fraction without trailing zeros."""
    scale = 10**places
    return (
        f"{sign} || ({n} / {scale}) || '.' || coalesce(nullif(rtrim(substr('{'0' * places}'"
        f" || ({n} % {scale}), -{places}), '0'), ''), '0')"
    )


def _rounded(x: str, places: int) -> str:
    return f"CAST(abs({x}) * {10**places} + 0.5 AS INTEGER)"


def _tie(x: str, places: int) -> str:
    """How far |x| * 10**places is from a .5 tie."""
    return f"abs(abs({x}) * {10**places} - CAST(abs({x}) * {10**places} AS INTEGER) - 0.5)"


def _timestamp_ok(t: str) -> str:
    """Only the form core.store.types writes ('YYYY-MM-DD HH:MM:SS.ffffff', a real date, year 1+):
    datetime.fromisoformat() reads it as naive UTC. Other forms go to Python."""
    return (
        f"({t} IS NULL OR (typeof({t}) = 'text' AND {t} GLOB '{_CANONICAL_TIMESTAMP}'"
        f" AND substr({t}, 1, 4) <> '0000'"
        # Through the epoch: strftime() alone writes a parsed 02-30 back unchanged.
        f" AND datetime(strftime('%s', substr({t}, 1, 19)), 'unixepoch') = substr({t}, 1, 19)))"
    )


def _timestamp_cell(t: str) -> str:
    # datetime.isoformat() leaves out a zero fraction.
    return (
        f"CASE WHEN {t} IS NULL THEN '' ELSE substr({t}, 1, 10) || {sql_text(TIMESTAMP_SEPARATOR)}"
        f" || substr({t}, 12, 8)"
        f" || CASE WHEN substr({t}, 21, 6) = '000000' THEN '' ELSE substr({t}, 20, 7) END"
        f" || {sql_text(TIMESTAMP_ZONE)} END"
    )


def _sqlite_values(row: str, where: str) -> str:
    """The row's raw values (the JSON read once), each named as the later layers use it."""
    sqlite = expressions("sqlite")
    t = f"{row}."
    values = ", ".join(
        [
            f"{t}session_id AS sid",
            f"{t}model_id AS mid",
            f"{t}status AS st",
            f"coalesce((SELECT name FROM models WHERE models.model_id = {t}model_id), {t}model_id) AS nm",
            f"coalesce(({sqlite['progress'].replace('{t}', t)}), 0) AS pr",
            f"({sqlite['techniques_json'].replace('{t}', t)}) AS tj",
            *(f"({sqlite[name].replace('{t}', t)}) AS {name[:2]}" for name in _METRICS),
            f"{t}created_at AS ca",
            f"{t}updated_at AS ua",
            f"{t}completed_at AS coa",
        ]
    )
    source = "" if row == "NEW" else f" FROM {SESSIONS} AS {row}{where}"
    return f"SELECT {values}{source}"


def _sqlite_checked(values: str) -> str:
    """Two more layers: the timestamps' checks and the techniques cell, then the duration."""
    technique = (
        "CASE WHEN tj IS NULL OR tj = '[]' THEN ''"
        " WHEN substr(tj, 1, 2) = '[\"' AND substr(tj, -2) = '\"]' AND length(tj) >= 4"
        f" AND instr(tj, '\\') = 0 AND tj NOT GLOB {_CONTROL}"
        f" THEN replace(substr(tj, 3, length(tj) - 4), '\",\"', {sql_text(TECHNIQUE_SEPARATOR)}) END"
    )
    checked = (
        f"SELECT *, {_timestamp_ok('ca')} AS ca_ok, {_timestamp_ok('ua')} AS ua_ok,"
        f" {_timestamp_ok('coa')} AS coa_ok, {technique} AS tech"
        f" FROM ({values} LIMIT -1 OFFSET 0) LIMIT -1 OFFSET 0"
    )
    # Microseconds from created to completed, exact: whole seconds from the text without its
    # fraction (strftime('%s') would round the fraction to milliseconds first), plus the digits.
    micro = (
        "CASE WHEN ca IS NOT NULL AND coa IS NOT NULL AND ca_ok AND coa_ok THEN"
        " (CAST(strftime('%s', substr(coa, 1, 19)) AS INTEGER)"
        " - CAST(strftime('%s', substr(ca, 1, 19)) AS INTEGER)) * 1000000"
        " + CAST(substr(coa, 21, 6) AS INTEGER) - CAST(substr(ca, 21, 6) AS INTEGER) END"
    )
    return f"SELECT *, {micro} AS mu FROM ({checked}) LIMIT -1 OFFSET 0"


def _sqlite_post() -> tuple[str, str]:
    """(every cell after the model name is provably exact, those cells joined by commas)."""
    metrics = [name[:2] for name in _METRICS]

    def number_ok(x: str) -> str:
        # Zero keeps its sign in Python (-0.0) but not in SQL comparisons: Python's turn.
        return f"({x} IS NULL OR ({x} <> 0 AND abs({x}) < 100000000 AND {_tie(x, 4)} > {MAX_TIE_DISTANCE}))"

    def number_cell(x: str) -> str:
        sign = f"CASE WHEN {x} < 0 THEN '-' ELSE '' END"
        return f"CASE WHEN {x} IS NULL THEN '' ELSE {_decimal(sign, _rounded(x, 4), 4)} END"

    ok = " AND ".join(
        [
            plain_text("st"),
            f"typeof(pr) IN ('integer', 'real') AND abs(pr) < 100000000"
            f" AND {_tie('pr', 2)} > {MAX_TIE_DISTANCE}",
            f"tech IS NOT NULL AND {plain_text('tech')} AND instr(tech, '\"') = 0",
            *(number_ok(x) for x in metrics),
            "ca_ok AND ua_ok AND coa_ok",
            _DURATION_OK,
        ]
    )
    duration = (
        "CASE WHEN ca IS NULL OR coa IS NULL THEN '' WHEN mu <= 0 THEN '0.0' ELSE "
        + _decimal("''", "((mu + 50) / 100)", 4)
        + " END"
    )
    cells = [
        "st",
        _decimal("CASE WHEN pr < 0 THEN '-' ELSE '' END", _rounded("pr", 2), 2),
        "tech",
        *(number_cell(x) for x in metrics),
        duration,
        *(_timestamp_cell(t) for t in _TIMES),
    ]
    return ok, " || ',' || ".join(f"({c})" for c in cells)


def cells_select(row: str, where: str = "") -> str:
    """``SELECT session_id, line`` for the row ``row`` (``NEW``, or an alias of the sessions
    table, then filtered by ``where``).

    Three layers, each a co-routine (``LIMIT -1 OFFSET 0`` stops SQLite from flattening it):
    flattened, every use of a value would repeat the JSON parsing behind it.
    """
    ok, post = _sqlite_post()
    # A session id starting with "[" would look like the export's marker for Python's rows.
    pre_ok = f"{plain_text('sid')} AND substr(sid, 1, 1) <> '[' AND {plain_text('mid')}"
    return (
        f"SELECT sid, CASE WHEN {pre_ok} AND {plain_text('nm')} AND {ok}"
        f" THEN sid || ',' || mid || ',' || nm || ',' || {post} END"
        f" FROM ({_sqlite_checked(_sqlite_values(row, where))})"
    )


# -- PostgreSQL: stored generated columns (IMMUTABLE expressions only) ---------------------------
#
# Nothing here may depend on a setting: no to_char() or timestamp/float output (DateStyle,
# extra_float_digits), only integer arithmetic and text functions. Cells must also pass COPY's
# text format unchanged: no backslash and no control character.
PG_FUNCTION = "export_post_v1"  # a new definition needs a new name: stored values are not redone
_ESCAPED = pg_class_chars(QUOTED + "\\")
_PG_UNSAFE = f"'^[{pg_class_chars(FORMULA_FIRST)}]|[\\x01-\\x1f{_ESCAPED}]'"


def pg_plain(x: str) -> str:
    """SQL: ``x`` is text csv_record leaves as is, csv.writer does not quote and COPY sends as is."""
    return f"({x} !~ {_PG_UNSAFE})"


def pg_decimal(sign: str, n: str, places: int) -> str:
    """``sign || n / 10**places || '.' || the fraction without trailing zeros (at least 0)``."""
    scale = 10**places
    return (
        f"{sign} || ({n} / {scale})::text || '.' || coalesce(nullif(rtrim(lpad(({n} % {scale})::text,"
        f" {places}, '0'), '0'), ''), '0')"
    )


def pg_timestamp_ok(t: str) -> str:
    return (
        f"({t} IS NULL OR ({t} >= TIMESTAMP '0001-01-01 00:00:00'"
        f" AND {t} <= TIMESTAMP '9999-12-31 23:59:59.999999'))"
    )


def _pg_timestamp_cell(t: str) -> str:
    """datetime.isoformat() + the zone from the fields (to_char() is only STABLE)."""

    def two(field: str) -> str:
        return f"lpad(extract({field} FROM {t})::int::text, 2, '0')"

    micro = f"(extract(microseconds FROM {t})::bigint % 1000000)"
    return (
        f"CASE WHEN {t} IS NULL THEN '' ELSE lpad(extract(year FROM {t})::int::text, 4, '0') || '-'"
        f" || {two('month')} || '-' || {two('day')} || {sql_text(TIMESTAMP_SEPARATOR)} || {two('hour')}"
        f" || ':' || {two('minute')}"
        f" || ':' || lpad((extract(microseconds FROM {t})::bigint / 1000000)::text, 2, '0')"
        f" || CASE WHEN {micro} = 0 THEN '' ELSE '.' || lpad({micro}::text, 6, '0') END"
        f" || {sql_text(TIMESTAMP_ZONE)} END"
    )


def _pg_values() -> list[tuple[str, str, str]]:
    """(name, type, expression) of the function's variables, each computed once."""
    pg = expressions("postgresql")
    metrics = [name[:2] for name in _METRICS]
    ts_ok = {t: pg_timestamp_ok(t) for t in _TIMES}
    return [
        ("st", "text", "status"),
        (
            "pr",
            "double precision",
            f"CAST(coalesce(({pg['progress'].replace('{t}', '')}), 0) AS double precision)",
        ),
        ("tj", "text", f"({pg['techniques_json'].replace('{t}', '')})"),
        *((name[:2], "double precision", f"({pg[name].replace('{t}', '')})") for name in _METRICS),
        ("ca", "timestamp", "created_at"),
        ("ua", "timestamp", "updated_at"),
        ("coa", "timestamp", "completed_at"),
        ("n_pr", "bigint", "trunc(abs(pr) * 100 + 0.5)::bigint"),
        ("tie_pr", "double precision", "abs(abs(pr) * 100 - trunc(abs(pr) * 100) - 0.5)"),
        *(
            (
                f"n_{x}",
                "bigint",
                f"CASE WHEN abs({x}) < 100000000 THEN trunc(abs({x}) * 10000 + 0.5)::bigint END",
            )
            for x in metrics
        ),
        # Guarded: a float8 product that overflows is an error, and would fail the platform's write.
        *(
            (
                f"tie_{x}",
                "double precision",
                f"CASE WHEN abs({x}) < 100000000"
                f" THEN abs(abs({x}) * 10000 - trunc(abs({x}) * 10000) - 0.5) END",
            )
            for x in metrics
        ),
        ("ts_ok", "boolean", " AND ".join(ts_ok.values())),
        (
            "mu",
            "bigint",
            f"CASE WHEN ca IS NOT NULL AND coa IS NOT NULL AND {ts_ok['ca']} AND {ts_ok['coa']}"
            " THEN (extract(epoch FROM (coa - ca)) * 1000000)::bigint END",
        ),
        # A jsonb array of strings without escapes: '["a", "b"]' -> 'a; b'.
        (
            "tech",
            "text",
            "CASE WHEN tj IS NULL OR tj = '[]' THEN '' WHEN left(tj, 2) = '[\"'"
            " AND right(tj, 2) = '\"]' AND length(tj) >= 4 AND strpos(tj, '\\') = 0"
            f" THEN replace(substr(tj, 3, length(tj) - 4), '\", \"', {sql_text(TECHNIQUE_SEPARATOR)}) END",
        ),
    ]


def pg_function() -> str:
    """``export_post_v1(status, criteria, results, total_steps, completed_steps, created_at,
    updated_at, completed_at)``: the ``post`` cell or NULL (the proofs of core.export.copy).

    PL/pgSQL, not SQL: a SQL function that cannot be inlined is planned again in every
    statement that calls it (on each platform write); PL/pgSQL keeps its plans for the session
    and evaluates each value once.
    """
    metrics = [name[:2] for name in _METRICS]

    def number_ok(x: str) -> str:
        return f"({x} IS NULL OR ({x} <> 0 AND abs({x}) < 100000000 AND tie_{x} > {MAX_TIE_DISTANCE}))"

    def number_cell(x: str) -> str:
        sign = f"CASE WHEN {x} < 0 THEN '-' ELSE '' END"
        return f"CASE WHEN {x} IS NULL THEN '' ELSE {pg_decimal(sign, f'n_{x}', 4)} END"

    ok = " AND ".join(
        [
            f"st IS NOT NULL AND {pg_plain('st')}",
            f"pr = pr AND abs(pr) < 100000000 AND tie_pr > {MAX_TIE_DISTANCE}",
            f"tech IS NOT NULL AND {pg_plain('tech')} AND strpos(tech, '\"') = 0",
            *(number_ok(x) for x in metrics),
            "ts_ok",
            _DURATION_OK,
        ]
    )
    duration = (
        "CASE WHEN mu IS NULL THEN '' WHEN mu <= 0 THEN '0.0' ELSE "
        + pg_decimal("''", "((mu + 50) / 100)", 4)
        + " END"
    )
    cells = [
        "st",
        pg_decimal("CASE WHEN pr < 0 THEN '-' ELSE '' END", "n_pr", 2),
        "tech",
        *(number_cell(x) for x in metrics),
        duration,
        *(_pg_timestamp_cell(t) for t in _TIMES),
    ]
    line = " || ',' || ".join(f"({c})" for c in cells)
    declarations = " ".join(f"{name} {type_} := {expression};" for name, type_, expression in _pg_values())
    return (
        f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}(status text, criteria jsonb, results jsonb,"
        " total_steps integer, completed_steps integer, created_at timestamp, updated_at timestamp,"
        " completed_at timestamp) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$"
        f" DECLARE {declarations} BEGIN RETURN CASE WHEN {ok} THEN {line} END; END $fn$"
    )
