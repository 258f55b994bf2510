"""IsotonicCalibration (LiRank Eq. 1): bucket activations, hand values, monotonicity, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.isotonic import IsotonicCalibration, bucket_activations, is_non_decreasing


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_bucket_activations_by_hand():
    # lower -2, step 1: y = 0.5 → y' = 2.5 → two full buckets, half of the third, none above.
    got = _np(bucket_activations(np.array([0.5, -3.0, 9.0], "float32"), -2.0, 2.0, 1.0, 4))
    np.testing.assert_allclose(got, [[1, 1, 0.5, 0], [0, 0, 0, 0], [1, 1, 1, 1]])


def test_untrained_layer_is_identity_on_the_clipped_range():
    layer = IsotonicCalibration(num_buckets=4, step=1.0, lower_bound=-2.0)
    logits = np.array([[0.5], [-3.0], [5.0], [-1.25]], "float32")
    np.testing.assert_allclose(_np(layer(logits)), [[0.5], [-2.0], [2.0], [-1.25]])
    assert layer.upper_bound == 2.0


def test_learned_slopes_by_hand():
    layer = IsotonicCalibration(num_buckets=4, step=1.0, lower_bound=-2.0)
    layer.build((None, 1))
    layer.bucket_weights.assign(np.array([1.0, 2.0, -1.0, 3.0], "float32"))
    layer.bias.assign(0.25)
    # v = [1, 1, 0.5, 0]; slopes ReLU(w) = [1, 2, 0, 3]: 1 + 2 + 0 + 0 − 2 + 0.25.
    np.testing.assert_allclose(_np(layer(np.array([0.5], "float32"))), [1.25])


def test_calibration_features_shift_slopes_by_hand():
    layer = IsotonicCalibration(
        num_buckets=4, step=1.0, lower_bound=-2.0, calibration_initializer="ones"
    )
    logits = np.array([[0.5], [0.5]], "float32")
    features = np.array([[0.5, 0.5], [-1.0, -1.0]], "float32")
    # e_i = f1 + f2: row 0 slopes ReLU(1 + 1) = 2 → 2·2.5 − 2 = 3; row 1 ReLU(1 − 2) = 0 → −2.
    np.testing.assert_allclose(_np(layer(logits, features)), [[3.0], [-2.0]])
    assert [tuple(w.shape) for w in layer.weights] == [(4,), (), (2, 4), (4,)]


def test_monotone_for_random_weights_and_calibration_features():
    rng = np.random.default_rng(3)
    layer = IsotonicCalibration(
        num_buckets=40,
        step=0.25,
        lower_bound=-5.0,
        weights_initializer="random_normal",
        calibration_initializer="random_normal",
    )
    layer(np.zeros((2, 1), "float32"), np.zeros((2, 6), "float32"))
    layer.bucket_weights.assign(rng.normal(size=40).astype("float32"))
    features = rng.normal(scale=3.0, size=(64, 6)).astype("float32")
    assert layer.check_monotonic(features)
    assert layer.check_monotonic(features, grid=np.sort(rng.uniform(-9, 9, size=500)))
    slopes = _np(layer.slopes(features))
    assert slopes.shape == (64, 40) and (slopes >= 0).all() and (slopes == 0).any()


def test_check_detects_a_decrease():
    assert is_non_decreasing(np.array([0.0, 1.0, 1.0, 2.0]))
    assert not is_non_decreasing(np.array([[0.0, 1.0], [1.0, 0.5]]), axis=-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_buckets": 0}, "`num_buckets` must be a positive integer. Received: num_buckets=0"),
        ({"step": 0.0}, "`step` must be positive. Received: step=0.0"),
        (
            {"upper_bound": -9.0},
            "greater than `lower_bound`. Received: lower_bound=-8.0, upper_bound=-9.0",
        ),
        ({"upper_bound": 100.0}, "raise `num_buckets` or `step`. Received: upper_bound=100.0"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IsotonicCalibration(**{"num_buckets": 320, "step": 0.05, **kwargs})


def test_rejects_wide_logits():
    with pytest.raises(ValueError, match=r"\[batch\] or \[batch, 1\]"):
        IsotonicCalibration(4, 1.0)(np.zeros((2, 3), "float32"))


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(IsotonicCalibration(10, 0.5, lower_bound=-3.0, upper_bound=1.5))
    rng = np.random.default_rng(0)
    logit, features = keras.Input((1,)), keras.Input((3,))
    out = IsotonicCalibration(8, 1.0, lower_bound=-4.0, calibration_initializer="glorot_uniform")(
        logit, features
    )
    inputs = [
        rng.normal(scale=3, size=(5, 1)).astype("float32"),
        rng.normal(size=(5, 3)).astype("float32"),
    ]
    save_load_round_trip(keras.Model([logit, features], out), inputs)
    plain = keras.Input((1,))
    save_load_round_trip(
        keras.Model(plain, IsotonicCalibration(8, 1.0, lower_bound=-4.0)(plain)), inputs[0]
    )
