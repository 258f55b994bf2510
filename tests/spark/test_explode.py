"""Session explosion (paper §14) and replay candidates (§15) on hand-made sessions."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from spark.explode import (
    EXAMPLE_COLUMNS,
    assign_split,
    explode_session_features,
    explode_session_features_naive,
)
from spark.replay_candidates import REPLAY_CANDIDATE_COLUMNS, random_bucket_candidates
from spark.schemas import FEED_IMPRESSIONS, FEED_SESSIONS, TRAINING_EXAMPLE

DAY = dt.date(2026, 1, 1)


def _post(post_id: int, position: int, content_type: str = "text") -> dict:
    return {
        "post_id": post_id,
        "position": position,
        "author_id": post_id * 10,
        "content_type": content_type,
        "hashtag_ids": [post_id % 7],
        "length": float(post_id),
        "post_age_hours": 1.5,
        "author_log_followers": 2.0,
        "ranker_score": post_id / 1000.0,
    }


def _session(session_id: int, random_bucket: bool, served: list[dict]) -> dict:
    return {
        "date": DAY,
        "session_id": session_id,
        "member_id": session_id + 1000,
        "platform": "ios" if random_bucket else "web",
        "hour": 9,
        "random_bucket": random_bucket,
        "member_seniority": 3,
        "member_industry": 4,
        "member_country": 5,
        "member_log_connections": 6.0,
        "hist_post_ids": [1, 2],
        "hist_author_ids": [10, 20],
        "hist_actions": [0, 1],
        "served": served,
    }


def _impression(session_id: int, post_id: int, position: int, click: int, dwell: float) -> dict:
    return {
        "date": DAY,
        "session_id": session_id,
        "member_id": session_id + 1000,
        "post_id": post_id,
        "position": position,
        "click": click,
        "like": 1 if post_id == 201 else 0,
        "comment": 0,
        "share": 0,
        "vote": 0,
        "dwell_seconds": dwell,
    }


@pytest.fixture(scope="module")
def logs(spark, tmp_path_factory):
    """Session 1: 3 served, 2 impressed. Session 2 (random bucket): 3 served (one of them post 101,
    also served in session 1), 1 impressed. Session 3: served, never impressed."""
    sessions = [
        _session(1, False, [_post(101, 0), _post(102, 1, "video"), _post(103, 2)]),
        _session(2, True, [_post(201, 0, "poll"), _post(202, 1), _post(101, 2)]),
        _session(3, False, [_post(301, 0)]),
    ]
    impressions = [
        _impression(1, 101, 0, click=1, dwell=11.0),
        _impression(1, 102, 1, click=0, dwell=12.0),
        _impression(2, 201, 0, click=1, dwell=21.0),
    ]
    root = tmp_path_factory.mktemp("explode")
    pq.write_table(pa.Table.from_pylist(sessions, schema=FEED_SESSIONS), root / "s.parquet")
    pq.write_table(pa.Table.from_pylist(impressions, schema=FEED_IMPRESSIONS), root / "i.parquet")
    return spark.read.parquet(str(root / "s.parquet")), spark.read.parquet(str(root / "i.parquet"))


def _rows(df) -> list[tuple]:
    return sorted(tuple(row) for row in df.collect())


def test_examples_are_impressions_with_the_right_labels_and_features(logs):
    sessions, impressions = logs
    examples = explode_session_features(sessions, impressions)
    assert tuple(examples.columns) == EXAMPLE_COLUMNS
    assert EXAMPLE_COLUMNS == tuple(TRAINING_EXAMPLE.names[:-1])
    table = examples.toArrow()
    for field in table.schema:  # Spark types map back to the Arrow contract
        assert field.type.equals(TRAINING_EXAMPLE.field(field.name).type), field
    rows = {
        (row["session_id"], row["post_id"]): SimpleNamespace(**row) for row in table.to_pylist()
    }
    # Served-but-not-impressed posts (103, 202, 101 in session 2, 301) are not examples.
    assert set(rows) == {(1, 101), (1, 102), (2, 201)}
    assert (rows[1, 101].click, rows[1, 101].dwell_seconds) == (1, 11.0)
    assert (rows[1, 102].click, rows[1, 102].dwell_seconds) == (0, 12.0)
    assert (rows[2, 201].like, rows[2, 201].dwell_seconds) == (1, 21.0)
    # Post features from the served list, session features from the session.
    assert (rows[1, 102].content_type, rows[1, 102].position, rows[1, 102].author_id) == (
        "video",
        1,
        1020,
    )
    assert (rows[2, 201].platform, rows[2, 201].member_id, rows[2, 201].split) == (
        "ios",
        1002,
        "random_bucket",
    )
    assert rows[1, 101].hist_author_ids == [10, 20]
    assert rows[1, 101].hist_post_ids == [1, 2]  # carried, aligned with the authors
    assert rows[1, 101].date == DAY


def test_naive_plan_gives_identical_rows(logs):
    sessions, impressions = logs
    paper = explode_session_features(sessions, impressions)
    naive = explode_session_features_naive(sessions, impressions)
    assert paper.schema == naive.schema
    assert _rows(paper) == _rows(naive)


def test_split_is_deterministic_and_holds_out_about_a_tenth(spark):
    frame = spark.range(4000).select(
        F.col("id").alias("session_id"), (F.col("id") % 20 == 0).alias("random_bucket")
    )
    first = assign_split(frame)
    counts = {row.split: row["count"] for row in first.groupBy("split").count().collect()}
    assert counts["random_bucket"] == 200
    assert 0.07 < counts["holdout"] / 3800 < 0.13
    assert first.columns == ["session_id", "random_bucket", "split"]
    again = assign_split(frame.repartition(3))
    assert _rows(first) == _rows(again)


def test_replay_candidates_keep_every_served_post_of_random_bucket_sessions(logs):
    sessions, impressions = logs
    candidates = random_bucket_candidates(sessions, impressions)
    assert tuple(candidates.columns) == REPLAY_CANDIDATE_COLUMNS
    types = dict(candidates.dtypes)
    assert (types["impressed"], types["contribution"], types["click"]) == (
        "boolean",
        "tinyint",
        "tinyint",
    )
    rows = {row.post_id: row for row in candidates.collect()}
    assert set(rows) == {201, 202, 101}  # session 2 only, impressed or not
    assert {row.session_id for row in rows.values()} == {2}
    assert (rows[201].impressed, rows[201].click, rows[201].contribution) == (True, 1, 1)
    assert rows[201].dwell_seconds == 21.0
    for post_id in (202, 101):
        row = rows[post_id]
        assert row.impressed is False
        assert (row.click, row.like, row.contribution, row.dwell_seconds) == (0, 0, 0, 0.0)
    assert rows[101].position == 2 and rows[101].split == "random_bucket"
    # the production ranker's logged score comes along for the replay comparison
    assert {pid: round(row.ranker_score, 4) for pid, row in rows.items()} == {
        201: 0.201,
        202: 0.202,
        101: 0.101,
    }


def _shuffle_exchanges(df) -> list[str]:
    """The shuffle exchanges of `df`'s physical plan (broadcast joins and AQE off)."""
    plan = df._jdf.queryExecution().executedPlan().toString()
    return [line.strip() for line in plan.splitlines() if "Exchange hashpartitioning" in line]


def test_paper_plan_shuffles_each_input_once_by_session(spark, logs):
    sessions, impressions = logs
    saved = {
        key: spark.conf.get(key)
        for key in ("spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.enabled")
    }
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        paper = _shuffle_exchanges(explode_session_features(sessions, impressions))
        naive = _shuffle_exchanges(explode_session_features_naive(sessions, impressions))
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)
    # served posts, labels, session features: each hash-partitioned by session_id alone, once;
    # the labelled rows of the first join are not shuffled again for the second.
    assert len(paper) == 3, paper
    assert all("hashpartitioning(session_id#" in line and "post_id" not in line for line in paper)
    assert len(naive) == 2 and all("post_id" in line for line in naive), naive


def test_both_plans_give_the_same_rows_on_a_simulated_world(spark, tmp_path):
    from spark.world import FeedWorld, WorldConfig

    world = FeedWorld(WorldConfig(num_days=2, num_members=400, num_authors=80, posts_per_day=120))
    days = [world.simulate_day(day) for day in range(2)]
    for name in ("feed_sessions", "feed_impressions"):
        pq.write_table(pa.concat_tables([getattr(d, name) for d in days]), tmp_path / name)
    sessions = spark.read.parquet(str(tmp_path / "feed_sessions"))
    impressions = spark.read.parquet(str(tmp_path / "feed_impressions"))
    paper = explode_session_features(sessions, impressions)
    naive = explode_session_features_naive(sessions, impressions)
    assert paper.count() == naive.count() == impressions.count() > 500
    assert paper.exceptAll(naive).isEmpty() and naive.exceptAll(paper).isEmpty()
    assert paper.where(F.size("hist_author_ids") > 0).count() > 0  # day 1 has histories


def test_examples_of_an_older_schema_name_what_to_rebuild():
    from spark.schemas import SCHEMA_VERSION, check_example_schema

    old = [name for name in EXAMPLE_COLUMNS if name != "hist_post_ids"]
    check_example_schema(EXAMPLE_COLUMNS, "today", required=EXAMPLE_COLUMNS)  # current: passes
    with pytest.raises(ValueError, match=rf"lack \['hist_post_ids'\].*version 2.*{SCHEMA_VERSION}"):
        check_example_schema(old, "date=2026-01-01", required=EXAMPLE_COLUMNS)
    with pytest.raises(ValueError, match=r"missing columns \['long_dwell'\]"):
        check_example_schema(EXAMPLE_COLUMNS, "date=2026-01-01")
