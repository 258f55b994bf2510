"""Tests for models.evaluation.intervals: the Wilson and Newcombe intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation.intervals import (
    paired_difference_stats,
    pooled_paired_interval,
    rate_difference_interval,
    wilson_interval,
)


def test_wilson_interval_against_hand_computation():
    # k = 3, n = 10, z = 1.96: p̂ = 0.3, z² = 3.8415, 1 + z²/n = 1.38415,
    # centre = (0.3 + 0.19207) / 1.38415 = 0.35550,
    # half = 1.96 / 1.38415 · sqrt(0.021 + 0.0096037) = 0.24772 → [0.10778, 0.60322].
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.10778, abs=5e-5)
    assert high == pytest.approx(0.60322, abs=5e-5)
    # Edges stay inside [0, 1] and are non-degenerate.
    low0, high0 = wilson_interval(0, 20)
    assert low0 == 0.0 and 0.0 < high0 < 0.2
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes=5, trials=3"):
        wilson_interval(5, 3)


def test_wilson_interval_follows_the_confidence_level():
    # 90%: z = 1.644854; k = 3, n = 10 by the closed form in the docstring.
    z, p, n = 1.6448536269514722, 0.3, 10
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = wilson_interval(3, 10, confidence=0.90)
    assert (low, high) == (pytest.approx(centre - half), pytest.approx(centre + half))
    wide_low, wide_high = wilson_interval(3, 10, confidence=0.99)
    assert wide_low < low and high < wide_high
    assert wilson_interval(20, 20)[1] == 1.0


def test_rate_difference_interval_matches_newcombe_1998():
    # Newcombe (1998), Table II, method 10: 56/70 - 48/80 -> 0.2000 [0.0524, 0.3339]
    d, low, high = rate_difference_interval(56, 70, 48, 80)
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    d, low, high = rate_difference_interval(9, 10, 3, 10)
    assert (round(low, 4), round(high, 4)) == (0.1705, 0.8090)
    assert all(math.isnan(v) for v in rate_difference_interval(1, 0, 1, 5))


def test_pooled_paired_interval_equals_the_interval_of_all_sessions():
    """Pooling per-day (n, mean, variance) gives exactly the mean and interval of every
    session's difference taken together, and matches a brute-force bootstrap's spread."""
    rng = np.random.default_rng(0)
    days = [rng.normal(0.01 * k, 0.05, size=n) for k, n in enumerate((200, 350, 90))]
    stats = [paired_difference_stats(d, np.zeros_like(d)) for d in days]
    mean, low, high = pooled_paired_interval(*zip(*stats, strict=True))
    every = np.concatenate(days)
    half = 1.959964 * every.std(ddof=1) / np.sqrt(len(every))
    np.testing.assert_allclose(
        [mean, low, high], [every.mean(), every.mean() - half, every.mean() + half], rtol=1e-6
    )
    boot = [rng.choice(every, len(every)).mean() for _ in range(2000)]
    np.testing.assert_allclose(
        high - low, np.quantile(boot, 0.975) - np.quantile(boot, 0.025), rtol=0.1
    )
    assert np.isnan(pooled_paired_interval([1], [0.1], [0.0])[0])


def test_paired_difference_stats_by_hand():
    n, mean, var = paired_difference_stats(np.array([0.3, 0.5, 0.4]), np.array([0.1, 0.2, 0.4]))
    assert n == 3
    assert mean == pytest.approx(0.5 / 3)
    assert var == pytest.approx(np.var([0.2, 0.3, 0.0], ddof=1))
