"""The sessions table: one page of rows in ``st.dataframe``, its toolbar and its pager.

Why it is built this way:

* The database sorts and pages; pandas only carries the (at most 100) visible rows to the
  grid. The grid's own header sort would reorder just this page, so column *selection* is
  switched on instead (which turns that client-side sort off): clicking a header selects the
  column, and the selection handler turns it into the server-side sort of the sidebar.
* The table and its pager run in a fragment. With running or pending sessions on screen and
  auto-refresh on, the fragment reruns every few seconds: only the table is redrawn, so the
  filters, the charts and the page's scroll position stay where they are.
* Selecting a row opens that session's detail (its id goes into the URL as ``session``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from core.config import Settings
from core.query import Page, SessionRow
from core.store import STATUSES
from ui.columns import BY_KEY, COLUMNS, HIDEABLE_KEYS, TIMESTAMP_KEYS, label, sortable
from ui.data import DatabaseUnavailable, load_page, load_techniques
from ui.errors import show_database_error
from ui.export import render_downloads
from ui.figures import STATUS_COLORS
from ui.sidebar import K_COLUMNS, K_REFRESH, current_view, declared, go_to, reset_filters
from ui.timefmt import duration_text, viewer_timezone
from ui.view import ViewState

TABLE_KEY = "sessions_table"
K_PAGE = "sessions_page_number"
_PAGE_IDS = "_sessions_page_ids"  # session ids of the rows on screen, for the selection handler
_FULL_RERUN = "_sessions_full_rerun"  # a fragment callback changed something outside it
_TABLE_GENERATION = "_sessions_table_generation"  # bumped to give the grid a fresh selection
REFRESH_SECONDS = 5
ROW_HEIGHT = 35
# Fixed widths (px): the grid does not jump between pages, and tests can find a header.
WIDTHS = {"session_id": 175, "model_name": 150, "model_id": 95, "status": 105,
          "progress_percentage": 115, "techniques": 210, "size_reduction_percent": 125,
          "speed_improvement_percent": 100, "accuracy_delta_percent": 135, "duration": 105,
          "created_at": 165, "updated_at": 165, "completed_at": 165}


# --- rows -> grid --------------------------------------------------------------------------------


def _timestamps(values: Sequence[datetime | None], zone: str) -> pd.Series:
    series = pd.to_datetime(pd.Series(list(values), dtype="object"), utc=True)
    return series.dt.tz_convert(zone)


def page_frame(rows: Sequence[SessionRow], zone: str) -> pd.DataFrame:
    """The visible rows as the grid shows them (timestamps already in the viewer's zone)."""
    frame = pd.DataFrame({
        "session_id": [r.session_id for r in rows],
        "model_name": [r.model_name if r.model_known else f"{r.model_id} (no metadata)"
                       for r in rows],
        "model_id": [r.model_id for r in rows],
        "status": [[r.status] for r in rows],
        "progress_percentage": [r.progress_percentage for r in rows],
        "techniques": [list(r.techniques) for r in rows],
        "size_reduction_percent": pd.array([r.size_reduction_percent for r in rows], dtype="Float64"),
        "speed_improvement_percent": pd.array([r.speed_improvement_percent for r in rows],
                                              dtype="Float64"),
        "accuracy_delta_percent": pd.array([r.accuracy_delta_percent for r in rows], dtype="Float64"),
        "duration": [duration_text(r.duration_seconds) for r in rows],
    })
    for key in TIMESTAMP_KEYS:
        frame[key] = _timestamps([getattr(r, key) for r in rows], zone)
    return frame[[c.key for c in COLUMNS]]


def _header(key: str, view: ViewState) -> str:
    """The column label, with an arrow on the column the table is sorted by."""
    text = label(key)
    if view.filter.sort == key:
        text += " ↓" if view.filter.order == "desc" else " ↑"
    return text


def column_config(view: ViewState, zone: str, techniques: Sequence[str]) -> dict[str, Any]:
    cc = st.column_config

    def helptext(key: str) -> str:
        extra = " Click the header to sort all matches by it." if sortable(key) else ""
        return BY_KEY[key].help + extra

    def stamp(key: str) -> Any:
        return cc.DatetimeColumn(_header(key, view), format="YYYY-MM-DD HH:mm z", timezone=zone,
                                 help=f"{helptext(key)} Shown in {zone}.", width=WIDTHS[key])

    return {
        "session_id": cc.TextColumn(_header("session_id", view), help=helptext("session_id"),
                                    pinned=True, width=WIDTHS["session_id"]),
        "model_name": cc.TextColumn(_header("model_name", view), help=helptext("model_name"),
                                    width=WIDTHS["model_name"]),
        "model_id": cc.TextColumn(_header("model_id", view), help=helptext("model_id"),
                                  width=WIDTHS["model_id"]),
        "status": cc.MultiselectColumn(
            _header("status", view), help=helptext("status"), options=list(STATUSES),
            color=[STATUS_COLORS[s] for s in STATUSES], format_func=str.capitalize,
            width=WIDTHS["status"],
        ),
        "progress_percentage": cc.ProgressColumn(
            _header("progress_percentage", view), help=helptext("progress_percentage"),
            min_value=0, max_value=100, format="%.0f%%", width=WIDTHS["progress_percentage"],
        ),
        "techniques": cc.MultiselectColumn(
            _header("techniques", view), help=helptext("techniques"), options=list(techniques),
            color="auto", format_func=lambda t: t.replace("_", " "),
            width=WIDTHS["techniques"],
        ),
        "size_reduction_percent": cc.NumberColumn(
            _header("size_reduction_percent", view), help=helptext("size_reduction_percent"),
            format="%.1f%%", width=WIDTHS["size_reduction_percent"]),
        "speed_improvement_percent": cc.NumberColumn(
            _header("speed_improvement_percent", view), help=helptext("speed_improvement_percent"),
            format="%.1f%%", width=WIDTHS["speed_improvement_percent"]),
        "accuracy_delta_percent": cc.NumberColumn(
            _header("accuracy_delta_percent", view), help=helptext("accuracy_delta_percent"),
            format="%+.2f pp", width=WIDTHS["accuracy_delta_percent"]),
        "duration": cc.TextColumn(label("duration"), help=helptext("duration"),
                                  alignment="right", width=WIDTHS["duration"]),
        **{key: stamp(key) for key in TIMESTAMP_KEYS},
    }


def visible_columns(view: ViewState) -> list[str]:
    return [c.key for c in COLUMNS if c.key not in view.hidden]


# --- interactions --------------------------------------------------------------------------------


def table_key() -> str:
    return f"{TABLE_KEY}_{st.session_state.get(_TABLE_GENERATION, 0)}"


def _on_select(view: ViewState) -> None:
    """A header click sorts all matches in the database; a row click opens its detail."""
    event = st.session_state.get(table_key()) or {}
    selection = event.get("selection", {}) if isinstance(event, dict) else event.selection
    columns = list(selection.get("columns", []))
    rows = list(selection.get("rows", []))
    # A handled click must not stay selected in the browser (nor fire again): the next run
    # draws the grid under a new key, which starts with no selection.
    st.session_state[_TABLE_GENERATION] = st.session_state.get(_TABLE_GENERATION, 0) + 1
    if columns:
        key = columns[0]
        if not sortable(key):
            st.toast(f"{label(key)} cannot be sorted; pick another column.", icon=":material/info:")
            return
        f = view.filter
        if f.sort == key:
            order = "asc" if f.order == "desc" else "desc"
        else:
            order = "asc" if key in ("session_id", "model_id", "model_name", "status") else "desc"
        go_to(replace(view, filter=replace(f, sort=key, order=order, skip=0)))
        st.session_state[_FULL_RERUN] = True
    elif rows:
        ids = st.session_state.get(_PAGE_IDS) or []
        if 0 <= rows[0] < len(ids):
            go_to(replace(view, session_id=ids[rows[0]]))
            st.session_state[_FULL_RERUN] = True


def _go_to_page(view: ViewState, page_number: int) -> None:
    go_to(replace(view, filter=view.filter.with_page(page_number)))


def _on_page_input(view: ViewState) -> None:
    value = st.session_state.get(K_PAGE)
    if isinstance(value, int | float):
        _go_to_page(view, int(value))


def _request_full_rerun() -> None:
    st.session_state[_FULL_RERUN] = True


def _reset_everything() -> None:
    """The empty state's way out: the filters, the cards and the charts all change."""
    reset_filters()
    _request_full_rerun()


# --- drawing -------------------------------------------------------------------------------------


def page_count(page: Page) -> int:
    return max(1, -(-page.total // page.limit))


def showing_text(page: Page) -> str:
    """``Showing 51–100 of 12,345 sessions``."""
    noun = "session" if page.total == 1 else "sessions"
    if not page.rows:
        return f"No rows on this page of {page.total:,} {noun}"
    first = page.skip + 1
    last = page.skip + len(page.rows)
    return f"Showing **{first:,}–{last:,}** of **{page.total:,}** {noun}"


def render_empty_state() -> None:
    """No matches: a friendly sentence and a way out, never an empty grid."""
    with st.container(border=True):
        st.markdown("#### No sessions match these filters")
        st.caption("Loosen a filter in the sidebar, or start again from all sessions.")
        st.button("Reset filters", key="sessions_reset_empty", on_click=_reset_everything,
                  type="primary")


def _render_toolbar(settings: Settings, view: ViewState, page: Page, live: bool) -> None:
    text_col, tools_col = st.columns([0.9, 2], vertical_alignment="center")
    sort_label = label(view.filter.sort).lower()
    direction = "descending" if view.filter.order == "desc" else "ascending"
    text_col.markdown(f"{showing_text(page)}  \n:gray[sorted by {sort_label}, {direction}]")
    tools = tools_col.container(horizontal=True, horizontal_alignment="right",
                                vertical_alignment="center")
    tools.toggle("Auto-refresh", value=declared(K_REFRESH, view.auto_refresh, False),
                 key=K_REFRESH, on_change=_request_full_rerun,
                 help=f"Reload running and pending sessions every {REFRESH_SECONDS} s."
                 + ("" if live else " Nothing on this page is running right now."))
    with tools.popover("Columns", icon=":material/view_column:"):
        st.multiselect("Visible columns", list(HIDEABLE_KEYS), key=K_COLUMNS, format_func=label,
                       default=declared(K_COLUMNS, [k for k in HIDEABLE_KEYS
                                                    if k not in view.hidden]),
                       help="Hidden columns are remembered in the link.")
    render_downloads(settings, view, page, tools, tools)


def _render_pager(view: ViewState, page: Page) -> None:
    pages = page_count(page)
    current = min(view.filter.page_number, pages)
    at_start = view.filter.skip == 0
    at_end = page.skip + len(page.rows) >= page.total
    f = view.filter
    previous = replace(view, filter=replace(f, skip=max(0, f.skip - f.limit)))
    following = replace(view, filter=replace(f, skip=f.skip + f.limit))
    bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
    bar.button("First", key="sessions_first", icon=":material/first_page:", disabled=at_start,
               on_click=_go_to_page, args=(view, 1))
    bar.button("Previous", key="sessions_previous", icon=":material/chevron_left:",
               disabled=at_start, on_click=go_to, args=(previous,))
    st.session_state[K_PAGE] = current
    bar.number_input("Page", min_value=1, max_value=pages, step=1, key=K_PAGE, width=110,
                     label_visibility="collapsed", on_change=_on_page_input, args=(view,),
                     help="Type a page number and press Enter.", disabled=pages == 1)
    bar.button("Next", key="sessions_next", icon=":material/chevron_right:", icon_position="right",
               disabled=at_end, on_click=go_to, args=(following,))
    bar.button("Last", key="sessions_last", icon=":material/last_page:", icon_position="right",
               disabled=at_end, on_click=_go_to_page, args=(view, pages))
    bar.markdown(f"Page **{current:,}** of **{pages:,}**")


def _has_live_rows(page: Page) -> bool:
    return any(r.status in ("running", "pending") for r in page.rows)


def _sessions_fragment(settings: Settings) -> None:
    """Toolbar, grid and pager; reruns on its own while live sessions are on screen."""
    if st.session_state.pop(_FULL_RERUN, False):
        st.rerun(scope="app")
    try:
        view = current_view(settings).view
        page = load_page(settings, view.filter)
        if page.total and view.filter.skip >= page.total:
            last = replace(view, filter=view.filter.with_page(page_count(page)))
            st.warning(
                f"`skip={view.filter.skip}` is past the last of the {page.total:,} matching "
                "sessions; showing the last page instead.", icon=":material/warning:")
            go_to(last)
            view, page = last, load_page(settings, last.filter)
        techniques = load_techniques(settings)
    except DatabaseUnavailable as error:
        show_database_error(error)
        return
    if not page.total:
        render_empty_state()
        return
    zone = viewer_timezone()
    _render_toolbar(settings, view, page, _has_live_rows(page))
    st.session_state[_PAGE_IDS] = [r.session_id for r in page.rows]
    st.dataframe(
        page_frame(page.rows, zone),
        key=table_key(),
        hide_index=True,
        column_order=visible_columns(view),
        column_config=column_config(view, zone, techniques),
        on_select=partial(_on_select, view),
        selection_mode=["single-row", "single-column"],
        height=min(len(page.rows), 20) * ROW_HEIGHT + ROW_HEIGHT + 3,
        row_height=ROW_HEIGHT,
        placeholder="",
    )
    _render_pager(view, page)
    zone_note = f"Times in {zone}." if zone != "UTC" else "Times in UTC."
    refresh_note = (f" Live: refreshing every {REFRESH_SECONDS} s."
                    if view.auto_refresh and _has_live_rows(page) else "")
    st.caption(f"{zone_note}{refresh_note} Click a column header to sort all matches; "
               "tick a row's box to open that session's details.")


def render_sessions_table(settings: Settings, view: ViewState) -> None:
    """The table section; auto-refreshing while running or pending sessions are on screen."""
    try:
        page = load_page(settings, view.filter)
    except DatabaseUnavailable as error:
        show_database_error(error)
        return
    live = view.auto_refresh and _has_live_rows(page)
    st.fragment(_sessions_fragment, run_every=REFRESH_SECONDS if live else None)(settings)
