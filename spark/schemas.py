"""Schemas of the raw feed logs and of the model-ready examples: the contracts between stages.

Raw tables are what a feed logging system emits (or what the simulator writes); every table is
partitioned by `date`. The schemas are Arrow schemas so that the simulator, the user-log validator
and Spark (which reads the Parquet) agree on one definition. `SCHEMA_VERSION` changes whenever a
contract below changes; readers check it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

SCHEMA_VERSION = 2
# 2: TRAINING_EXAMPLE carries `hist_post_ids` (the history Transformer's post items, paper §6)

# The actions a member takes on an impression, in the order `hist_actions` indexes them.
ACTIONS: tuple[str, ...] = ("click", "like", "comment", "share", "vote")
# The actions that count as a contribution (the replay metric's success, paper §15).
CONTRIBUTION_ACTIONS: tuple[str, ...] = ("like", "comment", "share", "vote")
# Categorical string columns: their values are open (a user's logs may hold content types or
# platforms no simulator produces); models learn a vocabulary from the data, with an
# out-of-vocabulary bucket for values they have not seen.
CATEGORICAL_COLUMNS: tuple[str, ...] = ("content_type", "platform")

SERVED_POST = pa.struct(
    [
        ("post_id", pa.int64()),
        ("position", pa.int32()),  # 0-based served position
        ("author_id", pa.int64()),
        ("content_type", pa.string()),  # categorical: e.g. text, image, video, article, poll, job
        ("hashtag_ids", pa.list_(pa.int32())),  # 1-3 hashtags
        ("length", pa.float32()),  # words for text-like posts, seconds for video
        ("post_age_hours", pa.float32()),
        ("author_log_followers", pa.float32()),
        ("ranker_score", pa.float32()),  # production ranker's score (not a probability)
    ]
)

FEED_SESSIONS = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("member_id", pa.int64()),
        ("platform", pa.string()),  # categorical: e.g. web, ios, android
        ("hour", pa.int32()),
        ("random_bucket", pa.bool_()),  # top-N shuffled uniformly (pseudo-random ranker)
        ("member_seniority", pa.int32()),
        ("member_industry", pa.int32()),
        ("member_country", pa.int32()),
        ("member_log_connections", pa.float32()),
        # member interaction history at serving time, oldest first, at most history_length long
        ("hist_post_ids", pa.list_(pa.int64())),
        ("hist_author_ids", pa.list_(pa.int64())),
        ("hist_actions", pa.list_(pa.int32())),  # index into ACTIONS
        ("served", pa.list_(SERVED_POST)),
    ]
)

FEED_IMPRESSIONS = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("member_id", pa.int64()),
        ("post_id", pa.int64()),
        ("position", pa.int32()),
        ("click", pa.int8()),
        ("like", pa.int8()),
        ("comment", pa.int8()),
        ("share", pa.int8()),
        ("vote", pa.int8()),
        ("dwell_seconds", pa.float32()),
    ]
)

POSTS = pa.schema(
    [
        ("date", pa.date32()),  # creation date
        ("post_id", pa.int64()),
        ("author_id", pa.int64()),
        ("content_type", pa.string()),
        ("hashtag_ids", pa.list_(pa.int32())),
        ("length", pa.float32()),
    ]
)

MEMBERS = pa.schema(
    [
        ("date", pa.date32()),  # snapshot date (history as of the start of that day)
        ("member_id", pa.int64()),
        ("seniority", pa.int32()),
        ("industry", pa.int32()),
        ("country", pa.int32()),
        ("log_connections", pa.float32()),
        ("hist_post_ids", pa.list_(pa.int64())),
        ("hist_author_ids", pa.list_(pa.int64())),
        ("hist_actions", pa.list_(pa.int32())),
    ]
)

# Ground truth: one row per served post. No feature pipeline reads it; only evaluation does.
FEED_GROUND_TRUTH = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("post_id", pa.int64()),
        ("position", pa.int32()),
        ("p_examine", pa.float32()),  # P(examined | impressed at this position)
        ("p_click", pa.float32()),  # action probabilities given examination
        ("p_like", pa.float32()),
        ("p_comment", pa.float32()),
        ("p_share", pa.float32()),
        ("p_vote", pa.float32()),
        ("p_contribution", pa.float32()),  # P(any of like/comment/share/vote | examined)
    ]
)

RAW_TABLES: dict[str, pa.Schema] = {
    "feed_sessions": FEED_SESSIONS,
    "feed_impressions": FEED_IMPRESSIONS,
    "posts": POSTS,
    "members": MEMBERS,
}

LABELS: tuple[str, ...] = ("click", "like", "comment", "share", "vote", "long_dwell")

# Model-ready example: one row per impression (training) or per served post (replay candidates).
TRAINING_EXAMPLE = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("split", pa.string()),  # "train" | "holdout" | "random_bucket"
        ("member_id", pa.int64()),
        ("post_id", pa.int64()),
        ("position", pa.int32()),
        ("platform", pa.string()),
        ("hour", pa.int32()),
        ("member_seniority", pa.int32()),
        ("member_industry", pa.int32()),
        ("member_country", pa.int32()),
        ("member_log_connections", pa.float32()),
        # the member's history, aligned, oldest first (FEED_SESSIONS's columns)
        ("hist_post_ids", pa.list_(pa.int64())),
        ("hist_author_ids", pa.list_(pa.int64())),
        ("hist_actions", pa.list_(pa.int32())),
        ("author_id", pa.int64()),
        ("content_type", pa.string()),
        ("hashtag_ids", pa.list_(pa.int32())),
        ("length", pa.float32()),
        ("post_age_hours", pa.float32()),
        ("author_log_followers", pa.float32()),
        ("click", pa.int8()),
        ("like", pa.int8()),
        ("comment", pa.int8()),
        ("share", pa.int8()),
        ("vote", pa.int8()),
        ("dwell_seconds", pa.float32()),
        ("long_dwell", pa.int8()),
    ]
)

# TRAINING_EXAMPLE column -> the SCHEMA_VERSION that added it (examples written before lack it)
EXAMPLE_COLUMNS_ADDED: dict[str, int] = {"hist_post_ids": 2}


def check_example_schema(
    columns: Iterable[str], source: object, required: Iterable[str] = TRAINING_EXAMPLE.names
) -> None:
    """Raise ValueError naming the `required` columns missing from `columns` (of `source`, a
    path or a description); when a later `SCHEMA_VERSION` added them, say that the examples
    predate it and how to rebuild them from the raw logs."""
    present = set(columns)
    missing = [name for name in required if name not in present]
    if not missing:
        return
    added = {name: EXAMPLE_COLUMNS_ADDED[name] for name in missing if name in EXAMPLE_COLUMNS_ADDED}
    if added:
        raise ValueError(
            f"examples of {source} lack {sorted(added)}, added in example schema version "
            f"{max(added.values())} (this code: {SCHEMA_VERSION}); they were written by an "
            "older version. Rebuild them from the raw logs: re-materialize `session_explosion`, "
            "`training_examples` and `training_examples_avro` for those days"
        )
    raise ValueError(
        f"examples of {source} are missing columns {missing}; expected TRAINING_EXAMPLE rows"
    )
