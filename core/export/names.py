"""The download's file name: the date and the main filters, safe on every file system."""

from __future__ import annotations

import re
from datetime import date

from core.query.filter import SessionFilter


def export_filename(f: SessionFilter, today: date, extension: str = "csv") -> str:
    """``sessions_2026-11-25_status-failed_model-mdl-0001.csv``: the date and the main filters."""
    parts = ["sessions", today.isoformat()]
    if f.statuses:
        parts.append("status-" + "+".join(f.statuses))
    if f.model_ids:
        parts.append(
            "model-" + ("+".join(f.model_ids) if len(f.model_ids) <= 2 else f"{len(f.model_ids)}-models")
        )
    if f.techniques:
        parts.append("technique-" + "+".join(f.techniques))
    if f.start_date or f.end_date:
        start = f.start_date.isoformat()[:10] if f.start_date else "start"
        end = f.end_date.isoformat()[:10] if f.end_date else "now"
        parts.append(f"{start}_to_{end}")
    if f.search:
        parts.append("q-" + f.search)
    name = "_".join(parts)
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", name)[:150].strip("-")
    return f"{name}.{extension}"
