"""Row-wise middle-max and min-max 8-bit quantization (LiRank §3.13)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.quantization import (
    compression_ratio,
    load_dequantized,
    middle_max_dequantize,
    middle_max_quantize,
    min_max_dequantize,
    min_max_quantize,
    quantize_embedding,
    quantize_table,
)

TABLE = np.random.default_rng(5).normal(scale=0.1, size=(200, 16)).astype("float32")


def test_middle_max_by_hand():
    codes, middle, scale = middle_max_quantize(np.array([[-1.0, 0.0, 1.0]], "float32"))
    # scale = 2/255; middle = (1·128 − 1·127)/255 = 1/255; 0 → round(−0.5) = 0 (half to even).
    np.testing.assert_allclose(scale, [2 / 255], rtol=1e-6)
    np.testing.assert_allclose(middle, [1 / 255], rtol=1e-6)
    assert codes.dtype == np.int8 and codes.tolist() == [[-128, 0, 127]]


def test_row_extremes_map_to_the_int8_ends():
    codes, _, _ = middle_max_quantize(TABLE)
    rows = np.arange(len(TABLE))
    assert (codes[rows, TABLE.argmax(axis=1)] == 127).all()
    assert (codes[rows, TABLE.argmin(axis=1)] == -128).all()
    assert (codes.astype(np.int32).astype(np.int8) == codes).all()  # reversible int8 casts


@pytest.mark.parametrize("bits", [8, 4])
def test_error_is_at_most_half_a_step(bits):
    codes, middle, scale = middle_max_quantize(TABLE, bits)
    error = np.abs(TABLE - middle_max_dequantize(codes, middle, scale))
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    assert codes.min() >= -(2 ** (bits - 1)) and codes.max() <= 2 ** (bits - 1) - 1


def test_min_max_for_comparison():
    codes, low, scale = min_max_quantize(TABLE)
    assert codes.dtype == np.uint8 and codes.min() == 0 and codes.max() == 255
    error = np.abs(TABLE - min_max_dequantize(codes, low, scale))
    assert (error <= scale[:, None] / 2 + 1e-7).all()


def test_constant_rows_are_exact():
    table = np.array([[0.5, 0.5, 0.5], [-2.0, -2.0, -2.0]], "float32")
    for method in ("middle_max", "min_max"):
        np.testing.assert_array_equal(quantize_table(table, method=method).dequantize(), table)


def test_compression_ratio():
    # 10M × 128 fp32 → int8 plus two float32 per row: (128 + 8) / 512, a >70% cut (paper).
    assert compression_ratio(10_000_000, 128) == pytest.approx(136 / 512)
    assert 1 - compression_ratio(10_000_000, 128) > 0.70
    quantized = quantize_table(TABLE)
    assert quantized.nbytes / TABLE.nbytes == pytest.approx(compression_ratio(200, 16))


def test_keras_embedding_round_trip():
    layer = keras.layers.Embedding(50, 8, embeddings_initializer="random_normal")
    ids = np.arange(50)
    before = keras.ops.convert_to_numpy(layer(ids))
    quantized = quantize_embedding(layer)
    load_dequantized(layer, quantized)
    after = keras.ops.convert_to_numpy(layer(ids))
    assert (np.abs(after - before) <= quantized.scale[:, None] / 2 + 1e-7).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: middle_max_quantize(TABLE, bits=9), "Received: bits=9"),
        (lambda: quantize_table(TABLE, method="log"), "Received: method='log'"),
        (lambda: middle_max_quantize(TABLE[0]), "must be 2-D"),
        (lambda: quantize_embedding(keras.layers.Dense(3)), "has no `embeddings`"),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
