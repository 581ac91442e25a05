"""Home: the entry point of the dashboard. Who is signed in, what the database holds, where next.

Engineers and admins also find their API tokens here ("API access", :mod:`ui.api_access`).

Like every page it starts with the login gate; nothing below ``require_login()`` runs for a
visitor who has not signed in.
"""

from __future__ import annotations

import streamlit as st

from core.config import load_settings
from ui.api_access import render_api_access
from ui.auth import require_login
from ui.home import load_latest, render_database_summary, render_latest_sessions
from ui.shell import escape_markdown, page_setup

page_setup("Home")
user = require_login()

st.title("Model optimization sessions")
st.markdown(
    f"Welcome, **{escape_markdown(user.name)}**. Pick a page in the sidebar to browse, filter "
    "and compare the sessions of the optimization platform."
)
settings = load_settings()
latest = load_latest(settings)
render_database_summary(settings, latest)
render_latest_sessions(settings, latest)
render_api_access(user)  # engineers and admins only
