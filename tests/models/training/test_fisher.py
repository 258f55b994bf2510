"""Tests for models.training.fisher (paper §5, Eq. 2–3): the Fisher diagonal against a hand
computation on a logistic regression, the penalty's value and gradient against the closed form,
the single-anchor limits α = 1 and α = 0, the anchored initialization, the anchor files, and an
incremental run of the job that writes and records its anchors."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.feed import FeedModelConfig
from models.registry import load_model
from models.training.config import TrainingConfig, TrainingPlan
from models.training.fisher import (
    COLD_ANCHOR_FILE,
    FISHER_FILE,
    FisherAnchor,
    FisherPenalty,
    anchored_initialization,
    array_batches,
    cycle_cold_start,
    fisher_diagonal,
    prepare_incremental,
)
from models.training.job import run_training
from spark.avro_shards import write_avro_shards

D = 3


def _logistic(seed: int = 0) -> keras.Model:
    """z = w·x + b: one unit, so ∂ℓ_n/∂w = (σ(z_n) − y_n)·x_n and ∂ℓ_n/∂b = σ(z_n) − y_n."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((D,), name="x")
    z = keras.layers.Dense(1, kernel_initializer="glorot_normal", bias_initializer="ones")(x)
    return keras.Model({"x": x}, {"y": z})


def _bce(logits, labels):
    z = tf.reshape(logits["y"], [-1])
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels["y"], logits=z))


def _data(n: int = 10, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = (rng.random(n) < 0.4).astype(np.float32)
    return {"x": x}, {"y": y}


def _per_example_grads(model, x, y) -> tuple[np.ndarray, np.ndarray]:
    w, b = (np.asarray(v, dtype=np.float64) for v in model.get_weights())
    residual = 1 / (1 + np.exp(-(x @ w[:, 0] + b[0]))) - y  # σ(z_n) − y_n
    return residual[:, None] * x, residual  # [n, D], [n]


def test_fisher_diagonal_matches_the_hand_computation():
    model = _logistic()
    inputs, labels = _data(10)
    g_w, g_b = _per_example_grads(model, inputs["x"], labels["y"])

    exact = fisher_diagonal(model, array_batches(inputs, labels, 4), _bce, per_example=True)
    np.testing.assert_allclose(exact[0][:, 0], (g_w**2).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(exact[1], [(g_b**2).mean()], rtol=1e-5)

    # the default: Σ_b n_b·(n_b·ḡ_b²) / Σ_b n_b over batches of 4, 4, 2 rows
    estimate = fisher_diagonal(model, array_batches(inputs, labels, 4), _bce)
    sizes = [4, 4, 2]
    batches = np.split(np.arange(10), np.cumsum(sizes)[:-1])
    expected_w = sum(len(r) ** 2 * g_w[r].mean(axis=0) ** 2 for r in batches) / 10
    expected_b = sum(len(r) ** 2 * g_b[r].mean() ** 2 for r in batches) / 10
    np.testing.assert_allclose(estimate[0][:, 0], expected_w, rtol=1e-5)
    np.testing.assert_allclose(estimate[1], [expected_b], rtol=1e-5)

    # one-row batches: the estimate is the textbook per-example Fisher
    singles = fisher_diagonal(model, array_batches(inputs, labels, 1), _bce)
    for a, b in zip(singles, exact, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(ValueError, match="no batches"):
        fisher_diagonal(model, [], _bce)


def _anchor(model, seed: int, model_id: str) -> FisherAnchor:
    rng = np.random.default_rng(seed)
    variables = model.trainable_variables
    return FisherAnchor(
        model_id=model_id,
        paths=tuple(v.path for v in variables),
        weights=tuple(rng.normal(size=tuple(v.shape)).astype(np.float32) for v in variables),
        fisher=tuple(rng.exponential(size=tuple(v.shape)).astype(np.float32) for v in variables),
    )


def _closed_form(model, cold, previous, lam, alpha):
    """(value, gradient) of (λ/2)[α Σ F₀(w−w₀)² + (1−α) Σ F₁(w−w₁)²], term by term."""
    value, grads = 0.0, []
    for v, w0, f0, w1, f1 in zip(
        model.get_weights(), cold.weights, cold.fisher, previous.weights, previous.fisher,
        strict=True,
    ):  # fmt: skip
        v, w0, f0, w1, f1 = (np.asarray(a, dtype=np.float64) for a in (v, w0, f0, w1, f1))
        value += (
            0.5
            * lam
            * (alpha * (f0 * (v - w0) ** 2).sum() + (1 - alpha) * (f1 * (v - w1) ** 2).sum())
        )  # noqa: E501
        grads.append(lam * (alpha * f0 * (v - w0) + (1 - alpha) * f1 * (v - w1)))
    return value, grads


def _value_and_grads(penalty, model):
    with tf.GradientTape() as tape:
        value = penalty(model, None)
    return float(value), [g.numpy() for g in tape.gradient(value, model.trainable_variables)]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_penalty_value_and_gradient_match_the_closed_form(alpha):
    model = _logistic()
    cold, previous = _anchor(model, 1, "cold"), _anchor(model, 2, "previous")
    value, grads = _value_and_grads(FisherPenalty(model, cold, previous, 2.5, alpha), model)
    expected_value, expected_grads = _closed_form(model, cold, previous, 2.5, alpha)
    assert value == pytest.approx(expected_value, rel=1e-4)
    for g, e in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_alpha_one_and_zero_reduce_to_one_anchor():
    model = _logistic()
    cold, previous, other = (_anchor(model, s, f"m{s}") for s in (1, 2, 3))
    # α = 1: only the cold anchor counts (Eq. 3 without the previous model)
    only_cold, _ = _value_and_grads(FisherPenalty(model, cold, cold, 1.0, 1.0), model)
    assert _value_and_grads(FisherPenalty(model, cold, previous, 1.0, 1.0), model)[0] == (
        pytest.approx(only_cold, rel=1e-5)
    )
    assert _value_and_grads(FisherPenalty(model, cold, other, 1.0, 1.0), model)[0] == (
        pytest.approx(only_cold, rel=1e-5)
    )
    # α = 0: Eq. 2, the previous model only
    eq2 = 0.5 * sum(
        float((f * (np.asarray(v) - w) ** 2).sum())
        for v, w, f in zip(model.get_weights(), previous.weights, previous.fisher, strict=True)
    )
    for anchor in (cold, other):
        value, _ = _value_and_grads(FisherPenalty(model, anchor, previous, 1.0, 0.0), model)
        assert value == pytest.approx(eq2, rel=1e-5)


def test_penalty_is_zero_at_a_shared_anchor_and_checks_its_arguments():
    model = _logistic()
    anchor = FisherAnchor.of(model, [np.ones((D, 1)), np.ones(1)], "self")
    value, grads = _value_and_grads(FisherPenalty(model, anchor, anchor, 3.0, 0.5), model)
    assert value == pytest.approx(0.0, abs=1e-6)
    assert all(np.abs(g).max() < 1e-6 for g in grads)
    with pytest.raises(ValueError, match="fisher_alpha.*Received: fisher_alpha=1.5"):
        FisherPenalty(model, anchor, anchor, 1.0, 1.5)
    with pytest.raises(ValueError, match="fisher_lambda.*Received: fisher_lambda=-1"):
        FisherPenalty(model, anchor, anchor, -1.0, 0.5)
    wrong = dataclasses.replace(
        anchor, weights=(np.zeros((D + 1, 1), np.float32), anchor.weights[1]),
        fisher=(np.zeros((D + 1, 1), np.float32), anchor.fisher[1]),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"has shape \(4, 1\)"):
        FisherPenalty(model, wrong, anchor, 1.0, 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        dataclasses.replace(anchor, fisher=(-np.ones((D, 1), np.float32), anchor.fisher[1]))


def test_training_config_validates_the_incremental_settings():
    with pytest.raises(ValueError, match="incremental.*Received: incremental='ewc'"):
        TrainingConfig(incremental="ewc")
    with pytest.raises(ValueError, match="fisher_alpha"):
        TrainingConfig(fisher_alpha=-0.1)
    with pytest.raises(ValueError, match="fisher_lambda"):
        TrainingConfig(fisher_lambda=float("nan"))
    assert TrainingConfig().incremental == "fisher"


def test_anchored_initialization_and_anchor_files_round_trip(tmp_path):
    model = _logistic()
    cold, previous = _anchor(model, 1, "feed-cold"), _anchor(model, 2, "feed-prev")
    init = anchored_initialization(cold, previous, 0.25)
    for got, w0, w1 in zip(init, cold.weights, previous.weights, strict=True):
        np.testing.assert_allclose(got, 0.25 * w0 + 0.75 * w1, rtol=1e-6)

    sha = cold.save(tmp_path / "a.npz")
    assert sha == hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()
    loaded = FisherAnchor.load(tmp_path / "a.npz")
    assert (loaded.model_id, loaded.paths) == (cold.model_id, cold.paths)
    for a, b in zip(loaded.weights + loaded.fisher, cold.weights + cold.fisher, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="incremental='warm_start'"):
        FisherAnchor.load(tmp_path / "missing" / FISHER_FILE)

    # prepare_incremental reads both anchors from the previous model's directory
    previous_dir = tmp_path / "prev"
    previous_dir.mkdir()
    previous.save(previous_dir / FISHER_FILE)
    cold.save(previous_dir / COLD_ANCHOR_FILE)
    run = prepare_incremental(model, TrainingConfig(fisher_alpha=0.25), previous_dir)
    for got, expected in zip(model.get_weights(), init, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert run.record["cold_anchor"]["model_id"] == "feed-cold"
    assert run.record["previous_anchor"]["model_id"] == "feed-prev"
    assert run.cold_anchor_bytes == (previous_dir / COLD_ANCHOR_FILE).read_bytes()
    plain = prepare_incremental(model, TrainingConfig(incremental="warm_start"), previous_dir)
    assert (plain.penalty, plain.writes_anchor) == (None, False)


SMALL = FeedModelConfig(
    embedding_dim=4, tower_units=(8,), member_buckets=50, actor_buckets=20, hashtag_buckets=10,
    cross_projection_dim=2,
)  # fmt: skip


def _distance(model_dir, anchor: FisherAnchor) -> float:
    """(w − w_a)ᵀF_a(w − w_a): the distance the penalty controls."""
    model, _ = load_model(model_dir)
    return sum(
        float((f * (v.numpy() - w) ** 2).sum())
        for v, w, f in zip(model.trainable_variables, anchor.weights, anchor.fisher, strict=True)
    )


def test_incremental_fisher_runs_write_and_record_their_anchors(make_examples, tmp_path):
    days = [
        write_avro_shards(make_examples(300, seed=20 + i), tmp_path / f"avro-{i}")[0].parent
        for i in range(3)
    ]
    config = TrainingConfig(epochs=1, batch_size=128, fisher_lambda=1.0, fisher_alpha=0.5)
    cold_plan = TrainingPlan(
        model_id="feed-d0", out_dir=tmp_path / "d0", examples=(days[0],), model=SMALL,
        training=config, export_saved_model=False,
    )  # fmt: skip
    run_training(cold_plan)
    d0 = tmp_path / "d0"
    assert (d0 / FISHER_FILE).is_file() and not (d0 / COLD_ANCHOR_FILE).exists()
    cold_anchor = FisherAnchor.load(d0 / FISHER_FILE)
    assert cold_anchor.model_id == "feed-d0"
    assert all((f >= 0).all() for f in cold_anchor.fisher)
    assert any(f.sum() > 0 for f in cold_anchor.fisher)

    def day(index: int, previous, **training):
        plan = dataclasses.replace(
            cold_plan, model_id=f"feed-d{index}", out_dir=str(tmp_path / f"d{index}"),
            examples=(str(days[index]),), previous_model=str(previous),
            training=dataclasses.replace(config, **training),
        )  # fmt: skip
        run_training(plan)
        return tmp_path / f"d{index}"

    d1 = day(1, d0)
    d2 = day(2, d1)
    for directory, previous in ((d1, d0), (d2, d1)):
        manifest = json.loads((directory / "manifest.json").read_text())["metadata"]
        record = manifest["incremental"]
        assert (record["method"], record["fisher_lambda"], record["fisher_alpha"]) == (
            "fisher", 1.0, 0.5,
        )  # fmt: skip
        assert record["previous_anchor"]["path"] == str(previous / FISHER_FILE)
        assert (
            record["previous_anchor"]["sha256"]
            == hashlib.sha256((previous / FISHER_FILE).read_bytes()).hexdigest()
        )
        assert record["cold_anchor"]["model_id"] == "feed-d0"  # the cycle's cold start
        # the copy of the cold anchor is the cold start's own file, byte for byte
        assert (directory / COLD_ANCHOR_FILE).read_bytes() == (d0 / FISHER_FILE).read_bytes()
        assert (
            record["fisher_file"]["sha256"]
            == hashlib.sha256((directory / FISHER_FILE).read_bytes()).hexdigest()
        )
        assert cycle_cold_start(directory) == d0

    # the penalty flows: a strong forgetting factor keeps the day's model nearer its anchors
    strong = day(1, d0, fisher_lambda=100.0, fisher_alpha=0.0, epochs=3, learning_rate=1e-2)
    assert _distance(strong, cold_anchor) < 0.5 * _distance(
        day(1, d0, fisher_lambda=0.0, fisher_alpha=0.0, epochs=3, learning_rate=1e-2), cold_anchor
    )

    # a warm-start day writes no anchor; a Fisher day after it is a plain warm start whose own
    # anchor starts a new cycle (an existing chain of models continues instead of failing)
    plain = day(1, d0, incremental="warm_start")
    assert not (plain / FISHER_FILE).exists()
    after = day(2, plain)
    record = json.loads((after / "manifest.json").read_text())["metadata"]["incremental"]
    assert "new cycle" in record["cold_anchor"] and "previous_anchor" not in record
    assert (after / FISHER_FILE).is_file() and not (after / COLD_ANCHOR_FILE).exists()


def test_a_new_cycle_starts_when_the_cold_start_is_old_enough(tmp_path):
    import datetime as dt

    from lirank_assets.resources import TrainingResource

    def manifest(day: str, previous: str | None) -> None:
        directory = tmp_path / f"date={day}"
        directory.mkdir()
        metadata = {
            "training_result": {"mode": "incremental" if previous else "cold"},
            "plan": json.dumps({"previous_model": previous}),
        }
        (directory / "manifest.json").write_text(json.dumps({"metadata": metadata}))

    manifest("2026-01-03", None)
    manifest("2026-01-04", str(tmp_path / "date=2026-01-03"))
    latest = tmp_path / "date=2026-01-04"
    assert cycle_cold_start(latest) == tmp_path / "date=2026-01-03"
    day = dt.date(2026, 1, 5)
    assert not TrainingResource().cycle_expired(latest, day)  # 0: never
    assert not TrainingResource(cold_start_every_days=3).cycle_expired(latest, day)
    assert TrainingResource(cold_start_every_days=2).cycle_expired(latest, day)
    with pytest.raises(ValueError, match="cold_start_every_days=-1"):
        TrainingResource(cold_start_every_days=-1).cycle_expired(latest, day)
