"""The home page's content: what the database holds, whether it is demo data, the latest sessions.

It reads through :mod:`ui.data` like every page (one shared engine, the demo database created
on a first start) and draws the latest sessions with the Sessions table's own column setup,
so a row looks the same on both pages. Every failure becomes a sentence with what to do,
never a traceback.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import inspect

from core.config import DB_URL_ENV, Settings
from core.query.filter import SessionFilter
from core.query.rows import Page
from core.store.tables import optimization_sessions
from ui.data import DatabaseUnavailable, connect, get_layer, load_page, load_techniques
from ui.errors import database_guard, say_nothing
from ui.shell import escape_markdown
from ui.table_grid import column_config, page_frame
from ui.timefmt import viewer_timezone
from ui.view import ViewState

LATEST = 10
LATEST_COLUMNS = (
    "session_id",
    "model_name",
    "status",
    "progress_percentage",
    "techniques",
    "size_reduction_percent",
    "speed_improvement_percent",
    "created_at",
)


def _has_sessions_table(settings: Settings) -> bool:
    with connect(settings) as connection:
        return inspect(connection).has_table(optimization_sessions.name)


def load_latest(settings: Settings) -> Page | None:
    """The newest sessions and the total, or None after telling the visitor why not."""
    where = f"`{settings.masked_db_url}`"

    def say_why(error: DatabaseUnavailable) -> None:
        st.error(f"Could not read the sessions database {where}: {error.reason}.", icon=":material/error:")

    with database_guard(show=say_why):
        if not _has_sessions_table(settings):
            st.warning(
                f"The database {where} has no sessions table yet. Create it with "
                "`python -m core init-db` (or fill it with demo data: `python -m core demo`).",
                icon=":material/table_view:",
            )
            return None
        return load_page(settings, SessionFilter(limit=LATEST))
    return None


def render_database_summary(settings: Settings, page: Page | None) -> None:
    """One line with the count and which database answers; for the demo, how to point at a
    real one."""
    if page is not None:
        noun = "session" if page.total == 1 else "sessions"
        st.markdown(f"The database holds **{page.total:,}** optimization {noun}.")
        plan = get_layer(settings).plan()
        if plan.uses_copy:
            st.caption(
                "Pages read the dashboard's own copy of the sessions, kept current "
                "within seconds (the speed layer)."
            )
        else:
            st.caption(
                f"Pages read the platform's tables directly, without the speed layer: "
                f"{escape_markdown(plan.reason)}."
            )
    if settings.is_default_database:
        st.info(
            "This is the **demo database**: generated example data, not your platform's. "
            f"To show a real database, set the environment variable `{DB_URL_ENV}` or "
            "`url` under `[connections.sessions]` in `.streamlit/secrets.toml` "
            "(see `.streamlit/secrets.toml.example`).",
            icon=":material/science:",
        )


def render_latest_sessions(settings: Settings, page: Page | None) -> None:
    """The newest sessions, read-only, with a way to the full table."""
    if page is None or not page.rows:
        return
    st.subheader("Latest sessions", anchor=False)
    zone = viewer_timezone()
    techniques: list[str] = []
    with database_guard(show=say_nothing):  # the column's choices only: the rows are shown
        techniques = load_techniques(settings)
    config = column_config(ViewState(), zone, techniques)
    st.dataframe(
        page_frame(page.rows, zone)[list(LATEST_COLUMNS)],
        column_config={key: config[key] for key in LATEST_COLUMNS},
        hide_index=True,
        width="stretch",
    )
    st.page_link(
        "pages/1_Sessions.py", label="Filter, sort and export all sessions", icon=":material/arrow_forward:"
    )
