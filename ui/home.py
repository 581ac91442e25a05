"""What the home page says about the database: how many sessions, and whether it is demo data.

The engine is shared through ``st.cache_resource`` (a pool is safe to share between
visitors); the count is asked fresh on every visit. Every failure becomes a sentence with
what to do, never a traceback.
"""

from __future__ import annotations

import sys

import streamlit as st
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.config import DB_URL_ENV, Settings
from core.store import make_engine, optimization_sessions


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine(db_url: str, db_url_source: str, statement_timeout_ms: int) -> Engine:
    return make_engine(Settings(db_url, db_url_source, statement_timeout_ms))


def count_sessions(settings: Settings) -> int | None:
    """Sessions in the database, or None after telling the visitor why it is unknown."""
    where = f"`{settings.masked_db_url}`"
    try:
        engine = _engine(settings.db_url, settings.db_url_source, settings.statement_timeout_ms)
        with engine.connect() as connection:
            if not inspect(connection).has_table(optimization_sessions.name):
                st.warning(
                    f"The database {where} has no sessions table yet. Create it with "
                    "`python -m core init-db` (or fill it with demo data: `python -m core demo`).",
                    icon=":material/table_view:",
                )
                return None
            return int(connection.execute(
                select(func.count()).select_from(optimization_sessions)
            ).scalar_one())
    except (SQLAlchemyError, ValueError) as error:
        print(f"[dashboard] counting sessions failed: {error!r}", file=sys.stderr, flush=True)
        detail = str(error).splitlines()[0] if isinstance(error, ValueError) else (
            type(error).__name__
        )
        st.error(f"Could not read the sessions database {where}: {detail}.", icon=":material/error:")
        return None


def show_database_summary(settings: Settings) -> None:
    """One line with the count; for the demo database, how to point at a real one."""
    count = count_sessions(settings)
    if count is not None:
        noun = "session" if count == 1 else "sessions"
        st.markdown(f"The database holds **{count:,}** optimization {noun}.")
    if settings.is_default_database:
        st.info(
            "This is the **demo database**: generated example data, not your platform's. "
            f"To show a real database, set the environment variable `{DB_URL_ENV}` or "
            "`url` under `[connections.sessions]` in `.streamlit/secrets.toml` "
            "(see `.streamlit/secrets.toml.example`).",
            icon=":material/science:",
        )
