"""The feed model's block choices at the asset boundary: `FeedModelChoice`, the Dagster config of
`feed_ranking_model`, maps onto `FeedModelConfig` and defaults to the graph's measured choice."""

from __future__ import annotations

import dataclasses

import pytest

from lirank_assets.definitions import build_definitions
from lirank_assets.model_choice import FeedModelChoice
from lirank_assets.settings import settings_from_env
from models.feed import GRAPH_FEED_MODEL, LEARNED_FROM_DATA, FeedModelConfig


def test_defaults_are_the_graph_feed_model():
    assert FeedModelChoice().to_feed_model_config() == GRAPH_FEED_MODEL


def test_choices_select_the_blocks_and_score_weights():
    choice = FeedModelChoice(
        interaction="residual_dcn",
        calibration="isotonic",
        tower="gated",
        history_pooling="transformer",
        id_embedding="qr",
        task_grouping="by_rate",
        tower_units=[64, 64],
        score_weights={"like": 1.0, "comment": 3.0},
    )
    config = choice.to_feed_model_config()
    expected = dataclasses.replace(
        GRAPH_FEED_MODEL,
        interaction="residual_dcn",
        calibration="isotonic",
        tower="gated",
        history_pooling="transformer",
        id_embedding="qr",
        task_grouping="by_rate",
        tower_units=(64, 64),
        score_weights=(("like", 1.0), ("comment", 3.0)),
    )
    assert config == expected


def test_the_unlimited_vocabulary_and_its_table_sizes_are_choices():
    choice = FeedModelChoice(
        id_embedding="unlimited", unlimited_collisions=2**10, unlimited_quotient_rows=2**14
    )
    config = choice.to_feed_model_config()
    assert config == dataclasses.replace(
        GRAPH_FEED_MODEL,
        id_embedding="unlimited",
        unlimited_collisions=2**10,
        unlimited_quotient_rows=2**14,
    )
    assert config.input_spec().id_halves and config.unlimited_half_buckets == 2**24
    with pytest.raises(ValueError, match="unlimited_collisions=1000"):
        FeedModelChoice(id_embedding="unlimited", unlimited_collisions=1000).to_feed_model_config()


def test_a_bad_choice_names_the_field_and_value():
    with pytest.raises(ValueError, match="calibration='platt'"):
        FeedModelChoice(calibration="platt").to_feed_model_config()


def test_the_asset_takes_the_choice_as_run_config(tmp_path):
    settings = settings_from_env({"LIRANK_WORLD": "tiny"})
    job = build_definitions(settings, str(tmp_path)).resolve_job_def("ranking_job")
    fields = job.run_config_schema.config_type.fields["ops"].config_type.fields
    config = fields["feed_ranking_model"].config_type.fields["config"].config_type.fields
    assert {"interaction", "calibration", "tower", "history_pooling", "task_grouping"} <= set(
        config
    )
    assert config["interaction"].default_value == GRAPH_FEED_MODEL.interaction


def test_the_choice_is_generated_from_every_architecture_field():
    """One declaration: every `FeedModelConfig` field but those learned from the data is a
    run-config field, typed for Dagster, defaulting to the graph's model."""
    architecture = {f.name for f in dataclasses.fields(FeedModelConfig)} - set(LEARNED_FROM_DATA)
    assert set(FeedModelChoice.model_fields) == architecture
    choice = FeedModelChoice()
    assert choice.tower_units == list(GRAPH_FEED_MODEL.tower_units)
    assert choice.score_weights == dict(GRAPH_FEED_MODEL.score_weights)
    assert FeedModelChoice(qr_collisions=7).to_feed_model_config().qr_collisions == 7


def test_the_multitask_and_history_item_choices_flow_through():
    choice = FeedModelChoice(
        multitask="ple",
        experts=3,
        task_experts=1,
        expert_units=32,
        history_pooling="transformer",
        history_items="posts_and_authors",
        post_buckets=5000,
    )
    config = choice.to_feed_model_config()
    assert (config.multitask, config.experts, config.task_experts, config.expert_units) == (
        "ple",
        3,
        1,
        32,
    )
    assert (config.history_items, config.post_buckets) == ("posts_and_authors", 5000)
    assert FeedModelChoice().multitask == GRAPH_FEED_MODEL.multitask == "shared"
    with pytest.raises(ValueError, match="multitask='moe'"):
        FeedModelChoice(multitask="moe").to_feed_model_config()
