"""Tests for the multi-task blocks (MMoE, PLE, hard sharing) and the history items of the
feed model (authors, posts, both: the post-ID history Transformer with early fusion)."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
from keras import ops

from models.feed import (
    MULTITASKS,
    TINY_FEED_MODEL,
    FeedModel,
    FeedModelConfig,
    config_for,
    feed_inputs,
    predict_probabilities,
)
from models.feed.multitask import PLE, MMoE, SharedBottom, mixture_of_experts
from models.inputs.spec import dense_moments, labels_from
from models.training.config import TrainingConfig
from models.training.loop import train_feed_model
from spark.schemas import LABELS

POST_HISTORY = {"history_pooling": "transformer", "history_items": "posts_and_authors"}


@pytest.fixture(scope="module")
def examples(make_examples):
    return make_examples(32, seed=3)


def _model(examples, seed: int = 2, **overrides) -> FeedModel:
    keras.utils.set_random_seed(seed)
    return FeedModel(config_for(examples, TINY_FEED_MODEL, **overrides))


def _numpy(outputs):
    return {head: ops.convert_to_numpy(value) for head, value in outputs.items()}


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}


def _features(batch: int = 5, width: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, width)).astype("float32")


def test_mixture_of_experts_is_the_gate_weighted_sum():
    outputs = np.array([[[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]]], "float32")  # [1, 3 experts, 2]
    gate = np.array([[0.25, 0.75, 0.0]], "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(mixture_of_experts(outputs, gate)), [[2.5, 3.5]]
    )


@pytest.mark.parametrize(
    "block",
    [
        MMoE(num_tasks=3, num_experts=4, expert_units=7),
        PLE(num_tasks=3, num_shared_experts=2, num_task_experts=3, expert_units=7),
    ],
    ids=["mmoe", "ple"],
)
def test_expert_blocks_give_one_input_per_task_and_gates_that_sum_to_one(block):
    x = _features()
    block.build(x.shape)
    outputs = block(x)
    assert [tuple(o.shape) for o in outputs] == [(5, 7)] * 3
    assert block.output_dim(6) == 7
    gates = [ops.convert_to_numpy(g) for g in block.gates(x)]
    experts = 4 if isinstance(block, MMoE) else 3 + 2
    for gate in gates:
        assert gate.shape == (5, experts)
        assert np.all(gate >= 0)
        np.testing.assert_allclose(gate.sum(axis=1), 1.0, atol=1e-6)
    # the gates differ per task: each task mixes the experts its own way
    assert not np.allclose(gates[0], gates[1])


def test_mmoe_with_zero_gates_is_the_mean_of_its_experts():
    x = _features()
    block = MMoE(num_tasks=2, num_experts=3, expert_units=4)
    block.build(x.shape)
    for gate in block.gate_layers:
        gate.kernel.assign(np.zeros(gate.kernel.shape, "float32"))
    experts = np.stack([ops.convert_to_numpy(e(x)) for e in block.experts], axis=1)
    for output in block(x):
        np.testing.assert_allclose(ops.convert_to_numpy(output), experts.mean(axis=1), atol=1e-6)


def test_ple_task_experts_only_drive_their_own_task():
    x = _features()
    block = PLE(num_tasks=2, num_shared_experts=2, num_task_experts=1, expert_units=4)
    block.build(x.shape)
    before = [ops.convert_to_numpy(o) for o in block(x)]
    for weight in block.task_experts[1][0].weights:
        weight.assign(ops.convert_to_numpy(weight) + 0.5)
    after = [ops.convert_to_numpy(o) for o in block(x)]
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.allclose(after[1], before[1])
    for weight in block.shared_experts[0].weights:  # a shared expert drives both
        weight.assign(ops.convert_to_numpy(weight) + 0.5)
    shared = [ops.convert_to_numpy(o) for o in block(x)]
    assert not np.allclose(shared[0], after[0]) and not np.allclose(shared[1], after[1])


def test_shared_bottom_passes_the_features_to_every_tower():
    x = _features()
    outputs = SharedBottom(num_tasks=2)(x)
    assert len(outputs) == 2
    for output in outputs:
        np.testing.assert_array_equal(ops.convert_to_numpy(output), x)


@pytest.mark.parametrize(
    "block",
    [
        MMoE(num_tasks=2, num_experts=3, expert_units=4, name="m"),
        PLE(num_tasks=2, num_shared_experts=1, num_task_experts=2, expert_units=4, name="p"),
    ],
    ids=["mmoe", "ple"],
)
def test_expert_blocks_round_trip_their_config_and_weights(block, tmp_path):
    x = _features(width=6)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, block(inputs))
    path = tmp_path / "block.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for expected, actual in zip(model(x), loaded(x), strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(actual), ops.convert_to_numpy(expected))
    clone = type(block).from_config(block.get_config())
    assert clone.get_config() == block.get_config()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MMoE(num_tasks=2, num_experts=0, expert_units=4), "num_experts=0"),
        (lambda: MMoE(num_tasks=0, num_experts=2, expert_units=4), "num_tasks=0"),
        (lambda: PLE(2, 1, 1, expert_units=-3), "expert_units=-3"),
        (lambda: PLE(2, 1, num_task_experts=1.5, expert_units=3), "num_task_experts=1.5"),
    ],
)
def test_bad_block_arguments_name_the_value(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"multitask": "moe"}, "multitask='moe'"),
        ({"multitask": "mmoe", "experts": 0}, "experts=0"),
        ({"multitask": "ple", "task_experts": -1}, "task_experts=-1"),
        ({"expert_units": 0}, "expert_units=0"),
        ({"history_items": "videos"}, "history_items='videos'"),
        ({"history_items": "posts"}, "history_pooling='target_attention'"),
        ({"post_buckets": 0}, "post_buckets=0"),
        (
            {**POST_HISTORY, "id_embedding": "qr", "post_buckets": 10, "qr_collisions": 16},
            "post_buckets=10",
        ),
    ],
)
def test_config_validation_names_the_bad_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY_FEED_MODEL, **overrides)


def test_defaults_are_unchanged():
    config = FeedModelConfig()
    assert (config.multitask, config.history_items) == ("shared", "authors")
    assert set(MULTITASKS) == {"shared", "mmoe", "ple"}
    assert (
        FeedModelConfig.from_dict(
            {k: v for k, v in config.to_dict().items() if k not in ("multitask", "history_items")}
        )
        == config
    )


def test_expert_blocks_feed_the_towers_expert_width(examples):
    mmoe = _shapes(_model(examples, multitask="mmoe", experts=3, expert_units=12))
    # "dot": 12 + 1 (target attention) vectors of 8, dense and affinity, 13·12/2 dot products
    width = 13 * 8 + 4 + 4 + 13 * 12 // 2
    assert mmoe["multitask_arch/expert_2/kernel"] == (width, 12)
    assert mmoe["multitask_arch/gate_1/kernel"] == (width, 3)  # click, contribution
    assert "multitask_arch/gate_2/kernel" not in mmoe
    assert mmoe["click_tower/hidden_0/kernel"] == (12, 16)
    ple = _shapes(_model(examples, multitask="ple", task_grouping="by_rate", experts=2))
    assert ple["multitask_arch/task_2_expert_1/kernel"][1] == 64
    assert ple["multitask_arch/gate_2/kernel"][1] == 2 + 2  # own + shared experts
    assert ple["comment_share_tower/hidden_0/kernel"] == (64, 16)
    shared = _shapes(_model(examples))
    assert not any(path.startswith("multitask_arch") for path in shared)


@pytest.mark.parametrize(
    "options",
    [
        {"multitask": "mmoe"},
        {"multitask": "ple", "task_grouping": "by_rate"},
        {"history_pooling": "transformer", "history_items": "posts"},
        {**POST_HISTORY, "multitask": "ple", "id_embedding": "qr", "id_hash": "murmur"},
    ],
    ids=lambda o: "+".join(map(str, o.values())),
)
def test_options_round_trip_through_a_keras_file(options, examples, tmp_path):
    model = _model(examples, **options)
    inputs = feed_inputs(examples, model.config)
    path = tmp_path / "feed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.config == model.config
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    for head in LABELS:
        assert expected[head].shape == (32,)
        assert np.all(np.isfinite(expected[head]))
        np.testing.assert_array_equal(actual[head], expected[head])


def test_post_history_weights_and_early_fusion_width(examples):
    posts = _shapes(_model(examples, history_pooling="transformer", history_items="posts"))
    assert posts["sparse_arch/post_embedding/embeddings"] == (20_000, 8)
    # [history post ; action ; candidate post] = 8 + 8 + 8
    assert posts["history_arch/encoder/input_projection/kernel"] == (24, 8)
    both = _shapes(_model(examples, **POST_HISTORY, post_buckets=300))
    assert both["sparse_arch/post_embedding/embeddings"] == (300, 8)
    # [history post ; history author ; action ; candidate post ; candidate author]
    assert both["history_arch/encoder/input_projection/kernel"] == (40, 8)
    authors = _shapes(_model(examples, history_pooling="transformer"))
    assert not any("post_embedding" in path for path in authors)


def test_only_post_history_models_read_the_post_ids(examples):
    def with_other_posts(inputs):
        changed = dict(inputs)
        history = np.asarray(inputs["hist_post_ids"])
        changed["hist_post_ids"] = np.where(history >= 0, (history + 7) % 2000, history)
        changed["post_id"] = (np.asarray(inputs["post_id"]) + 11) % 2000
        return changed

    for options, reads in (
        ({"history_pooling": "transformer"}, False),
        ({"history_pooling": "transformer", "history_items": "posts"}, True),
        (POST_HISTORY, True),
    ):
        model = _model(examples, **options)
        inputs = feed_inputs(examples, model.config)
        before, after = _numpy(model(inputs)), _numpy(model(with_other_posts(inputs)))
        if reads:
            assert not np.allclose(after["click"], before["click"]), options
        else:
            np.testing.assert_array_equal(after["click"], before["click"])


def test_ple_with_post_history_learns_the_planted_click_signal(make_examples):
    from sklearn.metrics import roc_auc_score

    df = make_examples(2000, seed=1)
    train, holdout = df[df["split"] == "train"], df[df["split"] == "holdout"]
    config = config_for(train, TINY_FEED_MODEL, multitask="ple", post_buckets=2000, **POST_HISTORY)
    inputs, labels = feed_inputs(train, config), labels_from(train)
    mean, variance = dense_moments(inputs)
    keras.utils.set_random_seed(0)
    model = FeedModel(dataclasses.replace(config, dense_mean=mean, dense_variance=variance))
    training = TrainingConfig(epochs=2, batch_size=128, learning_rate=1e-2, warmup_fraction=0.2)
    result = train_feed_model(model, inputs, labels, training)
    assert result.steps == 2 * math.ceil(len(train) / 128)
    assert result.epoch_losses[-1] < 0.9 * result.epoch_losses[0]
    probabilities = predict_probabilities(model, feed_inputs(holdout, model.config))
    auc = roc_auc_score(holdout["click"], probabilities["click"])
    # the default tiny model reaches 0.74 here, the block-free signal in these rows; random is 0.5
    assert auc > 0.72, f"held-out click AUC {auc:.3f}"
