"""RankingTasks: the stable multi-task BCE by hand, weights, compile arguments, metrics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from models.tasks import RankingTasks, binary_cross_entropy_from_logits


def _bce(y, z):
    p = 1.0 / (1.0 + np.exp(-z))
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def test_loss_is_the_weighted_sum_of_per_head_mean_bce():
    logits = {"a": np.array([0.0, 2.0], "float32"), "b": np.array([-1.0, 3.0], "float32")}
    labels = {"a": np.array([1.0, 0.0], "float32"), "b": np.array([0.0, 1.0], "float32")}
    tasks = RankingTasks(("a", "b"), weights=(1.0, 0.5))
    expected = _bce(labels["a"], logits["a"]).mean() + 0.5 * _bce(labels["b"], logits["b"]).mean()
    loss = float(ops.convert_to_numpy(tasks.loss(logits, labels)))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    # ln 2 per example at z = 0
    assert np.isclose(float(binary_cross_entropy_from_logits(1.0, 0.0)), np.log(2.0))


def test_bce_is_stable_for_extreme_logits():
    z = np.array([-200.0, 200.0, 200.0], "float32")
    y = np.array([0.0, 1.0, 0.0], "float32")
    out = ops.convert_to_numpy(binary_cross_entropy_from_logits(y, z))
    np.testing.assert_allclose(out, [0.0, 0.0, 200.0], atol=1e-6)


@pytest.mark.parametrize(
    ("heads", "weights", "message"),
    [
        ((), None, "heads"),
        (("a", "a"), None, "heads"),
        (("a", "b"), (1.0,), "weights"),
        (("a",), (-1.0,), "weights"),
        (("a",), (float("nan"),), "weights"),
    ],
)
def test_validation_names_the_bad_value(heads, weights, message):
    with pytest.raises(ValueError, match=message):
        RankingTasks(heads, weights)


def test_tasks_are_frozen_and_default_to_equal_weights():
    tasks = RankingTasks(["a", "b"])
    assert tasks == RankingTasks(("a", "b"), (1.0, 1.0))
    assert hash(tasks) == hash(RankingTasks(("a", "b")))


def test_compile_arguments_train_with_the_same_loss():
    inputs = keras.Input((3,))
    outputs = {
        "a": keras.layers.Reshape(())(keras.layers.Dense(1, name="a")(inputs)),
        "b": keras.layers.Reshape(())(keras.layers.Dense(1, name="b")(inputs)),
    }
    model = keras.Model(inputs, outputs)
    tasks = RankingTasks(("a", "b"), (1.0, 2.0))
    model.compile(optimizer=keras.optimizers.SGD(0.0), **tasks.compile_arguments())
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = {"a": np.ones(8, "float32"), "b": np.zeros(8, "float32")}
    expected = float(ops.convert_to_numpy(tasks.loss(model(x), y)))
    reported = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(reported, expected, rtol=1e-5)


def test_metrics_give_one_row_per_head():
    tasks = RankingTasks(("a", "b"))
    labels = {"a": np.array([0, 1, 1, 0]), "b": np.array([1, 0, 0, 0])}
    probabilities = {"a": np.array([0.1, 0.9, 0.8, 0.3]), "b": np.array([0.2, 0.4, 0.1, 0.1])}
    table = tasks.metrics(probabilities, labels)
    assert list(table["head"]) == ["a", "b"]
    np.testing.assert_allclose(table["auc"], [1.0, 2.0 / 3.0])
    with pytest.raises(ValueError, match=r"\['b'\]"):
        tasks.metrics({"a": probabilities["a"]}, labels)
