"""The URL is the view: how a page's query string and its sidebar widgets stay in step.

Both the Sessions and the Overview page follow one rule: the URL is the truth whenever it
changed from outside (a link opened, the back button, a page button clicked); otherwise the
widgets are, and the URL is rewritten from them. :func:`sync` applies that rule; each page
hands it its own parser, its widgets' seeding and reading, and its own parameters.

Links are parsed leniently: each unusable value becomes a :class:`Problem` (parameter, value,
what is allowed), shown as a warning, and falls back to its default, so a mistyped or crafted
link still shows a useful page. :func:`check_dates` keeps dates inside the range the date
widgets can show; a date outside it would otherwise stop the page when the widget is drawn.

Widgets are written through session state before they are drawn (:func:`set_widget`). A
widget also declares the view's value as its default, so a widget the browser re-creates
without its state shows the view rather than a blank; on a run that just wrote the value
through session state it declares Streamlit's neutral default instead (:func:`declared`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import streamlit as st

from core.query.filter import DateBound, SessionFilter

Params = dict[str, list[str]]
V = TypeVar("V")

EARLIEST = date(2000, 1, 1)  # the date widgets' first day; no platform session is older
YEARS_AHEAD = 10  # how far ahead the date widgets reach (Streamlit's own default span)
_FRESH = "_url_state_fresh"  # widget keys written through session state since they were drawn


@dataclass(frozen=True)
class Problem:
    """One URL parameter that could not be used; shown as a warning, never a traceback."""

    parameter: str
    value: str
    allowed: str

    def message(self) -> str:
        return f"Ignored `{self.parameter}={self.value}` in the link: {self.allowed}."


def shown(value: object) -> str:
    """A value as a warning quotes it: long ones cut, so a crafted link cannot flood the page."""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- dates ---------------------------------------------------------------------------------------


def today_utc() -> date:
    """Date filters are whole UTC days (the database's clock), so "today" is UTC too."""
    return datetime.now(UTC).date()


def latest_day() -> date:
    """The last day the date widgets offer."""
    today = today_utc()
    return date(today.year + YEARS_AHEAD, 12, 31)


def utc_date(value: DateBound | None) -> date | None:
    """The UTC day of a filter bound (a date, or a date-time in any zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date()
    return value


def kept_bound(widget_value: date | None, previous: DateBound | None) -> DateBound | None:
    """A date the user left alone keeps its exact form from the link (e.g. a date-time)."""
    if widget_value is None:
        return None
    if previous is not None and utc_date(previous) == widget_value:
        return previous
    return widget_value


def check_dates(f: SessionFilter, *, past_start: bool = False) -> tuple[SessionFilter, list[Problem]]:
    """``f`` with each date the widgets cannot show dropped, and one problem per dropped date.

    With ``past_start`` the start must also not be later than now: a period that starts in the
    future has no "period just before it" to compare with (the Overview's cards).
    """
    problems: list[Problem] = []
    last = latest_day()
    allowed = f"pick a day from {EARLIEST} to {last}"
    params = f.to_params()
    for name, bound in (("start_date", f.start_date), ("end_date", f.end_date)):
        day = utc_date(bound)
        if day is not None and not EARLIEST <= day <= last:
            problems.append(Problem(name, shown(params[name][0]), allowed))
            f = replace(f, start_date=None) if name == "start_date" else replace(f, end_date=None)
    start, _ = f.created_range()
    if past_start and start is not None and start > datetime.now(UTC).replace(tzinfo=None):
        problems.append(
            Problem("start_date", shown(params["start_date"][0]), "the start must be today or earlier (UTC)")
        )
        f = replace(f, start_date=None)
    return f, problems


# --- the browser's URL ---------------------------------------------------------------------------


def read_url(names: Collection[str] | None = None) -> Params:
    """The query string as lists (repeated keys kept), empty values dropped; only ``names``
    when given."""
    params: Params = {}
    for key in st.query_params:
        values = [v for v in st.query_params.get_all(key) if v != ""]
        if values and (names is None or key in names):
            params[key] = values
    return params


def write_url(params: Params, names: Collection[str] | None = None) -> None:
    """Replace the query string with ``params`` if it differs (no needless history churn);
    with ``names``, parameters the page does not use are dropped too."""
    foreign = names is not None and bool(set(st.query_params) - set(names))
    if read_url(names) != params or foreign:
        st.query_params.from_dict(params)


# --- widgets -------------------------------------------------------------------------------------


def set_widget(key: str, value: Any) -> None:
    """Write a widget's value through session state (before the widget is drawn)."""
    st.session_state[key] = value
    st.session_state.setdefault(_FRESH, set()).add(key)


def seed(values: Mapping[str, Any], *, only_missing: bool = False) -> None:
    """Write the widgets' values (only those that lost their state, with ``only_missing``)."""
    for key, value in values.items():
        if not only_missing or key not in st.session_state:
            set_widget(key, value)


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


@dataclass(frozen=True)
class QuickRanges:
    """The "Created" quick choices (last N days, open-ended, or all time) of a page's dates."""

    range_key: str
    from_key: str
    to_key: str
    days: Mapping[str, int | None]
    labels: Mapping[str, str]

    def apply(self) -> None:
        """Callback of the quick choices: last N days including today, or all time."""
        choice = st.session_state.get(self.range_key)
        if not isinstance(choice, str) or choice not in self.days:
            return
        days = self.days[choice]
        set_widget(self.from_key, None if days is None else today_utc() - timedelta(days=days - 1))
        set_widget(self.to_key, None)

    def matching(self) -> str | None:
        """The quick choice the date widgets currently amount to, if any."""
        start, end = st.session_state.get(self.from_key), st.session_state.get(self.to_key)
        if end is not None:
            return None
        if start is None:
            return "all"
        for choice, days in self.days.items():
            if days is not None and start == today_utc() - timedelta(days=days - 1):
                return choice
        return None

    def render(self, help_text: str) -> None:
        """The quick choices as pills, showing the choice the dates amount to."""
        st.session_state[self.range_key] = self.matching()
        st.pills(
            "Created",
            list(self.days),
            key=self.range_key,
            format_func=lambda choice: self.labels.get(choice, str(choice)),
            on_change=self.apply,
            help=help_text,
        )


# --- the rule ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlSync:
    """Where one page keeps its URL state in the session: the query string it last read or
    wrote, the view as of the last run, and the link's problems with the URL they belong to."""

    page: str

    @property
    def seen_key(self) -> str:
        return f"_{self.page}_url_seen"

    @property
    def view_key(self) -> str:
        return f"_{self.page}_view"

    @property
    def problems_key(self) -> str:
        return f"_{self.page}_problems"

    def last_view(self) -> Any:
        """The view as of the last run (None before the first)."""
        return st.session_state.get(self.view_key)

    def remember(self, view: Any, params: Params, names: Collection[str] | None = None) -> None:
        """``view`` is now shown: keep it and write its URL (the widgets are the page's job)."""
        st.session_state[self.view_key] = view
        write_url(params, names)
        st.session_state[self.seen_key] = params


def sync(
    where: UrlSync,
    *,
    parse: Callable[[Params], tuple[V, list[Problem]]],
    widget_values: Callable[[V], Mapping[str, Any]],
    from_widgets: Callable[[V], tuple[V, list[Problem]]],
    to_params: Callable[[V], Params],
    names: Collection[str] | None = None,
) -> tuple[V, tuple[Problem, ...]]:
    """The view for this run, URL and widgets reconciled, and the problems to warn about.

    When the query string differs from the one this session last wrote, it is parsed and
    copied into the widgets. The view is then read back from the widgets, so it already
    includes the change the user just made, and the canonical URL is written. A link's
    problems are shown while the URL is still the one they belong to.
    """
    state = st.session_state
    params = read_url(names)
    if params != state.get(where.seen_key) or where.view_key not in state:
        view, problems = parse(params)
        seed(widget_values(view))
        state[where.view_key] = view
        state[where.problems_key] = (tuple(problems), to_params(view))
    else:
        # Widgets this run did not draw (an error state, an empty table) lost their state.
        seed(widget_values(state[where.view_key]), only_missing=True)
    view, widget_problems = from_widgets(state[where.view_key])
    canonical = to_params(view)
    where.remember(view, canonical, names)
    link_problems, for_params = state.get(where.problems_key, ((), {}))
    shown_problems = tuple(link_problems) if for_params == canonical else ()
    return view, shown_problems + tuple(widget_problems)
