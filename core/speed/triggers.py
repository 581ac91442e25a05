"""The triggers that keep the copy's technique table, search index and per-status counts current.

Everything here is maintained by the copy's database itself, so the rows each sync upserts or
deletes keep it correct with no rebuild step; the fill functions run once, when ``init_db``
first adds a structure to rows that already exist.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from core.speed.capabilities import sqlite_objects
from core.speed.expressions import SESSIONS
from core.speed.tables import COUNT_SLOTS, COUNTS_TABLE, KEYS_TABLE, SEARCH_TABLE, TECHNIQUES_TABLE

_SQLITE_TECHNIQUES_OF = (
    "SELECT {row}.session_id, value FROM json_each(CASE WHEN json_valid({row}.criteria)"
    " AND json_type({row}.criteria, '$.techniques') = 'array'"
    " THEN json_extract({row}.criteria, '$.techniques') ELSE '[]' END) WHERE type = 'text'"
)
_PG_TECHNIQUES_OF = (
    "SELECT {row}.session_id, e #>> '{{}}' FROM jsonb_array_elements(CASE WHEN"
    " jsonb_typeof(CAST({row}.criteria AS jsonb) -> 'techniques') = 'array'"
    " THEN CAST({row}.criteria AS jsonb) -> 'techniques' ELSE '[]'::jsonb END) AS e"
    " WHERE jsonb_typeof(e) = 'string'"
)

# The search index, the key table and the per-status counts change together. REPLACE (and
# UPDATE OR REPLACE) delete the conflicting row without firing delete triggers, so every insert
# first undoes whatever the key table still records for the incoming session_id. The search
# index gets its own rowids (recorded in the key table), never the table's implicit rowid, which
# VACUUM may renumber.
_SQLITE_FORGET = (
    f" UPDATE {COUNTS_TABLE} SET sessions = sessions - 1"
    f" WHERE status = (SELECT status FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id);"
    f" DELETE FROM {SEARCH_TABLE}"
    f" WHERE rowid = (SELECT search_rowid FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id);"
    f" DELETE FROM {KEYS_TABLE} WHERE session_id = {{row}}.session_id;"
)
_SQLITE_RECORD = (
    f" INSERT INTO {SEARCH_TABLE} (session_id) VALUES (NEW.session_id);"
    f" INSERT INTO {KEYS_TABLE} (session_id, search_rowid, status)"
    " VALUES (NEW.session_id, last_insert_rowid(), NEW.status);"
    f" INSERT INTO {COUNTS_TABLE} (status, sessions) VALUES (NEW.status, 1)"
    " ON CONFLICT (status) DO UPDATE SET sessions = sessions + 1;"
)
_SQLITE_OLD_TRIGGERS = ("trg_search_insert", "trg_search_update", "trg_search_delete")
_SQLITE_TRIGGERS = (
    "trg_techniques_insert",
    "trg_techniques_update",
    "trg_techniques_delete",
    "trg_keys_insert",
    "trg_keys_update",
    "trg_keys_delete",
)
# The trigger whose absence means the technique table must be filled from the rows.
SQLITE_TECHNIQUES_TRIGGER = "trg_techniques_insert"


# Session ids only: model ids are few (core.query.search matches them in agg_models), and their
# trigrams ("mdl", "dl-") in every row would make each search read a doclist of every session.
SQLITE_SEARCH_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5(session_id, tokenize = 'trigram')"
)


def sqlite_triggers() -> list[str]:
    """SQLite: the triggers keeping techniques, search, keys and counts, replaced every time so a
    database initialised by an older version gets the current definitions."""
    techniques_of = _SQLITE_TECHNIQUES_OF.format(row="NEW")
    return [
        *(f"DROP TRIGGER IF EXISTS {name}" for name in (*_SQLITE_OLD_TRIGGERS, *_SQLITE_TRIGGERS)),
        # REPLACE deletes without firing delete triggers, so inserts clear stale rows first.
        f"CREATE TRIGGER trg_techniques_insert AFTER INSERT ON {SESSIONS} BEGIN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = NEW.session_id;"
        f" INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}; END",
        # UPDATE OR REPLACE may also have removed the row that held NEW.session_id.
        f"CREATE TRIGGER trg_techniques_update AFTER UPDATE OF session_id, criteria"
        f" ON {SESSIONS} BEGIN DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id;"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = NEW.session_id;"
        f" INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}; END",
        f"CREATE TRIGGER trg_techniques_delete AFTER DELETE ON {SESSIONS} BEGIN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id; END",
        f"CREATE TRIGGER trg_keys_insert AFTER INSERT ON {SESSIONS} BEGIN"
        f"{_SQLITE_FORGET.format(row='NEW')}{_SQLITE_RECORD} END",
        f"CREATE TRIGGER trg_keys_update AFTER UPDATE OF session_id, status"
        f" ON {SESSIONS} BEGIN{_SQLITE_FORGET.format(row='OLD')}"
        f"{_SQLITE_FORGET.format(row='NEW')}{_SQLITE_RECORD} END",
        f"CREATE TRIGGER trg_keys_delete AFTER DELETE ON {SESSIONS} BEGIN"
        f"{_SQLITE_FORGET.format(row='OLD')} END",
    ]


def drop_old_search_index(connection: Connection) -> None:
    """Drop a search index made by an earlier version (it also indexed model ids), so it is
    built again as it is now; the dashboard reads either correctly in the meantime."""
    if SEARCH_TABLE not in sqlite_objects(connection, "table"):
        return
    columns = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({SEARCH_TABLE})")}
    if "model_id" in columns:
        connection.exec_driver_sql(f"DROP TABLE {SEARCH_TABLE}")


def rebuild_sqlite_keys(connection: Connection) -> None:
    """Fill the search index, key table and counts from the rows as they are (bulk, once)."""
    for name in (SEARCH_TABLE, KEYS_TABLE, COUNTS_TABLE):
        connection.exec_driver_sql(f"DELETE FROM {name}")
    connection.exec_driver_sql(
        f"INSERT INTO {SEARCH_TABLE} (rowid, session_id) SELECT rowid, session_id FROM {SESSIONS}"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {KEYS_TABLE} (session_id, search_rowid, status)"
        f" SELECT session_id, rowid, status FROM {SESSIONS}"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {COUNTS_TABLE} (status, sessions)"
        f" SELECT status, count(*) FROM {SESSIONS} GROUP BY status"
    )


def backfill_techniques(connection: Connection) -> None:
    """Fill the technique table from rows written before its triggers existed."""
    if connection.dialect.name == "sqlite":
        techniques_of = _SQLITE_TECHNIQUES_OF.format(row="s")
        connection.exec_driver_sql(
            f"INSERT OR IGNORE INTO {TECHNIQUES_TABLE} (session_id, technique)"
            f" {techniques_of.replace('FROM json_each', f'FROM {SESSIONS} s, json_each')}"
        )
    else:
        techniques_of = _PG_TECHNIQUES_OF.format(row="s")
        connection.exec_driver_sql(
            f"INSERT INTO {TECHNIQUES_TABLE} (session_id, technique)"
            f" {techniques_of.replace('FROM jsonb_array', f'FROM {SESSIONS} s, jsonb_array')}"
            " ON CONFLICT DO NOTHING"
        )


# PostgreSQL: the trigger whose absence means the technique table must be filled from the rows.
PG_TECHNIQUES_TRIGGER = "trg_session_techniques"
PG_COUNTS_TRIGGER = "trg_session_counts_insert"


def pg_techniques_statements() -> list[str]:
    """PostgreSQL: the row trigger that keeps the technique table."""
    techniques_of = _PG_TECHNIQUES_OF.format(row="NEW")
    return [
        "CREATE OR REPLACE FUNCTION sync_session_techniques() RETURNS trigger AS $$ BEGIN"
        f" IF TG_OP IN ('UPDATE', 'DELETE') THEN"
        f" DELETE FROM {TECHNIQUES_TABLE} WHERE session_id = OLD.session_id; END IF;"
        f" IF TG_OP IN ('INSERT', 'UPDATE') THEN"
        f" INSERT INTO {TECHNIQUES_TABLE} (session_id, technique) {techniques_of}"
        " ON CONFLICT DO NOTHING; END IF; RETURN NULL; END $$ LANGUAGE plpgsql",
        f"DROP TRIGGER IF EXISTS {PG_TECHNIQUES_TRIGGER} ON {SESSIONS}",
        f"CREATE TRIGGER {PG_TECHNIQUES_TRIGGER} AFTER INSERT OR UPDATE OF session_id, criteria"
        f" OR DELETE ON {SESSIONS} FOR EACH ROW EXECUTE FUNCTION sync_session_techniques()",
    ]


def pg_counts_statements() -> list[str]:
    """PostgreSQL: the triggers of the per-status counts, spread over slots."""
    slot = f"mod(pg_backend_pid(), {COUNT_SLOTS})"
    upsert = (
        f" ON CONFLICT (status, slot) DO UPDATE SET sessions = {COUNTS_TABLE}.sessions + EXCLUDED.sessions;"
    )
    return [
        # Statement level with transition tables: a bulk insert or delete is one update a status.
        "CREATE OR REPLACE FUNCTION session_counts_insert() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) SELECT status, {slot}, count(*)"
        f" FROM new_rows GROUP BY status{upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION session_counts_delete() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) SELECT status, {slot}, -count(*)"
        f" FROM old_rows GROUP BY status{upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        # Row level, and only when the status really changes (progress updates are frequent).
        "CREATE OR REPLACE FUNCTION session_counts_update() RETURNS trigger AS $$ BEGIN"
        f" INSERT INTO {COUNTS_TABLE} (status, slot, sessions) VALUES (OLD.status, {slot}, -1),"
        f" (NEW.status, {slot}, 1){upsert} RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION session_counts_truncate() RETURNS trigger AS $$ BEGIN"
        f" DELETE FROM {COUNTS_TABLE}; RETURN NULL; END $$ LANGUAGE plpgsql",
        *(
            f"DROP TRIGGER IF EXISTS {name} ON {SESSIONS}"
            for name in (
                PG_COUNTS_TRIGGER,
                "trg_session_counts_delete",
                "trg_session_counts_update",
                "trg_session_counts_truncate",
            )
        ),
        f"CREATE TRIGGER {PG_COUNTS_TRIGGER} AFTER INSERT ON {SESSIONS}"
        " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_insert()",
        f"CREATE TRIGGER trg_session_counts_delete AFTER DELETE ON {SESSIONS}"
        " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_delete()",
        f"CREATE TRIGGER trg_session_counts_update AFTER UPDATE OF status ON {SESSIONS} FOR EACH ROW"
        " WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION session_counts_update()",
        f"CREATE TRIGGER trg_session_counts_truncate AFTER TRUNCATE ON {SESSIONS}"
        " FOR EACH STATEMENT EXECUTE FUNCTION session_counts_truncate()",
    ]


def fill_pg_counts(connection: Connection) -> None:
    """PostgreSQL: the per-status counts from the rows as they are (bulk, once)."""
    connection.exec_driver_sql(f"DELETE FROM {COUNTS_TABLE}")
    connection.exec_driver_sql(
        f"INSERT INTO {COUNTS_TABLE} (status, slot, sessions)"
        f" SELECT status, 0, count(*) FROM {SESSIONS} GROUP BY status"
    )
