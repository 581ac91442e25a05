"""How a page says something went wrong: sentences with what to do, never tracebacks.

Every database failure reaches the pages as :class:`~ui.data.DatabaseUnavailable`;
:func:`database_guard` is the one place that turns it into what the visitor sees (the error
panel with a Retry button, a calmer note when a query only took too long, or a page's own
words), so every page and section reacts to a failing database the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from ui.data import DatabaseUnavailable, clear_caches
from ui.url_state import Problem


def _retry() -> None:
    clear_caches()


def show_database_error(error: DatabaseUnavailable, *, key: str = "sessions_retry") -> None:
    """The database could not answer: name it (password masked), say why, offer a retry."""
    with st.container(border=True):
        st.error(
            f"**The sessions database is not answering.**\n\n"
            f"Database: `{error.masked_url}`\n\nReason: {error.reason}",
            icon=":material/cloud_off:",
        )
        st.caption(
            "Other pages keep working. Check that the database is running and reachable, then try again."
        )
        st.button("Retry", key=key, on_click=_retry, type="primary")


def show_problems(problems: Sequence[Problem]) -> None:
    """One warning per link parameter that could not be used (and was set to its default)."""
    for problem in problems:
        st.warning(problem.message(), icon=":material/warning:")


def say_nothing(_error: DatabaseUnavailable) -> None:
    """For a section whose failure another part of the page already shows."""


@dataclass
class Guarded:
    """What happened in a guarded block: ``failed`` tells the caller to stop drawing."""

    error: DatabaseUnavailable | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@contextmanager
def database_guard(
    key: str = "sessions_retry",
    *,
    on_timeout: Callable[[], None] | None = None,
    show: Callable[[DatabaseUnavailable], None] | None = None,
) -> Iterator[Guarded]:
    """Run a block of the page; a database failure ends the block and is shown once.

    By default as the error panel whose Retry button has ``key`` (unique per section);
    ``on_timeout`` draws a note instead when a query was only stopped for taking too long;
    ``show`` replaces the panel (``say_nothing`` when the page shows the failure elsewhere).
    """
    guarded = Guarded()
    try:
        yield guarded
    except DatabaseUnavailable as error:
        guarded.error = error
        if on_timeout is not None and error.timed_out:
            on_timeout()
        elif show is not None:
            show(error)
        else:
            show_database_error(error, key=key)
