"""The dashboard's own read-write state: API tokens, the audit log, shared throttles.

Separate from the platform's sessions database, which the dashboard only reads. One URL
(:mod:`core.state.settings`), one migrated engine per process (:mod:`core.state.store`), the
tables as SQLAlchemy Core (:mod:`core.state.tables`), versioned by Alembic (``migrations/``).
"""
