"""The Sessions table's columns: one list that the table, the sort choices and the URL share.

Keys are the response's field names (and the sort keys of :mod:`core.query.filter`), so a column
hidden in the URL (``hide=updated_at``), a sort (``sort=size_reduction_percent``) and the CSV
header all use the same words.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.query.filter import SORT_KEYS


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("session_id", "Session", "The session's id. Select a row to see everything about it."),
    Column("model_name", "Model", "Model name; models missing from the models table show their id."),
    Column("model_id", "Model ID", "The model's id."),
    Column("status", "Status", "pending, running, completed, failed or cancelled."),
    Column("progress_percentage", "Progress", "Steps completed of the total."),
    Column("techniques", "Techniques", "Optimization techniques applied in this session."),
    Column("size_reduction_percent", "Size reduction", "How much smaller the optimized model is."),
    Column("speed_improvement_percent", "Speed-up", "How much faster the optimized model is."),
    Column(
        "accuracy_delta_percent",
        "Accuracy change",
        "Change in accuracy versus the original model, in percentage points.",
    ),
    Column("duration", "Duration", "From created to completed; empty while unfinished."),
    Column("created_at", "Created", "When the session was created."),
    Column("updated_at", "Updated", "When the session last changed."),
    Column("completed_at", "Completed", "When the session finished (completed, failed or cancelled)."),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)
BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
TIMESTAMP_KEYS: tuple[str, ...] = ("created_at", "updated_at", "completed_at")

# The session id identifies a row: it cannot be hidden.
ALWAYS_SHOWN: tuple[str, ...] = ("session_id",)
HIDEABLE_KEYS: tuple[str, ...] = tuple(k for k in COLUMN_KEYS if k not in ALWAYS_SHOWN)
# Hidden until asked for (``show=model_id``), so the table fits a laptop screen; the model id
# is also in every session's detail.
DEFAULT_HIDDEN: tuple[str, ...] = ("model_id", "updated_at")


def label(key: str) -> str:
    """The readable name of a column or sort key."""
    column = BY_KEY.get(key)
    return column.label if column else key.replace("_", " ").capitalize()


def sortable(key: str) -> bool:
    return key in SORT_KEYS
