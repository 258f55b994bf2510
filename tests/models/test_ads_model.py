"""Tests for models.ads: overfitting a batch, a golden forward pass, round trips, its task."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.ads import ADS_HEADS, ADS_ID_FEATURES, ADS_TASKS, AdsModel, AdsModelConfig
from models.tasks import RankingTasks

TINY = {
    "num_dense": 5,
    "embedding_dim": 4,
    "id_buckets": (50, 10, 20, 80),
    "head_units": (8,),
    "projection_dim": 3,
}
# AdsModel(AdsModelConfig(**TINY)) after keras.utils.set_random_seed(7), on batch(4, seed=0)
GOLDEN = {
    "link_click": [-0.17397931, 0.78588605, 0.08753172, -0.53663230],
    "lead_click": [-0.39176750, -0.20779395, 0.39235342, 0.22158729],
    "engagement_click": [-0.17207940, 0.16849971, 0.03544370, -0.19336303],
}


def batch(n: int, seed: int, unique_ads: bool = False) -> tuple[dict, dict]:
    """Random inputs and labels of `n` rows (every row its own ad with `unique_ads`)."""
    rng = np.random.default_rng(seed)
    inputs = {name: rng.integers(0, 100, n).astype(np.int64) for name in ADS_ID_FEATURES}
    if unique_ads:
        inputs["ad_id"] = np.arange(n, dtype=np.int64)
    inputs["dense"] = rng.normal(size=(n, TINY["num_dense"])).astype(np.float32)
    labels = {h: rng.integers(0, 2, n).astype(np.float32) for h in AdsModelConfig().heads}
    return inputs, labels


def fit_repeated(model: keras.Model, inputs: dict, labels: dict, steps: int) -> None:
    """`steps` full-batch updates as one epoch (one epoch avoids per-epoch overhead)."""
    n = len(inputs["dense"])
    tile = {key: np.concatenate([value] * steps) for key, value in inputs.items()}
    tile_labels = {key: np.concatenate([value] * steps) for key, value in labels.items()}
    model.fit(tile, tile_labels, batch_size=n, epochs=1, shuffle=False, verbose=0)


def _model(seed: int = 7, **overrides) -> AdsModel:
    keras.utils.set_random_seed(seed)
    return AdsModel(AdsModelConfig(**{**TINY, **overrides}))


def _numpy(outputs) -> dict[str, np.ndarray]:
    return {head: ops.convert_to_numpy(value) for head, value in outputs.items()}


def test_three_heads_each_with_its_own_dcnv2_over_shared_embeddings():
    model = _model()
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}
    assert model.config.heads == ("link_click", "lead_click", "engagement_click")
    width = 4 * 4 + 5
    for head in model.config.heads:
        assert shapes[f"{head}_head/cross_1/down_kernel"] == (width, 3)
        assert shapes[f"{head}_head/logit/kernel"] == (8, 1)
    assert shapes["sparse_arch/ad_id_embedding/embeddings"] == (80, 4)
    assert sum(path.endswith("ad_id_embedding/embeddings") for path in shapes) == 1
    mlp = {w.path.split("/", 1)[1] for w in _model(head_interaction="mlp").weights}
    assert not any("cross" in path for path in mlp)


def test_golden_forward_pass():
    inputs, _ = batch(4, seed=0)
    outputs = _numpy(_model()(inputs))
    for head, expected in GOLDEN.items():
        np.testing.assert_allclose(outputs[head], expected, atol=1e-5)


def test_overfits_a_small_batch():
    inputs, labels = batch(64, seed=1, unique_ads=True)
    model = _model(embedding_dim=8)
    tasks = model.tasks
    model.compile(optimizer=keras.optimizers.Adam(0.03), **tasks.compile_arguments())
    before = float(ops.convert_to_numpy(tasks.loss(model(inputs), labels)))
    fit_repeated(model, inputs, labels, steps=150)
    after_logits = _numpy(model(inputs))
    after = float(ops.convert_to_numpy(tasks.loss(after_logits, labels)))
    assert after < 0.2 * before, (before, after)
    for head in model.config.heads:
        assert roc_auc_score(labels[head], after_logits[head]) > 0.95


@pytest.mark.parametrize("interaction", ["dcnv2", "mlp"])
def test_keras_file_round_trip(interaction, tmp_path):
    inputs, _ = batch(16, seed=2)
    model = _model(head_interaction=interaction)
    model.save(tmp_path / "ads.keras")
    loaded = keras.saving.load_model(tmp_path / "ads.keras")
    assert loaded.config == model.config
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    for head in model.config.heads:
        np.testing.assert_array_equal(actual[head], expected[head])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id_buckets": (1, 2, 3)}, "id_buckets"),
        ({"heads": ("a", "a", "b")}, "heads"),
        ({"head_interaction": "moe"}, "head_interaction"),
        ({"embedding_dim": 0}, "embedding_dim"),
    ],
)
def test_config_validation_names_the_bad_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        AdsModelConfig(**{**TINY, **overrides})


def test_config_dict_round_trip():
    config = AdsModelConfig(**TINY)
    assert AdsModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="width"):
        AdsModelConfig.from_dict({**config.to_dict(), "width": 3})


def test_get_config_from_config_gives_identical_outputs():
    inputs, _ = batch(16, seed=3)
    model = _model()
    clone = AdsModel.from_config(model.get_config())
    assert clone.config == model.config
    clone.set_weights(model.get_weights())
    expected, actual = _numpy(model(inputs)), _numpy(clone(inputs))
    for head in model.config.heads:
        np.testing.assert_array_equal(actual[head], expected[head])


def test_the_task_has_one_equally_weighted_binary_head_per_configured_head():
    assert ADS_TASKS == RankingTasks(ADS_HEADS) == AdsModel(AdsModelConfig(**TINY)).tasks
    assert _model(heads=("click", "lead")).tasks == RankingTasks(("click", "lead"), (1.0, 1.0))
