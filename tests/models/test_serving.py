"""Tests for models.serving.saved_model: Murmur in TensorFlow, the raw-feature preprocessing, and the SavedModel
export (loaded back with tf.saved_model.load and compared with the Keras model)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.inputs.spec import hash_string_ids as numpy_hash_string_ids
from models.feed_model import FeedModel, FeedModelConfig, feed_inputs, predict_probabilities
from models.inputs.murmur import murmur_int64
from models.serving.saved_model import (
    SCORE_OUTPUT,
    export_saved_model,
    hash_string_ids,
    murmur64,
    raw_features,
    raw_signature,
    raw_to_inputs,
)
from spark.schemas import LABELS

TINY = {
    "embedding_dim": 8,
    "tower_units": (16, 16),
    "member_buckets": 500,
    "actor_buckets": 100,
    "hashtag_buckets": 50,
    "cross_projection_dim": 4,
    "qr_collisions": 16,
    "calibration_buckets": 40,
    "calibration_step": 0.4,
}
ALL_ON = {
    "history_pooling": "transformer",
    "interaction": "residual_dcn",
    "calibration": "isotonic",
    "tower": "gated",
    "id_embedding": "qr",
    "task_grouping": "by_rate",
    "id_hash": "murmur",
    "score_weights": (("click", 0.5), ("like", 1.0), ("comment", 2.0)),
}


def _strings() -> list[str]:
    """Every length 0..40 (full blocks, tails of each size), unicode, and id-like strings."""
    rng = np.random.default_rng(0)
    alphabet = list("abcxyz0189:#-_ é€𝄞")
    out = ["".join(rng.choice(alphabet, size=n)) for n in range(41)]
    return out + ["", "member:1234", "actor:77", "hashtag:#ai", "ünïcødé", "x" * 160]


def test_tf_murmur_is_bit_identical_to_mmh3():
    strings = _strings()
    np.testing.assert_array_equal(murmur64(tf.constant(strings)).numpy(), murmur_int64(strings))
    # inside a graph, on a 2-D batch: same values, same shape
    grid = np.array(strings[:12], dtype=object).reshape(3, 4)
    graph = tf.function(murmur64)(tf.constant(grid.tolist()))
    np.testing.assert_array_equal(graph.numpy(), murmur_int64(grid))
    assert murmur64(tf.constant([], tf.string)).shape == (0,)


def test_tf_and_numpy_string_id_hashes_agree_and_keep_padding():
    strings = np.array([["member:1", ""], ["actor:2", "member:1"]], dtype=object)
    tf_ids = hash_string_ids(tf.constant(strings.astype(bytes))).numpy()
    np.testing.assert_array_equal(tf_ids, numpy_hash_string_ids(strings))
    assert tf_ids[0, 1] == -1 and tf_ids[0, 0] == tf_ids[1, 1]
    assert np.all(tf_ids[strings != ""] >= 0) and np.all(tf_ids < 2**31)


@pytest.fixture(scope="module")
def examples(make_examples):
    df = make_examples(40, seed=5)
    df.at[0, "hashtag_ids"] = np.array([5, 6, 7, 8, 9])  # more than MAX_HASHTAGS
    df.at[1, "hist_author_ids"] = np.arange(30)  # longer than HISTORY_LENGTH
    df.at[1, "hist_actions"] = np.arange(30) % 5
    return df


@pytest.mark.parametrize("id_hash", ["none", "murmur"])
def test_raw_preprocessing_matches_the_training_inputs(examples, id_hash):
    config = FeedModelConfig(**TINY, id_hash=id_hash)
    raw = raw_features(examples, config)
    assert raw["member_id"].dtype.kind == ("S" if id_hash == "murmur" else "i")
    assert raw["hist_author_ids"].shape[1] == 30 and raw["hashtag_ids"].shape[1] == 5
    served = raw_to_inputs({key: tf.constant(value) for key, value in raw.items()}, config)
    expected = feed_inputs(examples, config)
    assert set(served) == set(expected)
    for key, value in expected.items():
        assert served[key].dtype.as_numpy_dtype == value.dtype, key
        np.testing.assert_allclose(served[key].numpy(), value, rtol=1e-6, err_msg=key)


def test_unknown_content_type_fails_naming_the_column(examples):
    config = FeedModelConfig(**TINY)
    raw = {key: tf.constant(value) for key, value in raw_features(examples, config).items()}
    raw["content_type"] = tf.constant(["hologram"] * len(examples))
    with pytest.raises(tf.errors.InvalidArgumentError, match="content_type"):
        raw_to_inputs(raw, config)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixed_weights):
    keras.utils.set_random_seed(3)
    model = FeedModel(FeedModelConfig(**TINY, **ALL_ON))
    fixed_weights(model, seed=3, scale=0.1)
    path = export_saved_model(model, tmp_path_factory.mktemp("served") / "saved_model")
    return model, path


def test_saved_model_serves_raw_rows_like_the_keras_model(exported, examples):
    model, path = exported
    served = tf.saved_model.load(str(path))
    signature = served.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert specs["member_id"].dtype == tf.string and specs["hist_author_ids"].shape.rank == 2
    assert set(specs) == set(raw_signature(model.config))
    raw = raw_features(examples, model.config)
    assert raw["member_id"][0].startswith(b"member:")
    outputs = {
        k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in raw.items()}).items()
    }
    assert set(outputs) == {*LABELS, SCORE_OUTPUT}
    expected = predict_probabilities(model, feed_inputs(examples, model.config))
    for head in LABELS:
        np.testing.assert_allclose(outputs[head], expected[head], atol=1e-6, err_msg=head)
    assert np.std(outputs["like"]) > 0  # the rows are told apart
    score = model.config.final_score.score(expected)
    np.testing.assert_allclose(outputs[SCORE_OUTPUT], score, atol=1e-5)


def test_saved_model_export_replaces_the_directory_atomically(exported, tmp_path):
    model, _ = exported
    target = tmp_path / "served"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    export_saved_model(model, target)
    assert not (target / "stale.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["served"]
