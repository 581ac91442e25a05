"""One index on the platform's sessions: which rows changed since the copy last looked.

SQLite: on ``strftime('%Y-%m-%d %H:%M:%f', updated_at)`` (the platform may write timestamps
with a ``T`` or a ``Z``; the normalised text sorts right). PostgreSQL: on ``updated_at``,
built ``CONCURRENTLY`` so platform writes go on while it is built; an invalid index left by
an interrupted build is dropped and built again.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import op
from sqlalchemy.engine import Connection

from core.speed.platform import changed_rows_index, drop_changed_rows_index

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def describe(connection: object) -> list[str]:
    return ["add index ix_dashboard_changed on optimization_sessions (updated_at, session_id)"]


def _run(step: Callable[[Connection], None]) -> None:
    """PostgreSQL's CONCURRENTLY cannot run inside a transaction: step out of Alembic's."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            step(connection)
    else:
        step(connection)


def upgrade() -> None:
    _run(changed_rows_index)


def downgrade() -> None:
    _run(drop_changed_rows_index)
