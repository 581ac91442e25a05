"""How the Sessions page says something went wrong: sentences with what to do, never tracebacks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import streamlit as st

from ui.data import DatabaseUnavailable, clear_caches
from ui.view import Problem


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


@contextmanager
def database_guard() -> Iterator[None]:
    """Run a block of the page; a database failure ends the block with the error panel."""
    try:
        yield
    except DatabaseUnavailable as error:
        show_database_error(error)
