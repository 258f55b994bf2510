"""Tests for models.training.job: the cold start takes the configured blocks, writes the serving
SavedModel, and an incremental day keeps the previous model's config whatever is configured; the
trainer reads the Avro shards by default (Parquet on request) and names a missing day."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from models.feed_model import FeedModelConfig, feed_inputs, predict_probabilities
from models.training.job import GRAPH_FEED_MODEL, RankingJobConfig, train_ranking_model
from models.registry import load_model
from models.serving.saved_model import raw_features
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


def test_cold_start_uses_the_blocks_and_incremental_days_inherit_them(make_examples, tmp_path):
    days = [
        write_avro_shards(make_examples(400, seed=10 + i), tmp_path / f"avro-{i}")[0].parent
        for i in range(2)
    ]
    config = RankingJobConfig(
        cold_start_epochs=1, incremental_epochs=1, batch_size=256, model=SMALL
    )
    assert config.examples_format == "avro"
    cold = train_ranking_model(config, [days[0]], days[0], None, tmp_path / "d0", "feed-d0")
    assert cold.mode == "cold"
    assert cold.train_rows == int((make_examples(400, seed=10)["split"] == "train").sum())
    architecture = {k: v for k, v in SMALL.to_dict().items() if not k.startswith("dense_")}
    assert {k: cold.model_config[k] for k in architecture} == architecture
    model, _ = load_model(cold.path)
    assert model.config.dense_mean != SMALL.dense_mean  # recomputed from the examples

    # the SavedModel beside it serves raw rows (string ids) like the Keras model
    assert cold.saved_model == cold.path / "saved_model"
    served = tf.saved_model.load(str(cold.saved_model)).signatures["serving_default"]
    rows = make_examples(12, seed=3)
    raw = {k: tf.constant(v) for k, v in raw_features(rows, model.config).items()}
    expected = predict_probabilities(model, feed_inputs(rows, model.config))
    np.testing.assert_allclose(served(**raw)["comment"].numpy(), expected["comment"], atol=1e-6)

    other = dataclasses.replace(config, model=GRAPH_FEED_MODEL, export_saved_model=False)
    warm = train_ranking_model(other, [days[1]], days[1], cold.path, tmp_path / "d1", "feed-d1")
    assert (warm.mode, warm.base_model_id) == ("incremental", "feed-d0")
    assert warm.model_config == cold.model_config
    assert warm.saved_model is None
    manifest = json.loads((warm.path / "manifest.json").read_text())
    assert manifest["metadata"]["model_config"]["interaction"] == "cross"


def test_parquet_and_avro_partitions_train_the_same_model(make_examples, tmp_path):
    """The same day as a Parquet partition and as Avro shards: the job trains the same model."""
    rows = make_examples(600, seed=21)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    rows.to_parquet(parquet / "part-0.parquet")
    avro = write_avro_shards(rows, tmp_path / "avro", num_shards=2)[0].parent
    small = dataclasses.replace(SMALL, tower="mlp", task_grouping="click_contribution")
    results = {}
    for name, path in (("parquet", parquet), ("avro", avro)):
        config = RankingJobConfig(
            cold_start_epochs=1,
            batch_size=128,
            model=small,
            examples_format=name,
            export_saved_model=False,
        )
        results[name] = train_ranking_model(config, [path], path, None, tmp_path / name, name)
    assert results["avro"].train_rows == results["parquet"].train_rows
    assert results["avro"].final_loss == pytest.approx(results["parquet"].final_loss, rel=1e-5)
    avro_model, _ = load_model(results["avro"].path)
    parquet_model, _ = load_model(results["parquet"].path)
    assert avro_model.config == parquet_model.config
    for a, b in zip(avro_model.get_weights(), parquet_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_missing_avro_partition_names_it_and_says_to_rematerialize(make_examples, tmp_path):
    """A day whose Parquet exists but whose Avro shard directory is missing or empty fails before
    training, naming the Avro directory and `training_examples`; nothing is written."""
    present = write_avro_shards(make_examples(50), tmp_path / "date=2026-01-01")[0].parent
    missing = tmp_path / "training_examples_avro" / "date=2026-01-02"
    empty = tmp_path / "training_examples_avro" / "date=2026-01-03"
    empty.mkdir(parents=True)
    config = RankingJobConfig(model=SMALL)
    for bad in (missing, empty):
        with pytest.raises(FileNotFoundError) as error:
            train_ranking_model(config, [present, bad], bad, None, tmp_path / "out", "feed-x")
        assert str(bad) in str(error.value) and str(present) not in str(error.value)
        assert "Re-materialize `training_examples`" in str(error.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="examples_format='orc'"):
        RankingJobConfig(examples_format="orc")
