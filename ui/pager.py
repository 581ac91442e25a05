"""The sessions table's pager: First, Previous, a page number, Next, Last, and "Showing ...".

The database pages (``skip``/``limit``); a page button only changes the view, which writes
the URL, so every page has a link of its own.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from core.query.rows import Page
from ui.sidebar import go_to
from ui.view import ViewState

K_PAGE = "sessions_page_number"


def _go_to_page(view: ViewState, page_number: int) -> None:
    go_to(replace(view, filter=view.filter.with_page(page_number)))


def _on_page_input(view: ViewState) -> None:
    value = st.session_state.get(K_PAGE)
    if isinstance(value, int | float):
        _go_to_page(view, int(value))


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


def render_pager(view: ViewState, page: Page) -> None:
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
