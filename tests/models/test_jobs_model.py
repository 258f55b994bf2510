"""Tests for models.jobs: shared matrices, a golden forward pass, overfitting a batch, round
trips and config validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.jobs import (
    DEFAULT_FIELDS,
    JOBS_HEADS,
    JOBS_TASKS,
    SHARED_MATRICES,
    JobsModel,
    JobsModelConfig,
    SharedEntityEmbeddings,
)
from models.tasks import RankingTasks

TINY = {
    "num_dense": 3,
    "embedding_dim": 4,
    "matrix_buckets": (30, 40, 50, 10, 8),
    "projection_dim": 2,
    "head_units": (6,),
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
        ({"cross_layers": 0}, "cross_layers=0"),
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
