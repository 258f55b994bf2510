"""A trained feed model's quantized copy: every table, same inputs, same served signature."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.compression.feed import compress_feed_model, write_compressed_model
from models.compression.rowwise import error_bound, quantize_rows
from models.compression.schemes import SCHEMES, QuantizationScheme
from models.compression.tables import embedding_tables_of
from models.feed import EVERY_BLOCK, TINY_FEED_MODEL, FeedModel, feed_inputs, predict_probabilities
from models.registry import load_model, save_model
from models.serving.saved_model import SCORE_OUTPUT, export_saved_model, raw_features, score_raw
from spark.schemas import LABELS
from spark.world.config import CONTENT_TYPES, PLATFORMS

# every block on (QR member and actor tables, Transformer history, murmur string IDs) at the
# feed model's embedding width of 30 (paper §1)
CONFIG = dataclasses.replace(
    TINY_FEED_MODEL, content_types=CONTENT_TYPES, platforms=PLATFORMS, embedding_dim=30,
    **EVERY_BLOCK,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(fixed_weights):
    keras.utils.set_random_seed(3)
    model = FeedModel(CONFIG)
    fixed_weights(model, seed=3, scale=0.1)
    return model


@pytest.fixture(scope="module")
def examples(make_examples):
    return make_examples(60, seed=5)


def _embedding_bytes(model) -> int:
    return sum(keras.ops.convert_to_numpy(w).nbytes for w in model.sparse_arch.weights)


def test_every_table_is_quantized_qr_tables_as_quotient_and_remainder(trained):
    compressed = compress_feed_model(trained, SCHEMES["middle_max_8bit"])
    tables = compressed.tables.set_index("table")
    assert {"member_id/quotient", "member_id/remainder", "actor/quotient", "actor/remainder",
            "content_type", "hashtag"} <= set(tables.index)  # fmt: skip
    assert len(tables) == 13 and (tables["dim"] == 30).all()
    # the served variables are the int8 codes and float16 offsets and scales, nothing in fp32
    dtypes = {w.dtype for w in compressed.model.sparse_arch.weights}
    assert dtypes == {"int8", "float16"}
    assert compressed.bytes == _embedding_bytes(compressed.model)
    assert compressed.fp32_bytes == _embedding_bytes(trained)


@pytest.mark.parametrize(("scheme", "ratio"), [
    ("middle_max_8bit", 34 / 120), ("min_max_8bit", 34 / 120), ("4bit", 19 / 120),
])  # fmt: skip
def test_embedding_bytes_shrink(trained, scheme, ratio):
    compressed = compress_feed_model(trained, SCHEMES[scheme])
    assert compressed.ratio == pytest.approx(ratio)
    assert _embedding_bytes(compressed.model) / _embedding_bytes(trained) == pytest.approx(ratio)
    if scheme.endswith("8bit"):
        assert compressed.ratio <= 0.30


def test_the_sparse_arch_returns_the_tables_vectors_within_the_bound(trained, examples):
    compressed = compress_feed_model(trained, SCHEMES["middle_max_8bit"])
    inputs = feed_inputs(examples, CONFIG)
    pooled, _ = trained.sparse_arch(inputs)
    quantized, _ = compressed.model.sparse_arch(inputs)
    bound = 0.0
    for name, layer in trained.sparse_arch.tables.items():
        for table in embedding_tables_of(layer, name).values():
            bound = max(bound, error_bound(quantize_rows(table), table).max())
    for feature, vector in pooled.items():
        error = np.abs(keras.ops.convert_to_numpy(quantized[feature] - vector))
        # a QR vector sums two rows: at most twice one row's bound; a mean of rows: at most one
        assert error.max() <= 2 * bound + 1e-6, feature
    assert compressed.tables["max_abs_error"].max() <= bound + 1e-7


def test_the_quantized_saved_model_serves_raw_rows_like_the_fp32_one(trained, examples, tmp_path):
    """Same `serving_default` signature; probabilities within 1e-3 of fp32's. Each embedding value
    moves by at most half a step (≈ 1/510 of its row's range: here at most 1.3e-3, mean 4e-4)
    and a probability moves by at most ¼ of its logit's change, which a first-order expansion
    through the towers keeps far below 1e-3 (measured: 9e-7); the SavedModel must also match the
    quantized Keras model to 1e-6, so the graph dequantizes exactly as the layer does."""
    compressed = compress_feed_model(trained, SCHEMES["middle_max_8bit"])
    fp32 = tf.saved_model.load(str(export_saved_model(trained, tmp_path / "fp32")))
    int8 = tf.saved_model.load(str(export_saved_model(compressed.model, tmp_path / "int8")))
    specs = {s.structured_input_signature[1].__repr__() for s in
             (fp32.signatures["serving_default"], int8.signatures["serving_default"])}  # fmt: skip
    assert len(specs) == 1
    raw = raw_features(examples, CONFIG)
    assert raw["member_id"][0].startswith(b"member:")
    served, reference = score_raw(int8, raw), score_raw(fp32, raw)
    keras_outputs = predict_probabilities(compressed.model, feed_inputs(examples, CONFIG))
    for head in LABELS:
        np.testing.assert_allclose(served[head], reference[head], atol=1e-3, err_msg=head)
        np.testing.assert_allclose(served[head], keras_outputs[head], atol=1e-6, err_msg=head)
    np.testing.assert_allclose(served[SCORE_OUTPUT], reference[SCORE_OUTPUT], atol=1e-3)
    assert not np.array_equal(served["click"], reference["click"])  # served from the codes


def test_the_compressed_model_round_trips_through_the_registry(trained, examples, tmp_path):
    save_model(trained, tmp_path / "trained", {"source": "test"})
    compressed = write_compressed_model(tmp_path / "trained", tmp_path / "compressed", "4bit")
    loaded, metadata = load_model(tmp_path / "compressed")
    assert metadata["scheme_name"] == "4bit" and metadata["compression"]["ratio"] < 0.2
    assert json.loads(json.dumps(metadata)) == metadata
    assert loaded.sparse_arch.quantization == QuantizationScheme("middle_max", 4)
    inputs = feed_inputs(examples, CONFIG)
    expected = predict_probabilities(compressed.model, inputs)
    for head, values in predict_probabilities(loaded, inputs).items():
        np.testing.assert_array_equal(values, expected[head])
    assert (tmp_path / "compressed" / "saved_model" / "saved_model.pb").is_file()


def test_a_quantized_model_is_not_quantized_again(trained):
    compressed = compress_feed_model(trained, SCHEMES["4bit"])
    with pytest.raises(ValueError, match="already quantized"):
        compress_feed_model(compressed.model, SCHEMES["4bit"])


def test_an_unlimited_vocabulary_model_compresses_and_serves(examples, tmp_path, fixed_weights):
    """id_embedding="unlimited": each ID table is four QR tables (two per hash half), each
    quantized on its own; the copy serves the same raw signature, close to fp32."""
    config = dataclasses.replace(CONFIG, id_embedding="unlimited")
    keras.utils.set_random_seed(5)
    model = FeedModel(config)
    fixed_weights(model, seed=5, scale=0.1)
    compressed = compress_feed_model(model, SCHEMES["middle_max_8bit"])
    tables = set(compressed.tables["table"])
    assert {
        f"{name}/{half}/{part}"
        for name in ("member_id", "actor")
        for half in ("high_half", "low_half")
        for part in ("quotient", "remainder")
    } <= tables
    assert len(tables) == 4 + 4 + 9 and compressed.ratio == pytest.approx(34 / 120)
    int8 = tf.saved_model.load(str(export_saved_model(compressed.model, tmp_path / "int8")))
    served = score_raw(int8, raw_features(examples, config))
    expected = predict_probabilities(model, feed_inputs(examples, config))
    keras_outputs = predict_probabilities(compressed.model, feed_inputs(examples, config))
    for head in LABELS:
        np.testing.assert_allclose(served[head], expected[head], atol=1e-3, err_msg=head)
        np.testing.assert_allclose(served[head], keras_outputs[head], atol=1e-6, err_msg=head)
    save_model(model, tmp_path / "trained", {"source": "test"})
    write_compressed_model(tmp_path / "trained", tmp_path / "compressed", "4bit", export=False)
    loaded, _ = load_model(tmp_path / "compressed")
    assert loaded.config.id_embedding == "unlimited"
    assert loaded.sparse_arch.quantization == QuantizationScheme("middle_max", 4)
