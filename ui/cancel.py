"""Stop the database work of a view nobody is looking at any more.

The metric cards and charts run in parallel fragments: aggregate scans of up to seconds on a
million sessions. When the user changes a filter, Streamlit asks the old run to stop, but a
worker thread inside a SQL statement cannot notice until the statement returns, and the new
run waits for it (``ParallelFragmentCoordinator.drain`` joins its workers). Without help, a
filter change could wait for the previous filter's medians.

So every statement run from a parallel fragment is registered with its run's coordinator, and
a small watcher thread interrupts the statement as soon as that coordinator is told to stop
(SQLite ``interrupt()``, PostgreSQL ``cancel()``). The interrupted aggregate is simply not
cached; the new view starts at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

POLL_SECONDS = 0.05

_lock = threading.Lock()
_running: dict[int, tuple[Any, Any]] = {}  # id(dbapi connection) -> (connection, coordinator)
_watcher: threading.Thread | None = None


def _coordinator() -> Any | None:
    """The parallel-fragment coordinator of the run this thread works for, if any."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx(suppress_warning=True)
    except Exception:  # outside Streamlit (CLI, tests of core)
        return None
    if ctx is None:
        return None
    return getattr(ctx, "parallel_coordinator", None)


def should_stop() -> bool:
    """True when the run this thread works for has been abandoned (a newer view exists)."""
    coordinator = _coordinator()
    return bool(coordinator is not None and coordinator.should_stop())


def _interrupt(connection: Any) -> None:
    stop = getattr(connection, "interrupt", None) or getattr(connection, "cancel", None)
    if stop is not None:
        with contextlib.suppress(Exception):  # the statement may just have finished
            stop()


def _watch() -> None:
    while True:
        time.sleep(POLL_SECONDS)
        with _lock:
            running = list(_running.values())
        for connection, coordinator in running:
            if coordinator.should_stop():
                _interrupt(connection)


def _ensure_watcher() -> None:
    global _watcher
    with _lock:
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="sessions-query-cancel", daemon=True)
            _watcher.start()


def _raw(conn: Any) -> Any:
    return conn.connection.dbapi_connection


def _before(conn: Any, *_: Any) -> None:
    coordinator = _coordinator()
    if coordinator is None:
        return
    raw = _raw(conn)
    with _lock:
        _running[id(raw)] = (raw, coordinator)
    _ensure_watcher()


def _checkin(dbapi_connection: Any, _record: Any) -> None:
    """Back in the pool: nothing of that run is running on it any more.

    Not ``after_cursor_execute``: SQLite keeps computing while rows are fetched, so a
    statement is only finished when its connection is given back.
    """
    with _lock:
        _running.pop(id(dbapi_connection), None)


def install(engine: Engine) -> Engine:
    """Make statements of abandoned parallel fragments on ``engine`` interruptible."""
    event.listen(engine, "before_cursor_execute", _before)
    event.listen(engine.pool, "checkin", _checkin)
    return engine
