"""The view is the URL: what the Sessions page shows, parsed from and written to the query string.

A :class:`ViewState` is the :class:`~core.query.filter.SessionFilter` (the endpoint's parameter
names: ``status``, ``model_id``, ``start_date``, ``end_date``, ``q``, ``technique``, ``sort``,
``order``, ``skip``, ``limit``) plus what only the screen needs: hidden columns (``hide``), the
session whose detail is open (``session``) and the auto-refresh switch (``refresh=off``).
Columns are named against the default set: ``hide=updated_at`` hides a column shown by
default, ``show=model_id`` shows one hidden by default.

Parsing is lenient: each bad parameter becomes a :class:`~ui.url_state.Problem` (parameter,
value, what is allowed) and falls back to its default, so a mistyped link still shows a useful
page; dates the widgets cannot show are dropped the same way (:func:`ui.url_state.check_dates`).
Defaults are left out of the URL, keeping shared links short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.fields import DEFAULT_HIDDEN, HIDEABLE_KEYS
from core.query.filter import VIEW_PARAMS, SessionFilter
from ui.url_state import Params, Problem, check_dates, shown

HIDE, SHOW, SESSION, REFRESH = VIEW_PARAMS
MAX_SESSION_ID = 200


@dataclass(frozen=True)
class ViewState:
    """Everything that decides what the page shows; hashable, so it can key caches."""

    filter: SessionFilter = field(default_factory=SessionFilter)
    hidden: tuple[str, ...] = DEFAULT_HIDDEN
    session_id: str | None = None
    auto_refresh: bool = True

    def to_params(self) -> Params:
        """Query-string parameters, defaults left out, repeated keys as lists."""
        params = self.filter.to_params()
        hide = [k for k in self.hidden if k not in DEFAULT_HIDDEN]
        show = [k for k in DEFAULT_HIDDEN if k not in self.hidden]
        if hide:
            params[HIDE] = hide
        if show:
            params[SHOW] = show
        if self.session_id:
            params[SESSION] = [self.session_id]
        if not self.auto_refresh:
            params[REFRESH] = ["off"]
        return params


def parse_view(
    params: Mapping[str, Sequence[str]],
    *,
    model_ids: Iterable[str] | None = None,
    techniques: Iterable[str] | None = None,
) -> tuple[ViewState, list[Problem]]:
    """Build the view from query parameters, one :class:`Problem` per value that was dropped.

    ``model_ids`` and ``techniques`` are what the database holds: an id that matches nothing
    would silently empty the table, so it is reported and dropped instead.
    """
    session_filter, errors = SessionFilter.from_params_lenient(params)
    problems = [Problem(e.field, shown(e.value), e.allowed) for e in errors]
    session_filter, date_problems = check_dates(session_filter)
    problems += date_problems

    known_models = set(model_ids) if model_ids is not None else None
    if known_models is not None:
        unknown = [m for m in session_filter.model_ids if m not in known_models]
        for model_id in unknown:
            problems.append(
                Problem(
                    "model_id", shown(model_id), "no session or model has this id; pick models from the list"
                )
            )
        if unknown:
            session_filter = replace(
                session_filter, model_ids=tuple(m for m in session_filter.model_ids if m in known_models)
            )
    known_techniques = list(techniques) if techniques is not None else None
    if known_techniques is not None:
        unknown = [t for t in session_filter.techniques if t not in known_techniques]
        for technique in unknown:
            problems.append(
                Problem(
                    "technique",
                    shown(technique),
                    f"choose from {', '.join(known_techniques) or 'no techniques yet'}",
                )
            )
        if unknown:
            session_filter = replace(
                session_filter, techniques=tuple(t for t in session_filter.techniques if t not in unknown)
            )

    hidden = set(DEFAULT_HIDDEN)
    for parameter in (HIDE, SHOW):
        for column in params.get(parameter, []):
            if column in HIDEABLE_KEYS:
                (hidden.add if parameter == HIDE else hidden.discard)(column)
            elif column:
                problems.append(Problem(parameter, shown(column), f"columns are {', '.join(HIDEABLE_KEYS)}"))

    session_id = None
    sessions = [s.strip() for s in params.get(SESSION, []) if s.strip()]
    if sessions:
        if len(sessions[-1]) <= MAX_SESSION_ID:
            session_id = sessions[-1]
        else:
            problems.append(
                Problem(SESSION, shown(sessions[-1]), f"a session id is at most {MAX_SESSION_ID} characters")
            )

    auto_refresh = True
    refresh = [r.strip().lower() for r in params.get(REFRESH, []) if r.strip()]
    if refresh:
        if refresh[-1] in ("off", "on"):
            auto_refresh = refresh[-1] == "on"
        else:
            problems.append(Problem(REFRESH, shown(refresh[-1]), "use on or off"))

    ordered_hidden = tuple(k for k in HIDEABLE_KEYS if k in hidden)
    return ViewState(session_filter, ordered_hidden, session_id, auto_refresh), problems
