"""Let the browser paint the new table before the page's heavy aggregates start.

The Sessions page draws its table first and then computes, beside it, the metric cards, the
charts and the sidebar's status counts. On a big database those are seconds of CPU each (a
model-name search over a million sessions), and started at once they take every core from
the browser while it draws the table they follow: on a small machine the table then arrives
but is painted late (the browser benchmark, README "Performance", measures it).

So an aggregate that is not cached yet, for a view with many matches, first waits until
:data:`PAINT_GRACE_S` has passed since the table was handed to the browser. Someone
clicking on meanwhile abandons the run during the wait, before any scan started. Small views
(and cache hits) never wait: their aggregates take milliseconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ui import cancel

PAINT_GRACE_S = 0.5
HEAVY_MATCHES = 20_000  # fewer matches than this: aggregates take milliseconds, never wait
_STEP_S = 0.05
_FORGET_AFTER_S = 60.0

_lock = threading.Lock()
_handed_over: dict[str, float] = {}  # browser session id -> monotonic time of a heavy table


def _session_id() -> str | None:
    ctx: Any = cancel.run_context()
    return getattr(ctx, "session_id", None)


def table_handed_over(matches: int) -> None:
    """Record that this session's table, over ``matches`` sessions, was just sent."""
    session = _session_id()
    if session is None:
        return
    now = time.monotonic()
    with _lock:
        for key in [k for k, at in _handed_over.items() if now - at > _FORGET_AFTER_S]:
            del _handed_over[key]
        if matches >= HEAVY_MATCHES:
            _handed_over[session] = now
        else:
            _handed_over.pop(session, None)


def remaining_grace(session: str | None, now: float) -> float:
    """Seconds this session's aggregates should still wait (0 when there is nothing to wait for)."""
    with _lock:
        at = _handed_over.get(session) if session is not None else None
    return 0.0 if at is None else max(0.0, at + PAINT_GRACE_S - now)


def wait_for_paint() -> None:
    """Before a cold aggregate: give the browser its grace, or leave if the view was replaced."""
    session = _session_id()
    while (left := remaining_grace(session, time.monotonic())) > 0:
        if cancel.abandoned():
            cancel.leave_if_abandoned()
            return
        time.sleep(min(_STEP_S, left))
