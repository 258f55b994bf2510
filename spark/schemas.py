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

# ------------------------------------------------------------------ Ads CTR (paper §1, §17)
# Sponsored posts fill ad slots inside feed sessions; each ad's chargeable click is one of three
# definitions, the chargeability groups (one model head each): a website visit only; a visit or
# a social action (like, comment, follow); any engagement, video views (≥ 2 s) included.
CHARGEABILITY_GROUPS: tuple[str, ...] = ("website_visit", "visit_or_social", "any_engagement")
# The raw actions on a sponsored post; the chargeable click of group g is "any of AD_ACTIONS[:g+1]".
AD_ACTIONS: tuple[str, ...] = ("website_visit", "social_action", "video_view")

AD_CATALOG = pa.schema(
    [
        ("date", pa.date32()),  # the day this snapshot of live ads is for
        ("ad_id", pa.int64()),
        ("campaign_id", pa.int64()),
        ("advertiser_id", pa.int64()),
        ("advertiser_industry", pa.int32()),
        ("chargeability_group", pa.string()),  # one of CHARGEABILITY_GROUPS (closed domain)
        ("creative_type", pa.string()),  # categorical: e.g. image, video, text, carousel
        ("bid", pa.float32()),  # the advertiser's bid per chargeable click, > 0
    ]
)

# One row per served sponsored slot; actions are 0 where `impressed` is false.
AD_IMPRESSIONS = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),  # the feed session the slot is in
        ("member_id", pa.int64()),
        ("platform", pa.string()),
        ("hour", pa.int32()),
        ("slot", pa.int32()),  # 0-based ad slot of the session
        ("feed_position", pa.int32()),  # 0-based position in the feed
        ("ad_id", pa.int64()),  # an ad of the day's AD_CATALOG
        ("ranker_pctr", pa.float32()),  # production ranker's predicted chargeable CTR, in (0, 1)
        ("ranker_score", pa.float32()),  # ranker_pctr * bid: what the auction ranks by
        ("impressed", pa.bool_()),
        ("website_visit", pa.int8()),
        ("social_action", pa.int8()),
        ("video_view", pa.int8()),
        ("chargeable_click", pa.int8()),  # the action(s) of the ad's own chargeability group
    ]
)

# Ground truth: one row per served slot (simulator only; only evaluation reads it).
ADS_GROUND_TRUTH = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("slot", pa.int32()),
        ("ad_id", pa.int64()),
        ("p_examine", pa.float32()),  # P(examined | impressed at the slot's feed position)
        # P(chargeable click of each group's definition | examined), CHARGEABILITY_GROUPS order
        ("p_website_visit", pa.float32()),
        ("p_visit_or_social", pa.float32()),
        ("p_any_engagement", pa.float32()),
        ("p_chargeable", pa.float32()),  # the ad's own group's, given examination
    ]
)

# ------------------------------------------------------------------ Jobs (paper §1, §17)
JOB_CHANNELS: tuple[str, ...] = ("search", "jymbii")  # Job Search (a query), JYMBII (recs)

JOB_POSTINGS = pa.schema(
    [
        ("date", pa.date32()),  # creation date; a posting stays live `job_lifetime_days`
        ("job_id", pa.int64()),
        ("company_id", pa.int64()),
        ("title_id", pa.int32()),  # standardized title
        ("skill_ids", pa.list_(pa.int32())),  # required skills, 1-5
        ("industry", pa.int32()),
        ("seniority", pa.int32()),
        ("country", pa.int32()),
    ]
)

MEMBER_PROFILES = pa.schema(
    [
        ("date", pa.date32()),  # snapshot date
        ("member_id", pa.int64()),
        ("title_id", pa.int32()),
        ("skill_ids", pa.list_(pa.int32())),
        ("company_id", pa.int64()),
        ("industry", pa.int32()),
        ("seniority", pa.int32()),
        ("country", pa.int32()),
    ]
)

# One row per served job; actions are 0 where `impressed` is false. A qualified application is
# an application whose member meets the posting's bar: seniority within one level of the
# job's and at least half of its required skills (`spark.world.jobs.is_qualified`).
JOB_IMPRESSIONS = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("member_id", pa.int64()),
        ("channel", pa.string()),  # one of JOB_CHANNELS (closed domain)
        ("query_title_id", pa.int32()),  # the searched title; -1 for JYMBII
        ("platform", pa.string()),
        ("hour", pa.int32()),
        ("position", pa.int32()),  # 0-based served position
        ("job_id", pa.int64()),  # a posting live that day
        ("ranker_score", pa.float32()),  # production ranker's score (not a probability)
        ("impressed", pa.bool_()),
        ("click", pa.int8()),
        ("apply", pa.int8()),
        ("qualified_apply", pa.int8()),
    ]
)

JOBS_GROUND_TRUTH = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("job_id", pa.int64()),
        ("position", pa.int32()),
        ("p_examine", pa.float32()),  # P(examined | impressed at this position)
        ("p_click", pa.float32()),  # given examination
        ("p_apply", pa.float32()),  # P(click and apply | examined)
        ("p_qualified_apply", pa.float32()),  # P(qualified application | examined)
    ]
)

# The raw tables of each product beyond the feed's (a user's logs bring them per product).
PRODUCT_RAW_TABLES: dict[str, dict[str, pa.Schema]] = {
    "ads": {"ad_catalog": AD_CATALOG, "ad_impressions": AD_IMPRESSIONS},
    "jobs": {
        "job_postings": JOB_POSTINGS,
        "member_profiles": MEMBER_PROFILES,
        "job_impressions": JOB_IMPRESSIONS,
    },
}
PRODUCT_GROUND_TRUTH: dict[str, tuple[str, pa.Schema]] = {
    "ads": ("ads_ground_truth", ADS_GROUND_TRUTH),
    "jobs": ("jobs_ground_truth", JOBS_GROUND_TRUTH),
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
