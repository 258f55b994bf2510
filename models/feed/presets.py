"""Named feed-model configs: the graph's cold-start architecture and the small test configs.

A preset is architecture only: its vocabularies and dense constants come from the training data
(`config_for` learns the vocabularies of a frame; the training job also sets the dense moments).

Example:

    config = config_for(examples, TINY_FEED_MODEL, **EVERY_BLOCK)
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from models.feed.config import FeedModelConfig
from models.inputs.spec import InputSpec

# The graph's cold-start architecture (its dense constants come from the data at training time):
# the library defaults (30-dim hashed IDs, target-attention history, affinity counts, 4 × 100
# click and contribution towers) with 2 low-rank DCNv2 cross layers (r = 32) in front of the
# towers and Murmur-hashed string IDs (so the served SavedModel takes "member:1234"). Chosen by
# measurement on the default simulated world (`bench/ablation.py`, 8 seeds): low-rank DCNv2 raised
# the ground-truth expected contributions of the top pick by +0.9% over the DLRM dot interaction
# (about 2 standard errors) for ~10% more training time; isotonic calibration, dense gating,
# task grouping, Residual DCN and QR ids were within noise, the history Transformer was worse
# (-4.8%). Every block stays selectable per cold start (`FeedModelChoice` on the asset).
GRAPH_FEED_MODEL = FeedModelConfig(interaction="cross", id_hash="murmur")

# A model small enough for unit tests and backend-parity runs (seconds on a CPU).
TINY_FEED_MODEL = FeedModelConfig(
    embedding_dim=8,
    tower_units=(16, 16),
    member_buckets=500,
    actor_buckets=100,
    hashtag_buckets=50,
    cross_projection_dim=4,
    qr_collisions=16,
    unlimited_collisions=64,
    unlimited_quotient_rows=64,
    calibration_buckets=40,
    calibration_step=0.4,
)
# Every block switched away from its default: the one config that exercises them all.
EVERY_BLOCK: dict[str, str] = {
    "history_pooling": "transformer",
    "interaction": "residual_dcn",
    "calibration": "isotonic",
    "tower": "gated",
    "id_embedding": "qr",
    "task_grouping": "by_rate",
    "id_hash": "murmur",
}


def config_for(
    examples: pd.DataFrame, base: FeedModelConfig | None = None, **overrides
) -> FeedModelConfig:
    """`base` (default: `FeedModelConfig()`) with `overrides`, and the `content_type` and
    `platform` vocabularies learned from the TRAINING_EXAMPLE rows `examples`
    (`InputSpec.learned_from`: most frequent first)."""
    config = dataclasses.replace(base or FeedModelConfig(), **overrides)
    spec = InputSpec.learned_from(examples)
    return config.with_vocabularies(spec.content_types, spec.platforms)
