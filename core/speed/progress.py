"""Progress of ``init_db``: which long step it starts, told to whoever asked (the CLI prints it).

A context variable rather than an argument threaded through every builder, so the modules that
add indexes, triggers and rollups can each say what they start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_progress: ContextVar[Callable[[str], None]] = ContextVar("init_db_progress", default=lambda _: None)


@contextmanager
def reporting_to(progress: Callable[[str], None] | None) -> Iterator[None]:
    """Send the steps started inside this block to ``progress`` (nowhere when None)."""
    token = _progress.set(progress or (lambda _: None))
    try:
        yield
    finally:
        _progress.reset(token)


def step(message: str) -> None:
    """Say which long step ``init_db`` starts (each reads the whole sessions table)."""
    _progress.get()(message)
