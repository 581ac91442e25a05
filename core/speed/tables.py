"""The copy's own tables, as the readers see them: one handle per table, shared by every query.

These are the structures :mod:`core.speed.derived` builds in the dashboard's copy (and that
triggers keep there); readers in :mod:`core.query`, :mod:`core.stats` and :mod:`core.export`
select from these handles instead of each declaring its own.
"""

from __future__ import annotations

from sqlalchemy import column, table

from core.speed.derived import (
    AGG_BINS,
    AGG_COUNTS,
    AGG_MODELS,
    AGG_VALUES,
    COUNTS_TABLE,
    SEARCH_TABLE,
    TECHNIQUES_TABLE,
)
from core.speed.export_cells import CELLS_TABLE

session_techniques = table(TECHNIQUES_TABLE, column("session_id"), column("technique"))
session_search = table(SEARCH_TABLE, column("session_id"), column(SEARCH_TABLE))
session_counts = table(COUNTS_TABLE, column("status"), column("sessions"))
export_cells = table(CELLS_TABLE, column("session_id"), column("line"))

agg_counts = table(
    AGG_COUNTS,
    column("technique"),
    column("day"),
    column("status"),
    *(
        column(c)
        for c in ("sessions", "size_sum", "size_n", "speed_sum", "speed_n", "both_n", "saved_sum", "saved_n")
    ),
)
agg_values = table(
    AGG_VALUES, column("metric"), column("technique"), column("value"), column("week"), column("n")
)
agg_models = table(
    AGG_MODELS,
    column("model_id"),
    column("status"),
    column("sessions"),
    column("best_size"),
    column("best_speed"),
    column("last"),
)
agg_bins = table(AGG_BINS, column("metric"), column("technique"), column("week"), column("bin"), column("n"))
