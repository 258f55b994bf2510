"""Tests for models.serving.saved_model: the raw-feature preprocessing and the SavedModel export
(loaded back with tf.saved_model.load and compared with the Keras model)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.feed import (
    EVERY_BLOCK,
    TINY_FEED_MODEL,
    FeedModel,
    feed_inputs,
    predict_probabilities,
)
from models.inputs.tf_transform import raw_to_inputs
from models.serving.saved_model import (
    IMPUTED_OUTPUT,
    SCORE_OUTPUT,
    STATUS_OUTPUT,
    export_saved_model,
    raw_features,
    raw_signature,
    serving_outputs,
)
from spark.schemas import LABELS
from spark.world.config import CONTENT_TYPES, PLATFORMS

# the tiny test model with the simulator's vocabularies, and every block switched on
TINY = dataclasses.replace(TINY_FEED_MODEL, content_types=CONTENT_TYPES, platforms=PLATFORMS)
ALL_ON = {**EVERY_BLOCK, "score_weights": (("click", 0.5), ("like", 1.0), ("comment", 2.0))}


@pytest.fixture(scope="module")
def examples(make_examples):
    df = make_examples(40, seed=5)
    df.at[0, "hashtag_ids"] = np.array([5, 6, 7, 8, 9])  # more than MAX_HASHTAGS
    df.at[1, "hist_author_ids"] = np.arange(30)  # longer than HISTORY_LENGTH
    df.at[1, "hist_post_ids"] = np.arange(30) + 100
    df.at[1, "hist_actions"] = np.arange(30) % 5
    return df


@pytest.mark.parametrize("id_hash", ["none", "murmur", "murmur+unlimited"])
def test_raw_preprocessing_matches_the_training_inputs(examples, id_hash):
    unlimited = {"id_embedding": "unlimited"} if id_hash.endswith("+unlimited") else {}
    config = dataclasses.replace(TINY, id_hash=id_hash.split("+")[0], **unlimited)
    raw = raw_features(examples, config)
    assert raw["member_id"].dtype.kind == ("S" if config.id_hash == "murmur" else "i")
    assert raw["hist_author_ids"].shape[1] == 30 and raw["hashtag_ids"].shape[1] == 5
    served = raw_to_inputs(
        {key: tf.constant(value) for key, value in raw.items()}, config.input_spec()
    )
    expected = feed_inputs(examples, config)
    assert set(served) == set(expected)
    for key, value in expected.items():
        assert served[key].dtype.as_numpy_dtype == value.dtype, key
        np.testing.assert_allclose(served[key].numpy(), value, rtol=1e-6, err_msg=key)


def test_unknown_categories_are_served_from_the_oov_bucket(examples):
    """A request with a content type and a platform the model never saw is scored (one
    unknown value does not fail the batch), like the OOV index through the Keras model."""
    keras.utils.set_random_seed(0)
    model = FeedModel(TINY)
    raw = {key: tf.constant(value) for key, value in raw_features(examples, model.config).items()}
    unknown = ["hologram"] + [c.decode() for c in raw["content_type"].numpy()[1:]]
    raw["content_type"] = tf.constant(unknown)
    raw["platform"] = tf.constant(["fax"] * len(examples))
    inputs = raw_to_inputs(raw, model.config.input_spec())
    assert inputs["content_type"].numpy()[0] == 0 and (inputs["platform"].numpy() == 0).all()
    outputs = serving_outputs(model, raw)
    assert np.isfinite(outputs[SCORE_OUTPUT].numpy()).all()
    assert (outputs[STATUS_OUTPUT].numpy() == 0).all()  # scored, not rejected
    imputed = outputs[IMPUTED_OUTPUT].numpy()
    assert imputed[0] == 3 and (imputed[1:] == 2).all()  # content_type bit 1, platform bit 2


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixed_weights):
    keras.utils.set_random_seed(3)
    model = FeedModel(dataclasses.replace(TINY, **ALL_ON))
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
    assert set(outputs) == {*LABELS, SCORE_OUTPUT, STATUS_OUTPUT, IMPUTED_OUTPUT}
    assert (outputs[STATUS_OUTPUT] == 0).all() and (outputs[IMPUTED_OUTPUT] == 0).all()
    expected = predict_probabilities(model, feed_inputs(examples, model.config))
    for head in LABELS:
        np.testing.assert_allclose(outputs[head], expected[head], atol=1e-6, err_msg=head)
    assert np.std(outputs["like"]) > 0  # the rows are told apart
    score = model.config.final_score.score(expected)
    np.testing.assert_allclose(outputs[SCORE_OUTPUT], score, atol=1e-5)


@pytest.mark.parametrize(
    "blocks",
    [
        {"multitask": "mmoe", "experts": 3},
        {
            "multitask": "ple",
            "history_pooling": "transformer",
            "history_items": "posts_and_authors",
            "post_buckets": 300,
            "id_hash": "murmur",
        },
        {
            "id_embedding": "unlimited",
            "id_hash": "murmur",
            "history_pooling": "transformer",
            "history_items": "posts_and_authors",
        },
    ],
    ids=["mmoe", "ple+post_history", "unlimited+post_history"],
)
def test_expert_and_post_history_models_serve_like_the_keras_model(
    blocks, examples, tmp_path, fixed_weights
):
    keras.utils.set_random_seed(4)
    model = FeedModel(dataclasses.replace(TINY, **blocks))
    fixed_weights(model, seed=4, scale=0.1)
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "saved_model")))
    signature = served.signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert specs["hist_post_ids"].shape.rank == 2 and specs["post_id"].shape.rank == 1
    raw = raw_features(examples, model.config)
    if model.config.id_hash == "murmur":
        assert raw["hist_post_ids"][1, -1] == b"post:129" and raw["post_id"][0].startswith(b"post:")
    outputs = signature(**{k: tf.constant(v) for k, v in raw.items()})
    assert (outputs[STATUS_OUTPUT].numpy() == 0).all()
    expected = predict_probabilities(model, feed_inputs(examples, model.config))
    for head in LABELS:
        np.testing.assert_allclose(outputs[head].numpy(), expected[head], atol=1e-6, err_msg=head)
    assert np.std(outputs["click"].numpy()) > 0


def test_saved_model_export_replaces_the_directory_atomically(exported, tmp_path):
    model, _ = exported
    target = tmp_path / "served"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    export_saved_model(model, target)
    assert not (target / "stale.txt").exists()
    assert (target / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["served"]
