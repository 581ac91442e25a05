"""The dashboard's entry point: ``streamlit run server.py`` (what ``bash scripts/run`` does).

``st.App`` serves the Streamlit app (``app.py`` and the ``pages/`` folder beside it, exactly as
``streamlit run app.py`` would: classic multipage mode, ``.streamlit/config.toml``, the login
gate at the top of every page) plus the dashboard's own HTTP routes, collected in
``web/routes.py`` (today the Sessions page's "Download CSV", streamed from the database by
``web/download.py``; ``st.download_button`` would hold the whole file in memory, this route
never does). Under plain ``streamlit run app.py`` those routes do not exist; the Sessions page
then offers small exports in the page and says how to start the dashboard for large ones.

``streamlit run`` finds the module-level ``app`` below and serves it with uvicorn; its usual
flags (``--server.port``, ``--server.address``, ...) apply as always.
"""

from __future__ import annotations

import streamlit as st
from streamlit import config as _config

from web.routes import app_routes
from web.tcp import enable_tcp_nodelay

enable_tcp_nodelay()  # before Streamlit binds its socket: see web/tcp.py

app = st.App("app.py", routes=app_routes(_config.get_option("server.baseUrlPath") or ""))
