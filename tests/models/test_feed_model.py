"""Tests for models.feed: outputs, config validation and vocabularies, serialization, masking,
the blocks' own arguments, scoring."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.feed import (
    AFFINITY_ARCHS,
    TINY_FEED_MODEL,
    CrossInteraction,
    DenseArch,
    DotInteraction,
    EmbeddingTable,
    FeedModel,
    FeedModelConfig,
    FeedScore,
    IsotonicHeads,
    ResidualDCNInteraction,
    SparseArch,
    Tower,
    TransformerHistory,
    config_for,
    feed_inputs,
    predict_probabilities,
)
from models.inputs.spec import InputSpec, dense_moments, labels_from
from models.training.config import TrainingConfig
from models.training.loop import multitask_loss, train_feed_model
from spark.schemas import LABELS

REPO = Path(__file__).resolve().parents[2]
# FeedModel(config_for(make_examples(4, seed=0), TINY_FEED_MODEL)) with fixed_weights(seed=0)
GOLDEN = {
    "click": [-0.58873606, -0.80465758, -0.78108269, -0.9016127],
    "like": [0.70927477, 0.89553213, 0.4508383, 0.88144529],
    "comment": [-0.68606043, -0.88248104, -0.47172093, -0.90434784],
    "share": [0.34445983, 0.29143995, 0.06382313, 0.24876374],
    "vote": [-0.80628788, -0.90738451, -0.71646297, -0.98512506],
    "long_dwell": [1.13059652, 1.12596452, 1.00189757, 1.03063512],
}


@pytest.fixture
def examples(make_examples):
    return make_examples(32, seed=3)


@pytest.fixture
def config(examples):
    config = config_for(examples, TINY_FEED_MODEL)
    mean, variance = dense_moments(feed_inputs(examples, config))
    return dataclasses.replace(config, dense_mean=mean, dense_variance=variance)


@pytest.fixture
def inputs(examples, config):
    return feed_inputs(examples, config)


@pytest.fixture
def model(config):
    keras.utils.set_random_seed(1)
    return FeedModel(config)


def _numpy(outputs):
    return {head: ops.convert_to_numpy(value) for head, value in outputs.items()}


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}


def test_outputs_one_logit_per_head(model, inputs):
    outputs = _numpy(model(inputs))
    assert set(outputs) == set(LABELS)
    for head in LABELS:
        assert outputs[head].shape == (32,)
        assert np.all(np.isfinite(outputs[head]))


def test_weights_exist_at_construction_with_expected_shapes(model, config):
    shapes = _shapes(model)
    assert shapes["sparse_arch/actor_embedding/embeddings"] == (100, 8)
    assert shapes["sparse_arch/member_id_embedding/embeddings"] == (500, 8)
    assert shapes["sparse_arch/hashtag_embedding/embeddings"] == (50, 8)
    # the vocabulary tables: one row per learned value plus the out-of-vocabulary row 0
    assert shapes["sparse_arch/content_type_embedding/embeddings"] == (
        len(config.content_types) + 1,
        8,
    )
    assert shapes["sparse_arch/platform_embedding/embeddings"] == (len(config.platforms) + 1, 8)
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
        ({"content_types": ("video", "video")}, "content_types.*'video'"),
        ({"content_types": ("video", "")}, "content_types.*''"),
        ({"platforms": ("ios", 3)}, "platforms.*3"),
    ],
)
def test_config_validation_names_the_bad_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY_FEED_MODEL, **overrides)


def test_config_json_round_trip_and_unknown_keys():
    config = dataclasses.replace(
        TINY_FEED_MODEL, dense_mean=(1.0, 2.0, 3.0, 4.0), content_types=("video", "text")
    )
    values = json.loads(json.dumps(config.to_dict()))
    assert values["content_types"] == ["video", "text"]
    restored = FeedModelConfig.from_dict(values)
    assert restored == config
    assert restored.content_types == ("video", "text")
    assert hash(restored) == hash(config)
    with pytest.raises(ValueError, match="embedding_size"):
        FeedModelConfig.from_dict({**config.to_dict(), "embedding_size": 3})


def test_config_with_the_replaced_bucket_fields_asks_for_a_cold_start():
    values = {**TINY_FEED_MODEL.to_dict(), "content_type_buckets": 6}
    values.pop("content_types")
    with pytest.raises(ValueError, match="content_type_buckets.*content_types.*cold start"):
        FeedModelConfig.from_dict(values)


def test_input_spec_and_with_vocabularies():
    config = dataclasses.replace(TINY_FEED_MODEL, id_hash="murmur")
    learned = config.with_vocabularies(["video", "text"], ("web",))
    assert (learned.content_types, learned.platforms) == (("video", "text"), ("web",))
    assert learned.input_spec() == InputSpec(
        id_hash="murmur", content_types=("video", "text"), platforms=("web",)
    )
    assert config.content_types == () and config.input_spec() == InputSpec(id_hash="murmur")


def test_config_for_learns_the_vocabularies_of_the_examples(examples):
    config = config_for(examples, TINY_FEED_MODEL, interaction="cross")
    assert sorted(config.content_types) == sorted(examples["content_type"].unique())
    assert sorted(config.platforms) == sorted(examples["platform"].unique())
    assert config.interaction == "cross"
    assert config.embedding_dim == TINY_FEED_MODEL.embedding_dim


def test_vocabulary_value_i_uses_row_i_plus_1_and_unseen_values_row_0(model, examples, config):
    examples = examples.copy()
    examples.loc[examples.index[:4], "content_type"] = "hologram"  # not in the vocabulary
    inputs = feed_inputs(examples, config)
    table = model.sparse_arch.tables["content_type"]
    value = config.content_types[1]
    for row, rows_with_it in ((2, examples["content_type"] == value), (0, examples.index < 4)):
        before = _numpy(model(inputs))["click"]
        embeddings = ops.convert_to_numpy(table.embeddings).copy()
        embeddings[row] += 1.0
        table.embeddings.assign(embeddings)
        changed = _numpy(model(inputs))["click"] != before
        np.testing.assert_array_equal(changed, np.asarray(rows_with_it))


def test_the_model_package_does_not_import_the_simulator():
    imports = []
    for path in sorted((REPO / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path, node.module))
            elif isinstance(node, ast.Import):
                imports.extend((path, alias.name) for alias in node.names)
    simulator = [(str(p.relative_to(REPO)), m) for p, m in imports if m.startswith("spark.world")]
    assert simulator == []


# the original blocks in every combination; the later options are in test_feed_model_options.py
BLOCK_VARIANTS = [
    {"history_pooling": h, "affinity": a, "interaction": i}
    for h in ("mean", "target_attention")
    for a in AFFINITY_ARCHS
    for i in ("none", "dot", "cross")
]


@pytest.mark.parametrize("blocks", BLOCK_VARIANTS, ids=lambda b: "-".join(b.values()))
def test_every_block_variant_runs_and_round_trips(blocks, config, inputs, tmp_path):
    keras.utils.set_random_seed(2)
    model = FeedModel(dataclasses.replace(config, **blocks))
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


def test_sparse_arch_shares_a_table_and_mean_pools_list_features():
    tables = (
        EmbeddingTable("actor", 10, ("author_id", "hist_author_ids")),
        EmbeddingTable("hour", 24, ("hour",)),
    )
    arch = SparseArch(tables=tables, embedding_dim=2)
    arch.build()
    # row r of the actor table is [r, -r]: embeddings read off as the bucket index
    arch.tables["actor"].embeddings.assign(np.stack([np.arange(10), -np.arange(10)], 1))
    inputs = {
        "author_id": np.array([3, 13]),  # 13 mod 10 = 3
        "hist_author_ids": np.array([[-1, 2, 6], [-1, -1, -1]]),
        "hour": np.array([0, 5]),
    }
    pooled, sequences = arch(inputs)
    np.testing.assert_allclose(ops.convert_to_numpy(pooled["author_id"]), [[3, -3], [3, -3]])
    np.testing.assert_allclose(ops.convert_to_numpy(pooled["hist_author_ids"]), [[4, -4], [0, 0]])
    history, mask = sequences["hist_author_ids"]
    assert tuple(history.shape) == (2, 3, 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[0, 1, 1], [0, 0, 0]])
    assert set(sequences) == {"hist_author_ids"} and arch.features == (*tables[0].features, "hour")
    with pytest.raises(ValueError, match="hour"):
        SparseArch(tables=(*tables, EmbeddingTable("other", 5, ("hour",))), embedding_dim=2)


@pytest.mark.parametrize(
    "layer",
    [
        SparseArch(
            tables=(EmbeddingTable("actor", 100, ("author_id",), "qr", 16),), embedding_dim=4
        ),
        TransformerHistory(embedding_dim=8, max_length=20, num_last_steps=3),
        CrossInteraction(layers=3, projection_dim=4),
        ResidualDCNInteraction(layers=1, projection_dim=2),
        Tower(units=(8, 4), heads=("click", "like"), gated=True),
        IsotonicHeads(heads=("click",), num_buckets=12, step=0.5),
        DenseArch(mean=(1.0,), variance=(2.0,), epsilon=0.5),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_blocks_round_trip_their_own_arguments(layer):
    config = layer.get_config()
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CrossInteraction(layers=0), "layers=0"),
        (lambda: CrossInteraction(projection_dim=-1), "projection_dim=-1"),
        (lambda: ResidualDCNInteraction(layers=-2), "layers=-2"),
        (lambda: Tower(units=(8,), heads=()), "heads"),
        (lambda: TransformerHistory(embedding_dim=7, max_length=20), "embedding_dim=7"),
        (lambda: EmbeddingTable("actor", 100, ("author_id",), "mphf"), "kind='mphf'"),
        (lambda: EmbeddingTable("actor", 100, ("author_id",), "qr", 101), "qr_collisions=101"),
        (lambda: EmbeddingTable("actor", 0, ("author_id",)), "num_buckets=0"),
        (lambda: SparseArch(tables=(), embedding_dim=4), "tables"),
    ],
)
def test_blocks_validate_their_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


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
    examples = make_examples(4, seed=0)
    config = config_for(examples, TINY_FEED_MODEL)
    model = FeedModel(config)
    fixed_weights(model, seed=0)
    outputs = _numpy(model(feed_inputs(examples, config)))
    for head, expected in GOLDEN.items():
        np.testing.assert_allclose(outputs[head], expected, atol=1e-5)


def test_the_training_loss_is_the_model_task(model, inputs, examples):
    labels = labels_from(examples)
    logits = model(inputs)
    expected = float(ops.convert_to_numpy(model.tasks.loss(logits, labels)))
    assert float(ops.convert_to_numpy(multitask_loss(logits, labels))) == expected
    assert model.tasks.heads == LABELS and set(model.tasks.weights) == {1.0}


def test_overfits_a_small_batch(make_examples):
    df = make_examples(64, seed=4)
    rng = np.random.default_rng(4)
    df["member_id"] = np.arange(64)  # one member embedding per row: capacity to memorize
    for head in LABELS:
        df[head] = rng.integers(0, 2, 64)
    config = config_for(df, TINY_FEED_MODEL)
    inputs, labels = feed_inputs(df, config), labels_from(df)
    keras.utils.set_random_seed(0)
    mean, variance = dense_moments(inputs)
    model = FeedModel(dataclasses.replace(config, dense_mean=mean, dense_variance=variance))
    before = float(ops.convert_to_numpy(model.tasks.loss(model(inputs), labels)))
    training = TrainingConfig(epochs=200, batch_size=64, learning_rate=0.01, warmup_fraction=0.05)
    train_feed_model(model, inputs, labels, training)
    logits = _numpy(model(inputs))
    after = float(ops.convert_to_numpy(model.tasks.loss(logits, labels)))
    assert after < 0.1 * before, (before, after)
    for head in LABELS:
        assert roc_auc_score(labels[head], logits[head]) > 0.99, head
