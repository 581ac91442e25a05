"""The sessions grid's columns: one page of rows as a frame and each field's column type.

Shaped from the field catalogue (:mod:`core.fields`): each field's kind decides its cells and
its ``st.column_config`` column, so the Sessions table and the Home page's latest sessions
look alike. Timestamps are converted to the viewer's zone here, not in the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.fields import FIELDS, Field, label
from core.query.rows import SessionRow
from core.store.tables import STATUSES
from ui.figures import STATUS_COLORS
from ui.timefmt import duration_text
from ui.view import ViewState


def _timestamps(values: Sequence[datetime | None], zone: str) -> pd.Series:
    series = pd.to_datetime(pd.Series(list(values), dtype="object"), utc=True)
    return series.dt.tz_convert(zone)


def _cells(field: Field, rows: Sequence[SessionRow], zone: str) -> Any:
    """One column of the grid, shaped for the column type its field's kind gets."""
    values = [getattr(r, field.attribute) for r in rows]
    if field.key == "model_name":
        return [r.model_name if r.model_known else f"{r.model_id} (no metadata)" for r in rows]
    if field.kind == "status":
        return [[v] for v in values]
    if field.kind == "techniques":
        return [list(v) for v in values]
    if field.kind in ("percent", "points"):
        return pd.array(values, dtype="Float64")
    if field.kind == "duration":
        return [duration_text(v) for v in values]
    if field.kind == "timestamp":
        return _timestamps(values, zone)
    return values


def page_frame(rows: Sequence[SessionRow], zone: str) -> pd.DataFrame:
    """The visible rows as the grid shows them (timestamps already in the viewer's zone)."""
    return pd.DataFrame({field.key: _cells(field, rows, zone) for field in FIELDS}, index=range(len(rows)))


def _header(key: str, view: ViewState) -> str:
    """The column label, with an arrow on the column the table is sorted by."""
    text = label(key)
    if view.filter.sort == key:
        text += " ↓" if view.filter.order == "desc" else " ↑"
    return text


def _column(field: Field, view: ViewState, zone: str, techniques: Sequence[str]) -> Any:
    """The grid's column for ``field``, by its kind."""
    cc = st.column_config
    header = _header(field.key, view) if field.sortable else field.label
    help_ = field.help + (" Click the header to sort all matches by it." if field.sortable else "")
    common: dict[str, Any] = {"help": help_, "width": field.width}
    match field.kind:
        case "id" | "text":
            return cc.TextColumn(header, pinned=not field.hideable or None, **common)
        case "status":
            return cc.MultiselectColumn(
                header,
                options=list(STATUSES),
                color=[STATUS_COLORS[s] for s in STATUSES],
                format_func=str.capitalize,
                **common,
            )
        case "techniques":
            return cc.MultiselectColumn(
                header,
                options=list(techniques),
                color="auto",
                format_func=lambda t: t.replace("_", " "),
                **common,
            )
        case "progress":
            return cc.ProgressColumn(header, min_value=0, max_value=100, format="%.0f%%", **common)
        case "percent":
            return cc.NumberColumn(header, format="%.1f%%", **common)
        case "points":
            return cc.NumberColumn(header, format="%+.2f pp", **common)
        case "duration":
            return cc.TextColumn(header, alignment="right", **common)
        case "timestamp":
            common["help"] = f"{help_} Shown in {zone}."
            return cc.DatetimeColumn(header, format="YYYY-MM-DD HH:mm z", timezone=zone, **common)


def column_config(view: ViewState, zone: str, techniques: Sequence[str]) -> dict[str, Any]:
    return {field.key: _column(field, view, zone, techniques) for field in FIELDS}


def visible_columns(view: ViewState) -> list[str]:
    return [f.key for f in FIELDS if f.key not in view.hidden]
