"""DenseGate and GatedMLP: hand values, weight shapes, presets, validation, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.dense_gating import DenseGate, GatedMLP, large_gated_mlp


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_bit_gate_by_hand():
    gate = DenseGate(kernel_initializer="ones")
    h = np.array([[1.0, -1.0], [1.0, 2.0]], "float32")
    # W_g h = [0, 0] → σ = 0.5;  W_g h = [3, 3] → σ(3).
    expected = [[0.5, -0.5], [_sigmoid(3.0), 2 * _sigmoid(3.0)]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gate(h)), expected, rtol=1e-6)
    assert [tuple(w.shape) for w in gate.weights] == [(2, 2), (2,)]


def test_vector_gate_shares_one_gate_per_example():
    gate = DenseGate(gate_type="vector", kernel_initializer="ones", bias_initializer="ones")
    h = np.array([[1.0, 2.0, -1.0]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gate(h)), h * _sigmoid(3.0), rtol=1e-6)
    assert [tuple(w.shape) for w in gate.weights] == [(3, 1), (1,)]


def test_gated_mlp_by_hand():
    mlp = GatedMLP(units=(2,), kernel_initializer="ones")
    # Dense: relu([2, 2]); gate: σ(4) each.
    out = keras.ops.convert_to_numpy(mlp(np.ones((1, 2), "float32")))
    np.testing.assert_allclose(out, [[2 * _sigmoid(4.0)] * 2], rtol=1e-6)


def test_gated_mlp_shapes_and_parameters():
    gated = GatedMLP(units=(8, 4))
    assert gated(np.ones((3, 5), "float32")).shape == (3, 4)
    shapes = sorted(tuple(w.shape) for w in gated.weights)
    assert shapes == sorted([(5, 8), (8,), (8, 8), (8,), (8, 4), (4,), (4, 4), (4,)])
    plain = GatedMLP(units=(8, 4), gated=False)
    plain.build((None, 5))
    assert plain.count_params() == 5 * 8 + 8 + 8 * 4 + 4


def test_presets():
    assert GatedMLP().units == (100, 100, 100, 100)
    large = large_gated_mlp(gated=False)
    assert large.units == (3500, 3500, 3500, 3500) and not large.gated
    assert GatedMLP.large().gated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": ()}, r"Received: units=\(\)"),
        ({"units": (4, 0)}, r"Received: units=\(4, 0\)"),
        ({"gate_type": "channel"}, "Received: gate_type='channel'"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GatedMLP(**kwargs)
    if "gate_type" in kwargs:
        with pytest.raises(ValueError, match=message):
            DenseGate(**kwargs)


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(DenseGate(gate_type="vector", kernel_regularizer="l2"))
    config_round_trip(GatedMLP(units=(6, 3), gated=False, activation="gelu"))
    x = keras.Input((5,))
    out = GatedMLP(units=(6, 3), gate_type="vector")(DenseGate()(x))
    save_load_round_trip(
        keras.Model(x, out), np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    )
