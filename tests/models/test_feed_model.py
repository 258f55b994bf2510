"""Tests for models.feed_model: outputs, config validation, serialization, masking, scoring."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.inputs.spec import dense_moments, examples_to_inputs, labels_from
from models.feed_model import (
    AFFINITY_ARCHS,
    DenseArch,
    DotInteraction,
    FeedModel,
    FeedModelConfig,
    FeedScore,
    _masked_softmax_pool,
    feed_inputs,
    predict_probabilities,
)
from models.training.loop import TrainingConfig, multitask_loss, train_feed_model
from spark.schemas import LABELS

TINY = {"embedding_dim": 8, "tower_units": (16, 16), "member_buckets": 500, "actor_buckets": 100}
# FeedModel(FeedModelConfig(**TINY)) with fixed_weights(seed=0), on make_examples(4, seed=0)
GOLDEN = {
    "click": [-0.33435225, -0.37464479, -0.16836384, -0.33832455],
    "like": [0.27602047, 0.0844668, -0.18142393, -0.0495314],
    "comment": [0.95304304, 0.94245011, 0.49985743, 1.00864041],
    "share": [-1.08592784, -1.86594272, -1.31927109, -1.75501537],
    "vote": [-0.87909722, -1.11627316, -0.96679842, -1.15201318],
    "long_dwell": [-0.46950567, -0.7921986, -0.46712381, -0.81502181],
}


@pytest.fixture
def inputs(make_examples):
    return examples_to_inputs(make_examples(32, seed=3))


@pytest.fixture
def model(inputs):
    keras.utils.set_random_seed(1)
    mean, variance = dense_moments(inputs)
    return FeedModel(FeedModelConfig(**TINY, dense_mean=mean, dense_variance=variance))


def _numpy(outputs):
    return {head: ops.convert_to_numpy(value) for head, value in outputs.items()}


def test_outputs_one_logit_per_head(model, inputs):
    outputs = _numpy(model(inputs))
    assert set(outputs) == set(LABELS)
    for head in LABELS:
        assert outputs[head].shape == (32,)
        assert np.all(np.isfinite(outputs[head]))


def test_weights_exist_at_construction_with_expected_shapes(model):
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}
    assert shapes["sparse_arch/actor_embedding/embeddings"] == (100, 8)
    assert shapes["sparse_arch/member_id_embedding/embeddings"] == (500, 8)
    # defaults: 12 embedded features + 1 target-attention history vector (13 × 8), 4 dense and
    # 4 affinity features, and 13·12/2 = 78 pairwise dot products feed each tower
    assert shapes["click_tower/hidden_0/kernel"] == (13 * 8 + 4 + 4 + 78, 16)
    assert shapes["click_tower/logits/kernel"] == (16, 2)
    assert shapes["contribution_tower/logits/kernel"] == (16, 4)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"member_buckets": -3}, "member_buckets"),
        ({"tower_units": ()}, "tower_units"),
        ({"tower_units": (16, 0)}, "tower_units"),
        ({"dense_mean": (0.0, 1.0)}, "dense_mean"),
        ({"dense_variance": (1.0, 1.0, -1.0, 1.0)}, "dense_variance"),
        ({"dense_mean": (0.0, float("nan"), 0.0, 0.0)}, "dense_mean"),
        ({"interaction": "attention"}, "interaction"),
        ({"history_pooling": "max"}, "history_pooling"),
        ({"affinity": "raw"}, "affinity"),
        ({"cross_layers": 0}, "cross_layers"),
    ],
)
def test_config_validation_names_the_bad_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        FeedModelConfig(**{**TINY, **overrides})


def test_config_dict_round_trip_and_unknown_keys():
    config = FeedModelConfig(**TINY, dense_mean=(1.0, 2.0, 3.0, 4.0))
    assert FeedModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="embedding_size"):
        FeedModelConfig.from_dict({**config.to_dict(), "embedding_size": 3})


def test_config_without_block_fields_is_the_original_architecture():
    legacy = {k: v for k, v in FeedModelConfig(**TINY).to_dict().items()}
    for field in ("history_pooling", "affinity", "interaction"):
        legacy.pop(field)
    config = FeedModelConfig.from_dict(legacy)
    assert (config.history_pooling, config.affinity, config.interaction) == ("mean", "none", "none")
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in FeedModel(config).weights}
    assert shapes["click_tower/hidden_0/kernel"] == (12 * 8 + 4, 16)


# the original blocks in every combination; the later options are in test_feed_model_options.py
BLOCK_VARIANTS = [
    {"history_pooling": h, "affinity": a, "interaction": i}
    for h in ("mean", "target_attention")
    for a in AFFINITY_ARCHS
    for i in ("none", "dot", "cross")
]


@pytest.mark.parametrize("blocks", BLOCK_VARIANTS, ids=lambda b: "-".join(b.values()))
def test_every_block_variant_runs_and_round_trips(blocks, inputs, tmp_path):
    if blocks["interaction"] == "cross":
        try:
            import models.layers.cross  # noqa: F401
        except ImportError as error:
            pytest.skip(f"the cross interaction needs models.layers.cross: {error}")
    keras.utils.set_random_seed(2)
    model = FeedModel(FeedModelConfig(**TINY, **blocks, cross_projection_dim=4))
    path = tmp_path / "feed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.config == model.config
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    for head in LABELS:
        assert expected[head].shape == (32,)
        np.testing.assert_array_equal(actual[head], expected[head])


def test_dot_interaction_appends_the_upper_triangle_of_dot_products():
    layer = DotInteraction()
    layer.build(3, 2)
    vectors = [np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), np.array([[0.5, 0.5]])]
    flat = np.array([[7.0, 8.0]], np.float32)
    out = ops.convert_to_numpy(layer([v.astype("float32") for v in vectors], flat))
    # ⟨e0,e1⟩ = 1, ⟨e0,e2⟩ = 1.5, ⟨e1,e2⟩ = 1
    np.testing.assert_allclose(out, [[7.0, 8.0, 1.0, 1.5, 1.0]])
    assert layer.output_dim(3, 2) == 5


def test_target_attention_pools_by_softmax_of_scaled_dot_products():
    query = np.array([[2.0, 0.0], [1.0, 1.0]], np.float32)
    keys = np.array([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]], [[4.0, 4.0]] * 3], np.float32)
    mask = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    out = ops.convert_to_numpy(_masked_softmax_pool(query, keys, mask))
    # row 0: scores 2/√2 and 0 over the two unmasked keys; row 1: all padding -> zeros
    w = np.exp(np.sqrt(2.0)) / (np.exp(np.sqrt(2.0)) + 1.0)
    np.testing.assert_allclose(out, [[w, 1.0 - w], [0.0, 0.0]], rtol=1e-5)


def test_candidate_in_history_changes_outputs_through_affinity(model, inputs):
    changed = dict(inputs)
    changed["affinity"] = inputs["affinity"] + np.float32(1.0)
    before, after = _numpy(model(inputs))["click"], _numpy(model(changed))["click"]
    assert np.all(before != after)


def test_get_config_from_config_gives_identical_outputs(model, inputs):
    clone = FeedModel.from_config(model.get_config())
    assert clone.config == model.config
    clone.set_weights(model.get_weights())
    expected, actual = _numpy(model(inputs)), _numpy(clone(inputs))
    for head in LABELS:
        np.testing.assert_array_equal(actual[head], expected[head])


def test_keras_file_round_trip_gives_identical_outputs(model, inputs, tmp_path):
    path = tmp_path / "feed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, FeedModel)
    assert loaded.config == model.config
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    for head in LABELS:
        np.testing.assert_array_equal(actual[head], expected[head])


def test_more_padding_does_not_change_outputs(model, inputs):
    padded = dict(inputs)
    n = len(inputs["dense"])
    padded["hist_author_ids"] = np.concatenate(
        [np.full((n, 7), -1, np.int64), inputs["hist_author_ids"]], axis=1
    )
    padded["hist_actions"] = np.concatenate(
        [np.full((n, 7), -1, np.int32), inputs["hist_actions"]], axis=1
    )
    padded["hashtag_ids"] = np.concatenate(
        [inputs["hashtag_ids"], np.full((n, 4), -1, np.int64)], axis=1
    )
    expected, actual = _numpy(model(inputs)), _numpy(model(padded))
    for head in LABELS:
        np.testing.assert_allclose(actual[head], expected[head], atol=1e-6)


def test_history_content_changes_outputs(model, inputs):
    changed = dict(inputs)
    changed["hist_author_ids"] = np.where(
        inputs["hist_author_ids"] >= 0, (inputs["hist_author_ids"] + 1) % 100, -1
    )
    has_history = (inputs["hist_author_ids"] >= 0).any(axis=1)
    before, after = _numpy(model(inputs))["click"], _numpy(model(changed))["click"]
    assert np.all(np.abs(before - after)[has_history] > 0)
    np.testing.assert_array_equal(before[~has_history], after[~has_history])


def test_dense_arch_normalizes_with_the_config_constants():
    layer = DenseArch(mean=(1.0, 0.0), variance=(4.0, 0.25), epsilon=0.0)
    out = ops.convert_to_numpy(layer(np.array([[3.0, 1.0], [1.0, -0.5]], np.float32)))
    np.testing.assert_allclose(out, [[1.0, 2.0], [0.0, -1.0]], rtol=1e-6)


def test_predict_probabilities_is_sigmoid_of_logits_and_batch_invariant(model, inputs):
    logits = _numpy(model(inputs))
    small = predict_probabilities(model, inputs, batch_size=5)
    large = predict_probabilities(model, inputs)
    for head in LABELS:
        np.testing.assert_allclose(small[head], 1.0 / (1.0 + np.exp(-logits[head])), atol=1e-6)
        np.testing.assert_allclose(small[head], large[head], atol=1e-6)
        assert small[head].dtype == np.float32


def test_feed_score_is_the_weighted_sum():
    score = FeedScore(weights=(("click", 1.0), ("share", 2.0)))
    probabilities = {"click": np.array([0.5, 0.1]), "share": np.array([0.25, 0.0])}
    np.testing.assert_allclose(score.score(probabilities), [1.0, 0.1])
    with pytest.raises(ValueError, match="repost"):
        FeedScore(weights=(("repost", 1.0),))


def test_golden_forward_pass(make_examples, fixed_weights):
    config = FeedModelConfig(**TINY)
    model = FeedModel(config)
    fixed_weights(model, seed=0)
    outputs = _numpy(model(feed_inputs(make_examples(4, seed=0), config)))
    for head, expected in GOLDEN.items():
        np.testing.assert_allclose(outputs[head], expected, atol=1e-5)


def test_overfits_a_small_batch(make_examples):
    df = make_examples(64, seed=4)
    rng = np.random.default_rng(4)
    df["member_id"] = np.arange(64)  # one member embedding per row: capacity to memorize
    for head in LABELS:
        df[head] = rng.integers(0, 2, 64)
    inputs, labels = examples_to_inputs(df), labels_from(df)
    keras.utils.set_random_seed(0)
    mean, variance = dense_moments(inputs)
    model = FeedModel(FeedModelConfig(**TINY, dense_mean=mean, dense_variance=variance))
    before = float(ops.convert_to_numpy(multitask_loss(model(inputs), labels)))
    config = TrainingConfig(epochs=200, batch_size=64, learning_rate=0.01, warmup_fraction=0.05)
    train_feed_model(model, inputs, labels, config)
    logits = _numpy(model(inputs))
    after = float(ops.convert_to_numpy(multitask_loss(logits, labels)))
    assert after < 0.1 * before, (before, after)
    for head in LABELS:
        assert roc_auc_score(labels[head], logits[head]) > 0.99, head
