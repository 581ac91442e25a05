"""The session's fields, once: the catalogue every list of fields in the project derives from.

A field's key is the word used for it everywhere a user meets it: the original endpoint's
response, the sort parameter (``sort=size_reduction_percent``), the table's column ids and the
URL's ``hide``/``show``, the CLI's table. The CSV header uses :attr:`Field.export_header`.
Adding a metric means adding one :class:`Field` here, its SQL expression in
:func:`core.query.clauses.sort_column` and its value on :class:`core.query.rows.SessionRow`;
the filters, the exports, the API and the table pick it up from this list.

The :attr:`Field.kind` says how the value is shown and written: the CSV cell format
(:mod:`core.export.cells`) and the table's column types (:mod:`ui.table`) are chosen by kind,
never by field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal[
    "id", "text", "status", "progress", "percent", "points", "techniques", "duration", "timestamp"
]


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    help: str
    kind: FieldKind
    # Whether ``sort=<key>`` is allowed (the duration is computed per row, not sortable).
    sortable: bool = True
    # Whether the value may be missing: NULLs sort last in both directions.
    nullable: bool = False
    # Whether the original endpoint's response carries the field (its contract is fixed).
    in_response: bool = True
    # The CSV column's name; the key unless the file states a unit the key does not.
    export_header: str = ""
    # The session id names a row: it cannot be hidden from the table.
    hideable: bool = True
    # Hidden until asked for (``show=model_id``), so the table fits a laptop screen.
    hidden_by_default: bool = False
    # The table column's width in pixels.
    width: int = 120
    # The :class:`core.query.rows.SessionRow` attribute holding the value; the key unless named.
    row_attribute: str = ""

    @property
    def header(self) -> str:
        return self.export_header or self.key

    @property
    def attribute(self) -> str:
        return self.row_attribute or self.key


FIELDS: tuple[Field, ...] = (
    Field(
        "session_id",
        "Session",
        "The session's id. Select a row to see everything about it.",
        "id",
        hideable=False,
        width=175,
    ),
    Field(
        "model_id",
        "Model ID",
        "The model's id.",
        "id",
        hidden_by_default=True,
        width=95,
    ),
    Field(
        "model_name",
        "Model",
        "Model name; models missing from the models table show their id.",
        "text",
        width=150,
    ),
    Field("status", "Status", "pending, running, completed, failed or cancelled.", "status", width=105),
    Field("progress_percentage", "Progress", "Steps completed of the total.", "progress", width=115),
    Field(
        "techniques",
        "Techniques",
        "Optimization techniques applied in this session.",
        "techniques",
        nullable=True,
        width=210,
    ),
    Field(
        "size_reduction_percent",
        "Size reduction",
        "How much smaller the optimized model is.",
        "percent",
        nullable=True,
        width=125,
    ),
    Field(
        "speed_improvement_percent",
        "Speed-up",
        "How much faster the optimized model is.",
        "percent",
        nullable=True,
        width=100,
    ),
    Field(
        "accuracy_delta_percent",
        "Accuracy change",
        "Change in accuracy versus the original model, in percentage points.",
        "points",
        nullable=True,
        in_response=False,
        width=135,
    ),
    Field(
        "duration",
        "Duration",
        "From created to completed; empty while unfinished.",
        "duration",
        sortable=False,
        nullable=True,
        in_response=False,
        export_header="duration_seconds",
        width=105,
        row_attribute="duration_seconds",
    ),
    Field("created_at", "Created", "When the session was created.", "timestamp", width=165),
    Field(
        "updated_at",
        "Updated",
        "When the session last changed.",
        "timestamp",
        hidden_by_default=True,
        width=165,
    ),
    Field(
        "completed_at",
        "Completed",
        "When the session finished (completed, failed or cancelled).",
        "timestamp",
        nullable=True,
        width=165,
    ),
)

BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
FIELD_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS)
TIMESTAMP_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.kind == "timestamp")
# The times first: the sorts users reach for most, and the order error messages list them in.
SORT_KEYS: tuple[str, ...] = TIMESTAMP_KEYS + tuple(
    f.key for f in FIELDS if f.sortable and f.kind != "timestamp"
)
NULLABLE_SORT_KEYS: frozenset[str] = frozenset(f.key for f in FIELDS if f.sortable and f.nullable)
# The original endpoint's row, in its order.
RESPONSE_FIELDS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.in_response)
EXPORT_HEADERS: tuple[str, ...] = tuple(f.header for f in FIELDS)
HIDEABLE_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.hideable)
DEFAULT_HIDDEN: tuple[str, ...] = tuple(f.key for f in FIELDS if f.hidden_by_default)


def label(key: str) -> str:
    """The readable name of a field (or of any key, made readable)."""
    found = BY_KEY.get(key)
    return found.label if found else key.replace("_", " ").capitalize()
