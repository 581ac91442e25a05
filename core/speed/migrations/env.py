"""Alembic environment for what the speed layer installs in the platform's database.

Run through :mod:`core.speed.platform` only: it passes the connection (or, for a dry run, the
URL) in ``config.attributes``. The version is recorded in ``dashboard_speed_version``, a table
of its own, so the platform's own Alembic history (``alembic_version``) is never touched.
"""

from __future__ import annotations

from alembic import context

from core.speed.platform import VERSION_TABLE

config = context.config
if context.is_offline_mode():
    context.configure(
        url=config.attributes["url"], literal_binds=True, version_table=VERSION_TABLE, transactional_ddl=False
    )
    context.run_migrations()
else:
    context.configure(
        connection=config.attributes["connection"], version_table=VERSION_TABLE, transactional_ddl=False
    )
    context.run_migrations()
