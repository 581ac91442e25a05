"""What the sessions grid's selection does: a header click sorts, ticked rows open or compare.

* Column *selection* is switched on (which turns the grid's client-side sort off): clicking a
  header selects the column, and :func:`on_select` turns it into the database sort.
* Rows are ticked, not clicked: one freshly ticked row opens that session's detail; 2 to 5
  ticked rows offer "Compare N sessions", a link to the Compare page. Ticks are kept by
  session id, so a refresh that moves rows keeps the same sessions ticked; another page,
  sort or filter clears them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from core.fields import SORT_KEYS, label
from core.query.compare import MAX_COMPARE, MIN_COMPARE
from core.query.filter import Order
from core.query.rows import Page
from ui.compare import PARAM as COMPARE_PARAM
from ui.sidebar import go_to
from ui.view import ViewState

TABLE_KEY = "sessions_table"
_PAGE_IDS = "_sessions_page_ids"  # session ids of the rows on screen, for the selection handler
FULL_RERUN = "_sessions_full_rerun"  # a fragment callback changed something outside it
_TABLE_GENERATION = "_sessions_table_generation"  # bumped to give the grid a fresh selection
_TICKED = "_sessions_ticked"  # (the filter the ticks belong to, ticked session ids in page order)
COMPARE_PAGE = "pages/3_Compare.py"
COMPARE_KEY = "sessions_compare"


def request_full_rerun() -> None:
    """From a fragment's callback: the next run must be the whole page, not the fragment."""
    st.session_state[FULL_RERUN] = True


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


def on_select(view: ViewState) -> None:
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
    order: Order
    if f.sort == key:
        order = "asc" if f.order == "desc" else "desc"
    else:
        order = "asc" if key in ("session_id", "model_id", "model_name", "status") else "desc"
    go_to(replace(view, filter=replace(f, sort=key, order=order, skip=0)))
    request_full_rerun()


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


def current_ticks(view: ViewState, page: Page) -> tuple[tuple[str, ...], tuple[str, ...]]:
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


def render_compare_bar(ticked: Sequence[str]) -> None:
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
