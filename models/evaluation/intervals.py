"""Confidence intervals: Wilson for one replay rate, Newcombe for a difference of two, and a
paired interval for two rankers' ground-truth values on the same sessions.

Replay matches only about 1/N of the random-bucket sessions, so its rates come from small counts
and their intervals are wide; the Wilson score interval keeps good coverage there and never leaves
[0, 1] (Newcombe 1998, "Two-sided confidence intervals for the single proportion").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest, norm

CONFIDENCE = 0.95


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion p̂ = k/n (`scipy.stats.binomtest`):

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p̂(1 − p̂)/n + z²/4n²)

    with z the two-sided normal quantile of `confidence` (1.96 at 95%).

    Returns (NaN, NaN) when n = 0.
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(
            f"Need 0 <= successes <= trials. Received: successes={successes}, trials={trials}"
        )
    if trials == 0:
        return float("nan"), float("nan")
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def rate_difference_interval(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """Difference of two independent proportions p̂_a − p̂_b with Newcombe's hybrid score
    interval (Newcombe 1998, method 10), built from the two Wilson intervals (l, u):

        lower = d − sqrt((p̂_a − l_a)² + (u_b − p̂_b)²)
        upper = d + sqrt((u_a − p̂_a)² + (p̂_b − l_b)²),   d = p̂_a − p̂_b

    Two rankers' replay rates are such a pair: each is measured on its own matched impressions.
    Returns (d, lower, upper); all NaN when either side has no trials.
    """
    if trials_a == 0 or trials_b == 0:
        nan = float("nan")
        return nan, nan, nan
    low_a, high_a = wilson_interval(successes_a, trials_a, confidence)
    low_b, high_b = wilson_interval(successes_b, trials_b, confidence)
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    d = p_a - p_b
    lower = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    upper = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return d, lower, upper


def paired_difference_stats(model: np.ndarray, reference: np.ndarray) -> tuple[int, float, float]:
    """(n, mean, sample variance) of the per-session differences d_s = model_s − reference_s:
    two rankers' ground-truth values on the same sessions (a paired design: the session-to-
    session spread cancels, so the interval is far tighter than two independent ones)."""
    d = np.asarray(model, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"need two aligned 1-D arrays. Received shape {d.shape}")
    if len(d) == 0:
        return 0, float("nan"), float("nan")
    return len(d), float(d.mean()), float(d.var(ddof=1)) if len(d) > 1 else 0.0


def pooled_paired_interval(
    sessions: Sequence[int],
    means: Sequence[float],
    variances: Sequence[float],
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """The mean paired difference over every session of several days, from each day's
    (n_d, mean_d, sample variance s²_d), with its normal-approximation interval:

        N = Σ n_d,   m = Σ n_d m_d / N
        S² = [Σ (n_d − 1) s²_d + Σ n_d (m_d − m)²] / (N − 1)      (the all-sessions variance)
        m ± z · S / sqrt(N)

    which equals the interval computed from the pooled per-session differences directly.
    Returns (m, lower, upper); NaN when there are fewer than two sessions.
    """
    n = np.asarray(sessions, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    keep = n > 0
    n, m, v = n[keep], m[keep], v[keep]
    total = n.sum()
    if total < 2:
        nan = float("nan")
        return nan, nan, nan
    mean = float((n * m).sum() / total)
    spread = float((((n - 1) * v).sum() + (n * (m - mean) ** 2).sum()) / (total - 1))
    half = float(norm.ppf(0.5 + confidence / 2)) * math.sqrt(spread / total)
    return mean, mean - half, mean + half
