"""Tests for models.evaluation.off_policy: IPS/SNIPS values, cluster bootstrap, Feed adapter."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from models.evaluation.off_policy import (
    Estimate,
    bootstrap_counts,
    default_positions,
    feed_top1_estimates,
    ips,
    ips_difference,
    qualified_positions,
    snips,
)
from models.evaluation.replay import replay_contribution_rate

# ------------------------------------------------------------------- generic estimators


def test_ips_and_snips_hand_checked_values():
    reward = [1, 0, 1, 0, 1]
    weight = [2.0, 2.0, 0.0, 1.0, 0.5]
    # IPS: (2 + 0 + 0 + 0 + 0.5) / 5 = 0.5;  SNIPS: 2.5 / 5.5.
    assert ips(reward, weight, bootstrap=50).value == pytest.approx(0.5)
    assert snips(reward, weight, bootstrap=50).value == pytest.approx(2.5 / 5.5)
    # ESS = (Σw)² / Σw² = 5.5² / 9.25.
    assert ips(reward, weight, bootstrap=50).effective_matches == pytest.approx(5.5**2 / 9.25)
    diff = ips_difference(reward, weight, np.ones(5), bootstrap=50)
    assert diff.value == pytest.approx(0.5 - 3 / 5)


def test_estimate_is_seeded_and_contains_point():
    rng = np.random.default_rng(1)
    reward = rng.random(500) < 0.3
    weight = rng.exponential(1.0, 500)
    a = ips(reward, weight, bootstrap=300, seed=7)
    b = ips(reward, weight, bootstrap=300, seed=7)
    c = ips(reward, weight, bootstrap=300, seed=8)
    assert a == b and a != c
    assert isinstance(a, Estimate) and a.rounds == 500
    assert a.ci_low < a.value < a.ci_high


def test_bootstrap_counts_are_multinomial_and_chunked():
    chunks = list(bootstrap_counts(n_clusters=3_000_000, bootstrap=5, seed=0))
    assert [c.shape for c in chunks] == [(1, 3_000_000)] * 5  # 4M cells per chunk → 1 replicate
    small = np.concatenate(list(bootstrap_counts(n_clusters=7, bootstrap=1000, seed=0)))
    assert small.shape == (1000, 7) and (small.sum(axis=1) == 7).all()
    assert small.mean() == pytest.approx(1.0, abs=0.03)  # E[m_c] = 1
    assert small.var() == pytest.approx(1 - 1 / 7, rel=0.1)  # Var[m_c] = C · (1/C)(1 − 1/C)


def test_bootstrap_resamples_whole_clusters():
    # Each round duplicated 5 times: as independent rows the interval is about sqrt(5) too narrow;
    # with the duplicates as one cluster it matches the original data's interval.
    rng = np.random.default_rng(3)
    reward = (rng.random(400) < 0.4).astype(float)
    weight = rng.choice([0.0, 2.0], 400)
    dup_r, dup_w = np.repeat(reward, 5), np.repeat(weight, 5)
    cluster = np.repeat(np.arange(400), 5)
    rows = ips(dup_r, dup_w, bootstrap=1000)
    clustered = ips(dup_r, dup_w, cluster, bootstrap=1000)
    original = ips(reward, weight, bootstrap=1000)
    width = {e: e.ci_high - e.ci_low for e in (rows, clustered, original)}
    assert rows.value == clustered.value == pytest.approx(original.value)
    assert width[clustered] / width[rows] == pytest.approx(math.sqrt(5), rel=0.15)
    assert width[clustered] == pytest.approx(width[original], rel=0.15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": [0.5, np.nan], "weight": [1, 1]}, r"`reward` has 1 non-finite.*nan"),
        ({"reward": [0.5, 1.5], "weight": [1, 1]}, r"`reward` must be in \[0, 1\].*1\.5"),
        ({"reward": [0.5, 1.0], "weight": [1, -2]}, r"`weight` must be non-negative.*-2"),
        ({"reward": [0.5, 1.0], "weight": [1]}, r"equal lengths.*2 and 1"),
        ({"reward": [], "weight": []}, r"`reward` is empty"),
        ({"reward": [1, 0], "weight": [1, 1], "bootstrap": 1}, r"bootstrap=1"),
        ({"reward": [1, 0], "weight": [1, 1], "cluster": [1]}, r"2 rounds"),
        ({"reward": [1, 0], "weight": [1, 1], "cluster": [1, None]}, r"1 missing id"),
    ],
)
def test_bad_inputs_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ips(**kwargs)


# ----------------------------------------------------------------- synthetic Feed bucket

S, N = 3000, 8
# The world's examination curve: P(impressed at k) · P(examined | impressed).
THETA = 0.8 ** np.arange(N) * 0.95 * (1 + np.arange(N)) ** -0.5


@dataclasses.dataclass(frozen=True)
class Bucket:
    p: np.ndarray  # (S, N) P(contribution | examined) of post j in session s
    score: np.ndarray  # (S, N) the ranker's score
    truth: float  # θ₀ · mean_s p(s, ranker's #1)


def _bucket() -> Bucket:
    rng = np.random.default_rng(0)
    p = rng.beta(1.5, 12, size=(S, N))
    score = p + rng.normal(0, 0.03, size=(S, N))
    truth = THETA[0] * p[np.arange(S), score.argmax(axis=1)].mean()
    return Bucket(p=p, score=score, truth=float(truth))


def _served(bucket: Bucket, seed: int) -> pd.DataFrame:
    """One uniform shuffle of every session's N posts and its contributions y_k ~ θ_k p."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((S, N)), axis=1)  # order[s, k] = post shown at position k
    p_shown = np.take_along_axis(bucket.p, order, axis=1)
    y = rng.random((S, N)) < THETA[None, :] * p_shown
    return pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(S), N),
            "post_id": order.ravel(),
            "position": np.tile(np.arange(N), S),
            "contribution": y.ravel().astype(np.int8),
            "score": np.take_along_axis(bucket.score, order, axis=1).ravel(),
        }
    )


@pytest.fixture(scope="module")
def repeated() -> tuple[Bucket, dict[str, np.ndarray]]:
    """200 shuffles of the same sessions: value, ci_low, ci_high per estimator."""
    bucket = _bucket()
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for seed in range(200):
        estimates = feed_top1_estimates(_served(bucket, seed), "score", bootstrap=200, seed=seed)
        for key, e in estimates.items():
            rows.setdefault(key, []).append((e.value, e.ci_low, e.ci_high))
    return bucket, {key: np.array(v) for key, v in rows.items()}


@pytest.mark.parametrize("key", ["replay@1", "ips@1", "snips@1", "ips@K", "snips@K", "pooled@K"])
def test_estimators_are_unbiased_and_cover(repeated, key):
    bucket, results = repeated
    value, low, high = results[key].T
    standard_error = value.std(ddof=1) / math.sqrt(len(value))
    assert abs(value.mean() - bucket.truth) < 3 * standard_error, (value.mean(), bucket.truth)
    coverage = ((low <= bucket.truth) & (bucket.truth <= high)).mean()
    print(f"{key}: mean {value.mean():.4f} vs truth {bucket.truth:.4f}, coverage {coverage:.3f}")
    assert 0.90 <= coverage <= 0.99, coverage


def test_multi_position_interval_is_narrower_than_replay(repeated):
    _, results = repeated
    width = {key: (r[:, 2] - r[:, 1]).mean() for key, r in results.items()}
    ratios = {key: width[key] / width["replay@1"] for key in ("ips@K", "snips@K", "pooled@K")}
    print("mean 95% CI width / replay@1's:", {k: round(v, 3) for k, v in ratios.items()})
    assert ratios["ips@K"] < 0.95 and ratios["snips@K"] < 0.95
    assert ratios["pooled@K"] < 0.85
    # Equal weights need a short K; the inverse-variance weights of pooled@K use every position.
    assert width["pooled@K"] < width["ips@K"]


def test_snips_at_1_equals_replay_rate():
    frame = _served(_bucket(), seed=11)
    estimates = feed_top1_estimates(frame, "score", bootstrap=100)
    replay = replay_contribution_rate(frame, "score")
    assert estimates["snips@1"].value == pytest.approx(replay.rate)
    assert estimates["replay@1"].value == replay.rate
    assert estimates["replay@1"].effective_matches == replay.matched
    assert estimates["ips@1"].effective_matches == pytest.approx(replay.matched)
    assert estimates["ips@K"].estimator.startswith("ips@K=")


def test_one_position_multi_estimates_equal_position_0():
    frame = _served(_bucket(), seed=12)
    estimates = feed_top1_estimates(frame, "score", positions=1, bootstrap=200)
    assert estimates["ips@K"].value == pytest.approx(estimates["ips@1"].value)
    assert estimates["snips@K"].value == pytest.approx(estimates["snips@1"].value)
    assert estimates["pooled@K"].value == pytest.approx(estimates["ips@1"].value)


def test_default_positions_minimizes_variance_proxy():
    # θ₀/θ_k = 1, 2, 4, 8 → Σρ/K² = 1, 3/4, 7/9, 15/16: K = 2.
    counts = np.array([[800, 400, 200, 100]])
    assert default_positions(counts) == 2
    # A position below the minimum count stops the scan.
    assert default_positions(np.array([[800, 790, 10, 780]])) == 2
    assert default_positions(np.array([[800, 10]])) == 1
    assert qualified_positions(np.array([[800, 790, 10, 780]])) == 2
    assert qualified_positions(np.array([[10, 790]])) == 1


def test_feed_adapter_errors_name_the_problem():
    frame = _served(_bucket(), seed=1)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['position'\]"):
        feed_top1_estimates(frame.drop(columns="position"), "score")
    bad = frame.assign(contribution=frame["contribution"].replace(1, 2))
    with pytest.raises(ValueError, match=r"'contribution' must be 0/1.*2"):
        feed_top1_estimates(bad, "score")
    repeated_position = frame.assign(position=frame["position"].where(frame["position"] != 1, 0))
    with pytest.raises(ValueError, match=r"0\.\.N−1 exactly once"):
        feed_top1_estimates(repeated_position, "score")
    with pytest.raises(ValueError, match=r"positions=9"):
        feed_top1_estimates(frame, "score", positions=9)
