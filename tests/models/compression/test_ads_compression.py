"""Tests for models.compression.ads: the 8-bit Ads model's bytes, its scores and its artifact."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import ops

from models.ads import ADS_ID_FEATURES, AdsModel, AdsModelConfig
from models.compression.ads import (
    ADS_SCHEME,
    id_table_bytes,
    quantization_tables,
    quantize_ads_model,
    write_quantized_ads_model,
)
from models.compression.rowwise import error_bound, quantize_rows
from models.evaluation.metrics import auc
from models.layers.quantized_embedding import QuantizedEmbedding
from models.registry import load_model, save_model

BUCKETS = (300, 40, 60, 200)


def _model(embedding_dim: int = 16, **overrides) -> AdsModel:
    """A model with spread-out tables and trained-looking isotonic slopes."""
    keras.utils.set_random_seed(11)
    config = AdsModelConfig(
        num_dense=6, embedding_dim=embedding_dim, id_buckets=BUCKETS, head_units=(8,),
        projection_dim=4, **overrides,
    )  # fmt: skip
    model = AdsModel(config)
    rng = np.random.default_rng(11)
    if model.sparse_arch is not None:
        for table in model.sparse_arch.tables.values():
            table.embeddings.assign(rng.normal(0, 0.3, table.embeddings.shape).astype("float32"))
    for layer in model.calibration_archs.values():
        layer.bucket_weights.assign(rng.uniform(0.5, 1.5, layer.num_buckets).astype("float32"))
    return model


def _inputs(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {
        name: rng.integers(0, 10 * b, n).astype(np.int64)
        for name, b in zip(ADS_ID_FEATURES, BUCKETS, strict=True)
    }
    inputs["dense"] = rng.normal(size=(n, 6)).astype(np.float32)
    return inputs


def _logits(model, inputs) -> dict[str, np.ndarray]:
    return {h: ops.convert_to_numpy(v) for h, v in model(inputs).items()}


@pytest.fixture(scope="module")
def float_and_quantized():
    model = _model()
    quantized, report = quantize_ads_model(model)
    return model, quantized, report


def test_bytes_of_16_and_32_wide_tables(float_and_quantized):
    model, quantized, report = float_and_quantized
    rows = sum(BUCKETS)
    # d int8 codes + float16 offset and scale a row, against 4d float bytes
    assert report["table_bytes_float"] == rows * 16 * 4 == id_table_bytes(model)
    assert report["table_bytes_8bit"] == rows * (16 + 4) == id_table_bytes(quantized)
    assert report["bytes_ratio"] == pytest.approx(20 / 64)
    wide = quantize_ads_model(_model(embedding_dim=32))[1]
    assert wide["bytes_ratio"] == pytest.approx(36 / 128) and wide["bytes_ratio"] < 0.3
    tables = quantization_tables(model)
    assert tables["table"].tolist() == list(ADS_ID_FEATURES)
    assert tables["bytes"].sum() == report["table_bytes_8bit"]
    assert set(report) == {
        "table_bytes_float", "table_bytes_8bit", "bytes_ratio", "mean_abs_error", "max_abs_error",
    }  # fmt: skip
    assert id_table_bytes(_model(use_ids=False)) == 0


def test_the_copy_serves_int8_tables_and_the_same_dense_weights(float_and_quantized):
    model, quantized, _ = float_and_quantized
    assert quantized.quantization == ADS_SCHEME and model.quantization is None
    for name, layer in quantized.sparse_arch.tables.items():
        assert isinstance(layer, QuantizedEmbedding) and not layer.trainable_weights
        table = ops.convert_to_numpy(model.sparse_arch.tables[name].embeddings)
        looked_up = ops.convert_to_numpy(layer(np.arange(table.shape[0])))
        bound = error_bound(quantize_rows(table, "middle_max", 8), table)
        assert np.all(np.abs(looked_up - table) <= bound[:, None] + 1e-6)
    dense = [w for w in model.weights if "sparse_arch" not in w.path]
    copied = [w for w in quantized.weights if "sparse_arch" not in w.path]
    assert [w.path for w in dense] == [w.path for w in copied]
    for a, b in zip(dense, copied, strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


def test_scores_stay_within_a_small_tolerance(float_and_quantized):
    model, quantized, report = float_and_quantized
    inputs = _inputs(2000)
    before, after = _logits(model, inputs), _logits(quantized, inputs)
    labels = np.random.default_rng(1).random(2000) < 1 / (1 + np.exp(-before["website_visit"]))
    for head, logit in before.items():
        p, q = 1 / (1 + np.exp(-logit)), 1 / (1 + np.exp(-after[head]))
        assert np.max(np.abs(p - q)) < 5e-3, head
        assert not np.array_equal(logit, after[head])  # it did quantize
    delta = auc(labels, after["website_visit"]) - auc(labels, before["website_visit"])
    assert abs(delta) < 1e-3
    assert 0 < report["mean_abs_error"] <= report["max_abs_error"] < 0.01


def test_refuses_models_without_float_tables(float_and_quantized):
    _, quantized, _ = float_and_quantized
    with pytest.raises(ValueError, match="already quantized"):
        quantize_ads_model(quantized)
    with pytest.raises(ValueError, match="use_ids=False"):
        quantize_ads_model(_model(use_ids=False))


def test_written_copy_loads_through_the_registry(float_and_quantized, tmp_path):
    model, quantized, _ = float_and_quantized
    report = write_quantized_ads_model(model, tmp_path / "ads-8bit", {"model_id": "ads-x-8bit"})
    loaded, metadata = load_model(tmp_path / "ads-8bit")
    assert isinstance(loaded, AdsModel) and loaded.quantization == ADS_SCHEME
    assert metadata["model_id"] == "ads-x-8bit"
    assert metadata["compression"]["bytes_ratio"] == report["bytes_ratio"]
    manifest = json.loads((tmp_path / "ads-8bit" / "manifest.json").read_text())
    assert manifest["metadata"]["scheme_name"] == "middle_max_8bit"
    inputs = _inputs(64, seed=3)
    expected, actual = _logits(quantized, inputs), _logits(loaded, inputs)
    for head in model.config.heads:
        np.testing.assert_array_equal(actual[head], expected[head])


def test_a_saved_model_directory_is_quantized_with_its_metadata(float_and_quantized, tmp_path):
    model, quantized, report = float_and_quantized
    source_metadata = {"product": "ads", "training_result": {"model_id": "ads-2026-01-03"}}
    save_model(model, tmp_path / "ads", source_metadata)
    written = write_quantized_ads_model(tmp_path / "ads", tmp_path / "ads-8bit")
    assert written == report
    loaded, metadata = load_model(tmp_path / "ads-8bit")
    assert metadata["quantized_from"] == "ads-2026-01-03"
    assert metadata["product"] == "ads"
    assert len(metadata["compression_tables"]) == len(ADS_ID_FEATURES)
    inputs = _inputs(32, seed=4)
    expected, actual = _logits(quantized, inputs), _logits(loaded, inputs)
    for head in model.config.heads:
        np.testing.assert_array_equal(actual[head], expected[head])
