"""core.stats.techniques: per-technique counts, means and quartiles, on :mod:`tests.stats.sample`."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from core.stats.techniques import technique_stats
from core.stats.types import MetricStats
from tests.stats.sample import CURRENT


def test_technique_stats(sample_engine: Engine) -> None:
    with sample_engine.connect() as connection:
        stats = technique_stats(connection, CURRENT)
    assert [t.technique for t in stats] == ["quantization", "distillation", "pruning"]
    q, d, p = stats
    assert (q.sessions, q.completed, q.cancelled, q.success_rate) == (4, 3, 1, 0.75)
    assert q.size_reduction == MetricStats(mean=60.0, p25=55.0, median=60.0, p75=65.0)
    assert q.speed_improvement == MetricStats(mean=20.0, p25=15.0, median=20.0, p75=25.0)
    assert (p.sessions, p.completed, p.failed) == (3, 2, 1)
    assert p.success_rate == pytest.approx(2 / 3)
    assert p.size_reduction == MetricStats(mean=50.0, p25=40.0, median=50.0, p75=60.0)
    assert p.speed_improvement == MetricStats(mean=25.0, p25=17.5, median=25.0, p75=32.5)
    assert (d.sessions, d.completed, d.success_rate) == (3, 2, 1.0)
    assert d.size_reduction == MetricStats(mean=75.0, p25=72.5, median=75.0, p75=77.5)
    assert d.speed_improvement == MetricStats(mean=35.0, p25=35.0, median=35.0, p75=35.0)
