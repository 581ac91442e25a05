"""Per-session CSV cells kept by the database, so an export reads text instead of JSON.

The export's costs are per row and do not depend on the filter: SQLite re-parses each row's
JSON several times to read the metrics, progress and techniques, and Python then formats
numbers, timestamps and durations. None of that depends on anything but the session's own
row, so ``init-db`` adds a table, ``export_cells``, holding per session the CSV text of every
cell except the model name (which comes from ``models`` at read time):

* ``line``: the session's whole CSV line, or NULL when the SQL cannot prove its text is exactly
  what ``core.export.cells.csv_record`` and ``csv.writer`` write (the same proofs as the PostgreSQL
  COPY path, written up in :mod:`core.export.copy`); the export then formats that row in Python.

The line holds the model's name too, so the export reads neither ``models`` (SQLite drops the
unused LEFT JOIN) nor the JSON: one index walk and one primary-key lookup a row. Triggers on
both tables keep it current under plain-SQL inserts, updates, deletes and REPLACE (a model's
change recomputes its sessions' lines); there is no rebuild step.

On PostgreSQL the same two cells are STORED generated columns of ``optimization_sessions``
(``export_pre``, ``export_post``; the latter through an IMMUTABLE SQL function, so each value is
extracted once), and ``models`` gets ``export_name``: the name when it is a plain cell, else
NULL. The COPY export then only joins and concatenates; no trigger is needed.

The SQL that writes the cells is :mod:`core.speed.export_cells_sql`.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.speed.export_cells_sql import PG_FUNCTION, cells_select, pg_function, pg_plain
from core.speed.expressions import SESSIONS

CELLS_TABLE = "export_cells"
TRIGGERS = ("trg_export_cells_insert", "trg_export_cells_update", "trg_export_cells_delete")
MODEL_TRIGGERS = (
    "trg_export_cells_model_insert",
    "trg_export_cells_model_update",
    "trg_export_cells_model_delete",
)
PG_MODEL_COLUMN = "export_name"


def _pg_pre() -> str:
    # A session id starting with "[" would look like the export's marker for Python's rows.
    return (
        f"CASE WHEN {pg_plain('session_id')} AND left(session_id, 1) <> '['"
        f" AND {pg_plain('model_id')} THEN session_id || ',' || model_id END"
    )


def _init_postgresql(connection: Connection) -> None:
    # psycopg reads "%" as a placeholder even without parameters: doubled, it is "%" again.
    connection.exec_driver_sql(pg_function().replace("%", "%%"))
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
            f" (CASE WHEN {pg_plain('name')} THEN name END) STORED"
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
        *(f"DROP TRIGGER IF EXISTS {name}" for name in (*TRIGGERS, *MODEL_TRIGGERS)),
        # REPLACE removes the conflicting row without delete triggers: its line goes here, as
        # the incoming row has its session_id.
        f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON {SESSIONS} BEGIN"
        f" {of_session('NEW.session_id')} {insert} END",
        # UPDATE OR REPLACE may also have removed the row that held NEW.session_id.
        f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE ON {SESSIONS} BEGIN"
        f" {of_session('OLD.session_id')} {of_session('NEW.session_id')} {insert} END",
        f"CREATE TRIGGER {TRIGGERS[2]} AFTER DELETE ON {SESSIONS} BEGIN {of_session('OLD.session_id')} END",
        # A model's name is in its sessions' lines (REPLACE on models keeps the model_id).
        f"CREATE TRIGGER {MODEL_TRIGGERS[0]} AFTER INSERT ON models BEGIN {of_model('NEW.model_id')} END",
        f"CREATE TRIGGER {MODEL_TRIGGERS[1]} AFTER UPDATE OF model_id, name ON models BEGIN"
        f" {of_model('OLD.model_id')} {of_model('NEW.model_id')} END",
        f"CREATE TRIGGER {MODEL_TRIGGERS[2]} AFTER DELETE ON models BEGIN {of_model('OLD.model_id')} END",
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
            (CELLS_TABLE, *TRIGGERS, *MODEL_TRIGGERS),
        )
    }
    return names == {CELLS_TABLE, *TRIGGERS, *MODEL_TRIGGERS}
