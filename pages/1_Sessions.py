"""Sessions: filter, sort, page, inspect and export optimization sessions; the view is the URL.

Data flows one way: the URL and the sidebar widgets become a view (a SessionFilter plus
screen-only choices), the core queries the database for it, and the ui renderers draw the
result. Nothing here queries or decides rules; each line is one part of the page.
"""

from __future__ import annotations

from ui.auth import require_login
from ui.charts import render_charts
from ui.data import current_settings
from ui.detail import render_detail
from ui.errors import database_guard, show_problems
from ui.shell import page_setup
from ui.sidebar import current_view, render_filters
from ui.summary import render_data_issue_notice, render_metric_cards, render_page_header
from ui.table import render_sessions_table

page_setup("Sessions")
user = require_login()

settings = current_settings()
render_page_header()
with database_guard():
    synced = current_view(settings)
    view = synced.view
    show_problems(synced.problems)
    render_filters(settings, view)
    render_metric_cards(settings, view.filter)
    render_data_issue_notice(settings, view.filter)
    render_sessions_table(settings, view)
    render_charts(settings, view.filter)
    render_detail(settings, view)
