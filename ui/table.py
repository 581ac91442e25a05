"""The sessions table: one page of rows in ``st.dataframe``, its toolbar and its pager.

Why it is built this way:

* The database sorts and pages; pandas only carries the (at most 100) visible rows to the
  grid. The grid's own header sort would reorder just this page, so column *selection* is
  switched on instead (which turns that client-side sort off): clicking a header selects the
  column, and the selection handler turns it into the server-side sort of the sidebar.
* The table and its pager run in a fragment. With running or pending sessions on screen and
  auto-refresh on, the fragment reruns every few seconds: only the table is redrawn, so the
  filters, the charts and the page's scroll position stay where they are.
* Rows are ticked, not clicked: one freshly ticked row opens that session's detail (its id
  goes into the URL as ``session``); 2 to 5 ticked rows offer "Compare N sessions", a link to
  the Compare page (``?compare=ID&compare=ID``). Ticks are kept by session id, so a refresh
  that moves rows keeps the same sessions ticked; another page, sort or filter clears them.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import streamlit as st

from core.config import Settings
from core.fields import HIDEABLE_KEYS, label
from core.query.compare import MAX_COMPARE, MIN_COMPARE
from core.query.rows import Page
from ui import pacing
from ui.data import load_page, load_techniques
from ui.errors import database_guard
from ui.export import render_downloads
from ui.pager import page_count, render_pager, showing_text
from ui.sidebar import K_COLUMNS, K_REFRESH, current_view, go_to, reset_filters
from ui.table_grid import column_config, page_frame, visible_columns
from ui.table_select import (
    FULL_RERUN,
    current_ticks,
    detail_to_open,
    on_select,
    render_compare_bar,
    request_full_rerun,
    table_key,
)
from ui.timefmt import viewer_timezone
from ui.url_state import declared
from ui.view import ViewState

REFRESH_SECONDS = 5
ROW_HEIGHT = 35


def _reset_everything() -> None:
    """The empty state's way out: the filters, the cards and the charts all change."""
    reset_filters()
    request_full_rerun()


# --- drawing -------------------------------------------------------------------------------------


def render_empty_state() -> None:
    """No matches: a friendly sentence and a way out, never an empty grid."""
    with st.container(border=True):
        st.markdown("#### No sessions match these filters")
        st.caption("Loosen a filter in the sidebar, or start again from all sessions.")
        st.button("Reset filters", key="sessions_reset_empty", on_click=_reset_everything, type="primary")


def _render_toolbar(settings: Settings, view: ViewState, page: Page, live: bool) -> None:
    text_col, tools_col = st.columns([0.9, 2], vertical_alignment="center")
    sort_label = label(view.filter.sort).lower()
    direction = "descending" if view.filter.order == "desc" else "ascending"
    text_col.markdown(f"{showing_text(page)}  \n:gray[sorted by {sort_label}, {direction}]")
    tools = tools_col.container(horizontal=True, horizontal_alignment="right", vertical_alignment="center")
    tools.toggle(
        "Auto-refresh",
        value=declared(K_REFRESH, view.auto_refresh, False),
        key=K_REFRESH,
        on_change=request_full_rerun,
        help=f"Reload running and pending sessions every {REFRESH_SECONDS} s."
        + ("" if live else " Nothing on this page is running right now."),
    )
    with tools.popover("Columns", icon=":material/view_column:"):
        st.multiselect(
            "Visible columns",
            list(HIDEABLE_KEYS),
            key=K_COLUMNS,
            format_func=label,
            default=declared(K_COLUMNS, [k for k in HIDEABLE_KEYS if k not in view.hidden]),
            help="Hidden columns are remembered in the link.",
        )
    render_downloads(settings, view, page, tools, tools)


def _has_live_rows(page: Page) -> bool:
    return any(r.status in ("running", "pending") for r in page.rows)


def _sessions_fragment(settings: Settings) -> None:
    """Toolbar, grid and pager; reruns on its own while live sessions are on screen."""
    if st.session_state.pop(FULL_RERUN, False):
        st.rerun(scope="app")
    with database_guard() as guard:
        view = current_view(settings).view
        page = load_page(settings, view.filter)
        if page.total and view.filter.skip >= page.total:
            last = replace(view, filter=view.filter.with_page(page_count(page)))
            st.warning(
                f"`skip={view.filter.skip}` is past the last of the {page.total:,} matching "
                "sessions; showing the last page instead.",
                icon=":material/warning:",
            )
            go_to(last)
            view, page = last, load_page(settings, last.filter)
        techniques = load_techniques(settings)
    if guard.failed:
        return
    if not page.total:
        render_empty_state()
        return
    before, ticked = current_ticks(view, page)
    opened = detail_to_open(before, ticked)
    if opened or (len(ticked) >= MIN_COMPARE and view.session_id):
        # The dialog lives outside this fragment: open (or, comparing, close) it app-wide.
        go_to(replace(view, session_id=opened))
        st.rerun(scope="app")
    zone = viewer_timezone()
    _render_toolbar(settings, view, page, _has_live_rows(page))
    render_compare_bar(ticked)
    st.dataframe(
        page_frame(page.rows, zone),
        key=table_key(),
        hide_index=True,
        column_order=visible_columns(view),
        column_config=column_config(view, zone, techniques),
        on_select=partial(on_select, view),
        selection_mode=["multi-row", "single-column"],
        height=min(len(page.rows), 20) * ROW_HEIGHT + ROW_HEIGHT + 3,
        row_height=ROW_HEIGHT,
        placeholder="",
    )
    render_pager(view, page)
    zone_note = f"Times in {zone}." if zone != "UTC" else "Times in UTC."
    refresh_note = (
        f" Live: refreshing every {REFRESH_SECONDS} s." if view.auto_refresh and _has_live_rows(page) else ""
    )
    st.caption(
        f"{zone_note}{refresh_note} Click a column header to sort all matches. Tick a "
        f"row's box to open that session's details; tick {MIN_COMPARE} to {MAX_COMPARE} rows to "
        "compare them side by side."
    )


def render_sessions_table(settings: Settings, view: ViewState) -> None:
    """The table section; auto-refreshing while running or pending sessions are on screen.

    A database failure here propagates: the page's ``database_guard`` shows it once, with its
    Retry button, and skips the rest of the page (cards, charts, filters), which would fail too.
    """
    page = load_page(settings, view.filter)
    live = view.auto_refresh and _has_live_rows(page)
    st.fragment(_sessions_fragment, run_every=REFRESH_SECONDS if live else None)(settings)
    pacing.table_handed_over(page.total)  # the cards, charts and counts let it paint first
