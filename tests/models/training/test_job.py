"""Tests for models.training.job and its CLI: one typed plan in, one result out. A cold start
learns the vocabularies and takes the configured blocks, writes the serving SavedModel; an
incremental day keeps the previous config; Avro (ATDS) and Parquet train the same model; logs
with content types and platforms no simulator produces train and serve."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from models.evaluation.metrics import auc
from models.feed import FeedModelConfig, feed_inputs, predict_probabilities
from models.registry import load_model
from models.serving.saved_model import raw_features
from models.training import cli
from models.training.config import TrainingConfig, TrainingPlan, TrainingResult
from models.training.job import RESULT_MARKER, run_training
from models.training.loop import TrainingDivergedError
from spark.avro_shards import write_avro_shards

SMALL = FeedModelConfig(
    embedding_dim=8,
    tower_units=(16, 16),
    member_buckets=500,
    actor_buckets=100,
    interaction="cross",
    tower="gated",
    task_grouping="by_rate",
    id_hash="murmur",
    cross_projection_dim=4,
)
ONE_EPOCH = TrainingConfig(epochs=1, batch_size=256)


def _avro_day(rows: pd.DataFrame, folder, shards: int = 1):
    return write_avro_shards(rows, folder, num_shards=shards)[0].parent


def _serve(saved_model, rows: pd.DataFrame, config) -> dict[str, np.ndarray]:
    served = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    raw = {k: tf.constant(v) for k, v in raw_features(rows, config).items()}
    return {k: v.numpy() for k, v in served(**raw).items()}


def test_cold_start_learns_vocabularies_and_incremental_days_inherit_the_config(
    make_examples, tmp_path
):
    days = [_avro_day(make_examples(400, seed=10 + i), tmp_path / f"avro-{i}") for i in range(2)]
    plan = TrainingPlan(
        model_id="feed-d0", out_dir=tmp_path / "d0", examples=(days[0],), model=SMALL,
        training=ONE_EPOCH,
    )  # fmt: skip
    cold = run_training(plan)
    train = make_examples(400, seed=10).query("split == 'train'")
    assert (cold.mode, cold.train_rows, cold.ranks) == ("cold", len(train), 1)
    assert cold.engine == "in-process" and cold.steps == 2
    learned = train["content_type"].value_counts()
    assert cold.model_config["content_types"][0] == learned.index[0]  # most frequent first
    assert set(cold.model_config["content_types"]) == set(learned.index)
    learned_from_data = ("dense_mean", "dense_variance", "content_types", "platforms")
    architecture = {k: v for k, v in SMALL.to_dict().items() if k not in learned_from_data}
    assert {k: cold.model_config[k] for k in architecture} == architecture
    model, metadata = load_model(cold.path)
    assert model.config.dense_mean != SMALL.dense_mean  # recomputed from the examples
    assert TrainingPlan.from_json(metadata["plan"]) == plan

    # the SavedModel beside it serves raw rows (string ids) like the Keras model
    rows = make_examples(12, seed=3)
    expected = predict_probabilities(model, feed_inputs(rows, model.config))
    served = _serve(cold.saved_model, rows, model.config)
    np.testing.assert_allclose(served["comment"], expected["comment"], atol=1e-6)

    warm_plan = dataclasses.replace(
        plan, model_id="feed-d1", out_dir=str(tmp_path / "d1"), examples=(str(days[1]),),
        previous_model=cold.path, model=FeedModelConfig(), export_saved_model=False,
    )  # fmt: skip
    warm = run_training(warm_plan)
    assert (warm.mode, warm.base_model_id) == ("incremental", "feed-d0")
    assert warm.model_config == cold.model_config
    assert warm.saved_model is None
    assert warm.out_of_vocabulary == {"content_type": 0, "platform": 0}
    manifest = json.loads((tmp_path / "d1" / "manifest.json").read_text())
    assert manifest["metadata"]["model_config"]["interaction"] == "cross"


def test_logs_with_unseen_content_types_and_platforms_train_and_serve(make_examples, tmp_path):
    """Logs whose content types and platforms no simulator produces: the cold start learns them,
    an incremental day with yet another value counts it in the OOV bucket and trains, and the
    served model scores a request holding an unknown value instead of failing."""
    rng = np.random.default_rng(0)

    def user_logs(seed: int, content_types, platforms) -> pd.DataFrame:
        rows = make_examples(500, seed=seed)
        rows["content_type"] = rng.choice(content_types, len(rows))
        rows["platform"] = rng.choice(platforms, len(rows))
        return rows

    day0 = user_logs(1, ["hologram", "carousel", "text"], ["smartwatch", "tv"])
    day1 = user_logs(2, ["hologram", "newsletter"], ["smartwatch", "car"])
    cold = run_training(
        TrainingPlan(
            model_id="feed-u0",
            out_dir=tmp_path / "u0",
            model=SMALL,
            training=ONE_EPOCH,
            examples=(_avro_day(day0, tmp_path / "a0"),),
        )  # fmt: skip
    )
    assert set(cold.model_config["content_types"]) == {"hologram", "carousel", "text"}
    assert set(cold.model_config["platforms"]) == {"smartwatch", "tv"}
    warm = run_training(
        TrainingPlan(
            model_id="feed-u1",
            out_dir=tmp_path / "u1",
            training=ONE_EPOCH,
            examples=(_avro_day(day1, tmp_path / "a1"),),
            previous_model=cold.path,
        )  # fmt: skip
    )
    train1 = day1[day1["split"] == "train"]
    assert warm.out_of_vocabulary == {
        "content_type": int((train1["content_type"] == "newsletter").sum()),
        "platform": int((train1["platform"] == "car").sum()),
    }
    assert np.isfinite(warm.final_loss)

    request = day1.head(6).copy()
    request["content_type"] = ["hologram", "vr", "carousel", "", "text", "vr"]
    model, _ = load_model(warm.path)
    served = _serve(warm.saved_model, request, model.config)
    assert np.isfinite(served["score"]).all() and served["score"].shape == (6,)
    expected = predict_probabilities(model, feed_inputs(request, model.config))
    np.testing.assert_allclose(served["like"], expected["like"], atol=1e-6)


def test_parquet_and_avro_examples_train_the_same_model(make_examples, tmp_path):
    """The same rows as a Parquet partition and as Avro shards: same vocabularies and dense
    constants, same losses and weights; the model learns the planted click signal."""
    rows = make_examples(5000, seed=7)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    rows.iloc[:2500].to_parquet(parquet / "part-0.parquet")
    rows.iloc[2500:].to_parquet(parquet / "part-1.parquet")
    avro = _avro_day(rows, tmp_path / "avro", shards=3)
    small = FeedModelConfig(embedding_dim=8, tower_units=(16, 16), id_hash="murmur")
    training = TrainingConfig(epochs=3, batch_size=256, learning_rate=5e-3, warmup_fraction=0.2)
    results = {}
    for name, path in (("parquet", parquet), ("avro", avro)):
        plan = TrainingPlan(
            model_id=name, out_dir=tmp_path / name, examples=(path,), examples_format=name,
            model=small, training=training, export_saved_model=False,
        )  # fmt: skip
        results[name] = run_training(plan)
    assert results["avro"].train_rows == results["parquet"].train_rows
    np.testing.assert_allclose(
        results["avro"].epoch_losses, results["parquet"].epoch_losses, rtol=1e-5
    )
    avro_model, _ = load_model(results["avro"].path)
    parquet_model, _ = load_model(results["parquet"].path)
    assert avro_model.config == parquet_model.config
    for a, b in zip(avro_model.get_weights(), parquet_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    holdout = rows[rows["split"] == "holdout"].reset_index(drop=True)
    probabilities = predict_probabilities(avro_model, feed_inputs(holdout, avro_model.config))
    assert auc(holdout["click"].to_numpy(), probabilities["click"]) > 0.75


def test_missing_examples_are_named_and_nothing_is_written(make_examples, tmp_path):
    present = _avro_day(make_examples(50), tmp_path / "date=2026-01-01")
    missing = tmp_path / "training_examples_avro" / "date=2026-01-02"
    empty = tmp_path / "training_examples_avro" / "date=2026-01-03"
    empty.mkdir(parents=True)
    for bad in (missing, empty):
        plan = TrainingPlan(model_id="x", out_dir=tmp_path / "out", examples=(present, bad))
        with pytest.raises(FileNotFoundError) as error:
            run_training(plan)
        assert str(bad) in str(error.value) and str(present) not in str(error.value)
        assert "Re-materialize `training_examples_avro`" in str(error.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="examples_format='orc'"):
        TrainingPlan(model_id="x", out_dir="y", examples=("z",), examples_format="orc")
    with pytest.raises(ValueError, match="needs examples"):
        TrainingPlan(model_id="x", out_dir="y", examples=())


def test_cli_runs_a_plan_file_and_divergence_exits_2_writing_nothing(
    make_examples, tmp_path, capsys
):
    day = _avro_day(make_examples(300), tmp_path / "avro")
    plan = TrainingPlan(
        model_id="feed-cli", out_dir=tmp_path / "out", examples=(day,), model=SMALL,
        training=ONE_EPOCH, export_saved_model=False,
    )  # fmt: skip
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.to_json())
    assert cli.main([str(plan_file)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    result = TrainingResult.from_json(printed.removeprefix(RESULT_MARKER))
    assert (result.model_id, result.mode, result.path) == ("feed-cli", "cold", plan.out_dir)

    exploding = dataclasses.replace(
        plan, out_dir=str(tmp_path / "boom"),
        training=TrainingConfig(batch_size=32, learning_rate=1e30, warmup_fraction=0.0),
    )  # fmt: skip
    plan_file.write_text(exploding.to_json())
    assert cli.main([str(plan_file)]) == 2
    assert not (tmp_path / "boom").exists()
    with pytest.raises(TrainingDivergedError):
        run_training(exploding)
