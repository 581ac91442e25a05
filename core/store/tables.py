"""The tables agreed with the optimization platform: ``models`` and ``optimization_sessions``.

The platform writes them; the dashboard only reads them. Structures that make reads fast live
in the dashboard's copy (:mod:`core.speed`), never here.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

from core.store.types import TolerantJSON, UTCTimestamp

STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "cancelled")

metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("model_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("framework", Text, nullable=True),
    Column("original_size_mb", Float, nullable=True),
    Column("created_at", UTCTimestamp, nullable=True),
)

optimization_sessions = Table(
    "optimization_sessions",
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("model_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("criteria", TolerantJSON, nullable=True),
    Column("total_steps", Integer, nullable=True),
    Column("completed_steps", Integer, nullable=True),
    Column("results", TolerantJSON, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("created_at", UTCTimestamp, nullable=False),
    Column("updated_at", UTCTimestamp, nullable=False),
    Column("completed_at", UTCTimestamp, nullable=True),
)
