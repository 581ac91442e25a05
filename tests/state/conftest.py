"""State store tests: each starts with no state settings in the environment and no cached engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import AUTH_FILE_ENV
from core.state.settings import STATE_URL_ENV
from core.state.store import forget_engines


@pytest.fixture(autouse=True)
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (STATE_URL_ENV, AUTH_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    forget_engines()
    yield
    forget_engines()
