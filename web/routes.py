"""Every HTTP route of the dashboard, collected for ``server.py``'s ``st.App(routes=...)``.

Each feature keeps its routes in its own module (``web/download.py``: the CSV export) and
offers them as a list; :func:`app_routes` puts the lists together under the server's base
path. A new feature (an HTTP API) adds its module and one line here.

These routes exist only when the dashboard is started through ``server.py`` (``bash
scripts/run`` or ``streamlit run server.py``): ``streamlit run app.py`` serves the pages but
cannot mount routes of its own. :func:`app_routes` therefore records that it was called, so a
page can tell (:func:`routes_served`) and offer something that works instead of a dead link.
"""

from __future__ import annotations

import os

from starlette.routing import BaseRoute

from web.api.app import api_routes
from web.download import export_routes

# Set in the server's process (inherited by nothing else that matters: the pages run in it).
ROUTES_ENV = "DASHBOARD_HTTP_ROUTES"
START_COMMAND = "bash scripts/run"  # or: streamlit run server.py


def app_routes(base_path: str = "") -> list[BaseRoute]:
    """Every feature's routes under ``server.baseUrlPath`` (``""`` for none); marks them served."""
    os.environ[ROUTES_ENV] = "1"
    return [*export_routes(base_path), *api_routes(base_path)]


def routes_served() -> bool:
    """True when this process serves :func:`app_routes` (started through ``server.py``)."""
    return os.environ.get(ROUTES_ENV) == "1"
