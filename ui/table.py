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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from core.config import Settings
from core.fields import FIELDS, HIDEABLE_KEYS, SORT_KEYS, Field, label
from core.query.compare import MAX_COMPARE, MIN_COMPARE
from core.query.sessions import Page, SessionRow
from core.store.tables import STATUSES
from ui import pacing
from ui.compare import PARAM as COMPARE_PARAM
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
_TICKED = "_sessions_ticked"  # (the filter the ticks belong to, ticked session ids in page order)
COMPARE_PAGE = "pages/3_Compare.py"
COMPARE_KEY = "sessions_compare"
REFRESH_SECONDS = 5
ROW_HEIGHT = 35
# --- rows -> grid --------------------------------------------------------------------------------


def _timestamps(values: Sequence[datetime | None], zone: str) -> pd.Series:
    series = pd.to_datetime(pd.Series(list(values), dtype="object"), utc=True)
    return series.dt.tz_convert(zone)


def _cells(field: Field, rows: Sequence[SessionRow], zone: str) -> Any:
    """One column of the grid, shaped for the column type its field's kind gets."""
    values = [getattr(r, field.attribute) for r in rows]
    if field.key == "model_name":
        return [r.model_name if r.model_known else f"{r.model_id} (no metadata)" for r in rows]
    if field.kind == "status":
        return [[v] for v in values]
    if field.kind == "techniques":
        return [list(v) for v in values]
    if field.kind in ("percent", "points"):
        return pd.array(values, dtype="Float64")
    if field.kind == "duration":
        return [duration_text(v) for v in values]
    if field.kind == "timestamp":
        return _timestamps(values, zone)
    return values


def page_frame(rows: Sequence[SessionRow], zone: str) -> pd.DataFrame:
    """The visible rows as the grid shows them (timestamps already in the viewer's zone)."""
    return pd.DataFrame({field.key: _cells(field, rows, zone) for field in FIELDS}, index=range(len(rows)))


def _header(key: str, view: ViewState) -> str:
    """The column label, with an arrow on the column the table is sorted by."""
    text = label(key)
    if view.filter.sort == key:
        text += " ↓" if view.filter.order == "desc" else " ↑"
    return text


def _column(field: Field, view: ViewState, zone: str, techniques: Sequence[str]) -> Any:
    """The grid's column for ``field``, by its kind."""
    cc = st.column_config
    header = _header(field.key, view) if field.sortable else field.label
    help_ = field.help + (" Click the header to sort all matches by it." if field.sortable else "")
    common: dict[str, Any] = {"help": help_, "width": field.width}
    match field.kind:
        case "id" | "text":
            return cc.TextColumn(header, pinned=not field.hideable or None, **common)
        case "status":
            return cc.MultiselectColumn(
                header,
                options=list(STATUSES),
                color=[STATUS_COLORS[s] for s in STATUSES],
                format_func=str.capitalize,
                **common,
            )
        case "techniques":
            return cc.MultiselectColumn(
                header,
                options=list(techniques),
                color="auto",
                format_func=lambda t: t.replace("_", " "),
                **common,
            )
        case "progress":
            return cc.ProgressColumn(header, min_value=0, max_value=100, format="%.0f%%", **common)
        case "percent":
            return cc.NumberColumn(header, format="%.1f%%", **common)
        case "points":
            return cc.NumberColumn(header, format="%+.2f pp", **common)
        case "duration":
            return cc.TextColumn(header, alignment="right", **common)
        case "timestamp":
            common["help"] = f"{help_} Shown in {zone}."
            return cc.DatetimeColumn(header, format="YYYY-MM-DD HH:mm z", timezone=zone, **common)


def column_config(view: ViewState, zone: str, techniques: Sequence[str]) -> dict[str, Any]:
    return {field.key: _column(field, view, zone, techniques) for field in FIELDS}


def visible_columns(view: ViewState) -> list[str]:
    return [f.key for f in FIELDS if f.key not in view.hidden]


# --- interactions --------------------------------------------------------------------------------


def table_key() -> str:
    return f"{TABLE_KEY}_{st.session_state.get(_TABLE_GENERATION, 0)}"


def _grid_selection(event: Any) -> tuple[list[int], list[str]]:
    """Ticked row positions and selected columns of the grid's state (a dict-like event)."""
    if not event:
        return [], []
    selection = event.get("selection", {}) if isinstance(event, Mapping) else event.selection
    if not selection:
        return [], []
    rows = [int(r) for r in selection.get("rows", []) if isinstance(r, int | float)]
    return rows, [str(c) for c in selection.get("columns", [])]


def _fresh_grid() -> None:
    """Draw the grid under a new key next time: it starts with nothing selected."""
    st.session_state[_TABLE_GENERATION] = st.session_state.get(_TABLE_GENERATION, 0) + 1


def _on_select(view: ViewState) -> None:
    """A header click sorts all matches in the database (ticked rows are read by the table)."""
    _, columns = _grid_selection(st.session_state.get(table_key()))
    if not columns:
        return
    # A header click must not stay selected in the browser (nor fire again): the next run
    # draws the grid under a new key, which starts with no selection.
    _fresh_grid()
    key = columns[0]
    if key not in SORT_KEYS:
        st.toast(f"{label(key)} cannot be sorted; pick another column.", icon=":material/info:")
        return
    f = view.filter
    if f.sort == key:
        order = "asc" if f.order == "desc" else "desc"
    else:
        order = "asc" if key in ("session_id", "model_id", "model_name", "status") else "desc"
    go_to(replace(view, filter=replace(f, sort=key, order=order, skip=0)))
    st.session_state[_FULL_RERUN] = True


def ticked_ids(rows: Sequence[int], shown: Sequence[str], page_ids: Sequence[str]) -> tuple[str, ...]:
    """The sessions ticked at ``rows`` of the page ``shown``, still on ``page_ids``, in page order.

    Ticks are positions in the grid the user saw; a refresh may have moved those sessions
    (a new session on top) or taken them off the page, so they are followed by id.
    """
    chosen = {shown[r] for r in rows if 0 <= r < len(shown)}
    return tuple(session_id for session_id in page_ids if session_id in chosen)


def detail_to_open(before: Sequence[str], now: Sequence[str]) -> str | None:
    """The session whose detail a tick opens: the one just ticked, when it is the only one.

    Unticking down to one row (or a refresh) opens nothing: the user is choosing what to
    compare, and a dialog popping up would be in the way.
    """
    if len(now) == 1 and now[0] not in before:
        return now[0]
    return None


@dataclass(frozen=True)
class CompareBar:
    """What the bar above the grid says and offers for a number of ticked sessions."""

    text: str
    label: str
    enabled: bool
    help: str


def compare_bar(count: int) -> CompareBar:
    what = f"{MIN_COMPARE} to {MAX_COMPARE}"
    if count == 0:
        return CompareBar(
            f":gray[Tick a session to see its details, or tick {what} to compare them side by side.]",
            "Compare sessions",
            False,
            f"Tick {what} sessions in the table first.",
        )
    if count < MIN_COMPARE:
        more = MAX_COMPARE - count
        return CompareBar(
            f"**{count} session ticked.** Tick up to {more} more to compare them side by side.",
            "Compare sessions",
            False,
            f"Tick {what} sessions in the table first.",
        )
    noun = f"Compare {count} sessions"
    if count > MAX_COMPARE:
        return CompareBar(
            f"**{count} sessions ticked.** Pick at most {MAX_COMPARE} sessions to compare.",
            noun,
            False,
            f"Untick {count - MAX_COMPARE} to compare at most {MAX_COMPARE}.",
        )
    return CompareBar(
        f"**{count} sessions ticked.**",
        noun,
        True,
        "Opens them side by side on the Compare page; its address is a link to this comparison.",
    )


def _current_ticks(view: ViewState, page: Page) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ticked before this run, ticked now) on this page; keeps the grid's ticks on their ids.

    Another page, sort, filter or page size clears the ticks: they belonged to other rows.
    """
    state = st.session_state
    page_ids = [r.session_id for r in page.rows]
    shown = state.get(_PAGE_IDS) or []
    state[_PAGE_IDS] = page_ids
    kept = state.get(_TICKED)
    if kept is None or kept[0] != view.filter:
        if kept is not None and kept[1]:
            _fresh_grid()
        state[_TICKED] = (view.filter, ())
        return (), ()
    before = kept[1]
    rows, _ = _grid_selection(state.get(table_key()))
    now = ticked_ids(rows, shown, page_ids)
    wanted = [page_ids.index(session_id) for session_id in now]
    if sorted(rows) != wanted:  # the same sessions, where they are now
        state[table_key()] = {"selection": {"rows": wanted, "columns": [], "cells": []}}
    state[_TICKED] = (view.filter, now)
    return before, now


def _clear_ticks() -> None:
    _fresh_grid()
    kept = st.session_state.get(_TICKED)
    if kept is not None:
        st.session_state[_TICKED] = (kept[0], ())


def _compare_css() -> str:
    """The compare link looks like the page's primary button (a link, so it can be shared)."""
    primary = st.get_option("theme.primaryColor") or "#2F5BD3"
    link = f".st-key-{COMPARE_KEY} a[data-testid='stPageLink-NavLink']"
    off = f"{link}[disabled], {link}[aria-disabled='true']"
    rules = {
        link: f"background: {primary}; border: 1px solid {primary}; border-radius: 0.5rem; "
        "padding: 0.25rem 0.85rem; min-height: 2.5rem; color: #fff !important",
        f"{link} *": "color: #fff !important; font-weight: 600",
        f"{link}:hover": "filter: brightness(0.9)",
        off: "background: transparent; border-color: #DDE2EA",
        f"{link}[disabled] *, {link}[aria-disabled='true'] *": "color: #8A919E !important; font-weight: 400",
    }
    return "<style>" + " ".join(f"{sel} {{ {body}; }}" for sel, body in rules.items()) + "</style>"


def _render_compare_bar(ticked: Sequence[str]) -> None:
    """Always drawn, with the same height: ticking a row never moves the grid under the mouse."""
    bar = compare_bar(len(ticked))
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    st.html(_compare_css())
    row.markdown(bar.text, width="content")
    with row.container(key=COMPARE_KEY, width="content"):
        st.page_link(
            COMPARE_PAGE,
            label=bar.label,
            icon=":material/compare_arrows:",
            disabled=not bar.enabled,
            help=bar.help,
            query_params={COMPARE_PARAM: list(ticked)} if bar.enabled else None,
        )
    row.button(
        "Clear selection",
        key="sessions_clear_selection",
        type="tertiary",
        icon=":material/close:",
        disabled=not ticked,
        on_click=_clear_ticks,
    )


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
        on_change=_request_full_rerun,
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


def _render_pager(view: ViewState, page: Page) -> None:
    pages = page_count(page)
    current = min(view.filter.page_number, pages)
    at_start = view.filter.skip == 0
    at_end = page.skip + len(page.rows) >= page.total
    f = view.filter
    previous = replace(view, filter=replace(f, skip=max(0, f.skip - f.limit)))
    following = replace(view, filter=replace(f, skip=f.skip + f.limit))
    bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
    bar.button(
        "First",
        key="sessions_first",
        icon=":material/first_page:",
        disabled=at_start,
        on_click=_go_to_page,
        args=(view, 1),
    )
    bar.button(
        "Previous",
        key="sessions_previous",
        icon=":material/chevron_left:",
        disabled=at_start,
        on_click=go_to,
        args=(previous,),
    )
    st.session_state[K_PAGE] = current
    bar.number_input(
        "Page",
        min_value=1,
        max_value=pages,
        step=1,
        key=K_PAGE,
        width=110,
        label_visibility="collapsed",
        on_change=_on_page_input,
        args=(view,),
        help="Type a page number and press Enter.",
        disabled=pages == 1,
    )
    bar.button(
        "Next",
        key="sessions_next",
        icon=":material/chevron_right:",
        icon_position="right",
        disabled=at_end,
        on_click=go_to,
        args=(following,),
    )
    bar.button(
        "Last",
        key="sessions_last",
        icon=":material/last_page:",
        icon_position="right",
        disabled=at_end,
        on_click=_go_to_page,
        args=(view, pages),
    )
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
                "sessions; showing the last page instead.",
                icon=":material/warning:",
            )
            go_to(last)
            view, page = last, load_page(settings, last.filter)
        techniques = load_techniques(settings)
    except DatabaseUnavailable as error:
        show_database_error(error)
        return
    if not page.total:
        render_empty_state()
        return
    before, ticked = _current_ticks(view, page)
    opened = detail_to_open(before, ticked)
    if opened or (len(ticked) >= MIN_COMPARE and view.session_id):
        # The dialog lives outside this fragment: open (or, comparing, close) it app-wide.
        go_to(replace(view, session_id=opened))
        st.rerun(scope="app")
    zone = viewer_timezone()
    _render_toolbar(settings, view, page, _has_live_rows(page))
    _render_compare_bar(ticked)
    st.dataframe(
        page_frame(page.rows, zone),
        key=table_key(),
        hide_index=True,
        column_order=visible_columns(view),
        column_config=column_config(view, zone, techniques),
        on_select=partial(_on_select, view),
        selection_mode=["multi-row", "single-column"],
        height=min(len(page.rows), 20) * ROW_HEIGHT + ROW_HEIGHT + 3,
        row_height=ROW_HEIGHT,
        placeholder="",
    )
    _render_pager(view, page)
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
