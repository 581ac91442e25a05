"""The Overview's sidebar filters and their two-way link with the URL.

Same parameter names as the Sessions page (``status``, ``model_id``, ``technique``,
``start_date``, ``end_date``), so a filter means the same thing on both pages and a link can
be carried from one to the other. Sort, paging and search do not apply to an overview and are
left out of its URL. The rule that keeps widgets and URL in step, and the date checks, are
:mod:`ui.url_state`'s; this module names the Overview's widgets and draws them.

A start date must not be in the future here: the cards compare the selected period with the
one just before it, which a period that has not begun does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from core.query.filter import FilterError, SessionFilter
from core.store.tables import STATUSES
from ui.url_state import (
    EARLIEST,
    Params,
    Problem,
    QuickRanges,
    UrlSync,
    check_dates,
    kept_bound,
    latest_day,
    set_widget,
    sync,
    today_utc,
    utc_date,
)

PARAMS = ("status", "model_id", "technique", "start_date", "end_date")
K_STATUS = "overview_status"
K_MODELS = "overview_models"
K_TECHNIQUES = "overview_techniques"
K_RANGE = "overview_range"
K_FROM = "overview_from"
K_TO = "overview_to"
URL = UrlSync("overview")
QUICK = QuickRanges(
    K_RANGE,
    K_FROM,
    K_TO,
    days={"7": 7, "30": 30, "90": 90, "365": 365, "all": None},
    labels={"7": "7 days", "30": "30 days", "90": "90 days", "365": "12 months", "all": "All time"},
)


def parse_params(
    params: Mapping[str, Sequence[str]], *, model_ids: Sequence[str], techniques: Sequence[str]
) -> tuple[SessionFilter, list[Problem]]:
    """The filter a link asks for; unknown statuses, models, techniques or bad dates are dropped.

    Pure (no Streamlit), so it is tested directly.
    """
    subset = {k: list(v) for k, v in params.items() if k in PARAMS}
    f, errors = SessionFilter.from_params_lenient(subset)
    problems = [Problem(e.field, str(e.value), e.allowed) for e in errors]
    f, date_problems = check_dates(f, past_start=True)
    problems += date_problems
    known_models, known_techniques = set(model_ids), set(techniques)
    bad_models = [m for m in f.model_ids if m not in known_models]
    bad_techniques = [t for t in f.techniques if t not in known_techniques]
    problems += [Problem("model_id", m, "no sessions use this model") for m in bad_models]
    problems += [Problem("technique", t, f"choose from {', '.join(techniques)}") for t in bad_techniques]
    try:
        f = SessionFilter(
            statuses=f.statuses,
            start_date=f.start_date,
            end_date=f.end_date,
            model_ids=tuple(m for m in f.model_ids if m in known_models),
            techniques=tuple(t for t in f.techniques if t in known_techniques),
        )
    except FilterError as error:  # not expected: the parts were valid already
        problems.append(Problem(error.field, str(error.value), error.allowed))
        f = SessionFilter()
    return f, problems


def to_params(f: SessionFilter) -> Params:
    """The Overview's URL for ``f`` (its filter parameters only, defaults left out)."""
    return {k: v for k, v in f.to_params().items() if k in PARAMS}


def _widget_values(f: SessionFilter) -> dict[str, Any]:
    return {
        K_STATUS: list(f.statuses),
        K_MODELS: list(f.model_ids),
        K_TECHNIQUES: list(f.techniques),
        K_FROM: utc_date(f.start_date),
        K_TO: utc_date(f.end_date),
    }


def _from_widgets(previous: SessionFilter) -> tuple[SessionFilter, list[Problem]]:
    state = st.session_state
    try:
        return SessionFilter(
            statuses=tuple(state.get(K_STATUS, ())),
            model_ids=tuple(state.get(K_MODELS, ())),
            techniques=tuple(state.get(K_TECHNIQUES, ())),
            start_date=kept_bound(state.get(K_FROM), previous.start_date),
            end_date=kept_bound(state.get(K_TO), previous.end_date),
        ), []
    except FilterError as error:
        return previous, [Problem(error.field, str(error.value), error.allowed)]


def current_filter(
    model_ids: Sequence[str], techniques: Sequence[str]
) -> tuple[SessionFilter, list[Problem]]:
    """The filter for this run (URL and widgets reconciled) and the warnings to show."""
    f, problems = sync(
        URL,
        parse=lambda params: parse_params(params, model_ids=model_ids, techniques=techniques),
        widget_values=_widget_values,
        from_widgets=_from_widgets,
        to_params=to_params,
        names=PARAMS,
    )
    return f, list(problems)


def reset_filters() -> None:
    """Callback: every filter back to all."""
    for key, value in _widget_values(SessionFilter()).items():
        set_widget(key, value)


def render_filters(models: Mapping[str, str], techniques: Sequence[str]) -> None:
    """Status, model, technique and created-date filters in the sidebar, plus a reset."""
    with st.sidebar:
        st.markdown("#### Filters")
        QUICK.render(
            "The last N days including today, or all time (UTC days). Changes on the "
            "cards compare with the period of the same length just before."
        )
        start, end = st.session_state.get(K_FROM), st.session_state.get(K_TO)
        today = today_utc()
        # One per line: side by side, a chosen date shows as "2026" and a clear button.
        st.date_input(
            "From",
            value=None,
            key=K_FROM,
            min_value=EARLIEST,
            max_value=min(end, today) if end else today,
            format="YYYY-MM-DD",
            help="First day, inclusive (UTC); today or earlier.",
        )
        st.date_input(
            "To",
            value=None,
            key=K_TO,
            min_value=start or EARLIEST,
            max_value=latest_day(),
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
