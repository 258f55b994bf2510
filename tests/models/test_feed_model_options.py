"""Tests for the config-selected feed-model options: residual DCN, isotonic calibration, gated
towers, QR ID tables, the history Transformer, task grouping, Murmur string IDs, the final score,
and their train_cli flags."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops
from sklearn.metrics import roc_auc_score

from models.training import cli as train_cli
from models.inputs.spec import dense_moments, examples_to_inputs, labels_from
from models.feed_model import (
    CALIBRATIONS,
    HISTORY_POOLINGS,
    ID_EMBEDDINGS,
    INTERACTIONS,
    LARGE_TOWER_UNITS,
    TASK_GROUPINGS,
    TOWERS,
    FeedModel,
    FeedModelConfig,
    FeedScore,
    feed_inputs,
    predict_probabilities,
)
from models.training.loop import TrainingConfig, train_feed_model
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
}
OPTIONS = [{field: choice} for field, choice in ALL_ON.items()] + [ALL_ON]
# FeedModel(FeedModelConfig(**TINY, **ALL_ON)) with fixed_weights(seed=0), on make_examples(4, 0)
GOLDEN_ALL_ON = {
    "click": [-6.54972887, -6.47716093, -6.35938406, -6.37135935],
    "like": [-6.70488453, -6.85291576, -6.77339363, -6.82487774],
    "comment": [-6.73027229, -6.78028679, -6.80065346, -6.62083435],
    "share": [-7.22640562, -7.309659, -7.1263299, -7.25974417],
    "vote": [-7.00884914, -7.54926825, -7.25498486, -7.53708506],
    "long_dwell": [-6.98379898, -6.9538126, -6.90439939, -6.93831491],
}


@pytest.fixture(scope="module")
def inputs(make_examples):
    return examples_to_inputs(make_examples(32, seed=3))


def _moments(inputs) -> dict[str, list[float]]:
    mean, variance = dense_moments(inputs)
    return {"dense_mean": list(mean), "dense_variance": list(variance)}


def _model(seed: int = 2, inputs=None, **overrides) -> FeedModel:
    keras.utils.set_random_seed(seed)
    moments = _moments(inputs) if inputs else {}
    return FeedModel(FeedModelConfig(**{**TINY, **overrides, **moments}))


def _numpy(outputs):
    return {head: ops.convert_to_numpy(value) for head, value in outputs.items()}


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights}


def test_every_option_is_registered_and_defaults_are_unchanged():
    config = FeedModelConfig()
    assert (config.calibration, config.tower, config.id_embedding) == ("none", "mlp", "hashed")
    assert (config.history_pooling, config.interaction) == ("target_attention", "dot")
    for field, registry in (
        ("history_pooling", HISTORY_POOLINGS),
        ("interaction", INTERACTIONS),
        ("calibration", CALIBRATIONS),
        ("tower", TOWERS),
        ("id_embedding", ID_EMBEDDINGS),
        ("task_grouping", TASK_GROUPINGS),
    ):
        assert ALL_ON[field] in registry
    assert (config.task_grouping, config.id_hash) == ("click_contribution", "none")
    assert config.score_weights == (("like", 1.0), ("comment", 1.0), ("share", 1.0), ("vote", 1.0))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "+".join(o.values()))
def test_option_round_trips_through_a_keras_file(options, make_examples, tmp_path):
    model = _model(**options)
    inputs = feed_inputs(make_examples(32, seed=3), model.config)
    path = tmp_path / "feed.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.config == model.config
    clone = FeedModel.from_config(model.get_config())
    assert clone.config == model.config
    clone.set_weights(model.get_weights())
    expected, actual = _numpy(model(inputs)), _numpy(loaded(inputs))
    np.testing.assert_array_equal(_numpy(clone(inputs))["like"], expected["like"])
    for head in LABELS:
        assert expected[head].shape == (32,)
        assert np.all(np.isfinite(expected[head]))
        np.testing.assert_array_equal(actual[head], expected[head])


def test_option_weight_shapes():
    shapes = _shapes(_model(**ALL_ON))
    # QR: ⌈100/16⌉ = 7 quotient rows + 16 remainder rows instead of 100 actor rows
    assert shapes["sparse_arch/actor_embedding/quotient_embeddings"] == (7, 8)
    assert shapes["sparse_arch/actor_embedding/remainder_embeddings"] == (16, 8)
    assert shapes["sparse_arch/member_id_embedding/quotient_embeddings"] == (32, 8)
    # transformer: early fusion [author ; action ; candidate] -> 8, FFN = 8 / 2
    assert shapes["sparse_arch/history_arch/encoder/input_projection/kernel"] == (24, 8)
    assert shapes["sparse_arch/history_arch/encoder/ffn_in_1/kernel"] == (8, 4)
    # 12 + 6 history vectors of 8, 4 dense and 4 affinity features; residual DCN keeps the width
    width = 18 * 8 + 4 + 4
    assert shapes["interaction_arch/dcn/cross_1/down_kernel"] == (width, 4)
    assert shapes["interaction_arch/dcn/attention_cross_1/query_kernel"] == (width, 4)
    assert shapes["click_tower/hidden/dense_0/kernel"] == (width, 16)
    assert shapes["click_tower/hidden/gate_1/kernel"] == (16, 16)
    # isotonic: 40 buckets per head, slopes shifted by Dense([platform ; content type] = 16)
    assert shapes["calibration_arch/like_isotonic/calibration_dense/kernel"] == (16, 40)
    assert not any(path.endswith("hidden_0/kernel") for path in shapes)


def test_transformer_with_dot_interaction_crosses_every_history_vector():
    shapes = _shapes(_model(history_pooling="transformer"))
    vectors = 12 + 6
    assert shapes["click_tower/hidden_0/kernel"] == (vectors * 8 + 8 + vectors * 17 // 2, 16)


def test_untrained_isotonic_heads_are_the_identity_in_range_and_monotone(inputs):
    plain = _numpy(_model(inputs=inputs)(inputs))
    model = _model(inputs=inputs, calibration="isotonic")
    calibrated = _numpy(model(inputs))
    for head in LABELS:
        np.testing.assert_allclose(calibrated[head], plain[head], atol=1e-5)
    features = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    for layer in model.calibration_arch.heads.values():
        layer.calibration_dense.kernel.assign(np.full((16, 40), -0.3, "float32"))
        assert layer.check_monotonic(features)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"calibration": "platt"}, "calibration"),
        ({"tower": "moe"}, "tower"),
        ({"id_embedding": "mphf"}, "id_embedding"),
        ({"calibration_step": 0.0}, "calibration_step"),
        ({"calibration_buckets": 0}, "calibration_buckets"),
        ({"id_embedding": "qr", "qr_collisions": 101}, "qr_collisions"),
        ({"history_pooling": "transformer", "embedding_dim": 7}, "embedding_dim"),
        ({"history_max_length": 0}, "history_max_length"),
        (
            {"history_pooling": "transformer", "history_max_length": 4},
            "history_max_length=4",
        ),
        ({"task_grouping": "mmoe"}, "task_grouping='mmoe'"),
        ({"id_hash": "md5"}, "id_hash='md5'"),
        ({"score_weights": (("repost", 1.0),)}, "repost"),
        ({"score_weights": (("like", 1.0), ("like", 2.0))}, "like"),
        ({"score_weights": (("like", float("inf")),)}, "like=inf"),
        ({"score_weights": ()}, "weights"),
    ],
)
def test_option_validation_names_the_bad_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        FeedModelConfig(**{**TINY, **overrides})


def test_everything_on_learns_the_planted_click_signal(make_examples):
    df = make_examples(2000, seed=1)
    train, holdout = df[df["split"] == "train"], df[df["split"] == "holdout"]
    inputs, labels = examples_to_inputs(train), labels_from(train)
    model = _model(seed=0, inputs=inputs, **ALL_ON)
    config = TrainingConfig(epochs=2, batch_size=128, learning_rate=1e-2, warmup_fraction=0.2)
    result = train_feed_model(model, inputs, labels, config)
    assert result.steps == 2 * math.ceil(len(train) / 128)
    assert result.epoch_losses[-1] < 0.9 * result.epoch_losses[0]
    probabilities = predict_probabilities(model, examples_to_inputs(holdout))
    auc = roc_auc_score(holdout["click"], probabilities["click"])
    assert auc > 0.75, f"held-out click AUC {auc:.3f}"


def test_cli_flags_select_the_options_of_a_cold_start(inputs):
    flags = [
        *("--history-pooling", "transformer", "--interaction", "residual_dcn"),
        *("--calibration", "isotonic", "--tower", "gated", "--id-embedding", "qr"),
        *("--task-grouping", "by_rate", "--id-hash", "murmur"),
    ]
    args = train_cli.parse_args(["--examples", "x", "--out", "y", "--embedding-dim", "8", *flags])
    config = train_cli.cold_start_config(args, inputs)
    for field, choice in ALL_ON.items():
        assert getattr(config, field) == choice
    assert config.embedding_dim == 8
    assert config.dense_mean == dense_moments(inputs)[0]
    defaults = train_cli.cold_start_config(
        train_cli.parse_args(["--examples", "x", "--out", "y"]), inputs
    )
    assert defaults.to_dict() == {**FeedModelConfig().to_dict(), **_moments(inputs)}


def test_cli_model_config_then_flags_build_the_cold_start_config(inputs):
    import json

    base = {"interaction": "cross", "tower": "gated", "embedding_dim": 8, "id_hash": "murmur"}
    flags = ["--task-grouping", "by_rate", "--tower", "mlp", "--score-weights", "like=1,share=3"]
    argv = ["--examples", "x", "--out", "y", "--model-config", json.dumps(base), *flags]
    config = train_cli.cold_start_config(train_cli.parse_args(argv), inputs)
    assert (config.interaction, config.tower, config.embedding_dim) == ("cross", "mlp", 8)
    assert (config.task_grouping, config.id_hash) == ("by_rate", "murmur")
    assert config.score_weights == (("like", 1.0), ("share", 3.0))
    assert config.dense_mean == dense_moments(inputs)[0]
    with pytest.raises(ValueError, match="score-weights"):
        train_cli.score_weights("like:1")
    with pytest.raises(ValueError, match="calibration='platt'"):
        args = train_cli.parse_args(["--examples", "x", "--out", "y", "--calibration", "platt"])
        train_cli.cold_start_config(args, inputs)


def test_cli_large_tower_units_is_the_paper_lmlp():
    assert LARGE_TOWER_UNITS == (3500, 3500, 3500, 3500)
    assert train_cli.tower_units("large") == LARGE_TOWER_UNITS
    assert train_cli.tower_units("16,8") == (16, 8)
    with pytest.raises(ValueError, match="tower-units"):
        train_cli.tower_units("wide")


def test_golden_forward_pass_with_every_option(make_examples, fixed_weights):
    model = _model(**ALL_ON)
    fixed_weights(model, seed=0)
    outputs = _numpy(model(feed_inputs(make_examples(4, seed=0), model.config)))
    for head, expected in GOLDEN_ALL_ON.items():
        np.testing.assert_allclose(outputs[head], expected, atol=1e-5)


def test_task_groupings_split_every_head_into_exactly_one_tower():
    for grouping, towers in TASK_GROUPINGS.items():
        heads = [head for _, group in towers for head in group]
        assert sorted(heads) == sorted(LABELS), grouping
    assert TASK_GROUPINGS["by_rate"] == (
        ("click", ("click", "long_dwell")),
        ("like_vote", ("like", "vote")),
        ("comment_share", ("comment", "share")),
    )
    shapes = _shapes(_model(task_grouping="by_rate"))
    for tower in ("click", "like_vote", "comment_share"):
        assert shapes[f"{tower}_tower/logits/kernel"] == (16, 2)
    assert "contribution_tower/logits/kernel" not in shapes
    assert _shapes(_model(task_grouping="shared"))["shared_tower/logits/kernel"] == (16, 6)


def test_a_tower_only_drives_its_own_heads(inputs):
    model = _model(task_grouping="by_rate")
    before = _numpy(model(inputs))
    for weight in model.comment_share_tower.weights:
        weight.assign(np.asarray(weight) + 0.5)
    after = _numpy(model(inputs))
    for head in ("comment", "share"):
        assert np.all(after[head] != before[head])
    for head in ("click", "like", "vote", "long_dwell"):
        np.testing.assert_array_equal(after[head], before[head])


def test_final_score_is_the_configured_linear_combination():
    config = FeedModelConfig(**TINY, score_weights=(("click", 0.5), ("comment", 2.0)))
    assert config.final_score == FeedScore((("click", 0.5), ("comment", 2.0)))
    probabilities = {"click": np.array([0.2, 0.4]), "comment": np.array([0.1, 0.0])}
    np.testing.assert_allclose(config.final_score.score(probabilities), [0.3, 0.2])
    assert FeedModelConfig.from_dict(config.to_dict()) == config
    assert (
        FeedModelConfig.from_dict(
            {k: v for k, v in config.to_dict().items() if k != "score_weights"}
        ).score_weights
        == FeedModelConfig().score_weights
    )


def test_murmur_ids_are_hashed_string_ids_with_padding_kept(make_examples):
    from models.inputs.spec import hash_ids
    from models.inputs.murmur import murmur_int64

    df = make_examples(6, seed=2)
    plain = feed_inputs(df, FeedModelConfig(**TINY))
    hashed = feed_inputs(df, FeedModelConfig(**TINY, id_hash="murmur"))
    member = int(df["member_id"].iloc[0])
    assert hashed["member_id"][0] == murmur_int64(f"member:{member}") & (2**31 - 1)
    np.testing.assert_array_equal(hashed["author_id"], hash_ids(plain["author_id"], "actor"))
    padding = plain["hist_author_ids"] < 0
    np.testing.assert_array_equal(hashed["hist_author_ids"] < 0, padding)
    assert np.all(hashed["hist_author_ids"][~padding] >= 0)
    # equal raw ids stay equal, so the affinity features do not change
    np.testing.assert_array_equal(hashed["affinity"], plain["affinity"])
    np.testing.assert_array_equal(hashed["hashtag_ids"], plain["hashtag_ids"])
