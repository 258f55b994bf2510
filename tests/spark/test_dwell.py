"""Percentile long-dwell labels within context clusters (paper §10)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from spark.dwell import (
    CLUSTER_COLUMNS,
    THRESHOLD_COLUMNS,
    dwell_thresholds,
    long_dwell_labels,
    position_bucket,
    positive_rate_by,
    static_long_dwell_labels,
    trailing_window,
)
from spark.explode import EXAMPLE_COLUMNS, explode_session_features
from spark.schemas import TRAINING_EXAMPLE

DAY = dt.date(2026, 1, 1)


def _examples(spark, frame: pd.DataFrame):
    """Full example rows (EXAMPLE_COLUMNS) from a frame of position/content_type/platform/dwell."""
    base = spark.createDataFrame(frame)
    filler = {
        "date": F.lit(DAY),
        "session_id": F.monotonically_increasing_id(),
        "split": F.lit("train"),
        "member_id": F.lit(1).cast("long"),
        "post_id": F.monotonically_increasing_id(),
        "position": F.col("position").cast("int"),
        "platform": F.col("platform"),
        "hour": F.lit(9),
        "member_seniority": F.lit(1),
        "member_industry": F.lit(1),
        "member_country": F.lit(1),
        "member_log_connections": F.lit(1.0).cast("float"),
        "hist_post_ids": F.array(F.lit(5).cast("long")),
        "hist_author_ids": F.array(F.lit(1).cast("long")),
        "hist_actions": F.array(F.lit(0)),
        "author_id": F.lit(1).cast("long"),
        "content_type": F.col("content_type"),
        "hashtag_ids": F.array(F.lit(1)),
        "length": F.lit(10.0).cast("float"),
        "post_age_hours": F.lit(1.0).cast("float"),
        "author_log_followers": F.lit(1.0).cast("float"),
        **{label: F.lit(0).cast("tinyint") for label in ("click", "like", "comment", "share")},
        "vote": F.lit(0).cast("tinyint"),
        "dwell_seconds": F.col("dwell_seconds").cast("float"),
    }
    return base.select(*[filler[name].alias(name) for name in EXAMPLE_COLUMNS])


def test_position_buckets(spark):
    positions = spark.range(-1, 13).select(
        F.when(F.col("id") >= 0, F.col("id")).cast("int").alias("position")
    )
    buckets = [
        row.bucket
        for row in positions.select(position_bucket(F.col("position")).alias("bucket"))
        .orderBy("position")
        .collect()
    ]
    assert buckets == [None, 0, 1, 2, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5]


def test_thresholds_equal_hand_computed_percentiles_and_back_off(spark):
    # (position, content_type, platform, dwell): cluster (0, text, web) has 5 rows -> its own
    # threshold; (1, text, web) has 1 row -> backs off to (text, web) with 6 rows;
    # (0, video, ios) has 1 row and (video, ios) too -> content "video" has 3 rows, enough;
    # (0, poll, android) alone in "poll" -> global.
    rows = [(0, "text", "web", d) for d in (1.0, 2.0, 3.0, 4.0, 5.0)]
    rows += [(1, "text", "web", 60.0)]
    rows += [(0, "video", "ios", 100.0), (2, "video", "web", 200.0), (7, "video", "web", 300.0)]
    rows += [(12, "poll", "android", 7.0)]
    frame = pd.DataFrame(rows, columns=["position", "content_type", "platform", "dwell_seconds"])
    thresholds = dwell_thresholds(_examples(spark, frame), percentile=0.5, min_count=3)
    assert tuple(thresholds.columns) == THRESHOLD_COLUMNS
    got = {
        (row.position_bucket, row.content_type, row.platform): row for row in thresholds.collect()
    }
    assert set(got) == {
        (0, "text", "web"),
        (1, "text", "web"),
        (0, "video", "ios"),
        (2, "video", "web"),
        (4, "video", "web"),
        (5, "poll", "android"),
    }
    everything = frame["dwell_seconds"].to_numpy()
    expected = {
        (0, "text", "web"): ("cluster", 5, 3.0),
        (1, "text", "web"): ("content_platform", 6, np.percentile([1, 2, 3, 4, 5, 60], 50)),
        (0, "video", "ios"): ("content", 3, 200.0),
        (2, "video", "web"): ("content", 3, 200.0),
        (4, "video", "web"): ("content", 3, 200.0),
        (5, "poll", "android"): ("global", 10, np.percentile(everything, 50)),
    }
    for key, (level, count, threshold) in expected.items():
        row = got[key]
        assert (row.level, row.sample_count) == (level, count), key
        assert row.threshold_seconds == pytest.approx(threshold), key
        assert row.percentile == 0.5
        assert row.global_threshold_seconds == pytest.approx(np.percentile(everything, 50))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"percentile": 1.0}, "percentile=1.0"),
        ({"percentile": 0}, "percentile=0"),
        ({"min_count": 0}, "min_count=0"),
    ],
)
def test_bad_arguments_raise_naming_the_value(spark, kwargs, named):
    frame = pd.DataFrame(
        [(0, "text", "web", 1.0)], columns=["position", "content_type", "platform", "dwell_seconds"]
    )
    with pytest.raises(ValueError, match=named):
        dwell_thresholds(_examples(spark, frame), **kwargs)


def test_labels_join_the_cluster_threshold_and_fall_back_to_global(spark):
    window = pd.DataFrame(
        [(0, "text", "web", d) for d in (1.0, 2.0, 3.0, 4.0, 5.0)]
        + [(0, "video", "web", d) for d in (10.0, 20.0, 30.0, 40.0, 50.0)],
        columns=["position", "content_type", "platform", "dwell_seconds"],
    )
    thresholds = dwell_thresholds(_examples(spark, window), percentile=0.5, min_count=1)
    # global median of the window = (5 + 10) / 2 = 7.5; text/web = 3; video/web = 30.
    today = pd.DataFrame(
        [
            (0, "text", "web", 3.5),  # > 3 -> 1
            (0, "text", "web", 3.0),  # not > 3 -> 0
            (0, "video", "web", 25.0),  # < 30 -> 0
            (0, "poll", "ios", 8.0),  # unseen cluster: > 7.5 -> 1
            (0, "poll", "ios", 7.0),  # unseen cluster: < 7.5 -> 0
        ],
        columns=["position", "content_type", "platform", "dwell_seconds"],
    )
    labelled = long_dwell_labels(_examples(spark, today), thresholds)
    assert tuple(labelled.columns) == tuple(TRAINING_EXAMPLE.names)
    assert dict(labelled.dtypes)["long_dwell"] == "tinyint"
    got = sorted(
        (row.content_type, row.dwell_seconds, row.long_dwell) for row in labelled.collect()
    )
    assert got == [
        ("poll", 7.0, 0),
        ("poll", 8.0, 1),
        ("text", 3.0, 0),
        ("text", 3.5, 1),
        ("video", 25.0, 0),
    ]
    (overall,) = positive_rate_by(labelled).collect()
    assert (overall.rows, overall.positive_rate) == (5, pytest.approx(0.4))


def test_percentile_labels_hit_the_rate_per_cluster_where_a_static_threshold_does_not(spark):
    rng = np.random.default_rng(0)
    scales = {"text": 8.0, "image": 5.0, "video": 40.0}  # median dwell seconds per content type
    parts = []
    for content_type, scale in scales.items():
        for platform, platform_factor in (("web", 1.3), ("ios", 0.8)):
            for position in (0, 6):
                n = 2500
                dwell = scale * platform_factor * (1.0 - position / 20) * rng.lognormal(0, 0.8, n)
                parts.append(
                    pd.DataFrame(
                        {
                            "position": position,
                            "content_type": content_type,
                            "platform": platform,
                            "dwell_seconds": dwell,
                        }
                    )
                )
    examples = _examples(spark, pd.concat(parts, ignore_index=True)).cache()
    # Materialized like the asset does (thresholds are written, then read back).
    computed = dwell_thresholds(examples, percentile=0.9, min_count=100)
    threshold_rows = computed.collect()
    assert {row.level for row in threshold_rows} == {"cluster"}
    thresholds = spark.createDataFrame(threshold_rows, computed.schema)
    labelled = long_dwell_labels(examples, thresholds)
    per_cluster = positive_rate_by(labelled, "content_type", "platform", "position").toPandas()
    assert len(per_cluster) == 12
    assert per_cluster["positive_rate"].between(0.085, 0.115).all(), per_cluster
    assert per_cluster["rows"].sum() == 30000
    overall = (per_cluster["rows"] * per_cluster["positive_rate"]).sum() / 30000
    assert overall == pytest.approx(0.1, abs=0.005)

    static = static_long_dwell_labels(examples, threshold_seconds=25.0)
    by_type = positive_rate_by(static, "content_type").toPandas().set_index("content_type")
    assert by_type.loc["video", "positive_rate"] > 0.5
    assert by_type.loc["image", "positive_rate"] < 0.05
    examples.unpersist()


def test_static_threshold_rejects_negative(spark):
    frame = pd.DataFrame(
        [(0, "text", "web", 1.0)], columns=["position", "content_type", "platform", "dwell_seconds"]
    )
    with pytest.raises(ValueError, match="threshold_seconds=-1"):
        static_long_dwell_labels(_examples(spark, frame), -1)


def test_trailing_window_is_the_day_and_the_days_before_it_clipped_at_the_first_day():
    day = dt.date(2026, 1, 10)
    assert trailing_window(day, 3) == [dt.date(2026, 1, 8), dt.date(2026, 1, 9), day]
    assert trailing_window(day, 7, first=dt.date(2026, 1, 9)) == [dt.date(2026, 1, 9), day]
    assert trailing_window(day, 1) == [day]
    assert len(trailing_window(day)) == 7
    with pytest.raises(ValueError, match="window_days=0"):
        trailing_window(day, 0)
    with pytest.raises(ValueError, match="starts after it"):
        trailing_window(day, 3, first=dt.date(2026, 1, 11))


@pytest.fixture(scope="module")
def default_world_examples(spark, tmp_path_factory):
    """Exploded examples (paper plan) of 3 days of the default world, via Parquet like the graph."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spark.world import FeedWorld, WorldConfig

    directory = tmp_path_factory.mktemp("default-world")
    world = FeedWorld(WorldConfig())
    days = [world.simulate_day(day) for day in range(3)]
    for name in ("feed_sessions", "feed_impressions"):
        pq.write_table(
            pa.concat_tables([getattr(day, name) for day in days]), directory / f"{name}.parquet"
        )
    examples = explode_session_features(
        spark.read.parquet(str(directory / "feed_sessions.parquet")),
        spark.read.parquet(str(directory / "feed_impressions.parquet")),
    ).cache()
    yield examples
    examples.unpersist()


def test_on_the_default_world_every_cluster_is_within_1_5_points_of_the_target_rate(
    spark, default_world_examples
):
    """The last day's thresholds over its trailing window (here the 3 simulated days) label
    100 - 90 = 10% of each context cluster of that window long, within +-1.5 points; a single
    static threshold with the same overall rate is far from it for most content types."""
    examples = default_world_examples
    dates = sorted(row.date for row in examples.select("date").distinct().collect())
    window = trailing_window(dates[-1], 7, first=dates[0])
    assert window == dates
    computed = dwell_thresholds(examples.where(F.col("date").isin(window)), 0.9, min_count=100)
    stored = spark.createDataFrame(computed.toPandas(), computed.schema)  # as the asset reads it
    labelled = long_dwell_labels(examples, stored)
    keyed = labelled.withColumn("position_bucket", position_bucket(F.col("position")))
    per_cluster = positive_rate_by(keyed, *CLUSTER_COLUMNS).toPandas()
    levels = stored.toPandas()
    assert len(per_cluster) == len(levels) > 50
    assert per_cluster["rows"].sum() == examples.count() > 40000
    own = levels[levels["level"] == "cluster"]
    assert len(own) == len(levels), levels["level"].value_counts()
    deviation = (per_cluster["positive_rate"] - 0.10).abs()
    assert (deviation <= 0.015).all(), per_cluster[deviation > 0.015]

    static_threshold = float(levels["global_threshold_seconds"].iloc[0])
    static = static_long_dwell_labels(examples, static_threshold)
    by_type = {
        name: positive_rate_by(frame, "content_type").toPandas()["positive_rate"]
        for name, frame in (("percentile", labelled), ("static", static))
    }
    assert by_type["percentile"].std(ddof=0) * 10 < by_type["static"].std(ddof=0)
    assert ((by_type["static"] - 0.10).abs() > 0.015).sum() >= 3
