"""Quantized embedding layers: in-graph dequantization of plain, QR and unlimited-vocab tables."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.compression.packing import pack_codes
from models.compression.rowwise import error_bound, quantize_rows
from models.compression.schemes import SCHEMES
from models.compression.tables import embedding_tables_of, quantize_tables, quantized_twin
from models.layers.qr_embedding import QREmbedding
from models.layers.quantized_embedding import QuantizedEmbedding
from models.layers.unlimited_vocab_embedding import UnlimitedVocabEmbedding


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_quantized_embedding_by_hand():
    # middle = 1/255·…; codes −128, 0, 127 → exactly middle + code · scale per column
    table = np.array([[-1.0, 0.0, 1.0], [2.0, 4.0, 3.0]], "float32")
    rows = quantize_rows(table)
    layer = QuantizedEmbedding(2, 3, bits=8, signed=True)
    layer.build(None)
    layer.load(pack_codes(rows.codes, 8), rows.offset, rows.scale)
    assert [w.dtype for w in layer.weights] == ["int8", "float16", "float16"]
    assert [w.trainable for w in layer.weights] == [False, False, False]
    np.testing.assert_allclose(_np(layer(np.array([1, 0, 1]))), rows.dequantize()[[1, 0, 1]],
                               atol=1e-6)  # fmt: skip
    assert np.abs(_np(layer(np.array([0]))) - table[0]).max() <= rows.scale[0] / 2 + 1e-7


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_the_graph_dequantizes_as_numpy_does(scheme):
    table = np.random.default_rng(0).normal(scale=0.1, size=(40, 7)).astype("float32")
    layer = keras.layers.Embedding(40, 7)
    layer.build((None,))
    layer.embeddings.assign(table)
    twin = quantized_twin(layer, SCHEMES[scheme])
    rows = quantize_tables(embedding_tables_of(layer, layer.name), SCHEMES[scheme])[layer.name]
    ids = np.array([[3, 39], [0, 17]])
    out = _np(twin(ids))
    assert out.shape == (2, 2, 7)
    np.testing.assert_allclose(out, rows.dequantize()[ids], atol=1e-6)
    assert (np.abs(out - table[ids]) <= error_bound(rows, table)[ids][..., None] + 1e-6).all()


def _bound_of(layer, scheme):
    """Per table path: the largest dequantization error bound of any row."""
    tables = embedding_tables_of(layer, layer.name)
    quantized = quantize_tables(tables, scheme)
    return {path: error_bound(quantized[path], tables[path]).max() for path in tables}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_qr_tables_quantize_each_table_and_sum_within_both_bounds(scheme):
    layer = QREmbedding(1000, 30, 8, embeddings_initializer="random_normal", name="qr")
    layer.build((None,))
    tables = embedding_tables_of(layer, "qr")
    assert {p: t.shape for p, t in tables.items()} == {"qr/quotient": (34, 8),
                                                        "qr/remainder": (30, 8)}  # fmt: skip
    twin = quantized_twin(layer, SCHEMES[scheme])
    ids = np.arange(0, 1000, 7)
    bounds = _bound_of(layer, SCHEMES[scheme])
    error = np.abs(_np(twin(ids)) - _np(layer(ids)))
    assert error.max() <= bounds["qr/quotient"] + bounds["qr/remainder"] + 1e-6
    assert error.max() > 0  # really served from the codes


def test_unlimited_vocab_tables_quantize_all_four_tables():
    # m = 2^16: both the quotient (2^32 / m) and the remainder tables have 65,536 rows
    layer = UnlimitedVocabEmbedding(4, num_collisions=2**16, embeddings_initializer="random_normal",
                                    name="uv")  # fmt: skip
    layer.build((None, 2))
    scheme = SCHEMES["middle_max_8bit"]
    bounds = _bound_of(layer, scheme)
    assert sorted(bounds) == [f"uv/{h}_half/{t}" for h in ("high", "low")
                              for t in ("quotient", "remainder")]  # fmt: skip
    twin = quantized_twin(layer, scheme)
    halves = np.array([[0, 5], [2**32 - 1, 123456], [77, 2**31]], dtype="int64")
    error = np.abs(_np(twin(halves)) - _np(layer(halves)))
    assert 0 < error.max() <= sum(bounds.values()) + 1e-6


def test_quantized_layers_save_and_load(tmp_path):
    layer = QREmbedding(100, 10, 4, embeddings_initializer="random_normal", name="qr")
    layer.build((None,))
    ids = keras.Input((), dtype="int32")
    model = keras.Model(ids, quantized_twin(layer, SCHEMES["4bit"])(ids))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.arange(100)
    np.testing.assert_array_equal(_np(loaded(x)), _np(model(x)))


def _built_twin():
    layer = keras.layers.Embedding(3, 2)
    layer.build((None,))
    return quantized_twin(layer, SCHEMES["4bit"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: QuantizedEmbedding(0, 3), "Received: input_dim=0"),
        (lambda: QuantizedEmbedding(3, 3, bits=6), "Received: bits=6"),
        (lambda: QuantizedEmbedding(3, 3, signed=1), "Received: signed=1"),
        (lambda: embedding_tables_of(keras.layers.Dense(2), "d"), "not an embedding layer"),
        (lambda: quantized_twin(_built_twin(), SCHEMES["4bit"]), "already quantized"),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
