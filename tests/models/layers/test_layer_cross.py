"""LowRankCross: hand-computed outputs, weight shapes, validation, serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.cross import LowRankCross

X = np.array([[1.0, 2.0, 3.0]], dtype="float32")


def test_low_rank_ones_kernel_by_hand():
    # Vᵀx = [6, 6]; U(Vᵀx) = [12, 12, 12]; x0 ⊙ 12 + x = [13, 26, 39].
    layer = LowRankCross(projection_dim=2, kernel_initializer="ones")
    np.testing.assert_allclose(layer(X), [[13.0, 26.0, 39.0]])


def test_bias_and_second_layer_by_hand():
    with_bias = LowRankCross(2, kernel_initializer="ones", bias_initializer="ones")
    np.testing.assert_allclose(with_bias(X), [[14.0, 28.0, 42.0]])
    layer = LowRankCross(2, kernel_initializer="ones")
    x1 = layer(X)
    # Vᵀx1 = [78, 78]; U(.) = 156; x0 ⊙ 156 + x1.
    np.testing.assert_allclose(layer(X, x1), [[169.0, 338.0, 507.0]])


def test_full_rank_by_hand():
    layer = LowRankCross(projection_dim=None, kernel_initializer="ones")
    np.testing.assert_allclose(layer(X), [[7.0, 14.0, 21.0]])


def test_weight_shapes_and_parameter_counts():
    low = LowRankCross(4)
    low.build((None, 16))
    assert [tuple(w.shape) for w in low.weights] == [(16, 4), (4, 16), (16,)]
    assert low.count_params() == 2 * 16 * 4 + 16
    full = LowRankCross(None, use_bias=False)
    full.build((None, 16))
    assert [tuple(w.shape) for w in full.weights] == [(16, 16)]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_rejects_bad_projection_dim(bad):
    with pytest.raises(
        ValueError,
        match=f"`projection_dim` must be a positive integer. Received: projection_dim={bad}",
    ):
        LowRankCross(projection_dim=bad)


def test_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="same last axis"):
        LowRankCross(2)(X, np.ones((1, 4), "float32"))


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    layer = LowRankCross(3, use_bias=False, kernel_regularizer="l2")
    config_round_trip(layer)
    x0 = keras.Input((5,))
    out = LowRankCross(None)(x0, LowRankCross(3)(x0))
    model = keras.Model(x0, out)
    save_load_round_trip(model, np.random.default_rng(0).normal(size=(4, 5)).astype("float32"))
