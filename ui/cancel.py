"""Stop the database work of a view nobody is looking at any more.

On a million sessions the metric cards, the charts and the status counts are scans of up to
seconds. When the user changes a filter, Streamlit asks the running script to stop, but a
thread inside a SQL statement cannot notice until the statement returns: the new run waits
for the old one's queries (a parallel fragment's worker is even joined before the next run
starts). Without help, a filter change would wait for the previous filter's medians.

So every statement run for a page is registered with the run it belongs to, and a small
watcher thread interrupts it (SQLite ``interrupt()``, PostgreSQL ``cancel()``) as soon as
that run is abandoned: its parallel-fragment coordinator was told to stop, or a full rerun of
the app is waiting. The interrupted query is simply not cached; the new view starts at once.

Reading "a full rerun is waiting" uses Streamlit's request object (``ScriptRequests``), which
has no public accessor; if its shape changes, :func:`_full_rerun_pending` answers False and
only the parallel-fragment path remains (correct, just slower on huge tables).
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
_running: dict[int, tuple[Any, Any]] = {}  # id(dbapi connection) -> (connection, run context)
_watcher: threading.Thread | None = None


def run_context() -> Any | None:
    """The Streamlit script-run context this thread works for (None outside Streamlit)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        return get_script_run_ctx(suppress_warning=True)
    except Exception:  # the CLI, tests of core
        return None


def _full_rerun_pending(ctx: Any) -> bool:
    requests = getattr(ctx, "script_requests", None)
    state = getattr(getattr(requests, "_state", None), "name", "")
    if state == "STOP":
        return True
    if state != "RERUN":
        return False
    data = getattr(requests, "_rerun_data", None)
    # A queued fragment run (the auto-refresh) does not replace this run: leave it be.
    return not (
        getattr(data, "fragment_id", None)
        or getattr(data, "fragment_id_queue", None)
        or getattr(data, "is_fragment_scoped_rerun", False)
    )


def _abandoned_run(ctx: Any) -> bool:
    coordinator = getattr(ctx, "parallel_coordinator", None)
    if coordinator is not None and coordinator.should_stop():
        return True
    return _full_rerun_pending(ctx)


def abandoned() -> bool:
    """True when the run this thread works for has been replaced by a newer view."""
    ctx = run_context()
    return ctx is not None and _abandoned_run(ctx)


def leave_if_abandoned() -> None:
    """In an abandoned run, end it now (Streamlit's own yield point) instead of reporting
    the interrupted query as a database failure."""
    ctx = run_context()
    if ctx is not None and _abandoned_run(ctx):
        yield_check = getattr(ctx, "yield_check", None)
        if callable(yield_check):
            yield_check()  # raises Streamlit's rerun/stop exception on the script thread


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
        for connection, ctx in running:
            with contextlib.suppress(Exception):
                if _abandoned_run(ctx):
                    _interrupt(connection)


def _ensure_watcher() -> None:
    global _watcher
    with _lock:
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch, name="sessions-query-cancel", daemon=True)
            _watcher.start()


def _before(conn: Any, *_: Any) -> None:
    ctx = run_context()
    if ctx is None:
        return
    raw = conn.connection.dbapi_connection
    with _lock:
        _running[id(raw)] = (raw, ctx)
    _ensure_watcher()


def _checkin(dbapi_connection: Any, _record: Any) -> None:
    """Back in the pool: nothing of that run is running on it any more.

    Not ``after_cursor_execute``: SQLite keeps computing while rows are fetched, so a
    statement is only finished when its connection is given back.
    """
    with _lock:
        _running.pop(id(dbapi_connection), None)


def install(engine: Engine) -> Engine:
    """Make statements of abandoned runs on ``engine`` interruptible."""
    event.listen(engine, "before_cursor_execute", _before)
    event.listen(engine.pool, "checkin", _checkin)
    return engine
