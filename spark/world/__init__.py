"""The simulated feed world: a behavioural model that writes the raw feed logs and their truth.

The world is the project's ground truth: same seed and config give byte-identical tables, however
the members are split across processes. `FeedWorld` generates it in one process, `SparkWorld` as
Spark jobs (one task per shard of member blocks); both run the kernel `simulate_blocks`, whose
module docstring (`spark.world.kernel`) documents the behavioural model and its randomness.

Modules: `config` (WorldConfig), `behaviour` (constants, position curve), `sampling` (random
streams), `ids`, `entities` and `context` (topics, members, authors, posts), `sessions`,
`candidates`, `truth` (probabilities given examination, expected contributions), `kernel` (a
block's day), `serving` (serving a day with any ranker: slates, every candidate's truth),
`tables` (its Arrow tables), `state` (member state and its cache), `in_process` (FeedWorld),
`spark_world` (SparkWorld).
"""

from spark.world.behaviour import PositionCurve, position_curve
from spark.world.config import CONTENT_TYPES, PLATFORMS, WorldConfig
from spark.world.context import WorldContext, check_world_config, world_context
from spark.world.in_process import FeedWorld, ServedDay, WorldDay
from spark.world.kernel import BlockDay, initial_block_states, simulate_blocks
from spark.world.serving import (
    CANDIDATE_TRUTH,
    Ranker,
    expected_slate_contributions,
    production_ranker,
    slate_column,
)
from spark.world.spark_world import RAW_TABLE_ORDER, SparkWorld, WrittenTable, default_num_shards
from spark.world.state import (
    WORLD_STATE,
    log_followers,
    log_followers_of_counts,
    read_state,
    state_dir,
)
from spark.world.tables import BLOCK_TABLES, posts_table
from spark.world.truth import expected_session_contributions, expected_top1_contributions

__all__ = [
    "BLOCK_TABLES",
    "CANDIDATE_TRUTH",
    "CONTENT_TYPES",
    "PLATFORMS",
    "RAW_TABLE_ORDER",
    "Ranker",
    "ServedDay",
    "WORLD_STATE",
    "BlockDay",
    "FeedWorld",
    "PositionCurve",
    "SparkWorld",
    "WorldConfig",
    "WorldContext",
    "WorldDay",
    "WrittenTable",
    "check_world_config",
    "default_num_shards",
    "expected_session_contributions",
    "expected_slate_contributions",
    "expected_top1_contributions",
    "initial_block_states",
    "log_followers",
    "log_followers_of_counts",
    "posts_table",
    "production_ranker",
    "position_curve",
    "read_state",
    "simulate_blocks",
    "slate_column",
    "state_dir",
    "world_context",
]
