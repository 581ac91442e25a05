"""core.stats.sources: quantiles read off histograms follow ``percentile_cont``."""

from __future__ import annotations

import pytest


def test_histogram_quantiles_are_percentile_cont_of_the_values_counted() -> None:
    """SQLite's quantiles are read off (value, count) histograms: equal to interpolating the
    expanded, sorted values (Python's inclusive quantiles), duplicates and integers included."""
    import random
    import statistics
    from collections import Counter

    from core.stats.sources import histogram_quantile

    rng = random.Random(7)
    for size in (1, 2, 3, 4, 5, 10, 101, 1000):
        values = [rng.choice([rng.randrange(0, 50), round(rng.uniform(-5, 95), 1)]) for _ in range(size)]
        histogram = sorted(Counter(values).items())
        expanded = sorted(values)
        for q in (0.25, 0.5, 0.75):
            position = q * (size - 1)
            low = int(position)
            fraction = position - low
            exact = (
                expanded[low] + (expanded[low + 1] - expanded[low]) * fraction
                if fraction > 0
                else expanded[low]
            )
            assert histogram_quantile(histogram, q) == exact
            if size > 1:
                reference = statistics.quantiles(values, n=4, method="inclusive")[round(q * 4) - 1]
                assert histogram_quantile(histogram, q) == pytest.approx(reference, abs=1e-9)
    assert histogram_quantile([], 0.5) is None
