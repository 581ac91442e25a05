"""Remove what earlier versions installed inside the platform's tables.

Generated columns, indexes, triggers, functions and derived tables of the in-table speed
layer (see :mod:`core.speed.legacy`); nothing on a database that never had them.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from core.speed.legacy import drop_legacy, find_legacy

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def describe(connection: object) -> list[str]:
    found = find_legacy(connection)  # type: ignore[arg-type]
    if not found:
        return ["nothing from earlier versions to remove"]
    return [f"remove from earlier versions: {', '.join(found.describe())}"]


def upgrade() -> None:
    connection = op.get_bind()
    found = find_legacy(connection)
    if not found:
        return
    if connection.dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            drop_legacy(connection, found)
    else:
        drop_legacy(connection, found)


def downgrade() -> None:
    """The in-table structures are not put back: the copy replaces them."""
