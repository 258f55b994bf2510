"""AttentionLowRankCross and ResidualDCN: hand values, identity reduction, validation, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.cross import LowRankCross
from models.layers.residual_dcn import (
    AttentionLowRankCross,
    ResidualDCN,
    attention_scores,
)

X = np.array([[1.0, 2.0, 3.0]], dtype="float32")
RNG = np.random.default_rng(7)


def _random(shape):
    return RNG.normal(size=shape).astype("float32")


def test_ones_kernel_by_hand():
    # q = k = v = [6, 6]: equal scores, row softmax = 1/2 everywhere, A v = [6, 6].
    # value skip: U(A v + v) = 24 → x0 ⊙ 24 + x = [25, 50, 75]; no skip: U(A v) = 12.
    layer = AttentionLowRankCross(projection_dim=2, kernel_initializer="ones")
    np.testing.assert_allclose(layer(X), [[25.0, 50.0, 75.0]])
    no_skip = AttentionLowRankCross(2, skip_connection="none", kernel_initializer="ones")
    np.testing.assert_allclose(no_skip(X), [[13.0, 26.0, 39.0]])


def test_attention_scores_match_numpy_formula():
    q = np.array([[1.0, 2.0]], "float32")
    k = np.array([[1.0, -1.0]], "float32")
    logits = np.outer(q[0], k[0]) / (0.5 * np.sqrt(2.0))
    row = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    column = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    got_row = keras.ops.convert_to_numpy(attention_scores(q, k, 0.5, "row"))[0]
    got_column = keras.ops.convert_to_numpy(attention_scores(q, k, 0.5, "column"))[0]
    np.testing.assert_allclose(got_row, row, rtol=1e-6)
    np.testing.assert_allclose(got_column, column, rtol=1e-6)
    np.testing.assert_allclose(got_row.sum(axis=1), [1.0, 1.0], rtol=1e-6)


def test_high_temperature_flattens_scores():
    q, k = _random((4, 3)), _random((4, 3))
    scores = keras.ops.convert_to_numpy(attention_scores(q, k, 1e6))
    np.testing.assert_allclose(scores, np.full((4, 3, 3), 1 / 3), atol=1e-5)


def _shared_pair(skip_connection):
    dim, rank = 6, 3
    x0, x = _random((5, dim)), _random((5, dim))
    cross = LowRankCross(rank, bias_initializer="random_normal")
    attention = AttentionLowRankCross(
        rank, skip_connection=skip_connection, score_override="identity"
    )
    cross(x0, x)
    attention(x0, x)
    down, up, bias = (keras.ops.convert_to_numpy(w) for w in cross.weights)
    attention.value_kernel.assign(down)
    attention.up_kernel.assign(up)
    attention.bias.assign(bias)
    return cross, attention, x0, x


def test_identity_scores_reduce_exactly_to_low_rank_cross():
    cross, attention, x0, x = _shared_pair("none")
    # The query/key kernels are random and ignored: A = I, so U(I v) + b = U(Vᵀx) + b bit for bit.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(attention(x0, x)), keras.ops.convert_to_numpy(cross(x0, x))
    )


def test_identity_scores_with_value_skip_double_the_up_kernel():
    cross, attention, x0, x = _shared_pair("value")
    cross.up_kernel.assign(2.0 * keras.ops.convert_to_numpy(cross.up_kernel))
    np.testing.assert_allclose(attention(x0, x), cross(x0, x), rtol=1e-6, atol=1e-6)


def test_attention_weight_shapes():
    layer = AttentionLowRankCross(4)
    layer.build((None, 10))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "query_kernel": (10, 4),
        "key_kernel": (10, 4),
        "value_kernel": (10, 4),
        "up_kernel": (4, 10),
        "bias": (10,),
    }


def test_residual_dcn_by_hand():
    # One layer per branch with ones kernels: cross [13, 26, 39], attention [25, 50, 75].
    kwargs = {"projection_dim": 2, "num_layers": 1, "kernel_initializer": "ones"}
    np.testing.assert_allclose(ResidualDCN(**kwargs)(X), [[38.0, 76.0, 114.0]])
    np.testing.assert_allclose(
        ResidualDCN(merge="concat", **kwargs)(X), [[13.0, 26.0, 39.0, 25.0, 50.0, 75.0]]
    )


def test_residual_dcn_shapes_and_parameters():
    layer = ResidualDCN(projection_dim=4, num_layers=2)
    out = layer(_random((3, 16)))
    assert out.shape == (3, 16)
    per_cross = 2 * 16 * 4 + 16
    per_attention = 4 * 16 * 4 + 16
    assert layer.count_params() == 2 * (per_cross + per_attention)
    assert len(layer.weights) == 2 * (3 + 5)
    assert ResidualDCN(4, merge="concat")(_random((3, 16))).shape == (3, 32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"projection_dim": -1},
            "`projection_dim` must be a positive integer. Received: projection_dim=-1",
        ),
        ({"projection_dim": 2, "temperature": 0.0}, "Received: temperature=0.0"),
        ({"projection_dim": 2, "skip_connection": "input"}, "Received: skip_connection='input'"),
        ({"projection_dim": 2, "softmax_axis": "both"}, "Received: softmax_axis='both'"),
        ({"projection_dim": 2, "score_override": "ones"}, "Received: score_override='ones'"),
    ],
)
def test_attention_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionLowRankCross(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"merge": "stack"}, "`merge` must be one of .* Received: merge='stack'"),
        ({"num_layers": 0}, "Received: num_layers=0"),
        ({"projection_dim": 0}, "Received: projection_dim=0"),
    ],
)
def test_residual_dcn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResidualDCN(**{"projection_dim": 2, **kwargs})


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(
        AttentionLowRankCross(3, temperature=2.0, skip_connection="none", softmax_axis="column")
    )
    config_round_trip(ResidualDCN(3, num_layers=3, merge="concat", score_override="identity"))
    x0 = keras.Input((6,))
    attention = AttentionLowRankCross(3, temperature=0.5)(x0)
    out = ResidualDCN(2, merge="concat", softmax_axis="column")(attention)
    save_load_round_trip(keras.Model(x0, out), _random((4, 6)))


def test_query_key_value_kernels_start_different():
    layer = AttentionLowRankCross(4, kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    layer.build((None, 4))
    kernels = [keras.ops.convert_to_numpy(w) for w in layer.weights[:3]]
    assert not np.array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[1], kernels[2])
