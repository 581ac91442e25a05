"""Sessions: filter, sort, page, inspect and export optimization sessions; the view is the URL.

Data flows one way: the URL and the sidebar widgets become a view (a SessionFilter plus
screen-only choices), the core queries the database for it, and the ui renderers draw the
result. Nothing here queries or decides rules; each line is one part of the page.

The order is chosen for speed on big databases: the table is drawn first; the metric cards
(shown above it) and the charts are aggregate scans that run in parallel fragments after it,
started before the sidebar's status counts, so the charts need not wait for the counts.
"""

from __future__ import annotations

import streamlit as st

from ui.auth import require_login
from ui.charts import render_charts
from ui.data import current_settings
from ui.detail import render_detail
from ui.errors import database_guard, show_problems
from ui.shell import page_setup
from ui.sidebar import current_view, render_filters
from ui.summary import render_page_header, render_summary
from ui.table import render_sessions_table

page_setup("Sessions")
user = require_login()

settings = current_settings()
render_page_header()
with database_guard():
    synced = current_view(settings)
    view = synced.view
    show_problems(synced.problems)
    summary_slot = st.container()  # the metric cards sit above the table...
    render_sessions_table(settings, view)
    render_summary(settings, view.filter, summary_slot)  # ...but are computed after it
    render_charts(settings, view.filter)  # beside the cards, on the worker pool
    render_filters(settings, view)  # the sidebar: drawn after the table, shown beside it
    render_detail(settings, view)
