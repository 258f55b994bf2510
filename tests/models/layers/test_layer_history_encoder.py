"""HistoryTransformerEncoder: output layout, masking, fusion, validation, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.history_encoder import (
    HistoryTransformerEncoder,
    last_valid_steps,
    masked_max_pool,
)

RNG = np.random.default_rng(11)
B, T, D = 3, 8, 8


def _inputs():
    items = RNG.normal(size=(B, T, 4)).astype("float32")
    actions = RNG.normal(size=(B, T, 2)).astype("float32")
    candidate = RNG.normal(size=(B, 5)).astype("float32")
    lengths = np.array([[8], [3], [6]])
    mask = np.arange(T)[None, :] < lengths  # right padding
    mask[2] = [0, 1, 1, 0, 1, 1, 1, 1]  # holes are fine too
    return items, actions, candidate, mask


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_last_valid_steps_and_max_pool_by_hand():
    seq = np.arange(8, dtype="float32").reshape(1, 8, 1)
    seq = np.concatenate([seq, seq * 10, seq], axis=0)
    valid = np.array([[1, 0, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 0, 1, 0, 0], [0] * 8], dtype=bool)
    last = _np(last_valid_steps(seq, valid, 5))[..., 0]
    np.testing.assert_array_equal(last, [[6, 5, 4, 3, 2], [50, 30, 0, 0, 0], [0] * 5])
    np.testing.assert_array_equal(_np(masked_max_pool(seq, valid))[:, 0], [6, 50, 0])


def test_output_shape_and_layout():
    items, actions, candidate, mask = _inputs()
    encoder = HistoryTransformerEncoder(max_length=T, model_dim=D, num_heads=2)
    out = _np(encoder(items, actions, candidate, padding_mask=mask))
    assert out.shape == (B, D * 6)
    # Row 1 has 3 valid steps: slots 4 and 5 of the last-5 block are zeros.
    np.testing.assert_array_equal(out[1, 4 * D :], np.zeros(2 * D))
    assert np.all(out[1, 3 * D : 4 * D] != 0)
    no_last = HistoryTransformerEncoder(max_length=T, model_dim=D, num_last_steps=0)
    assert no_last(items, actions, candidate).shape == (B, D)


def test_padding_content_does_not_change_the_output():
    items, actions, candidate, mask = _inputs()
    encoder = HistoryTransformerEncoder(max_length=10, model_dim=D, num_heads=2)
    clean = _np(encoder(items, actions, candidate, padding_mask=mask))
    junk_items = np.where(mask[..., None], items, 1e3 * RNG.normal(size=items.shape))
    junk_actions = np.where(mask[..., None], actions, -7.0)
    noisy = _np(
        encoder(
            junk_items.astype("float32"),
            junk_actions.astype("float32"),
            candidate,
            padding_mask=mask,
        )
    )
    np.testing.assert_allclose(noisy, clean, atol=1e-5)
    unmasked = _np(encoder(junk_items.astype("float32"), actions, candidate))
    assert not np.allclose(unmasked, clean, atol=1e-3)


def test_candidate_is_fused_into_every_step():
    items, actions, candidate, mask = _inputs()
    encoder = HistoryTransformerEncoder(max_length=T, model_dim=D)
    a = _np(encoder(items, actions, candidate, padding_mask=mask))
    b = _np(encoder(items, actions, candidate + 1.0, padding_mask=mask))
    assert not np.allclose(a, b)


def test_weight_shapes_and_ffn_width():
    items, actions, candidate, mask = _inputs()
    encoder = HistoryTransformerEncoder(max_length=T, model_dim=D, num_layers=2)
    encoder(items, actions, candidate, padding_mask=mask)
    assert tuple(encoder.input_projection.kernel.shape) == (4 + 2 + 5, D)
    assert tuple(encoder.position_embeddings.shape) == (T, D)
    assert tuple(encoder.ffn_in[0].kernel.shape) == (D, D // 2)
    assert tuple(encoder.ffn_out[1].kernel.shape) == (D // 2, D)
    # projection 2 + positions 1 + per layer (attention 8, two layer norms 4, FFN 4).
    assert len(encoder.weights) == 3 + 2 * 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"max_length": 4},
            "`max_length` must be at least `num_last_steps`=5 .* Received: max_length=4",
        ),
        ({"max_length": 0}, "Received: max_length=0"),
        (
            {"model_dim": 6, "num_heads": 4},
            "divisible by `num_heads`. Received: model_dim=6, num_heads=4",
        ),
        ({"num_last_steps": -1}, "Received: num_last_steps=-1"),
        ({"dropout": 1.0}, "Received: dropout=1.0"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HistoryTransformerEncoder(**{"max_length": 10, "model_dim": 8, **kwargs})


def test_short_history_is_fine_without_last_steps():
    assert HistoryTransformerEncoder(max_length=3, model_dim=4, num_last_steps=0).max_length == 3


def test_rejects_history_longer_than_max_length():
    items, actions, candidate, _ = _inputs()
    with pytest.raises(ValueError, match="exceeds `max_length`=6"):
        HistoryTransformerEncoder(max_length=6, model_dim=D)(items, actions, candidate)


def test_rejects_a_longer_history_after_building_for_unknown_lengths():
    items, actions, candidate, _ = _inputs()
    layer = HistoryTransformerEncoder(max_length=6, model_dim=D)
    layer.build((None, None, 4), (None, None, 2), (None, 5))
    with pytest.raises(ValueError, match="History length 8 exceeds `max_length`=6"):
        layer(items, actions, candidate)


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(
        HistoryTransformerEncoder(
            20, 16, num_heads=4, num_layers=1, ffn_dim=12, num_last_steps=3, dropout=0.1
        )
    )
    items, actions, candidate, mask = _inputs()
    inputs = [
        keras.Input((T, 4)),
        keras.Input((T, 2)),
        keras.Input((5,)),
        keras.Input((T,), dtype="bool"),
    ]
    out = HistoryTransformerEncoder(max_length=T, model_dim=D)(*inputs[:3], padding_mask=inputs[3])
    save_load_round_trip(keras.Model(inputs, out), [items, actions, candidate, mask])
