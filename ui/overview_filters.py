"""The Overview's sidebar filters and their two-way link with the URL.

Same parameter names as the Sessions page (``status``, ``model_id``, ``technique``,
``start_date``, ``end_date``), so a filter means the same thing on both pages and a link can
be carried from one to the other. Sort, paging and search do not apply to an overview and are
left out of its URL.

The rule that keeps widgets and URL in step: when the query string differs from the one this
session last wrote (a shared link opened, the back button), the URL wins and is copied into
the widgets; otherwise the widgets win and the URL is rewritten from them. Unusable values in a
link become warnings that name the parameter, and fall back to their default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import streamlit as st

from core.query.filter import DateBound, FilterError, SessionFilter
from core.store.tables import STATUSES

PARAMS = ("status", "model_id", "technique", "start_date", "end_date")
K_STATUS = "overview_status"
K_MODELS = "overview_models"
K_TECHNIQUES = "overview_techniques"
K_RANGE = "overview_range"
K_FROM = "overview_from"
K_TO = "overview_to"
_SEEN = "_overview_url_seen"
_FILTER = "_overview_filter"
_PROBLEMS = "_overview_problems"

QUICK_RANGES: dict[str, int | None] = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
QUICK_LABELS = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "12 months", "all": "All time"}
EARLIEST = date(2000, 1, 1)
Params = dict[str, list[str]]


@dataclass(frozen=True)
class LinkProblem:
    """One URL parameter that could not be used."""

    parameter: str
    value: str
    allowed: str

    def message(self) -> str:
        return f"Ignored `{self.parameter}={self.value}` in the link: {self.allowed}."


def today_utc() -> date:
    """Date filters are whole UTC days, the database's clock."""
    return datetime.now(UTC).date()


def _utc_date(value: DateBound | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date()
    return value


def parse_params(
    params: Mapping[str, Sequence[str]], *, model_ids: Sequence[str], techniques: Sequence[str]
) -> tuple[SessionFilter, list[LinkProblem]]:
    """The filter a link asks for; unknown statuses, models, techniques or bad dates are dropped.

    Pure (no Streamlit), so it is tested directly.
    """
    subset = {k: list(v) for k, v in params.items() if k in PARAMS}
    f, errors = SessionFilter.from_params_lenient(subset)
    problems = [LinkProblem(e.field, str(e.value), e.allowed) for e in errors]
    known_models, known_techniques = set(model_ids), set(techniques)
    bad_models = [m for m in f.model_ids if m not in known_models]
    bad_techniques = [t for t in f.techniques if t not in known_techniques]
    problems += [LinkProblem("model_id", m, "no sessions use this model") for m in bad_models]
    problems += [LinkProblem("technique", t, f"choose from {', '.join(techniques)}") for t in bad_techniques]
    try:
        f = SessionFilter(
            statuses=f.statuses,
            start_date=f.start_date,
            end_date=f.end_date,
            model_ids=tuple(m for m in f.model_ids if m in known_models),
            techniques=tuple(t for t in f.techniques if t in known_techniques),
        )
    except FilterError as error:  # not expected: the parts were valid already
        problems.append(LinkProblem(error.field, str(error.value), error.allowed))
        f = SessionFilter()
    return f, problems


def to_params(f: SessionFilter) -> Params:
    """The Overview's URL for ``f`` (its filter parameters only, defaults left out)."""
    return {k: v for k, v in f.to_params().items() if k in PARAMS}


def read_url() -> Params:
    params: Params = {}
    for key in st.query_params:
        values = [v for v in st.query_params.get_all(key) if v != ""]
        if values and key in PARAMS:
            params[key] = values
    return params


def _write_url(params: Params) -> None:
    if read_url() != params or set(st.query_params) - set(PARAMS):
        st.query_params.from_dict(params)


def _seed(f: SessionFilter) -> None:
    state = st.session_state
    state[K_STATUS] = list(f.statuses)
    state[K_MODELS] = list(f.model_ids)
    state[K_TECHNIQUES] = list(f.techniques)
    state[K_FROM] = _utc_date(f.start_date)
    state[K_TO] = _utc_date(f.end_date)


def _bound(widget_value: date | None, previous: DateBound | None) -> DateBound | None:
    """A date left alone keeps its exact form from the link (e.g. a date-time)."""
    if widget_value is None:
        return None
    if previous is not None and _utc_date(previous) == widget_value:
        return previous
    return widget_value


def _from_widgets(previous: SessionFilter) -> tuple[SessionFilter, list[LinkProblem]]:
    state = st.session_state
    try:
        return SessionFilter(
            statuses=tuple(state.get(K_STATUS, ())),
            model_ids=tuple(state.get(K_MODELS, ())),
            techniques=tuple(state.get(K_TECHNIQUES, ())),
            start_date=_bound(state.get(K_FROM), previous.start_date),
            end_date=_bound(state.get(K_TO), previous.end_date),
        ), []
    except FilterError as error:
        return previous, [LinkProblem(error.field, str(error.value), error.allowed)]


def current_filter(
    model_ids: Sequence[str], techniques: Sequence[str]
) -> tuple[SessionFilter, list[LinkProblem]]:
    """The filter for this run (URL and widgets reconciled) and the warnings to show."""
    state = st.session_state
    params = read_url()
    if params != state.get(_SEEN) or _FILTER not in state:
        f, problems = parse_params(params, model_ids=model_ids, techniques=techniques)
        _seed(f)
        state[_FILTER] = f
        state[_PROBLEMS] = (problems, to_params(f))
    elif K_STATUS not in state:  # widgets not drawn last run lost their state
        _seed(state[_FILTER])
    f, widget_problems = _from_widgets(state[_FILTER])
    state[_FILTER] = f
    canonical = to_params(f)
    _write_url(canonical)
    state[_SEEN] = canonical
    link_problems, for_params = state.get(_PROBLEMS, ([], {}))
    return f, (list(link_problems) if for_params == canonical else []) + widget_problems


def reset_filters() -> None:
    """Callback: every filter back to all."""
    for key in (K_STATUS, K_MODELS, K_TECHNIQUES):
        st.session_state[key] = []
    st.session_state[K_FROM] = None
    st.session_state[K_TO] = None


def _apply_quick_range() -> None:
    choice = st.session_state.get(K_RANGE)
    if choice not in QUICK_RANGES:
        return
    days = QUICK_RANGES[choice]
    st.session_state[K_FROM] = None if days is None else today_utc() - timedelta(days=days - 1)
    st.session_state[K_TO] = None


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


def render_filters(models: Mapping[str, str], techniques: Sequence[str]) -> None:
    """Status, model, technique and created-date filters in the sidebar, plus a reset."""
    with st.sidebar:
        st.markdown("#### Filters")
        st.session_state[K_RANGE] = _matching_quick_range()
        st.pills(
            "Created",
            list(QUICK_RANGES),
            key=K_RANGE,
            format_func=QUICK_LABELS.get,
            on_change=_apply_quick_range,
            help="The last N days including today, or all time (UTC days). Changes on the "
            "cards compare with the period of the same length just before.",
        )
        start, end = st.session_state.get(K_FROM), st.session_state.get(K_TO)
        # One per line: side by side, a chosen date shows as "2026" and a clear button.
        st.date_input(
            "From",
            value=None,
            key=K_FROM,
            min_value=EARLIEST,
            max_value=end,
            format="YYYY-MM-DD",
            help="First day, inclusive (UTC).",
        )
        st.date_input(
            "To",
            value=None,
            key=K_TO,
            min_value=start or EARLIEST,
            format="YYYY-MM-DD",
            help="Last day, inclusive (UTC). Empty: up to now.",
        )
        st.multiselect(
            "Status", STATUSES, key=K_STATUS, placeholder="All statuses", format_func=str.capitalize
        )
        st.multiselect(
            "Model",
            list(models),
            key=K_MODELS,
            placeholder="All models",
            format_func=lambda m: models.get(m, m) if models.get(m, m) == m else f"{models[m]} · {m}",
            help="Type to search by name or id.",
        )
        st.multiselect(
            "Techniques",
            list(techniques),
            key=K_TECHNIQUES,
            placeholder="All techniques",
            format_func=lambda t: t.replace("_", " "),
            help="Sessions that applied any of the chosen techniques.",
        )
        st.button("Reset filters", key="overview_reset", on_click=reset_filters, width="stretch")
