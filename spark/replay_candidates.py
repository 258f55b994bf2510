"""Replay candidates: every served post of the random-bucket sessions, impressed or not (§15).

The replay metric (paper §5.2, notes §15) re-ranks the posts served in random-bucket sessions with a
new model and counts the sessions whose new #1 equals the post actually shown at position 1. So it
needs *all* served posts of those sessions with the same features as the training examples, and
the labels of the ones that were impressed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.explode import (
    EXAMPLE_COLUMNS,
    LABEL_COLUMNS,
    SERVED_POST_COLUMNS,
    SESSION_COLUMNS,
    assign_split,
)
from spark.schemas import CONTRIBUTION_ACTIONS

# Output contract: the example columns (split is always "random_bucket"), then `impressed`,
# `contribution` and the production ranker's logged score (so replay can compare against it; it is
# not a model feature).
REPLAY_CANDIDATE_COLUMNS: tuple[str, ...] = (
    *EXAMPLE_COLUMNS,
    "impressed",
    "contribution",
    "ranker_score",
)


def random_bucket_candidates(sessions: DataFrame, impressions: DataFrame) -> DataFrame:
    """All served posts of the random-bucket sessions with features, labels and `impressed`.

    Same plan as `spark.explode.explode_session_features` (post keys + features first, labels,
    then session features), but the label join is a left join so that served posts that were never
    impressed stay, with `impressed = False` and every label 0 (`dwell_seconds` 0.0).

    Args:
        sessions: rows of FEED_SESSIONS; only `random_bucket` sessions are kept.
        impressions: rows of FEED_IMPRESSIONS for the same sessions.

    Returns:
        Columns `REPLAY_CANDIDATE_COLUMNS`: the training-example columns without `long_dwell`
        (click/like/comment/share/vote int8, dwell_seconds float32), then `impressed` (bool) and
        `contribution` (int8, 1 when any of like/comment/share/vote), then `ranker_score`.
    """
    bucket_sessions = sessions.where(F.col("random_bucket"))
    served = bucket_sessions.select(
        F.col("session_id"), F.explode(F.col("served")).alias("post")
    ).select(
        F.col("session_id"),
        *[F.col("post").getField(name).alias(name) for name in SERVED_POST_COLUMNS],
        F.col("post").getField("ranker_score").alias("ranker_score"),
    )
    labels = impressions.select(
        F.col("session_id"),
        F.col("post_id"),
        F.lit(True).alias("impressed"),
        *[F.col(name) for name in LABEL_COLUMNS],
    )
    with_labels = served.join(labels, on=["session_id", "post_id"], how="left")
    session_features = assign_split(bucket_sessions).select(
        *[F.col(name) for name in SESSION_COLUMNS]
    )
    candidates = with_labels.join(session_features, on="session_id", how="inner")
    filled = candidates.select(
        *[F.col(name) for name in EXAMPLE_COLUMNS if name not in LABEL_COLUMNS],
        *[
            F.coalesce(F.col(name), F.lit(0)).cast("tinyint").alias(name)
            for name in LABEL_COLUMNS
            if name != "dwell_seconds"
        ],
        F.coalesce(F.col("dwell_seconds"), F.lit(0.0)).cast("float").alias("dwell_seconds"),
        F.coalesce(F.col("impressed"), F.lit(False)).alias("impressed"),
        F.col("ranker_score"),
    )
    contribution = F.greatest(*[F.col(name) for name in CONTRIBUTION_ACTIONS]) > 0
    return filled.select(
        *[F.col(name) for name in EXAMPLE_COLUMNS],
        F.col("impressed"),
        contribution.cast("tinyint").alias("contribution"),
        F.col("ranker_score"),
    )
