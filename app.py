"""Home: the entry point of the dashboard. Who is signed in, what the database holds, where next.

Like every page it starts with the login gate; nothing below ``require_login()`` runs for a
visitor who has not signed in.
"""

from __future__ import annotations

import streamlit as st

from core.config import load_settings
from ui.auth import require_login
from ui.home import show_database_summary
from ui.shell import escape_markdown, page_setup

page_setup("Home")
user = require_login()

st.title("Model optimization sessions")
st.markdown(
    f"Welcome, **{escape_markdown(user.name)}**. Pick a page in the sidebar to browse, filter "
    "and compare the sessions of the optimization platform."
)
show_database_summary(load_settings())

# --- First page of sessions -------------------------------------------------------------
# The core engineer replaces this placeholder with the first page of the sessions table.
st.info("The latest sessions will be listed here.", icon=":material/table_rows:")
