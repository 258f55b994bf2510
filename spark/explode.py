"""Session explosion: feed sessions + impressions -> one feature row per impressed post (§14).

A session log row carries the session's features (member, platform, hour, history) and the features
of every *served* post; the impression log carries the labels of the posts actually impressed. Two
plans turn them into model examples with the same rows:

* `explode_session_features` (the paper's plan, paper-notes §14): explode only the served posts'
  features and keys, inner-join the labels first on (session_id, post_id) (many served posts were
  never impressed, so the shuffle shrinks), then add the session-level features in a second join
  on session_id.
* `explode_session_features_naive` (the plan the paper replaced): explode every served post with
  all session and post features, then join the labels.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark.schemas import TRAINING_EXAMPLE

HOLDOUT_BUCKETS = 10
"""A non-random-bucket session is holdout when pmod(xxhash64(session_id), 10) == 0 (~10%)."""

SPLITS: tuple[str, ...] = ("train", "holdout", "random_bucket")

# Output contract: TRAINING_EXAMPLE without the long-dwell label (added by spark.dwell).
EXAMPLE_COLUMNS: tuple[str, ...] = tuple(
    name for name in TRAINING_EXAMPLE.names if name != "long_dwell"
)

# Keys + features taken from each served post (fields of SERVED_POST; the production ranker's
# `ranker_score` is not a model feature).
SERVED_POST_COLUMNS: tuple[str, ...] = (
    "post_id",
    "position",
    "author_id",
    "content_type",
    "hashtag_ids",
    "length",
    "post_age_hours",
    "author_log_followers",
)

# Session-level features joined in the second join (everything but the keys and the post part).
SESSION_COLUMNS: tuple[str, ...] = (
    "date",
    "session_id",
    "split",
    "member_id",
    "platform",
    "hour",
    "member_seniority",
    "member_industry",
    "member_country",
    "member_log_connections",
    "hist_post_ids",
    "hist_author_ids",
    "hist_actions",
)

# Labels taken from the impression log.
LABEL_COLUMNS: tuple[str, ...] = ("click", "like", "comment", "share", "vote", "dwell_seconds")


def split_expr() -> Column:
    """The split of a session as a built-in expression (the same on every run and partitioning).

    Random-bucket sessions are "random_bucket" (reserved for the replay metric, paper §5.2);
    otherwise pmod(xxhash64(session_id), 10) == 0 is "holdout", the rest "train".
    """
    return (
        F.when(F.col("random_bucket"), F.lit("random_bucket"))
        .when(
            F.pmod(F.xxhash64(F.col("session_id")), F.lit(HOLDOUT_BUCKETS)) == 0, F.lit("holdout")
        )
        .otherwise(F.lit("train"))
    )


def assign_split(df: DataFrame) -> DataFrame:
    """Add a `split` column ("train" | "holdout" | "random_bucket") to rows keyed by session.

    Needs `session_id` and `random_bucket`; every input column is kept, `split` comes last.
    """
    return df.select(*[F.col(name) for name in df.columns], split_expr().alias("split"))


def _served_posts(sessions: DataFrame) -> DataFrame:
    """Keys + post features of every served post: one row per (session, served post)."""
    return sessions.select(F.col("session_id"), F.explode(F.col("served")).alias("post")).select(
        F.col("session_id"),
        *[F.col("post").getField(name).alias(name) for name in SERVED_POST_COLUMNS],
    )


def _session_features(sessions: DataFrame) -> DataFrame:
    """Session-level features (no served list): one row per session, with its split."""
    return assign_split(sessions).select(*[F.col(name) for name in SESSION_COLUMNS])


def _labels(impressions: DataFrame) -> DataFrame:
    """Labels of the impressed posts, keyed by (session_id, post_id)."""
    return impressions.select(
        F.col("session_id"), F.col("post_id"), *[F.col(name) for name in LABEL_COLUMNS]
    )


def explode_session_features(sessions: DataFrame, impressions: DataFrame) -> DataFrame:
    """One example row per impression, by the paper's two-join plan (paper §6.1, notes §14).

    1. Explode only the served posts' keys and features (no session features ride along).
    2. Inner-join the impression labels on (session_id, post_id): served-but-not-impressed posts
       drop out here, before the wide session features are attached.
    3. Join the session-level features on session_id.

    The three inputs (served posts, labels, session features) are each hash-partitioned by
    `session_id` once, so the first join's output is already partitioned for the second join and
    the labelled rows are not shuffled again: every input crosses the network exactly once. Spark
    keeps that plan when `spark.sql.requireAllClusterKeysForCoPartition=false`, which
    `spark.session.DEFAULT_CONF` sets (with Spark's default `true`, the first join re-shuffles both
    sides by (session_id, post_id) and the labelled rows are shuffled once more: the same rows, at
    about 1.6x the shuffle bytes, see `bench/shuffle.py`).

    Args:
        sessions: rows of FEED_SESSIONS (any number of days; `session_id` must be unique across
            them, as it is the join key).
        impressions: rows of FEED_IMPRESSIONS for the same sessions.

    Returns:
        Columns `EXAMPLE_COLUMNS` (TRAINING_EXAMPLE without `long_dwell`), in that order; position
        and post features come from the served list, labels from the impression log.
    """
    session_key = F.col("session_id")
    served = _served_posts(sessions).repartition(session_key)
    labels = _labels(impressions).repartition(session_key)
    session_features = _session_features(sessions).repartition(session_key)
    labelled_posts = served.join(labels, on=["session_id", "post_id"], how="inner")
    examples = labelled_posts.join(session_features, on="session_id", how="inner")
    return examples.select(*[F.col(name) for name in EXAMPLE_COLUMNS])


def explode_session_features_naive(sessions: DataFrame, impressions: DataFrame) -> DataFrame:
    """The same rows as `explode_session_features`, by the naive plan the paper replaced (§14).

    Every served post is exploded together with all session features, and only then joined with
    the labels, so the shuffle carries the session features of posts that were never impressed.
    Kept as the baseline for tests and benchmarks.
    """
    exploded = assign_split(sessions).select(
        *[F.col(name) for name in SESSION_COLUMNS], F.explode(F.col("served")).alias("post")
    )
    flat = exploded.select(
        *[F.col(name) for name in SESSION_COLUMNS],
        *[F.col("post").getField(name).alias(name) for name in SERVED_POST_COLUMNS],
    )
    examples = flat.join(_labels(impressions), on=["session_id", "post_id"], how="inner")
    return examples.select(*[F.col(name) for name in EXAMPLE_COLUMNS])
