"""ui.pacing: cold aggregates of a big view wait for the browser to paint its table first."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from ui import cancel, pacing


class Left(Exception):
    """Stands for Streamlit's stop exception, raised by ``leave_if_abandoned``."""


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A browser session whose run can be marked as abandoned."""
    state = SimpleNamespace(session_id="tab-1", abandoned=False)
    monkeypatch.setattr(cancel, "run_context", lambda: state)
    monkeypatch.setattr(cancel, "abandoned", lambda: state.abandoned)

    def leave() -> None:
        if state.abandoned:
            raise Left

    monkeypatch.setattr(cancel, "leave_if_abandoned", leave)
    monkeypatch.setattr(pacing, "PAINT_GRACE_S", 0.3)
    yield state
    pacing._handed_over.clear()


def test_aggregates_of_a_big_view_wait_for_the_paint_grace(session: SimpleNamespace) -> None:
    pacing.table_handed_over(matches=pacing.HEAVY_MATCHES)
    started = time.monotonic()
    pacing.wait_for_paint()
    waited = time.monotonic() - started
    assert 0.25 <= waited < 0.6
    started = time.monotonic()
    pacing.wait_for_paint()  # the grace is over: the next aggregate starts at once
    assert time.monotonic() - started < 0.05


def test_small_views_never_wait(session: SimpleNamespace) -> None:
    pacing.table_handed_over(matches=pacing.HEAVY_MATCHES)
    pacing.table_handed_over(matches=pacing.HEAVY_MATCHES - 1)  # the next view is small
    started = time.monotonic()
    pacing.wait_for_paint()
    assert time.monotonic() - started < 0.05


def test_a_view_replaced_during_the_wait_leaves_at_once(session: SimpleNamespace) -> None:
    pacing.table_handed_over(matches=10**6)
    session.abandoned = True
    started = time.monotonic()
    with pytest.raises(Left):
        pacing.wait_for_paint()
    assert time.monotonic() - started < 0.1


def test_each_browser_session_has_its_own_grace(session: SimpleNamespace) -> None:
    pacing.table_handed_over(matches=10**6)
    now = time.monotonic()
    assert pacing.remaining_grace("tab-1", now) > 0.2
    assert pacing.remaining_grace("tab-2", now) == 0.0
    assert pacing.remaining_grace("tab-1", now + 0.3) == 0.0


def test_outside_streamlit_nothing_is_recorded_or_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cancel, "run_context", lambda: None)
    pacing.table_handed_over(matches=10**6)
    assert not pacing._handed_over
    started = time.monotonic()
    pacing.wait_for_paint()
    assert time.monotonic() - started < 0.05
