"""Tests for models.jobs: shared matrices (full or QR), a golden forward pass, overfitting a
batch, round trips, config validation and the embedding parameter count."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.jobs import (
    DEFAULT_FIELDS,
    JOBS_DENSE_FEATURES,
    JOBS_HEADS,
    JOBS_PLATFORMS,
    JOBS_TASKS,
    SHARED_MATRICES,
    JobsModel,
    JobsModelConfig,
    SharedEntityEmbeddings,
    jobs_probabilities,
    table_parameters,
)
from models.layers.qr_embedding import QREmbedding
from models.tasks import RankingTasks

TINY = {
    "num_dense": 3,
    "embedding_dim": 4,
    "matrix_buckets": (30, 40, 50, 10, 8),
    "projection_dim": 2,
    "head_units": (6,),
    "embedding": "hash",
}
# JobsModel(JobsModelConfig(**TINY)) with fixed_weights(seed=0), on batch(4, seed=0)
GOLDEN = {
    "apply": [-0.33457777, -0.34106857, -0.47704831, -0.45709947],
    "click": [0.27048236, 0.16261134, 0.09497613, 0.09728073],
}


def batch(n: int, seed: int, unique_members: bool = False) -> tuple[dict, dict]:
    """Random inputs (skills: 3 ids, some -1 padded; other fields: 1 id) and labels."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for field, matrix in DEFAULT_FIELDS:
        width = 3 if matrix == "skill" else 1
        ids = rng.integers(0, 100, size=(n, width)).astype(np.int64)
        if width > 1:
            ids[:, 2] = np.where(rng.random(n) < 0.5, -1, ids[:, 2])
        inputs[field] = ids
    if unique_members:
        inputs["member_company"] = np.arange(n, dtype=np.int64)[:, None]
    inputs["dense"] = rng.normal(size=(n, TINY["num_dense"])).astype(np.float32)
    labels = {task: rng.integers(0, 2, n).astype(np.float32) for task in JOBS_HEADS}
    return inputs, labels


def _model(seed: int = 0, **overrides) -> JobsModel:
    keras.utils.set_random_seed(seed)
    return JobsModel(JobsModelConfig(**{**TINY, **overrides}))


def _numpy(outputs) -> dict[str, np.ndarray]:
    return {task: ops.convert_to_numpy(value) for task, value in outputs.items()}


def test_five_shared_matrices_and_a_two_layer_dcnv2_per_task():
    model = _model()
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}
    tables = [p for p in shapes if p.endswith("_matrix/embeddings")]
    assert sorted(tables) == sorted(f"sparse_arch/{m}_matrix/embeddings" for m in SHARED_MATRICES)
    assert shapes["sparse_arch/skill_matrix/embeddings"] == (40, 4)
    width = len(DEFAULT_FIELDS) * 4 + 3
    for task in JOBS_HEADS:
        for layer in (0, 1):
            assert shapes[f"{task}_head/cross_{layer}/down_kernel"] == (width, 2)
            assert shapes[f"{task}_head/cross_{layer}/up_kernel"] == (2, width)
        assert f"{task}_head/cross_2/down_kernel" not in shapes
        assert shapes[f"{task}_head/hidden_0/kernel"] == (width, 6)
    assert not any("gate" in path for path in shapes)  # no Dense Gating in Jobs (paper §1)


def test_fields_share_their_matrix_and_pool_with_a_masked_mean():
    fields = (("member_title", "title"), ("job_title", "title"), ("skills", "skill"))
    layer = SharedEntityEmbeddings(fields, TINY["matrix_buckets"], TINY["embedding_dim"])
    layer.build()
    # row r of every matrix is [r, r, r, r]: embeddings read off as the bucket index
    for matrix in layer.matrices.values():
        rows = matrix.embeddings.shape[0]
        matrix.embeddings.assign(np.repeat(np.arange(rows, dtype="float32")[:, None], 4, axis=1))
    inputs = {
        "member_title": np.array([[3], [31]]),  # 31 mod 30 = 1
        "job_title": np.array([[3], [7]]),
        "skills": np.array([[2, 6, -1], [-1, -1, -1]]),  # mean of rows 2 and 6; all padding -> 0
    }
    out = ops.convert_to_numpy(layer(inputs))
    np.testing.assert_allclose(out[:, 0:4], [[3] * 4, [1] * 4])
    np.testing.assert_allclose(out[:, 4:8], [[3] * 4, [7] * 4])
    np.testing.assert_allclose(out[:, 8:12], [[4] * 4, [0] * 4])


def test_golden_forward_pass(fixed_weights):
    model = _model()
    fixed_weights(model, seed=0)
    outputs = _numpy(model(batch(4, seed=0)[0]))
    for task, expected in GOLDEN.items():
        np.testing.assert_allclose(outputs[task], expected, atol=1e-5)


def test_padding_does_not_change_outputs():
    model = _model()
    inputs, _ = batch(8, seed=3)
    padded = dict(inputs)
    for field, _ in DEFAULT_FIELDS:
        padded[field] = np.concatenate([inputs[field], np.full((8, 2), -1)], axis=1)
    expected, actual = _numpy(model(inputs)), _numpy(model(padded))
    for task in JOBS_HEADS:
        np.testing.assert_allclose(actual[task], expected[task], atol=1e-6)


def test_overfits_a_small_batch():
    inputs, labels = batch(64, seed=1, unique_members=True)
    model = _model(embedding_dim=8, matrix_buckets=(100, 100, 100, 100, 100))
    tasks = model.tasks
    model.compile(optimizer=keras.optimizers.Adam(0.03), **tasks.compile_arguments())
    before = float(ops.convert_to_numpy(tasks.loss(model(inputs), labels)))
    steps = 150
    tiled = {key: np.concatenate([value] * steps) for key, value in inputs.items()}
    tiled_labels = {key: np.concatenate([value] * steps) for key, value in labels.items()}
    model.fit(tiled, tiled_labels, batch_size=64, epochs=1, shuffle=False, verbose=0)
    after_logits = _numpy(model(inputs))
    after = float(ops.convert_to_numpy(tasks.loss(after_logits, labels)))
    assert after < 0.2 * before, (before, after)
    for task in JOBS_HEADS:
        assert roc_auc_score(labels[task], after_logits[task]) > 0.95


def test_get_config_from_config_and_keras_file_give_identical_outputs(tmp_path):
    model = _model()
    inputs, _ = batch(16, seed=2)
    expected = _numpy(model(inputs))
    clone = JobsModel.from_config(model.get_config())
    assert clone.config == model.config
    clone.set_weights(model.get_weights())
    model.save(tmp_path / "jobs.keras")
    loaded = keras.saving.load_model(tmp_path / "jobs.keras")
    assert isinstance(loaded, JobsModel) and loaded.config == model.config
    for other in (clone, loaded):
        actual = _numpy(other(inputs))
        for task in JOBS_HEADS:
            np.testing.assert_array_equal(actual[task], expected[task])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embedding_dim": 0}, "embedding_dim=0"),
        ({"projection_dim": -2}, "projection_dim=-2"),
        ({"cross_layers": -1}, "cross_layers=-1"),
        ({"embedding": "murmur"}, "embedding='murmur'"),
        ({"qr_collisions": 0}, "qr_collisions=0"),
        ({"matrix_buckets": (30, 40, 0, 10, 8)}, r"matrix_buckets=\(30, 40, 0, 10, 8\)"),
        ({"matrix_buckets": (30, 40)}, "matrix_buckets"),
        ({"fields": (("job_title", "tittle"),)}, "tittle"),
        ({"head_units": (6, 0)}, r"head_units=\(6, 0\)"),
    ],
)
def test_config_validation_names_the_argument_and_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        JobsModelConfig(**{**TINY, **overrides})


def test_config_dict_round_trip():
    config = JobsModelConfig(**TINY)
    assert JobsModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="width"):
        JobsModelConfig.from_dict({**config.to_dict(), "width": 3})


def test_shared_entity_embeddings_round_trip_and_check_their_fields():
    layer = SharedEntityEmbeddings(DEFAULT_FIELDS, TINY["matrix_buckets"], 4)
    assert SharedEntityEmbeddings.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="tittle"):
        SharedEntityEmbeddings((("job_title", "tittle"),), TINY["matrix_buckets"], 4)


def test_the_task_is_apply_and_click_equally_weighted():
    assert JOBS_TASKS == RankingTasks(JOBS_HEADS, (1.0, 1.0)) == _model().tasks
    assert JOBS_HEADS == ("apply", "click")


def test_defaults_are_the_production_choice_qr_and_a_two_layer_dcnv2():
    config = JobsModelConfig()
    assert (config.embedding, config.cross_layers) == ("qr", 2)
    assert config.num_dense == len(JOBS_DENSE_FEATURES)


def test_qr_compresses_the_shared_matrices_at_least_five_fold_at_the_defaults():
    full = JobsModel(JobsModelConfig(embedding="hash"))
    qr = JobsModel(JobsModelConfig())
    dim = JobsModelConfig().embedding_dim
    assert table_parameters(full) == sum(JobsModelConfig().matrix_buckets) * dim == 100_216 * 16
    # title, skill, company: ⌈N/1000⌉ + 1000 rows; industry (200) and seniority (16) stay full
    assert table_parameters(qr) == (20 + 1000 + 30 + 1000 + 50 + 1000 + 200 + 16) * dim
    assert table_parameters(qr) / table_parameters(full) <= 0.2
    layers = qr.sparse_arch.matrices
    assert isinstance(layers["company"], QREmbedding) and layers["company"].num_collisions == 1000
    assert not isinstance(layers["seniority"], QREmbedding)
    # only the tables count: the heads are identical
    head_weights = [
        sum(int(np.prod(w.shape)) for w in m.weights if "sparse_arch" not in w.path)
        for m in (full, qr)
    ]
    assert head_weights[0] == head_weights[1]


def test_qr_matrices_keep_ids_below_the_buckets_apart_and_share_across_fields():
    layer = SharedEntityEmbeddings(
        (("member_title", "title"), ("job_title", "title")), (30, 40, 50, 10, 8), 4, "qr", 7
    )
    layer.build()
    title = layer.matrices["title"]
    assert title.quotient_embeddings.shape == (5, 4) and title.remainder_embeddings.shape == (7, 4)
    ids = np.arange(30)[:, None]
    out = ops.convert_to_numpy(layer({"member_title": ids, "job_title": ids + 30}))
    # the ids 0..29 get 30 distinct vectors; the job's id + 30 wraps to the same bucket
    assert len(np.unique(out[:, :4].round(6), axis=0)) == 30
    np.testing.assert_array_equal(out[:, :4], out[:, 4:])


def test_cross_layers_zero_is_an_mlp_head_and_trains():
    model = _model(cross_layers=0, embedding="qr", qr_collisions=7)
    paths = [w.path for w in model.weights]
    assert not any("cross_" in path for path in paths)
    inputs, labels = batch(16, seed=4)
    logits = _numpy(model(inputs))
    assert all(
        logits[task].shape == (16,) and np.isfinite(logits[task]).all() for task in JOBS_HEADS
    )


@pytest.mark.parametrize(
    "overrides", [{"embedding": "qr", "qr_collisions": 7}, {"cross_layers": 0}]
)
def test_option_round_trips_through_config_and_keras_file(tmp_path, overrides):
    model = _model(**overrides)
    inputs, _ = batch(8, seed=5)
    expected = _numpy(model(inputs))
    assert JobsModelConfig.from_dict(model.config.to_dict()) == model.config
    model.save(tmp_path / "jobs.keras")
    loaded = keras.saving.load_model(tmp_path / "jobs.keras")
    assert loaded.config == model.config and table_parameters(loaded) == table_parameters(model)
    actual = _numpy(loaded(inputs))
    for task in JOBS_HEADS:
        np.testing.assert_array_equal(actual[task], expected[task])


def test_probabilities_are_the_sigmoid_of_the_logits_in_any_batch_size():
    model = _model()
    inputs, _ = batch(10, seed=6)
    logits = _numpy(model(inputs))
    probs = jobs_probabilities(model, inputs, batch_size=3)
    for task in JOBS_HEADS:
        np.testing.assert_allclose(probs[task], 1 / (1 + np.exp(-logits[task])), rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size=0"):
        jobs_probabilities(model, inputs, batch_size=0)


def test_platforms_are_the_worlds():
    from spark.world.config import PLATFORMS

    assert JOBS_PLATFORMS == PLATFORMS
