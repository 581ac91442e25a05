"""The Sessions page's sidebar: its filter widgets and their two-way link with the URL.

The rule that keeps widgets and URL in step lives in :mod:`ui.url_state` (shared with the
Overview); this module names the Sessions widgets, seeds them from a view, reads a view back
from them and draws them. :func:`current_view` runs before anything is drawn;
:func:`render_filters` draws the widgets from that state.

Changing any filter, the sort or the page size returns to the first page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from core.config import Settings
from core.fields import HIDEABLE_KEYS, SORT_KEYS, label
from core.query.filter import DEFAULT_LIMIT, MAX_SEARCH_LENGTH, FilterError, SessionFilter
from core.store.tables import STATUSES
from ui.data import load_model_choices, load_status_counts, load_techniques
from ui.url_state import (
    EARLIEST,
    Params,
    Problem,
    QuickRanges,
    UrlSync,
    declared,
    kept_bound,
    latest_day,
    set_widget,
    sync,
    utc_date,
)
from ui.view import ViewState, parse_view

K_STATUS = "sessions_status"
K_MODELS = "sessions_models"
K_TECHNIQUES = "sessions_techniques"
K_RANGE = "sessions_range"
K_FROM = "sessions_from"
K_TO = "sessions_to"
K_SEARCH = "sessions_search"
K_SORT = "sessions_sort"
K_ORDER = "sessions_order"
K_LIMIT = "sessions_limit"
K_COLUMNS = "sessions_columns"
K_REFRESH = "sessions_refresh"

URL = UrlSync("sessions")  # the view as of the last run decides "filters changed"

PAGE_SIZES = (10, 25, 50, 100)
QUICK = QuickRanges(
    K_RANGE,
    K_FROM,
    K_TO,
    days={"7": 7, "30": 30, "90": 90, "all": None},
    labels={"7": "7 days", "30": "30 days", "90": "90 days", "all": "All time"},
)
ORDER_LABELS = {"desc": "↓ Descending", "asc": "↑ Ascending"}


@dataclass(frozen=True)
class SyncedView:
    """The view to show and the link problems to warn about on this run."""

    view: ViewState
    problems: tuple[Problem, ...]


# --- URL -> widgets ------------------------------------------------------------------------------


def _widget_values(view: ViewState) -> dict[str, Any]:
    f = view.filter
    return {
        K_STATUS: list(f.statuses),
        K_MODELS: list(f.model_ids),
        K_TECHNIQUES: list(f.techniques),
        K_FROM: utc_date(f.start_date),
        K_TO: utc_date(f.end_date),
        K_SEARCH: f.search,
        K_SORT: f.sort,
        K_ORDER: f.order,
        K_LIMIT: f.limit,
        K_COLUMNS: [k for k in HIDEABLE_KEYS if k not in view.hidden],
        K_REFRESH: view.auto_refresh,
    }


# --- widgets -> view -----------------------------------------------------------------------------


def _same_matches(a: SessionFilter, b: SessionFilter) -> bool:
    """Same rows in the same order and page size (only the page itself may differ)."""
    return replace(a, skip=0) == replace(b, skip=0)


def _view_from_widgets(base: ViewState) -> tuple[ViewState, list[Problem]]:
    state = st.session_state
    previous = base.filter
    problems: list[Problem] = []
    limit = state.get(K_LIMIT, previous.limit)
    fields: dict[str, Any] = {
        "statuses": tuple(state.get(K_STATUS, ())),
        "model_ids": tuple(state.get(K_MODELS, ())),
        "techniques": tuple(state.get(K_TECHNIQUES, ())),
        "start_date": kept_bound(state.get(K_FROM), previous.start_date),
        "end_date": kept_bound(state.get(K_TO), previous.end_date),
        "search": str(state.get(K_SEARCH) or ""),
        "sort": state.get(K_SORT) or previous.sort,
        "order": state.get(K_ORDER) or previous.order,
        "limit": int(limit) if limit else DEFAULT_LIMIT,
        "skip": previous.skip,
    }
    try:
        candidate = SessionFilter(**fields)
    except FilterError as error:
        problems.append(Problem(error.field, str(error.value), error.allowed))
        candidate = previous
    if not _same_matches(candidate, previous):
        candidate = candidate.first_page()
    hidden = tuple(k for k in HIDEABLE_KEYS if k not in state.get(K_COLUMNS, HIDEABLE_KEYS))
    view = replace(
        base, filter=candidate, hidden=hidden, auto_refresh=bool(state.get(K_REFRESH, base.auto_refresh))
    )
    return view, problems


def current_view(settings: Settings) -> SyncedView:
    """The view for this run: URL and widgets reconciled, the canonical URL written back."""

    def parse(params: Params) -> tuple[ViewState, list[Problem]]:
        # The lists are read only to check ids the link names: the model list is a scan of
        # every session, and this runs before the table.
        models = [m for m, _ in load_model_choices(settings)] if params.get("model_id") else None
        techniques = load_techniques(settings) if params.get("technique") else None
        return parse_view(params, model_ids=models, techniques=techniques)

    view, problems = sync(
        URL,
        parse=parse,
        widget_values=_widget_values,
        from_widgets=_view_from_widgets,
        to_params=ViewState.to_params,
    )
    return SyncedView(view, problems)


def go_to(view: ViewState) -> None:
    """Show ``view`` (a page button, a header click, a selected row): URL first, then widgets.

    Only widgets whose value changes are written, so moving to another page is safe even
    after the widgets were drawn; other changes belong in callbacks (they run before).
    """
    for key, value in _widget_values(view).items():
        if st.session_state.get(key) != value:
            set_widget(key, value)
    URL.remember(view, view.to_params())


def reset_filters() -> None:
    """Callback: clear every filter; sort, page size and columns stay as the user set them."""
    for key, value in (
        (K_STATUS, []),
        (K_MODELS, []),
        (K_TECHNIQUES, []),
        (K_FROM, None),
        (K_TO, None),
        (K_SEARCH, ""),
    ):
        set_widget(key, value)


# --- drawing -------------------------------------------------------------------------------------


def render_filters(settings: Settings, view: ViewState) -> None:
    """The sidebar: every filter, the sort, the page size and "Reset filters".

    Each widget is also given the view's value as its declared default: if the browser ever
    re-creates a widget without its state, it comes back showing the view, not a blank.
    """
    f = view.filter
    counts = load_status_counts(settings, f)
    models = dict(load_model_choices(settings))
    techniques = load_techniques(settings)
    with st.sidebar:
        st.markdown("#### Filters")
        _render_choices(f, counts, models, techniques)
        _render_dates_and_search(f)
        st.markdown("#### Order and paging")
        _render_order(f)
        st.button(
            "Reset filters",
            key="sessions_reset",
            on_click=reset_filters,
            width="stretch",
            help="Clear status, model, technique, date and search filters.",
        )


def _render_choices(
    f: SessionFilter, counts: dict[str, int], models: dict[str, str], techniques: list[str]
) -> None:
    """Status (with its counts), model and technique choices."""
    st.multiselect(
        "Status",
        STATUSES,
        default=declared(K_STATUS, list(f.statuses)),
        key=K_STATUS,
        placeholder="All statuses",
        format_func=lambda s: f"{s.capitalize()} ({counts.get(s, 0):,})",
        help="The numbers count sessions matching the other filters.",
    )
    st.multiselect(
        "Model",
        list(models),
        default=declared(K_MODELS, [m for m in f.model_ids if m in models]),
        key=K_MODELS,
        placeholder="All models",
        format_func=lambda m: _model_label(m, models.get(m) or m),
        help="Type to search by name or id. Models without metadata appear under their id.",
    )
    st.multiselect(
        "Techniques",
        techniques,
        default=declared(K_TECHNIQUES, [t for t in f.techniques if t in techniques]),
        key=K_TECHNIQUES,
        placeholder="All techniques",
        format_func=lambda t: t.replace("_", " "),
        help="Sessions that applied any of the chosen techniques.",
    )


def _render_dates_and_search(f: SessionFilter) -> None:
    """The created-date quick choices and bounds, and the search box."""
    QUICK.render("Quick choices: the last N days including today, or all time (UTC days).")
    start, end = utc_date(f.start_date), utc_date(f.end_date)
    # One per line: side by side, a chosen date shows as "2026" and a clear button.
    st.date_input(
        "From",
        value=declared(K_FROM, start),
        key=K_FROM,
        min_value=EARLIEST,
        max_value=end or latest_day(),
        format="YYYY-MM-DD",
        help="First day, inclusive (UTC).",
    )
    st.date_input(
        "To",
        value=declared(K_TO, end),
        key=K_TO,
        min_value=start or EARLIEST,
        max_value=latest_day(),
        format="YYYY-MM-DD",
        help="Last day, inclusive (UTC). Empty: up to now.",
    )
    st.text_input(
        "Search",
        value=declared(K_SEARCH, f.search, ""),
        key=K_SEARCH,
        max_chars=MAX_SEARCH_LENGTH,
        placeholder="Session id, model id or name",
        help="Case-insensitive substring of the session id, the model id or the model name.",
    )


def _render_order(f: SessionFilter) -> None:
    """Sort column, direction and page size."""
    st.selectbox(
        "Sort by",
        SORT_KEYS,
        index=declared(K_SORT, SORT_KEYS.index(f.sort), 0),
        key=K_SORT,
        format_func=label,
        help="Sorted in the database across every match, not just this page.",
    )
    st.segmented_control(
        "Order",
        list(ORDER_LABELS),
        key=K_ORDER,
        required=True,
        default=declared(K_ORDER, f.order),
        format_func=lambda order: ORDER_LABELS.get(order, order),
        width="stretch",
        label_visibility="collapsed",
    )
    sizes = sorted({*PAGE_SIZES, f.limit})
    st.selectbox("Rows per page", sizes, index=declared(K_LIMIT, sizes.index(f.limit), 0), key=K_LIMIT)


def _model_label(model_id: str, name: str) -> str:
    if name == model_id:
        return f"{model_id} (no metadata)"
    return f"{name} · {model_id}"


def update_view(**changes: Any) -> None:
    """Change parts of the current view (e.g. ``session_id=None``) and write the URL."""
    base = URL.last_view() or ViewState()
    go_to(replace(base, **changes))
