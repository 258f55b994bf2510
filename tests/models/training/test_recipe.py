"""The optimizer recipe (paper §16): warm-up that doubles with the global batch (capped at 60%),
linear learning-rate scaling, Adam for dense weights with sparse AdaGrad / lazy Adam for the
embedding tables (untouched rows stay bit-identical, gradients stay IndexedSlices), batch
normalization of the numeric inputs as an option."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.feed import TINY_FEED_MODEL, FeedModel, FeedModelConfig
from models.inputs.spec import InputSpec, dense_moments, examples_to_inputs, labels_from
from models.training.loop import TrainingConfig, multitask_loss, train_feed_model
from models.training.optimizers import SparseRowOptimizer, embedding_variables
from spark.world.config import CONTENT_TYPES, PLATFORMS

SPEC = InputSpec(content_types=CONTENT_TYPES, platforms=PLATFORMS)
TINY = dataclasses.replace(TINY_FEED_MODEL, content_types=CONTENT_TYPES, platforms=PLATFORMS)


@pytest.fixture(scope="module")
def data(make_examples):
    rows = make_examples(600, seed=5)
    return examples_to_inputs(rows, SPEC), labels_from(rows), rows


def _model(inputs, **overrides) -> FeedModel:
    keras.utils.set_random_seed(0)
    mean, variance = dense_moments(inputs)
    return FeedModel(
        dataclasses.replace(TINY, **overrides, dense_mean=mean, dense_variance=variance)
    )


def test_warmup_doubles_with_the_global_batch_up_to_60_percent_and_lr_scales_linearly():
    config = TrainingConfig(batch_size=512, warmup_fraction=0.05, warmup_reference_batch=512)
    assert config.effective_warmup_fraction(1) == pytest.approx(0.05)
    assert config.effective_warmup_fraction(2) == pytest.approx(0.10)  # 2 ranks: 2x the batch
    assert config.effective_warmup_fraction(8) == pytest.approx(0.40)
    assert config.effective_warmup_fraction(16) == pytest.approx(0.60)  # capped
    assert config.effective_learning_rate(4) == config.learning_rate  # no scaling by default
    linear = dataclasses.replace(config, learning_rate=1e-3, learning_rate_scaling="linear")
    assert linear.effective_learning_rate(4) == pytest.approx(4e-3)
    assert TrainingConfig(warmup_fraction=0.3).effective_warmup_fraction(8) == 0.3  # no ref
    # the embedding optimizer's own rate scales with the dense one
    tables = dataclasses.replace(
        linear, embedding_optimizer="adagrad", embedding_learning_rate=0.05
    )
    assert tables.effective_embedding_learning_rate(1) == pytest.approx(0.05)
    assert tables.effective_embedding_learning_rate(4) == pytest.approx(0.2)
    assert linear.effective_embedding_learning_rate(4) == pytest.approx(4e-3)  # None: dense rate


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"warmup_reference_batch": 0}, "warmup_reference_batch=0"),
        ({"learning_rate_scaling": "sqrt"}, "learning_rate_scaling='sqrt'"),
        ({"learning_rate_scaling": "linear"}, "set `warmup_reference_batch`"),
        ({"embedding_optimizer": "sgd"}, "embedding_optimizer='sgd'"),
        ({"log_every_n_steps": 0}, "log_every_n_steps=0"),
        ({"shuffle_buffer_size": -1}, "shuffle_buffer_size=-1"),
        (
            {"embedding_optimizer": "adagrad", "embedding_learning_rate": -1.0},
            "embedding_learning_rate=-1.0",
        ),
        ({"embedding_learning_rate": 0.05}, "embedding_optimizer to 'adagrad' or 'lazy_adam'"),
    ],
)
def test_recipe_settings_are_validated(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**overrides)
    with pytest.raises(ValueError, match="dense_normalization"):
        FeedModelConfig(dense_normalization="layer_norm")


@pytest.mark.parametrize("id_embedding", ["hashed", "qr", "unlimited"])
def test_embedding_tables_are_found_and_their_gradients_stay_sparse(data, id_embedding):
    inputs, labels, _ = data
    overrides = {"id_embedding": id_embedding}
    if id_embedding == "unlimited":
        overrides["id_hash"] = "murmur"
        spec = dataclasses.replace(SPEC, id_hash="murmur", id_halves=True)
        inputs = examples_to_inputs(data[2], spec)
    model = _model(inputs, **overrides)
    tables = embedding_variables(model)
    assert tables and all(len(v.shape) == 2 for v in tables)
    assert {"dense", "kernel", "bias", "gamma"}.isdisjoint(v.name for v in tables)
    assert all("embedding" in v.path for v in tables), [v.path for v in tables]
    batch = {k: v[:64] for k, v in inputs.items()}
    with tf.GradientTape() as tape:
        loss = multitask_loss(model(batch, training=True), {k: v[:64] for k, v in labels.items()})
    gradients = tape.gradient(loss, tables)
    assert all(isinstance(g, tf.IndexedSlices) for g in gradients)


@pytest.mark.parametrize("kind", ["adagrad", "lazy_adam"])
def test_sparse_optimizer_leaves_untouched_rows_and_their_slots_bit_identical(kind):
    table = keras.Variable(np.random.default_rng(0).normal(size=(6, 3)).astype("float32"))
    optimizer = SparseRowOptimizer(kind, 0.1, [table])

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(tf.gather(table.value, ids)))
        optimizer.apply(tape.gradient(loss, [table.value]), [table])

    step(tf.constant([1, 1, 4]))  # row 1 twice: its gradient rows are summed
    after_first = np.array(table), [np.array(s) for s in optimizer.slots(table)]
    step(tf.constant([2, 4]))
    weights, slots = np.array(table), [np.array(s) for s in optimizer.slots(table)]
    for untouched in (0, 1, 3, 5):  # row 1 was touched only in the first step
        np.testing.assert_array_equal(weights[untouched], after_first[0][untouched])
        for slot, before in zip(slots, after_first[1], strict=True):
            np.testing.assert_array_equal(slot[untouched], before[untouched])
    assert not np.array_equal(weights[2], after_first[0][2])
    assert not np.array_equal(weights[4], after_first[0][4])


def test_sparse_adagrad_equals_dense_keras_adagrad_on_touched_rows():
    start = np.random.default_rng(1).normal(size=(5, 2)).astype("float32")
    sparse_table, dense_table = keras.Variable(start), keras.Variable(start)
    sparse = SparseRowOptimizer("adagrad", 0.05, [sparse_table])
    dense = keras.optimizers.Adagrad(learning_rate=0.05)
    for ids in ([0, 3, 3], [3, 1]):
        for table, apply in (
            (sparse_table, lambda g, t: sparse.apply(g, t)),
            (dense_table, lambda g, t: dense.apply([tf.convert_to_tensor(g[0])], t)),
        ):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.gather(table.value, ids) ** 3)
            apply(tape.gradient(loss, [table.value]), [table])
    np.testing.assert_allclose(np.array(sparse_table), np.array(dense_table), rtol=1e-6)


@pytest.mark.parametrize("embedding_optimizer", ["adagrad", "lazy_adam"])
def test_the_two_optimizer_step_trains_the_feed_model(data, embedding_optimizer):
    inputs, labels, _ = data
    model = _model(inputs)
    config = TrainingConfig(
        epochs=3, batch_size=64, learning_rate=5e-3, warmup_fraction=0.1,
        embedding_optimizer=embedding_optimizer, log_every_n_steps=5,
    )  # fmt: skip
    result = train_feed_model(model, inputs, labels, config)
    assert np.isfinite(result.epoch_losses).all()
    assert result.epoch_losses[-1] < result.epoch_losses[0]


def test_batch_norm_on_the_dense_inputs_trains_and_is_off_by_default(data):
    inputs, labels, _ = data
    frozen = _model(inputs)
    assert not any("batch_norm" in w.path for w in frozen.weights)
    model = _model(inputs, dense_normalization="batch_norm")
    moving = next(w for w in model.weights if "moving_mean" in w.path)
    before = np.array(moving)
    result = train_feed_model(
        model, inputs, labels, TrainingConfig(epochs=1, batch_size=128, learning_rate=3e-3)
    )
    assert np.isfinite(result.epoch_losses).all()
    assert not np.allclose(np.array(moving), before)  # trained with the batch's moments
    assert model.config.to_dict()["dense_normalization"] == "batch_norm"
    rebuilt = FeedModel.from_config(model.get_config())
    assert rebuilt.config.dense_normalization == "batch_norm"
