"""Tests for models.ranking_job: the cold start takes the configured blocks, writes the serving
SavedModel, and an incremental day keeps the previous model's config whatever is configured."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

from models.feed_model import FeedModelConfig, feed_inputs, predict_probabilities
from models.ranking_job import GRAPH_FEED_MODEL, RankingJobConfig, train_ranking_model
from models.registry import load_model
from models.serving import raw_features

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
    days = []
    for i in range(2):
        path = tmp_path / f"examples-{i}"
        path.mkdir()
        make_examples(400, seed=10 + i).to_parquet(path / "part-0.parquet")
        days.append(path)
    config = RankingJobConfig(
        cold_start_epochs=1, incremental_epochs=1, batch_size=256, model=SMALL
    )
    cold = train_ranking_model(config, [days[0]], days[0], None, tmp_path / "d0", "feed-d0")
    assert cold.mode == "cold"
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
