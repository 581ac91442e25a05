"""One session in full, in a dialog over the table: opened by a row click or a ``session=`` link.

The session id lives in the URL, so a detail view can be shared like any other view; closing
the dialog removes it. Everything is read fresh (not cached), so progress is current.
Criteria and results are shown as key/value lists; text that is not valid JSON is shown as
stored, flagged, instead of failing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import streamlit as st

from core.config import Settings
from core.store.types import Malformed
from ui.data import load_session
from ui.errors import database_guard
from ui.sidebar import update_view
from ui.timefmt import duration_text, local_text, viewer_timezone
from ui.view import ViewState

BadgeColor = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "grey", "primary"]
BADGE_COLORS: dict[str, BadgeColor] = {
    "pending": "gray",
    "running": "blue",
    "completed": "green",
    "failed": "red",
    "cancelled": "orange",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")
# Streamlit's Markdown turns bare "https://...", "www...." and e-mail addresses into live links,
# backslash escapes or not (checked in Chromium). An invisible WORD JOINER (U+2060) before
# "://", between "www" and "." and before "@" breaks that detection; the text looks the same.
_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?=://)|(?=@)")
WORD_JOINER = "\u2060"


def _escape(text: str) -> str:
    """Stored text is shown as typed: never as links, formatting or HTML."""
    text = _AUTOLINK.sub(WORD_JOINER, text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _value_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def key_values(data: Mapping[str, Any]) -> str:
    """A two-column Markdown table of ``data`` with every cell escaped."""
    lines = ["| Field | Value |", "| --- | --- |"]
    for key, value in data.items():
        name = str(key).replace("_", " ")
        lines.append(f"| {_escape(name[:1].upper() + name[1:])} | {_escape(_value_text(value))} |")
    return "\n".join(lines)


def _structured(title: str, value: Any) -> None:
    st.markdown(f"##### {title}")
    if value is None:
        st.caption("None recorded.")
    elif isinstance(value, Malformed):
        st.warning(
            f"The stored {title.lower()} are not valid JSON; shown as stored.", icon=":material/data_alert:"
        )
        st.code(value.raw, language=None, wrap_lines=True)
    elif isinstance(value, dict):
        st.markdown(key_values(value) if value else "_Empty._")
    else:
        st.warning(f"The stored {title.lower()} are not a JSON object.", icon=":material/data_alert:")
        st.code(json.dumps(value, ensure_ascii=False), language=None, wrap_lines=True)


def _timeline(detail: Mapping[str, Any], zone: str) -> None:
    steps = (
        ("Created", detail["created_at"]),
        ("Last update", detail["updated_at"]),
        ("Completed" if detail["status"] == "completed" else "Finished", detail["completed_at"]),
    )
    cols = st.columns([4, 1, 4, 1, 4], vertical_alignment="center")
    for index, (name, moment) in enumerate(steps):
        with cols[index * 2].container(border=True):
            st.caption(name)
            st.markdown(f"**{local_text(moment, zone, seconds=True)}**" if moment else "—")
        if index < 2:
            cols[index * 2 + 1].markdown("→", text_alignment="center")


def render_session_detail(detail: Mapping[str, Any], zone: str) -> None:
    """Everything known about one session (the dialog's body)."""
    row = detail["row"]
    status = row.status
    st.markdown(f"### {_escape(row.session_id)}")
    heading = st.container(horizontal=True, vertical_alignment="center", gap="small")
    heading.badge(status.capitalize(), color=BADGE_COLORS.get(status, "gray"))
    heading.markdown(f"Model **{_escape(row.model_name)}** · `{row.model_id}`")
    total, done = detail.get("total_steps"), detail.get("completed_steps")
    steps = f"{done} of {total} steps done" if total else "steps unknown"
    st.progress(
        min(1.0, max(0.0, row.progress_percentage / 100)), text=f"{row.progress_percentage:.0f}% · {steps}"
    )
    if status == "failed":
        st.error(
            f"**Error:** {_escape(detail.get('error_message') or 'no message recorded')}",
            icon=":material/error:",
        )
    if row.has_data_issue:
        st.warning("This session's criteria or results are malformed.", icon=":material/data_alert:")
    _timeline(detail, zone)
    duration = duration_text(row.duration_seconds)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("##### Session")
        st.markdown(
            key_values(
                {
                    "Model name": row.model_name if row.model_known else "(no metadata for this model)",
                    "Model id": row.model_id,
                    "Framework": detail.get("framework"),
                    "Original size (MB)": detail.get("original_size_mb"),
                    "Techniques": list(row.techniques),
                    "Size reduction": None
                    if row.size_reduction_percent is None
                    else f"{row.size_reduction_percent:.1f}%",
                    "Speed improvement": None
                    if row.speed_improvement_percent is None
                    else f"{row.speed_improvement_percent:.1f}%",
                    "Accuracy change": None
                    if row.accuracy_delta_percent is None
                    else f"{row.accuracy_delta_percent:+.2f} pp",
                    "Duration": duration or "still open",
                }
            )
        )
    with right:
        _structured("Criteria", detail.get("criteria"))
        _structured("Results", detail.get("results"))
    st.caption(f"Times in {zone}. The address bar links to this session: copy it to share.")


def _close() -> None:
    update_view(session_id=None)


@st.dialog("Session details", width="large", on_dismiss=_close)
def _detail_dialog(settings: Settings, session_id: str) -> None:
    with database_guard("sessions_detail_retry") as guard:
        detail = load_session(settings, session_id)
    if guard.failed:
        return
    if detail is None:
        st.warning(
            f"No session has the id `{_escape(session_id)}` (it may have been deleted).",
            icon=":material/warning:",
        )
    else:
        render_session_detail(detail, viewer_timezone())
    if st.button("Close", key="sessions_detail_close"):
        _close()
        st.rerun()


def render_detail(settings: Settings, view: ViewState) -> None:
    """Open the dialog when the view names a session."""
    if view.session_id:
        _detail_dialog(settings, view.session_id)
