"""The one database guard: a failure ends the block and is shown once, in the section's words."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _page(mode: str) -> None:
    import streamlit as st
    from sqlalchemy.exc import OperationalError

    from core.config import Settings
    from ui.data import DatabaseUnavailable
    from ui.errors import database_guard, say_nothing

    settings = Settings("postgresql://u:secret@db.example/sessions", "environment")
    slow = OperationalError("SELECT 1", {}, Exception("canceling statement due to statement timeout"))
    broken = OperationalError("SELECT 1", {}, Exception("connection refused"))
    error = DatabaseUnavailable(settings, slow if mode == "timeout" else broken)
    options = {
        "panel": {},
        "timeout": {"on_timeout": lambda: st.info("too slow")},
        "quiet": {"show": say_nothing},
        "ok": {},
    }[mode]
    with database_guard("test_retry", **options) as guard:
        if mode != "ok":
            raise error
        st.write("drawn")
    st.write(f"failed={guard.failed}")


def _run(mode: str) -> AppTest:
    at = AppTest.from_function(_page, args=(mode,))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_failure_shows_the_panel_with_the_password_masked_and_a_retry() -> None:
    at = _run("panel")
    (error,) = at.error
    assert "not answering" in error.value and "secret" not in error.value
    assert at.button(key="test_retry")
    assert "failed=True" in [m.value for m in at.markdown]


def test_a_timeout_gets_the_sections_own_note() -> None:
    at = _run("timeout")
    assert not at.error
    assert [i.value for i in at.info] == ["too slow"]


def test_a_quiet_guard_shows_nothing_but_still_stops_the_block() -> None:
    at = _run("quiet")
    assert not at.error and not at.info
    assert "failed=True" in [m.value for m in at.markdown]


def test_without_a_failure_the_block_runs_whole() -> None:
    at = _run("ok")
    assert [m.value for m in at.markdown] == ["drawn", "failed=False"]
