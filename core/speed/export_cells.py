"""Per-session CSV cells kept by the database, so an export reads text instead of JSON.

The export's costs are per row and do not depend on the filter: SQLite re-parses each row's
JSON several times to read the metrics, progress and techniques, and Python then formats
numbers, timestamps and durations. None of that depends on anything but the session's own
row, so ``init-db`` adds a table, ``export_cells``, holding per session the CSV text of every
cell except the model name (which comes from ``models`` at read time):

* ``line``: the session's whole CSV line, or NULL when the SQL cannot prove its text is exactly
  what ``core.export.csv_stream.csv_record`` and ``csv.writer`` write (the same proofs as the PostgreSQL
  COPY path, written up in ``core/export.py``); the export then formats that row in Python.

The line holds the model's name too, so the export reads neither ``models`` (SQLite drops the
unused LEFT JOIN) nor the JSON: one index walk and one primary-key lookup a row. Triggers on
both tables keep it current under plain-SQL inserts, updates, deletes and REPLACE (a model's
change recomputes its sessions' lines); there is no rebuild step.

On PostgreSQL the same two cells are STORED generated columns of ``optimization_sessions``
(``export_pre``, ``export_post``; the latter through an IMMUTABLE SQL function, so each value is
extracted once), and ``models`` gets ``export_name``: the name when it is a plain cell, else
NULL. The COPY export then only joins and concatenates; no trigger is needed.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.speed.derived import SESSIONS, _expressions

CELLS_TABLE = "export_cells"
_TRIGGERS = ("trg_export_cells_insert", "trg_export_cells_update", "trg_export_cells_delete")
_MODEL_TRIGGERS = (
    "trg_export_cells_model_insert",
    "trg_export_cells_model_update",
    "trg_export_cells_model_delete",
)

# First characters neutralise() may prefix (a superset of what it does prefix: real numbers
# are left alone there, but here they go to Python, which is merely slower).
_FORMULA_FIRST = (
    "(' ', char(12288), '=', '+', '-', '@', char(9), char(13), char(65309),"
    " char(65291), char(65293), char(65312))"
)
# Control characters: csv.writer quotes CR and LF, and json.loads refuses raw ones in strings.
_CONTROL = "'*[' || " + " || ".join(f"char({i})" for i in range(1, 32)) + " || ']*'"
_CANONICAL_TIMESTAMP = (
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    ".[0-9][0-9][0-9][0-9][0-9][0-9]"
)
MAX_TIE_DISTANCE = "0.001"


def plain_text(x: str) -> str:
    """SQL: ``x`` is text csv_record leaves as is and csv.writer does not quote."""
    return (
        f"(typeof({x}) = 'text' AND substr({x}, 1, 1) NOT IN {_FORMULA_FIRST}"
        f" AND instr({x}, ',') = 0 AND instr({x}, '\"') = 0"
        f" AND instr({x}, char(10)) = 0 AND instr({x}, char(13)) = 0)"
    )


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
        f"CASE WHEN {t} IS NULL THEN '' ELSE substr({t}, 1, 10) || 'T' || substr({t}, 12, 8)"
        f" || CASE WHEN substr({t}, 21, 6) = '000000' THEN '' ELSE substr({t}, 20, 7) END"
        " || '+00:00' END"
    )


def cells_select(row: str, where: str = "") -> str:
    """``SELECT session_id, line`` for the row ``row`` (``NEW``, or an alias of the sessions
    table, then filtered by ``where``).

    Three layers, each a co-routine (``LIMIT -1 OFFSET 0`` stops SQLite from flattening it):
    flattened, every use of a value would repeat the JSON parsing behind it.
    """
    expressions = _expressions("sqlite")
    t = f"{row}."
    values = ", ".join(
        [
            f"{t}session_id AS sid",
            f"{t}model_id AS mid",
            f"{t}status AS st",
            f"coalesce((SELECT name FROM models WHERE models.model_id = {t}model_id), {t}model_id) AS nm",
            f"coalesce(({expressions['progress'].replace('{t}', t)}), 0) AS pr",
            f"({expressions['techniques_json'].replace('{t}', t)}) AS tj",
            *(
                f"({expressions[name].replace('{t}', t)}) AS {name[:2]}"
                for name in ("size_reduction", "speed_improvement", "accuracy_delta")
            ),
            f"{t}created_at AS ca",
            f"{t}updated_at AS ua",
            f"{t}completed_at AS coa",
        ]
    )
    source = "" if row == "NEW" else f" FROM {SESSIONS} AS {row}{where}"
    # Microseconds from created to completed, exact: whole seconds from the text without its
    # fraction (strftime('%s') would round the fraction to milliseconds first), plus the digits.
    micro = (
        "CASE WHEN ca IS NOT NULL AND coa IS NOT NULL AND ca_ok AND coa_ok THEN"
        " (CAST(strftime('%s', substr(coa, 1, 19)) AS INTEGER)"
        " - CAST(strftime('%s', substr(ca, 1, 19)) AS INTEGER)) * 1000000"
        " + CAST(substr(coa, 21, 6) AS INTEGER) - CAST(substr(ca, 21, 6) AS INTEGER) END"
    )
    technique = (
        "CASE WHEN tj IS NULL OR tj = '[]' THEN ''"
        " WHEN substr(tj, 1, 2) = '[\"' AND substr(tj, -2) = '\"]' AND length(tj) >= 4"
        f" AND instr(tj, '\\') = 0 AND tj NOT GLOB {_CONTROL}"
        " THEN replace(substr(tj, 3, length(tj) - 4), '\",\"', '; ') END"
    )
    checked = (
        f"SELECT *, {_timestamp_ok('ca')} AS ca_ok, {_timestamp_ok('ua')} AS ua_ok,"
        f" {_timestamp_ok('coa')} AS coa_ok, {technique} AS tech"
        f" FROM (SELECT {values}{source} LIMIT -1 OFFSET 0) LIMIT -1 OFFSET 0"
    )
    with_micro = f"SELECT *, {micro} AS mu FROM ({checked}) LIMIT -1 OFFSET 0"

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
            *(number_ok(x) for x in ("si", "sp", "ac")),
            "ca_ok AND ua_ok AND coa_ok",
            "(mu IS NULL OR mu <= 0 OR (mu < 500000000000000 AND mu % 100 <> 50))",
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
        *(number_cell(x) for x in ("si", "sp", "ac")),
        duration,
        *(_timestamp_cell(t) for t in ("ca", "ua", "coa")),
    ]
    post = " || ',' || ".join(f"({c})" for c in cells)
    # A session id starting with "[" would look like the export's marker for Python's rows.
    pre_ok = f"{plain_text('sid')} AND substr(sid, 1, 1) <> '[' AND {plain_text('mid')}"
    return (
        f"SELECT sid, CASE WHEN {pre_ok} AND {plain_text('nm')} AND {ok}"
        f" THEN sid || ',' || mid || ',' || nm || ',' || {post} END FROM ({with_micro})"
    )


# -- PostgreSQL: stored generated columns (IMMUTABLE expressions only) ---------------------------
#
# Nothing here may depend on a setting: no to_char() or timestamp/float output (DateStyle,
# extra_float_digits), only integer arithmetic and text functions. Cells must also pass COPY's
# text format unchanged: no backslash and no control character.
PG_FUNCTION = "export_post_v1"  # a new definition needs a new name: stored values are not redone
PG_COLUMNS = ("export_pre", "export_post")
PG_MODEL_COLUMN = "export_name"
_PG_UNSAFE = r"""'^[ =+@\u3000\uff1d\uff0b\uff0d\uff20-]|[\x01-\x1f,"\\]'"""


def _pg_plain(x: str) -> str:
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
    """datetime.isoformat() + '+00:00' from the fields (to_char() is only STABLE)."""

    def two(field: str) -> str:
        return f"lpad(extract({field} FROM {t})::int::text, 2, '0')"

    micro = f"(extract(microseconds FROM {t})::bigint % 1000000)"
    return (
        f"CASE WHEN {t} IS NULL THEN '' ELSE lpad(extract(year FROM {t})::int::text, 4, '0') || '-'"
        f" || {two('month')} || '-' || {two('day')} || 'T' || {two('hour')} || ':' || {two('minute')}"
        f" || ':' || lpad((extract(microseconds FROM {t})::bigint / 1000000)::text, 2, '0')"
        f" || CASE WHEN {micro} = 0 THEN '' ELSE '.' || lpad({micro}::text, 6, '0') END"
        " || '+00:00' END"
    )


def _pg_function() -> str:
    """``export_post_v1(status, criteria, results, total_steps, completed_steps, created_at,
    updated_at, completed_at)``: the ``post`` cell or NULL (the proofs of core/export.py).

    PL/pgSQL, not SQL: a SQL function that cannot be inlined is planned again in every
    statement that calls it (milliseconds on each platform write); PL/pgSQL keeps its plans
    for the session and evaluates each value once.
    """
    expressions = _expressions("postgresql")
    ts_ok = {t: pg_timestamp_ok(t) for t in ("ca", "ua", "coa")}
    values = [
        ("st", "text", "status"),
        (
            "pr",
            "double precision",
            f"CAST(coalesce(({expressions['progress'].replace('{t}', '')}), 0) AS double precision)",
        ),
        ("tj", "text", f"({expressions['techniques_json'].replace('{t}', '')})"),
        *(
            (name[:2], "double precision", f"({expressions[name].replace('{t}', '')})")
            for name in ("size_reduction", "speed_improvement", "accuracy_delta")
        ),
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
            for x in ("si", "sp", "ac")
        ),
        # Guarded: a float8 product that overflows is an error, and would fail the platform's write.
        *(
            (
                f"tie_{x}",
                "double precision",
                f"CASE WHEN abs({x}) < 100000000"
                f" THEN abs(abs({x}) * 10000 - trunc(abs({x}) * 10000) - 0.5) END",
            )
            for x in ("si", "sp", "ac")
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
            " THEN replace(substr(tj, 3, length(tj) - 4), '\", \"', '; ') END",
        ),
    ]

    def number_ok(x: str) -> str:
        return f"({x} IS NULL OR ({x} <> 0 AND abs({x}) < 100000000 AND tie_{x} > {MAX_TIE_DISTANCE}))"

    def number_cell(x: str) -> str:
        sign = f"CASE WHEN {x} < 0 THEN '-' ELSE '' END"
        return f"CASE WHEN {x} IS NULL THEN '' ELSE {pg_decimal(sign, f'n_{x}', 4)} END"

    ok = " AND ".join(
        [
            f"st IS NOT NULL AND {_pg_plain('st')}",
            f"pr = pr AND abs(pr) < 100000000 AND tie_pr > {MAX_TIE_DISTANCE}",
            f"tech IS NOT NULL AND {_pg_plain('tech')} AND strpos(tech, '\"') = 0",
            *(number_ok(x) for x in ("si", "sp", "ac")),
            "ts_ok",
            "(mu IS NULL OR mu <= 0 OR (mu < 500000000000000 AND mu % 100 <> 50))",
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
        *(number_cell(x) for x in ("si", "sp", "ac")),
        duration,
        *(_pg_timestamp_cell(t) for t in ("ca", "ua", "coa")),
    ]
    line = " || ',' || ".join(f"({c})" for c in cells)
    declarations = " ".join(f"{name} {type_} := {expression};" for name, type_, expression in values)
    return (
        f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}(status text, criteria jsonb, results jsonb,"
        " total_steps integer, completed_steps integer, created_at timestamp, updated_at timestamp,"
        " completed_at timestamp) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$"
        f" DECLARE {declarations} BEGIN RETURN CASE WHEN {ok} THEN {line} END; END $fn$"
    )


def _pg_pre() -> str:
    # A session id starting with "[" would look like the export's marker for Python's rows.
    return (
        f"CASE WHEN {_pg_plain('session_id')} AND left(session_id, 1) <> '['"
        f" AND {_pg_plain('model_id')} THEN session_id || ',' || model_id END"
    )


def _init_postgresql(connection: Connection) -> None:
    # psycopg reads "%" as a placeholder even without parameters: doubled, it is "%" again.
    connection.exec_driver_sql(_pg_function().replace("%", "%%"))
    present = set(
        connection.exec_driver_sql(
            "SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute WHERE attrelid IN"
            f" (to_regclass('{SESSIONS}'), to_regclass('models')) AND NOT attisdropped"
        ).scalars()
    )
    additions = []
    if f"{SESSIONS}.export_pre" not in present:
        additions.append(f"ADD COLUMN export_pre text GENERATED ALWAYS AS ({_pg_pre()}) STORED")
    if f"{SESSIONS}.export_post" not in present:
        additions.append(
            f"ADD COLUMN export_post text GENERATED ALWAYS AS ({PG_FUNCTION}(status, criteria, results,"
            " total_steps, completed_steps, created_at, updated_at, completed_at)) STORED"
        )
    if additions:  # one rewrite of the table for both
        connection.exec_driver_sql(f"ALTER TABLE {SESSIONS} {', '.join(additions)}")
    if f"models.{PG_MODEL_COLUMN}" not in present:
        connection.exec_driver_sql(
            f"ALTER TABLE models ADD COLUMN {PG_MODEL_COLUMN} text GENERATED ALWAYS AS"
            f" (CASE WHEN {_pg_plain('name')} THEN name END) STORED"
        )


def _sqlite_statements() -> list[str]:
    # Never INSERT OR REPLACE in a trigger: the conflict policy of the statement that fired it
    # (an UPSERT's ABORT, INSERT OR IGNORE) overrides the trigger's own. Delete, then insert.
    def of_session(session: str) -> str:
        return f"DELETE FROM {CELLS_TABLE} WHERE session_id = {session};"

    def of_model(model: str) -> str:
        where = f" WHERE s.model_id = {model}"
        return (
            f"DELETE FROM {CELLS_TABLE} WHERE session_id IN"
            f" (SELECT session_id FROM {SESSIONS} WHERE model_id = {model});"
            f" INSERT INTO {CELLS_TABLE} (session_id, line) {cells_select('s', where)};"
        )

    insert = f"INSERT INTO {CELLS_TABLE} (session_id, line) {cells_select('NEW')};"
    return [
        f"CREATE TABLE IF NOT EXISTS {CELLS_TABLE} (session_id TEXT PRIMARY KEY, line TEXT) WITHOUT ROWID",
        *(f"DROP TRIGGER IF EXISTS {name}" for name in (*_TRIGGERS, *_MODEL_TRIGGERS)),
        # REPLACE removes the conflicting row without delete triggers: its line goes here, as
        # the incoming row has its session_id.
        f"CREATE TRIGGER {_TRIGGERS[0]} AFTER INSERT ON {SESSIONS} BEGIN"
        f" {of_session('NEW.session_id')} {insert} END",
        # UPDATE OR REPLACE may also have removed the row that held NEW.session_id.
        f"CREATE TRIGGER {_TRIGGERS[1]} AFTER UPDATE ON {SESSIONS} BEGIN"
        f" {of_session('OLD.session_id')} {of_session('NEW.session_id')} {insert} END",
        f"CREATE TRIGGER {_TRIGGERS[2]} AFTER DELETE ON {SESSIONS} BEGIN {of_session('OLD.session_id')} END",
        # A model's name is in its sessions' lines (REPLACE on models keeps the model_id).
        f"CREATE TRIGGER {_MODEL_TRIGGERS[0]} AFTER INSERT ON models BEGIN {of_model('NEW.model_id')} END",
        f"CREATE TRIGGER {_MODEL_TRIGGERS[1]} AFTER UPDATE OF model_id, name ON models BEGIN"
        f" {of_model('OLD.model_id')} {of_model('NEW.model_id')} END",
        f"CREATE TRIGGER {_MODEL_TRIGGERS[2]} AFTER DELETE ON models BEGIN {of_model('OLD.model_id')} END",
    ]


def init_export_cells(connection: Connection) -> None:
    """Add ``export_cells`` and its triggers (idempotent); fill it once, from the rows as they are.

    Runs inside init-db's transaction: writers are locked out from the trigger's creation to the
    fill, so no row is missed. Triggers are replaced every time (an older definition is updated);
    the table is refilled only when it is new.
    """
    if connection.dialect.name == "postgresql":
        _init_postgresql(connection)
        return
    if connection.dialect.name != "sqlite":
        return
    columns = {r[1] for r in connection.exec_driver_sql(f"PRAGMA table_info({CELLS_TABLE})")}
    if columns and columns != {"session_id", "line"}:  # an earlier layout: made again
        connection.exec_driver_sql(f"DROP TABLE {CELLS_TABLE}")
    for statement in _sqlite_statements():
        connection.exec_driver_sql(statement)
    if columns != {"session_id", "line"}:
        connection.exec_driver_sql(
            f"INSERT OR REPLACE INTO {CELLS_TABLE} (session_id, line) {cells_select('s')}"
        )


def has_export_cells(connection: Connection) -> bool:
    """Whether this database keeps ``export_cells`` (the table and all its triggers).

    Asked at each export (one small catalogue read): a database initialised while the dashboard
    runs is used at once, and one without them takes the plain path.
    """
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_attribute WHERE attgenerated = 's' AND NOT attisdropped AND"
            f" ((attrelid = to_regclass('{SESSIONS}') AND attname IN ('export_pre', 'export_post'))"
            f" OR (attrelid = to_regclass('models') AND attname = '{PG_MODEL_COLUMN}'))"
        ).scalar_one()
        return found == 3
    if connection.dialect.name != "sqlite":
        return False
    names = {
        r[0]
        for r in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE (type = 'table' AND name = ?)"
            " OR (type = 'trigger' AND name IN (?, ?, ?, ?, ?, ?))",
            (CELLS_TABLE, *_TRIGGERS, *_MODEL_TRIGGERS),
        )
    }
    return names == {CELLS_TABLE, *_TRIGGERS, *_MODEL_TRIGGERS}
