"""Tests for models.ads: overfitting a batch, a golden forward pass, round trips, its task, and
the options (no IDs, isotonic calibration, one head)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.ads import (
    ADS_DEFAULT,
    ADS_HEADS,
    ADS_ID_FEATURES,
    ADS_TASKS,
    SINGLE_HEAD,
    TINY_ADS_MODEL,
    AdsModel,
    AdsModelConfig,
)
from models.ads_examples import ADS_DENSE_FEATURES
from models.tasks import RankingTasks
from spark.schemas import CHARGEABILITY_GROUPS

TINY = {
    "num_dense": 5,
    "embedding_dim": 4,
    "id_buckets": (50, 10, 20, 80),
    "head_units": (8,),
    "projection_dim": 3,
}
# AdsModel(AdsModelConfig(**TINY)) after keras.utils.set_random_seed(7), on batch(4, seed=0)
GOLDEN = {
    "website_visit": [-0.17397931, 0.78588605, 0.08753172, -0.53663230],
    "visit_or_social": [-0.39176750, -0.20779395, 0.39235342, 0.22158729],
    "any_engagement": [-0.17207940, 0.16849971, 0.03544370, -0.19336303],
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
    assert model.config.heads == CHARGEABILITY_GROUPS
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


def test_defaults_are_the_three_chargeability_heads_over_the_examples_features():
    config = AdsModelConfig()
    assert config == ADS_DEFAULT
    assert config.heads == ADS_HEADS == CHARGEABILITY_GROUPS
    assert config.num_dense == len(ADS_DENSE_FEATURES)
    assert (config.use_ids, config.isotonic, config.head_interaction) == (True, True, "dcnv2")
    assert config.id_buckets == (2**16, 2**12, 2**12, 2**14)
    assert AdsModel(TINY_ADS_MODEL).config.heads == CHARGEABILITY_GROUPS


VARIANTS = {
    "no_ids": {"use_ids": False},
    "no_isotonic": {"isotonic": False},
    "single_head": {"heads": SINGLE_HEAD},
    "baseline": {"use_ids": False, "isotonic": False, "heads": SINGLE_HEAD,
                 "head_interaction": "mlp"},
}  # fmt: skip


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_config_dict_round_trip(variant):
    config = AdsModelConfig(**{**TINY, **VARIANTS[variant]})
    assert AdsModelConfig.from_dict(config.to_dict()) == config


def test_without_ids_there_are_no_tables_and_the_ids_are_ignored():
    model = _model(use_ids=False)
    assert model.sparse_arch is None
    assert not any("embedding" in w.path for w in model.weights)
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}
    assert shapes["website_visit_head/cross_0/down_kernel"] == (TINY["num_dense"], 3)
    inputs, _ = batch(16, seed=4)
    other = {**inputs, **{name: inputs[name] + 17 for name in ADS_ID_FEATURES}}
    dense_only = {"dense": inputs["dense"]}
    expected = _numpy(model(inputs))
    for variant in (other, dense_only):
        for head, value in _numpy(model(variant)).items():
            np.testing.assert_array_equal(value, expected[head])
    with pytest.raises(ValueError, match="use_ids=False"):
        AdsModel(AdsModelConfig(**{**TINY, "use_ids": False}), embedding_quantization={})


def test_isotonic_layer_per_head_calibrates_monotonically():
    plain, calibrated = _model(isotonic=False), _model(isotonic=True)
    assert not plain.calibration_archs
    assert sorted(calibrated.calibration_archs) == sorted(CHARGEABILITY_GROUPS)
    paths = {w.path.split("/", 1)[1] for w in calibrated.weights}
    assert "any_engagement_isotonic/bucket_weights" in paths
    inputs, _ = batch(64, seed=5)
    raw = _numpy(plain(inputs))
    # the same seed gives the same heads; the untrained layer is the identity on [-8, 8]
    for head, value in _numpy(calibrated(inputs)).items():
        np.testing.assert_allclose(value, raw[head], atol=1e-5)
    rng = np.random.default_rng(0)
    for layer in calibrated.calibration_archs.values():
        layer.bucket_weights.assign(rng.uniform(-0.5, 2.0, layer.num_buckets).astype("float32"))
        assert layer.check_monotonic()
    for head, value in _numpy(calibrated(inputs)).items():
        order = np.argsort(raw[head], kind="stable")
        assert np.all(np.diff(value[order]) >= -1e-6)
        assert not np.allclose(value, raw[head])


def test_single_head_is_the_no_mtl_variant():
    model = _model(heads=SINGLE_HEAD)
    inputs, _ = batch(8, seed=6)
    assert list(_numpy(model(inputs))) == ["chargeable_click"]
    assert model.tasks == RankingTasks(SINGLE_HEAD)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_keras_file_round_trip(variant, tmp_path):
    inputs, _ = batch(16, seed=7)
    model = _model(**VARIANTS[variant])
    for layer in model.calibration_archs.values():
        layer.bucket_weights.assign(np.linspace(0.5, 1.5, layer.num_buckets).astype("float32"))
    model.save(tmp_path / "ads.keras")
    loaded = keras.saving.load_model(tmp_path / "ads.keras")
    assert loaded.config == model.config
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    assert list(actual) == list(expected)
    for head in model.config.heads:
        np.testing.assert_array_equal(actual[head], expected[head])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_ids": "yes"}, "use_ids='yes'"),
        ({"isotonic": 1}, "isotonic=1"),
        ({"isotonic_step": 0.0}, "isotonic_step=0.0"),
        ({"isotonic_step": float("nan")}, "isotonic_step=nan"),
        ({"isotonic_buckets": 0}, "isotonic_buckets=0"),
        ({"heads": ()}, "heads=()"),
        ({"id_buckets": (10, 10, 10, 2.5)}, r"id_buckets=\(10, 10, 10, 2.5\)"),
    ],
)
def test_new_options_validate(overrides, message):
    with pytest.raises(ValueError, match=message):
        AdsModelConfig(**{**TINY, **overrides})
