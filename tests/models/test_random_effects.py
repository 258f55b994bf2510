"""Tests for models.random_effects: per-ID effects on the global model's residual (§8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from models.evaluation.metrics import log_loss
from models.random_effects import RANDOM_EFFECT_COLUMNS, apply_random_effects, fit_random_effects


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _world(seed: int, n_ids: int = 200, rows_per_id: int = 400):
    """Global logit from a dense feature; each ID adds a planted popularity effect the global
    model does not see."""
    rng = np.random.default_rng(seed)
    planted = rng.normal(scale=1.0, size=n_ids)
    ids = rng.integers(0, n_ids, size=n_ids * rows_per_id)
    offsets = rng.normal(loc=-1.0, scale=1.0, size=ids.size)
    labels = (rng.random(ids.size) < _sigmoid(offsets + planted[ids])).astype(int)
    return ids, offsets, labels, planted


def test_recovers_planted_effects():
    ids, offsets, labels, planted = _world(0)
    effects = fit_random_effects(ids, offsets, labels, l2=1.0)
    assert tuple(effects.columns) == RANDOM_EFFECT_COLUMNS
    assert effects["count"].sum() == ids.size
    by_id = effects.set_index("id")
    corr = np.corrcoef(by_id["effect"], planted[by_id.index.to_numpy()])[0, 1]
    assert corr > 0.9


def test_shrinks_ids_with_few_rows():
    # Same observed positive rate (all positives) for a 2-row and a 200-row ID: the 2-row ID's
    # effect is much closer to 0.
    ids = np.array(["rare"] * 2 + ["common"] * 200)
    offsets = np.zeros(ids.size)
    labels = np.ones(ids.size)
    fx = fit_random_effects(ids, offsets, labels, l2=1.0).set_index("id")["effect"]
    assert 0 < fx["rare"] < 1.0
    assert fx["common"] > 3 * fx["rare"]
    # Stronger prior → smaller effect.
    strong = fit_random_effects(ids, offsets, labels, l2=50.0).set_index("id")["effect"]
    assert strong["rare"] < fx["rare"]


def test_matches_scipy_for_one_id():
    rng = np.random.default_rng(3)
    offsets = rng.normal(size=60)
    labels = (rng.random(60) < 0.6).astype(float)
    l2 = 2.5

    def negative_objective(b: float) -> float:
        z = offsets + b
        return -(np.sum(labels * z - np.logaddexp(0.0, z)) - 0.5 * l2 * b * b)

    expected = minimize_scalar(
        negative_objective, bounds=(-10, 10), method="bounded", options={"xatol": 1e-10}
    ).x
    effect = fit_random_effects(np.zeros(60, dtype=int), offsets, labels, l2=l2)["effect"].iloc[0]
    assert effect == pytest.approx(expected, abs=1e-6)


def test_converges_from_a_far_start():
    # Residual far from 0 (labels all 1 against very negative offsets) still converges.
    offsets = np.full(500, -8.0)
    effect = fit_random_effects(np.zeros(500), offsets, np.ones(500), l2=1.0, iterations=50)
    b = effect["effect"].iloc[0]
    grad = np.sum(1 - _sigmoid(offsets + b)) - b
    assert abs(grad) < 1e-6


def test_improves_held_out_log_loss_when_global_model_lacks_popularity():
    ids, offsets, labels, _ = _world(1)
    half = ids.size // 2
    effects = fit_random_effects(ids[:half], offsets[:half], labels[:half])
    global_probs = _sigmoid(offsets[half:])
    final = _sigmoid(apply_random_effects(ids[half:], offsets[half:], effects))
    assert log_loss(labels[half:], final) < log_loss(labels[half:], global_probs) - 0.02


def test_apply_uses_zero_for_unknown_ids():
    effects = pd.DataFrame({"id": [7, 8], "effect": [0.5, -1.0], "count": [3, 4]})
    out = apply_random_effects(np.array([7, 9, 8]), np.array([1.0, 1.0, 1.0]), effects)
    np.testing.assert_allclose(out, [1.5, 1.0, 0.0])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="l2=0"):
        fit_random_effects(np.zeros(2), np.zeros(2), np.zeros(2), l2=0)
    with pytest.raises(ValueError, match=r"offsets.shape=\(3,\)"):
        fit_random_effects(np.zeros(2), np.zeros(3), np.zeros(2))
