"""Alembic environment of the dashboard's state store.

Run through :mod:`core.state.store` only: it passes a connection already inside the
transaction that holds the migration lock (SQLite's write lock, a PostgreSQL advisory lock), so
the steps and the version row land together and two replicas never run a step twice. The
version lives in ``dashboard_state_version``, a table of its own, so a state store sharing a
database with anything else never touches that database's ``alembic_version``.
"""

from __future__ import annotations

from alembic import context

from core.state.store import VERSION_TABLE

config = context.config
context.configure(
    connection=config.attributes["connection"], version_table=VERSION_TABLE, transactional_ddl=True
)
with context.begin_transaction():
    context.run_migrations()
