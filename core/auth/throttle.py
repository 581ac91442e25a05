"""Slow down password guessing: a growing delay per user name and per client that decays.

Each key (a user name, a client address) carries a failure score that halves every
``half_life`` seconds. Past ``free_attempts`` the key is locked for ``base_delay * 2**excess``
seconds after its last failure, capped at ``max_delay``. So a person who mistypes twice is
never slowed, a guesser quickly waits minutes per try, and a name someone else hammered
becomes usable again by itself (unlike a permanent lock-out anyone could trigger).

Process-wide on purpose: every browser session of one server shares it. Nothing here knows
about Streamlit; the clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottlePolicy:
    """How forgiving one kind of key is."""

    free_attempts: float
    base_delay: float = 2.0
    max_delay: float = 300.0
    half_life: float = 3600.0


# Clients get more free attempts than names: several people may share one address (NAT, proxy).
USER_POLICY = ThrottlePolicy(free_attempts=3)
CLIENT_POLICY = ThrottlePolicy(free_attempts=10)


@dataclass
class _Entry:
    score: float
    last_failure: float


class LoginThrottle:
    """Failure scores keyed by ``(kind, value)``, e.g. ``("user", "alice")``."""

    def __init__(
        self,
        policies: dict[str, ThrottlePolicy] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.policies = policies or {"user": USER_POLICY, "client": CLIENT_POLICY}
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def _decayed(self, key: tuple[str, str], now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        policy = self.policies[key[0]]
        return entry.score * 0.5 ** ((now - entry.last_failure) / policy.half_life)

    def _delay_for(self, kind: str, score: float) -> float:
        policy = self.policies[kind]
        if score < policy.free_attempts:
            return 0.0
        return min(policy.max_delay, policy.base_delay * 2 ** (score - policy.free_attempts))

    def wait_seconds(self, keys: Iterable[tuple[str, str]]) -> float:
        """Seconds until all ``keys`` may try again; 0 when a try is allowed now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None:
                    continue
                delay = self._delay_for(key[0], entry.score)
                wait = max(wait, entry.last_failure + delay - now)
        return max(0.0, wait)

    def record_failure(self, keys: Iterable[tuple[str, str]]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._entries[key] = _Entry(self._decayed(key, now) + 1.0, now)
            if len(self._entries) > self.max_entries:
                self._prune(now)

    def record_success(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget the failures of ``keys`` (the caller passes the user name, not the client:
        logging into one's own account must not wipe a client's record of guessing others)."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def _prune(self, now: float) -> None:
        """Drop entries whose score has decayed to nothing, then the oldest if still too many."""
        for key in [k for k in self._entries if self._decayed(k, now) < 0.05]:
            del self._entries[key]
        if len(self._entries) > self.max_entries:
            oldest = sorted(self._entries, key=lambda k: self._entries[k].last_failure)
            for key in oldest[: len(self._entries) - self.max_entries]:
                del self._entries[key]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


def format_wait(seconds: float) -> str:
    """``"try again in 8 s"``: rounded up, so it never says "0 s" while still locked."""
    return f"try again in {max(1, math.ceil(seconds))} s"
