"""The filter widgets and their two-way link with the URL.

One rule keeps them in step: the URL is the truth whenever it changed from outside (a link
opened, a page button clicked); otherwise the widgets are, and the URL is rewritten from them.

* :func:`current_view` runs before anything is drawn. When the query string differs from the
  one this session last wrote, it is parsed (bad values become :class:`~ui.view.Problem`) and
  copied into the widgets' session state. The view is then read back from the widgets, so it
  already includes the change the user just made, and the canonical URL is written.
* :func:`render_filters` draws the widgets from that state. Each also declares the view's
  value as its default, so a widget the browser re-creates without its state (seen after
  fragment reruns) shows the view rather than a blank; on a run that just wrote the value
  through session state it declares Streamlit's neutral default instead (:func:`declared`).

Changing any filter, the sort or the page size returns to the first page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

from core.config import Settings
from core.fields import HIDEABLE_KEYS, SORT_KEYS, label
from core.query.filter import DEFAULT_LIMIT, MAX_SEARCH_LENGTH, DateBound, FilterError, SessionFilter
from core.store.tables import STATUSES
from ui.data import load_model_choices, load_status_counts, load_techniques
from ui.view import Problem, ViewState, parse_view, read_url, write_url

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

_SEEN = "_sessions_url_seen"  # the query string this session last read or wrote
_BASE = "_sessions_view"  # the view as of the last run (decides "filters changed")
_PROBLEMS = "_sessions_problems"  # (problems, the canonical URL they belong to)
_FRESH = "_sessions_fresh"  # widget keys written through session state since they were drawn

PAGE_SIZES = (10, 25, 50, 100)
QUICK_RANGES: dict[str, int | None] = {"7": 7, "30": 30, "90": 90, "all": None}
QUICK_LABELS = {"7": "7 days", "30": "30 days", "90": "90 days", "all": "All time"}
ORDER_LABELS = {"desc": "↓ Descending", "asc": "↑ Ascending"}
EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class SyncedView:
    """The view to show and the link problems to warn about on this run."""

    view: ViewState
    problems: tuple[Problem, ...]


def today_utc() -> date:
    """Date filters are whole UTC days (the database's clock), so "today" is UTC too."""
    return datetime.now(UTC).date()


def _utc_date(value: DateBound | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date()
    return value


# --- URL -> widgets ------------------------------------------------------------------------------


def _widget_values(view: ViewState) -> dict[str, Any]:
    f = view.filter
    return {
        K_STATUS: list(f.statuses),
        K_MODELS: list(f.model_ids),
        K_TECHNIQUES: list(f.techniques),
        K_FROM: _utc_date(f.start_date),
        K_TO: _utc_date(f.end_date),
        K_SEARCH: f.search,
        K_SORT: f.sort,
        K_ORDER: f.order,
        K_LIMIT: f.limit,
        K_COLUMNS: [k for k in HIDEABLE_KEYS if k not in view.hidden],
        K_REFRESH: view.auto_refresh,
    }


def set_widget(key: str, value: Any) -> None:
    """Write a widget's value through session state (before the widget is drawn)."""
    st.session_state[key] = value
    st.session_state.setdefault(_FRESH, set()).add(key)


def declared(key: str, value: Any, neutral: Any = None) -> Any:
    """The default to declare for a widget: the view's value, so a widget the browser
    re-creates without its state still shows the view; but Streamlit's neutral default on
    a run that just wrote the value through session state (declaring both draws a warning).
    """
    fresh = st.session_state.get(_FRESH)
    if fresh and key in fresh:
        fresh.discard(key)
        return neutral
    return value


def _seed(view: ViewState, *, only_missing: bool = False) -> None:
    for key, value in _widget_values(view).items():
        if not only_missing or key not in st.session_state:
            set_widget(key, value)


# --- widgets -> view -----------------------------------------------------------------------------


def _bound(widget_value: date | None, previous: DateBound | None) -> DateBound | None:
    """A date the user left alone keeps its exact form from the link (e.g. a date-time)."""
    if widget_value is None:
        return None
    if previous is not None and _utc_date(previous) == widget_value:
        return previous
    return widget_value


def _same_matches(a: SessionFilter, b: SessionFilter) -> bool:
    """Same rows in the same order and page size (only the page itself may differ)."""
    return replace(a, skip=0) == replace(b, skip=0)


def _view_from_widgets(base: ViewState) -> tuple[ViewState, list[Problem]]:
    state = st.session_state
    previous = base.filter
    problems: list[Problem] = []
    limit = state.get(K_LIMIT, previous.limit)
    fields = {
        "statuses": tuple(state.get(K_STATUS, ())),
        "model_ids": tuple(state.get(K_MODELS, ())),
        "techniques": tuple(state.get(K_TECHNIQUES, ())),
        "start_date": _bound(state.get(K_FROM), previous.start_date),
        "end_date": _bound(state.get(K_TO), previous.end_date),
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
    state = st.session_state
    params = read_url()
    if params != state.get(_SEEN) or _BASE not in state:
        # The lists are read only to check ids the link names: the model list is a scan of
        # every session (a third of a second at a million), and this runs before the table.
        models = (
            [model_id for model_id, _ in load_model_choices(settings)] if params.get("model_id") else None
        )
        techniques = load_techniques(settings) if params.get("technique") else None
        view, problems = parse_view(params, model_ids=models, techniques=techniques)
        _seed(view)
        state[_BASE] = view
        state[_PROBLEMS] = (tuple(problems), view.to_params())
    else:
        # Widgets this run did not draw (an error state, an empty table) lost their state.
        _seed(state[_BASE], only_missing=True)
    view, widget_problems = _view_from_widgets(state[_BASE])
    state[_BASE] = view
    canonical = view.to_params()
    write_url(canonical)
    state[_SEEN] = canonical
    link_problems, for_params = state.get(_PROBLEMS, ((), {}))
    shown = tuple(link_problems) if for_params == canonical else ()
    return SyncedView(view, shown + tuple(widget_problems))


def go_to(view: ViewState) -> None:
    """Show ``view`` (a page button, a header click, a selected row): URL first, then widgets.

    Only widgets whose value changes are written, so moving to another page is safe even
    after the widgets were drawn; other changes belong in callbacks (they run before).
    """
    for key, value in _widget_values(view).items():
        if st.session_state.get(key) != value:
            set_widget(key, value)
    st.session_state[_BASE] = view
    params = view.to_params()
    write_url(params)
    st.session_state[_SEEN] = params


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


def _apply_quick_range() -> None:
    """Callback of the quick choices: last N days (open-ended) or all time."""
    choice = st.session_state.get(K_RANGE)
    if choice not in QUICK_RANGES:
        return
    days = QUICK_RANGES[choice]
    set_widget(K_FROM, None if days is None else today_utc() - timedelta(days=days - 1))
    set_widget(K_TO, None)


def _matching_quick_range() -> str | None:
    start, end = st.session_state.get(K_FROM), st.session_state.get(K_TO)
    if end is not None:
        return None
    if start is None:
        return "all"
    for choice, days in QUICK_RANGES.items():
        if days is not None and start == today_utc() - timedelta(days=days - 1):
            return choice
    return None


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
            format_func=lambda m: _model_label(m, models.get(m, m)),
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
        quick = _matching_quick_range()
        st.session_state[K_RANGE] = quick
        st.pills(
            "Created",
            list(QUICK_RANGES),
            key=K_RANGE,
            format_func=QUICK_LABELS.get,
            on_change=_apply_quick_range,
            help="Quick choices: the last N days including today, or all time (UTC days).",
        )
        start, end = _utc_date(f.start_date), _utc_date(f.end_date)
        # One per line: side by side, a chosen date shows as "2026" and a clear button.
        st.date_input(
            "From",
            value=declared(K_FROM, start),
            key=K_FROM,
            min_value=EARLIEST,
            max_value=end,
            format="YYYY-MM-DD",
            help="First day, inclusive (UTC).",
        )
        st.date_input(
            "To",
            value=declared(K_TO, end),
            key=K_TO,
            min_value=start or EARLIEST,
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
        st.markdown("#### Order and paging")
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
            format_func=ORDER_LABELS.get,
            width="stretch",
            label_visibility="collapsed",
        )
        sizes = sorted({*PAGE_SIZES, f.limit})
        st.selectbox("Rows per page", sizes, index=declared(K_LIMIT, sizes.index(f.limit), 0), key=K_LIMIT)
        st.button(
            "Reset filters",
            key="sessions_reset",
            on_click=reset_filters,
            width="stretch",
            help="Clear status, model, technique, date and search filters.",
        )


def _model_label(model_id: str, name: str) -> str:
    if name == model_id:
        return f"{model_id} (no metadata)"
    return f"{name} · {model_id}"


def update_view(**changes: Any) -> None:
    """Change parts of the current view (e.g. ``session_id=None``) and write the URL."""
    base = st.session_state.get(_BASE) or ViewState()
    go_to(replace(base, **changes))
