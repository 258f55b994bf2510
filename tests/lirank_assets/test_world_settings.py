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
