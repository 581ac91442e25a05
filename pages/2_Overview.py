"""Overview: is optimization paying off, and which techniques work? (for managers)

Headline cards with their change against the previous period, sessions over time, the
size/speed trade-off with its Pareto front, techniques compared, and models ranked by their
best session, all for the sidebar's filters, which live in the URL like the Sessions page's.
"""

from __future__ import annotations

from core.config import load_settings
from ui.auth import require_login
from ui.overview import render_overview
from ui.shell import page_setup

page_setup("Overview")
user = require_login()
render_overview(load_settings())
