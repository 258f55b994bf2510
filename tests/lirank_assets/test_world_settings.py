"""World presets and the world's settings: xlarge is sized for 10M+ impressions; shard count."""

from __future__ import annotations

import numpy as np
import pytest

from lirank_assets.definitions import build_resources
from lirank_assets.settings import WORLD_PRESETS, settings_from_env
from spark.world import WorldContext, initial_block_states, simulate_blocks
from spark.world_state import log_followers_of_counts


def test_xlarge_preset_is_sized_for_ten_million_impressions() -> None:
    """Project the preset's impressions from two of its blocks (512 members) on day 0."""
    config = WORLD_PRESETS["xlarge"]
    context = WorldContext(config)
    state = list(initial_block_states(context, [0, 1]))
    followers = log_followers_of_counts(config, np.zeros(config.num_authors, dtype=np.int64))
    blocks = list(simulate_blocks(context, 0, state, followers))
    impressions = sum(b.tables["feed_impressions"].num_rows for b in blocks)
    members = sum(b.state.num_rows for b in blocks)
    projected = impressions / members * config.num_members * config.num_days
    assert 10_000_000 < projected < 20_000_000, projected


def test_world_shards_come_from_the_environment(tmp_path) -> None:
    assert settings_from_env({}).world_shards is None
    settings = settings_from_env({"LIRANK_WORLD": "tiny", "LIRANK_WORLD_SHARDS": "3"})
    assert settings.world_shards == 3
    source = build_resources(settings, str(tmp_path))["log_source"]
    assert source.world_num_shards == 3
    assert source.world_config() == WORLD_PRESETS["tiny"]
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=f"LIRANK_WORLD_SHARDS={bad!r}"):
            settings_from_env({"LIRANK_WORLD_SHARDS": bad})


def test_log_source_carries_every_world_field() -> None:
    """No `WorldConfig` field is dropped on its way through the Dagster resource."""
    import dataclasses
    import datetime as dt

    from lirank_assets.resources import FeedLogSource
    from spark.world_config import WorldConfig

    world = WorldConfig(
        seed=11,
        start_date=dt.date(2025, 3, 2),
        num_days=5,
        num_members=900,
        num_authors=90,
        posts_per_day=200,
        mean_sessions_per_member=2.1,
        candidates_per_session=40,
        served_per_session=12,
        random_bucket_share=0.3,
        interest_dim=6,
        history_length=33,
        post_lifetime_days=2,
        members_per_block=128,
    )
    defaults = WorldConfig()
    changed = [f.name for f in dataclasses.fields(WorldConfig)]
    assert all(getattr(world, name) != getattr(defaults, name) for name in changed)
    source = FeedLogSource.simulated(world, num_shards=2)
    assert source.world_config() == world
    assert source.world_num_shards == 2
