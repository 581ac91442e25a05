"""The login throttle: free typos, growing and capped delays, decay, bounded memory."""

from __future__ import annotations

import pytest

from core.auth.throttle import LoginThrottle, ThrottlePolicy, format_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_grows_caps_and_decays() -> None:
    clock = Clock()
    policy = ThrottlePolicy(free_attempts=3, base_delay=2, max_delay=60, half_life=600)
    throttle = LoginThrottle({"user": policy, "client": policy}, clock=clock)
    key = [("user", "alice")]
    for _ in range(2):
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) == 0  # two typos cost nothing
    throttle.record_failure(key)
    first = throttle.wait_seconds(key)
    assert 1.9 < first <= 2
    clock.now += first
    throttle.record_failure(key)
    second = throttle.wait_seconds(key)
    assert second > first * 1.5  # growing
    for _ in range(20):
        clock.now += throttle.wait_seconds(key)
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) == pytest.approx(60)  # capped
    clock.now += 6 * 3600  # hours later (half-life 10 min here) the score has decayed away
    assert throttle.wait_seconds(key) == 0
    throttle.record_failure(key)
    assert throttle.wait_seconds(key) == 0


def test_throttle_success_forgets_user_but_not_client() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    keys = [("user", "alice"), ("client", "10.0.0.1")]
    for _ in range(12):
        clock.now += 1
        throttle.record_failure(keys)
    throttle.record_success([keys[0]])
    assert throttle.wait_seconds([("user", "alice")]) == 0
    assert throttle.wait_seconds([("client", "10.0.0.1")]) > 0


def test_throttle_prunes_to_bounded_memory() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_entries=100)
    for i in range(1000):
        throttle.record_failure([("user", f"guess{i}")])
    assert len(throttle._entries) <= 100


def test_format_wait() -> None:
    assert format_wait(0.2) == "try again in 1 s"
    assert format_wait(7.01) == "try again in 8 s"


def test_default_policy_slows_a_patient_guesser() -> None:
    """One guess every 10 minutes must not stay free forever (the decay is slower than that)."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    key = [("user", "admin")]
    for _ in range(24):
        clock.now += 600 + throttle.wait_seconds(key)
        throttle.record_failure(key)
    assert throttle.wait_seconds(key) > 0
