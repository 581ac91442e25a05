"""The comparison view: 2 to 5 sessions side by side, one column each; the URL is the view.

``?compare=ID&compare=ID`` (repeated keys, the project's URL convention) names the sessions;
:func:`compare_link` builds it for other pages. Rows are the session's fields, then every
result metric aligned by name (blank where a session does not report it, best value starred
and highlighted), then the criteria. A grouped bar chart shows size and speed side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.config import Settings
from core.query.compare import (
    MAX_COMPARE,
    MIN_COMPARE,
    ComparedSession,
    Comparison,
    Value,
    load_comparison,
    lower_is_better,
    parse_compare_ids,
)
from ui.data import connect
from ui.errors import database_guard
from ui.figures import comparison_figure

PARAM = "compare"
BEST_MARK = " ★"
BEST_STYLE = "background-color: rgba(46, 157, 91, 0.16); font-weight: 600"
METRIC_LABELS = {
    "size_reduction_percent": "Size reduction",
    "speed_improvement_percent": "Speed improvement",
    "accuracy_delta_percent": "Accuracy change",
}
K_IDS = "compare_ids_input"


def compare_link(session_ids: Sequence[str]) -> str:
    """Relative link to the comparison of ``session_ids`` (for the Sessions page)."""
    return "Compare?" + urlencode({PARAM: list(session_ids)}, doseq=True)


def _text(value: Value, metric: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if metric.endswith("_percent"):
            return f"{value:+.2f}%" if metric.startswith("accuracy") else f"{value:.1f}%"
        return f"{value:,.4g}"
    return str(value)


def _steps(s: ComparedSession) -> str:
    if s.total_steps is None:
        return ""
    return f"{s.completed_steps or 0} of {s.total_steps}"


def comparison_frame(comparison: Comparison) -> pd.DataFrame:
    """Rows: fields, metrics (best starred), criteria; one column per session (all text)."""
    sessions = comparison.sessions
    rows: dict[str, list[str]] = {
        "Model": [s.model_name if s.model_known else f"{s.model_id} (no metadata)" for s in sessions],
        "Model id": [s.model_id for s in sessions],
        "Techniques": [", ".join(t.replace("_", " ") for t in s.techniques) for s in sessions],
        "Status": [s.status for s in sessions],
        "Steps": [_steps(s) for s in sessions],
        "Progress": [f"{s.progress_percentage:.0f}%" for s in sessions],
        "Created (UTC)": [f"{s.created_at:%Y-%m-%d %H:%M}" if s.created_at else "" for s in sessions],
        "Finished (UTC)": [f"{s.completed_at:%Y-%m-%d %H:%M}" if s.completed_at else "" for s in sessions],
    }
    if any(s.error_message for s in sessions):
        rows["Error"] = [s.error_message or "" for s in sessions]
    for metric in comparison.metric_names:
        best = set(comparison.best_for(metric))
        rows[METRIC_LABELS.get(metric, metric)] = [
            _text(s.metric(metric), metric) + (BEST_MARK if s.session_id in best else "") for s in sessions
        ]
    for name in comparison.criteria_names:
        rows[f"Criteria: {name}"] = [_text(s.criterion(name)) for s in sessions]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[s.session_id for s in sessions])


def _highlight(value: object) -> str:
    return BEST_STYLE if isinstance(value, str) and value.endswith(BEST_MARK) else ""


_COMMA = "\ue000"  # a private-use character: stands in for commas inside an id


def url_compare_ids(values: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """The ids of a ``?compare=`` link: each repeated value is one whole id, commas included
    (session ids are free text). Only the typed list in the picker is split on commas."""
    ids, problems = parse_compare_ids([v.replace(",", _COMMA) for v in values])
    return (tuple(i.replace(_COMMA, ",") for i in ids), [p.replace(_COMMA, ",") for p in problems])


def _read_ids() -> tuple[tuple[str, ...], list[str]]:
    return url_compare_ids(st.query_params.get_all(PARAM))


def _apply_input() -> None:
    ids, _ = parse_compare_ids([st.session_state.get(K_IDS, "")])
    st.query_params.from_dict({PARAM: list(ids)} if ids else {})


def _render_picker(ids: Sequence[str]) -> None:
    st.session_state.setdefault(K_IDS, ", ".join(ids))
    with st.form("compare_form", border=False):
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        left.text_input(
            "Session ids",
            key=K_IDS,
            placeholder="opt-20250601-000123, opt-...",
            help=f"{MIN_COMPARE} to {MAX_COMPARE} ids separated by commas.",
        )
        right.form_submit_button("Compare", on_click=_apply_input, type="primary", width="stretch")


def _legend(comparison: Comparison) -> str:
    lower = [METRIC_LABELS.get(m, m) for m in comparison.metric_names if lower_is_better(m)]
    text = (
        "★ marks the best value of each metric reported by at least two sessions "
        "(the highest, except for costs"
    )
    return text + (f" such as {', '.join(lower)}" if lower else "") + ", where lower is better)."


def render_compare(settings: Settings) -> None:
    """The whole comparison page below the login gate."""
    st.title("Compare sessions")
    ids, problems = _read_ids()
    for problem in problems:
        st.warning(f"Ignored {problem}.", icon="⚠️")
    if len(ids) < MIN_COMPARE:
        st.info(
            f"Choose {MIN_COMPARE} to {MAX_COMPARE} sessions to compare: tick them in the "
            "table on the Sessions page, or enter their ids here.",
            icon="ℹ️",
        )
        _render_picker(ids)
        return
    with database_guard("compare_retry") as guard, connect(settings) as connection:
        comparison = load_comparison(connection, ids)
    if guard.failed:
        return
    for missing in comparison.not_found:
        st.warning(f"Ignored `compare={missing}` in the link: no session has this id.", icon="⚠️")
    if len(comparison.sessions) < MIN_COMPARE:
        st.info(f"Fewer than {MIN_COMPARE} of these sessions exist: nothing to compare yet.", icon="ℹ️")
        _render_picker(ids)
        return
    st.caption(f"{len(comparison.sessions)} sessions side by side. " + _legend(comparison))
    frame = comparison_frame(comparison)
    st.dataframe(
        frame.style.map(_highlight),
        width="stretch",
        height=min(35 * (len(frame) + 1) + 3, 900),
        key="compare_table",
        column_config={"_index": st.column_config.TextColumn("", width=260)},
    )
    st.plotly_chart(
        comparison_figure(comparison.sessions),
        width="stretch",
        theme="streamlit",
        key="compare_chart",
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": "session-comparison", "scale": 2},
        },
    )
    links = " · ".join(
        f"[{s.session_id}](Sessions?{urlencode({'session': s.session_id})})" for s in comparison.sessions
    )
    st.markdown(f"Open in the Sessions page: {links}")
    with st.expander("Change the sessions compared"):
        _render_picker(ids)
