"""The last-layer posterior: incremental equals batch, Thompson draws have its moments."""

from __future__ import annotations

import numpy as np
import pytest

from models.explore.posterior import LastLayerPosterior
from models.explore.thompson import epsilon_greedy_scores, greedy_scores, thompson_scores


def _data(n: int, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    z = np.column_stack([rng.normal(size=(n, d - 1)), np.ones(n)])
    y = z @ w + 0.3 * rng.normal(size=n)
    return z, y, w


def test_incremental_update_equals_the_batch_posterior() -> None:
    z, y, _ = _data(900)
    days = np.array_split(np.arange(900), 3)
    incremental = LastLayerPosterior.prior(4, prior_scale=2.0)
    for rows in days:
        incremental = incremental.update(z[rows], y[rows])
    batch = LastLayerPosterior.prior(4, prior_scale=2.0).update(z, y)
    np.testing.assert_allclose(incremental.precision, batch.precision)
    np.testing.assert_allclose(incremental.mean, batch.mean)
    assert incremental.b == pytest.approx(batch.b)
    # and it is the textbook conjugate posterior: Λ_n = Λ₀ + ZᵀZ, μ_n = Λ_n⁻¹ Zᵀy
    lam = np.eye(4) / 4.0 + z.T @ z
    np.testing.assert_allclose(batch.mean, np.linalg.solve(lam, z.T @ y))


def test_posterior_concentrates_on_the_true_weights() -> None:
    z, y, w = _data(5000)
    post = LastLayerPosterior.prior(4).update(z, y)
    np.testing.assert_allclose(post.mean, w, atol=0.03)
    assert post.noise_variance == pytest.approx(0.09, rel=0.1)


def test_thompson_draws_have_the_posteriors_mean_and_covariance() -> None:
    z, y, _ = _data(60)  # little data: a wide posterior
    post = LastLayerPosterior.prior(4).update(z, y)
    draws = post.sample(40_000, np.random.default_rng(1))
    # Student-t marginals: the covariance of w is E[σ²] Λ⁻¹
    np.testing.assert_allclose(draws.mean(axis=0), post.mean, atol=4 * np.sqrt(
        np.diag(post.covariance()) / 40_000
    ).max())  # fmt: skip
    np.testing.assert_allclose(np.cov(draws.T), post.covariance(), rtol=0.06, atol=1e-4)


def test_forgetting_discounts_old_days() -> None:
    z, y, _ = _data(400)
    post = LastLayerPosterior.prior(4).update(z[:200], y[:200])
    post = post.update(z[200:], y[200:], forgetting=0.5)
    np.testing.assert_allclose(post.zz, 0.5 * z[:200].T @ z[:200] + z[200:].T @ z[200:])
    with pytest.raises(ValueError, match="forgetting=0"):
        post.update(z, y, forgetting=0.0)


def test_save_and_load_round_trip(tmp_path) -> None:
    z, y, _ = _data(100)
    post = LastLayerPosterior.prior(4, prior_scale=0.5).update(z, y)
    loaded = LastLayerPosterior.load(post.save(tmp_path / "posterior"))
    np.testing.assert_array_equal(loaded.zz, post.zz)
    np.testing.assert_array_equal(loaded.mean, post.mean)
    assert (loaded.rows, loaded.prior_scale) == (100, 0.5)
    with pytest.raises(FileNotFoundError, match="explore_exploit_posterior"):
        LastLayerPosterior.load(tmp_path / "missing")


def test_bad_rows_are_named() -> None:
    post = LastLayerPosterior.prior(3)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        post.update(np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="`y` holds 1 non-finite"):
        post.update(np.zeros((2, 3)), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="prior_scale"):
        LastLayerPosterior.prior(3, prior_scale=0.0)


def test_policies_share_a_draw_within_a_session() -> None:
    z, y, _ = _data(300)
    post = LastLayerPosterior.prior(4).update(z[:30], y[:30])
    session = np.repeat(np.arange(30), 10)
    rng = np.random.default_rng(0)
    greedy = greedy_scores(z, post)
    np.testing.assert_allclose(thompson_scores(z, session, post, 0.0, rng), greedy)
    sampled = thompson_scores(z, session, post, 1.0, rng)
    assert not np.allclose(sampled, greedy)
    # one draw per session: the scores of a session are z · w̃_s for a single w̃_s
    for s in range(3):
        rows = session == s
        w, *_ = np.linalg.lstsq(z[rows], sampled[rows], rcond=None)
        np.testing.assert_allclose(z[rows] @ w, sampled[rows], atol=1e-8)
    eps = epsilon_greedy_scores(z, session, post, 0.5, rng)
    explored = ~np.isclose(eps, greedy).reshape(30, 10).all(axis=1)
    assert 5 < explored.sum() < 25
    with pytest.raises(ValueError, match="explore_share=2"):
        thompson_scores(z, session, post, 2, rng)
