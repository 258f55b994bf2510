"""Tests for models.training.loop: learning, divergence guard, warm start, sharding, config
checks."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.feed import TINY_FEED_MODEL, FeedModel, predict_probabilities
from models.inputs.spec import (
    DENSE_FEATURES,
    InputSpec,
    dense_moments,
    examples_to_inputs,
    labels_from,
    with_position,
)
from models.training.loop import (
    TrainingConfig,
    TrainingDivergedError,
    shard_rows,
    train_feed_model,
    warm_start,
)
from spark.world.config import CONTENT_TYPES, PLATFORMS

TINY = dataclasses.replace(TINY_FEED_MODEL, content_types=CONTENT_TYPES, platforms=PLATFORMS)
SPEC = InputSpec(content_types=CONTENT_TYPES, platforms=PLATFORMS)


def _model(inputs, seed: int = 0, **overrides) -> FeedModel:
    keras.utils.set_random_seed(seed)
    mean, variance = dense_moments(inputs)
    return FeedModel(
        dataclasses.replace(TINY, **overrides, dense_mean=mean, dense_variance=variance)
    )


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


@pytest.fixture(scope="module")
def data(make_examples):
    df = make_examples(8000, seed=1)
    train, holdout = df[df["split"] == "train"], df[df["split"] == "holdout"]
    return examples_to_inputs(train, SPEC), labels_from(train), holdout


def test_learns_the_planted_click_signal(data):
    inputs, labels, holdout = data
    model = _model(inputs)
    config = TrainingConfig(epochs=3, batch_size=256, learning_rate=5e-3, warmup_fraction=0.2)
    result = train_feed_model(model, inputs, labels, config)

    assert result.steps == 3 * math.ceil(len(inputs["dense"]) / 256)
    assert len(result.epoch_losses) == 3
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert result.examples_per_second > 0
    probabilities = predict_probabilities(model, examples_to_inputs(holdout, SPEC))
    auc = roc_auc_score(holdout["click"], probabilities["click"])
    assert auc > 0.75, f"held-out click AUC {auc:.3f}"
    # position debiasing: ranking at position 0 raises P(click) (planted bias -0.2 per slot)
    ranked = predict_probabilities(model, with_position(examples_to_inputs(holdout, SPEC), 0))
    assert ranked["click"].mean() > probabilities["click"].mean()


def test_huge_learning_rate_diverges_and_leaves_previous_model_untouched(data):
    inputs, labels, _ = data
    previous = _model(inputs, seed=5)
    before = _weights(previous)
    model = warm_start(FeedModel(previous.config), previous)
    config = TrainingConfig(epochs=1, batch_size=512, learning_rate=1e30, warmup_fraction=0.0)
    with pytest.raises(TrainingDivergedError, match=r"step \d+ .*loss=(nan|inf).*learning rate"):
        train_feed_model(model, inputs, labels, config)
    for old, new in zip(before, _weights(previous), strict=True):
        np.testing.assert_array_equal(old, new)


def test_nan_input_is_refused_before_the_first_step(data):
    inputs, labels, _ = data
    poisoned = dict(inputs)
    poisoned["dense"] = inputs["dense"].copy()
    poisoned["dense"][:5, 0] = np.nan
    poisoned["dense"][7, 2] = np.inf
    model = _model(inputs)
    before = _weights(model)
    with pytest.raises(
        ValueError, match=rf"{DENSE_FEATURES[0]} \(5 rows\), {DENSE_FEATURES[2]} \(1 rows\)"
    ):
        train_feed_model(model, poisoned, labels, TrainingConfig(batch_size=256))
    for old, new in zip(before, _weights(model), strict=True):
        np.testing.assert_array_equal(old, new)


def test_warm_start_copies_weights_exactly(data):
    inputs, _, _ = data
    previous, fresh = _model(inputs, seed=1), _model(inputs, seed=2)
    assert not np.array_equal(_weights(previous)[0], _weights(fresh)[0])
    warm_start(fresh, previous)
    for old, new in zip(_weights(previous), _weights(fresh), strict=True):
        np.testing.assert_array_equal(old, new)
    fresh.weights[0].assign(np.zeros(fresh.weights[0].shape))
    assert np.any(_weights(previous)[0] != 0)  # a copy, not shared variables


def test_warm_start_rejects_a_different_architecture(data):
    inputs, _, _ = data
    with pytest.raises(ValueError, match="shape"):
        warm_start(_model(inputs, embedding_dim=4), _model(inputs))


def test_shards_are_disjoint_and_equal_sized():
    shards = [shard_rows(11, rank, 3) for rank in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert all(np.all(s % 3 == rank) for rank, s in enumerate(shards))
    assert len(np.unique(np.concatenate(shards))) == 9
    with pytest.raises(ValueError, match="rank"):
        shard_rows(11, 3, 3)


class _SecondOfTwoRanks:
    """A fake 2-rank backend seen from rank 1 (no averaging), to check the sharded step count."""

    rank = 1
    size = 2

    def average_gradients(self, gradients):
        return list(gradients)

    def broadcast_variables(self, variables):
        return None

    def barrier(self):
        return None


def test_each_rank_trains_on_its_shard(data):
    inputs, labels, _ = data
    n = len(inputs["dense"])
    model = _model(inputs)
    result = train_feed_model(
        model, inputs, labels, TrainingConfig(batch_size=1024), _SecondOfTwoRanks()
    )
    assert result.steps == math.ceil((n // 2) / 1024)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"clip_norm": float("inf")}, "clip_norm"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
    ],
)
def test_training_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**overrides)
