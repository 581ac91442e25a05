"""Failed attempts per key, shared by every replica through the ``throttle`` table.

The in-process :class:`core.auth.throttle.LoginThrottle` is enough for sign-in, where a browser
stays with one server; API clients may hit any replica, so their failures are counted in the
state store. Each check runs inside the caller's transaction and first takes the key's row
lock (SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT ... FOR UPDATE``), so
the attempt is reserved before it is judged: N bad attempts in parallel are serialised on the
row and counted N, and the one after the free allowance already sees the lock.

Past ``free_attempts`` failures a key is locked for ``base_delay * 2**(failures - free - 1)``
seconds after each further failure, capped at ``max_delay``; a key with no failure for
``forget_after`` seconds starts again from zero. Times are epoch seconds (wall clock: replicas
do not share a monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.state.tables import throttle


@dataclass(frozen=True)
class SharedPolicy:
    free_attempts: int = 10
    base_delay: float = 2.0
    max_delay: float = 300.0
    forget_after: float = 3600.0

    def delay_after(self, failures: int) -> float:
        """Seconds a key with ``failures`` failures waits after its last one."""
        excess = failures - self.free_attempts
        if excess <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(excess - 1, 30))


def _insert_if_missing(connection: Connection, key: str) -> None:
    values = {"key": key, "failures": 0, "locked_until": 0.0, "last_failure_at": 0.0}
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(throttle).values(values).on_conflict_do_nothing())
    else:
        connection.execute(sqlite.insert(throttle).values(values).on_conflict_do_nothing())


def reserve(connection: Connection, key: str, now: float, policy: SharedPolicy) -> tuple[int, float]:
    """Take the key's row for this transaction: (failures so far, seconds still locked; 0 = may try)."""
    _insert_if_missing(connection, key)
    row = connection.execute(
        select(throttle.c.failures, throttle.c.locked_until, throttle.c.last_failure_at)
        .where(throttle.c.key == key)
        .with_for_update()
    ).one()
    if row.failures and now - row.last_failure_at > policy.forget_after:
        connection.execute(update(throttle).where(throttle.c.key == key).values(failures=0, locked_until=0.0))
        return 0, 0.0
    return int(row.failures), max(0.0, float(row.locked_until) - now)


def record_failure(connection: Connection, key: str, now: float, policy: SharedPolicy) -> float:
    """Count one failure of a reserved key; returns the seconds it is now locked for (0: not locked)."""
    failures = int(connection.execute(select(throttle.c.failures).where(throttle.c.key == key)).scalar_one())
    failures += 1
    delay = policy.delay_after(failures)
    connection.execute(
        update(throttle)
        .where(throttle.c.key == key)
        .values(failures=failures, locked_until=now + delay, last_failure_at=now)
    )
    return delay


def release(connection: Connection, key: str) -> None:
    """A successful attempt: drop the key's row when it holds no failures (nothing to remember)."""
    connection.execute(delete(throttle).where(throttle.c.key == key, throttle.c.failures == 0))


def forget_idle(connection: Connection, now: float, policy: SharedPolicy) -> int:
    """Delete keys with no failure for ``forget_after`` seconds and no lock; returns how many."""
    result = connection.execute(
        delete(throttle).where(
            throttle.c.last_failure_at < now - policy.forget_after, throttle.c.locked_until < now
        )
    )
    return int(result.rowcount or 0)
