"""What the dashboard's copy records about itself, and whether a reader may use it.

One row per key in the copy's ``mirror_state`` table: its format, the platform it copies,
when it was built and last synced, the sync watermark and the progress of the comparison of
every row (:mod:`core.speed.mirror`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, MetaData, Table, Text

from core.speed.location import MirrorLocation

# Bump when the copy's layout or derived structures change: a copy of another format is not
# read (the plain path answers) until ``init-db`` builds it again.
MIRROR_FORMAT = "1"
state_metadata = MetaData()
mirror_state = Table(
    "mirror_state",
    state_metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=True),
)


@dataclass(frozen=True)
class MirrorState:
    """What the copy records about itself (one row per key in ``mirror_state``)."""

    format: str | None
    platform: str | None  # the platform it copies (masked URL): a copy of another is not used
    built_at: datetime | None
    synced_at: datetime | None  # the start of the last sync: the copy is at least this fresh
    watermark: datetime | None
    full_at: datetime | None  # when the last comparison of every row ended
    full_cursor: str | None = None  # the last id compared by a comparison under way

    @classmethod
    def from_rows(cls, rows: dict[str, str | None]) -> MirrorState:
        def at(key: str) -> datetime | None:
            value = rows.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            format=rows.get("format"),
            platform=rows.get("platform"),
            built_at=at("built_at"),
            synced_at=at("synced_at"),
            watermark=at("watermark"),
            full_at=at("full_at"),
            full_cursor=rows.get("full_cursor"),
        )


@dataclass(frozen=True)
class SyncReport:
    """What one sync did."""

    sessions_written: int
    sessions_deleted: int
    models_changed: int
    full: bool
    seconds: float
    skipped: str = ""  # why nothing was done (another process was syncing, nothing changed)

    @property
    def changed(self) -> bool:
        return bool(self.sessions_written or self.sessions_deleted or self.models_changed)


def unusable_reason(state: MirrorState | None, location: MirrorLocation) -> str:
    """Why this recorded copy cannot answer for ``location``'s platform; "" when it can (as to
    its format and source; freshness is the reader's own limit)."""
    if state is None:
        return f"no copy in {location.description}"
    if state.format != MIRROR_FORMAT:
        return f"the copy has format {state.format}, this version reads {MIRROR_FORMAT}"
    if not location.copies_this_platform(state.platform):
        return f"the copy was made from {state.platform}, not this database"
    return ""
