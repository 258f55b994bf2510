"""The serving explosion of a slate equals the Spark explosion of the same sessions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models.serving.slate import SERVING_SPLIT, slate_examples
from spark.explode import EXAMPLE_COLUMNS, LABEL_COLUMNS
from spark.replay_candidates import random_bucket_candidates
from spark.world import FeedWorld, WorldConfig


def test_slate_rows_equal_the_spark_replay_candidates(spark, tmp_path) -> None:
    world = FeedWorld(WorldConfig(num_days=2, num_members=300, num_authors=60, posts_per_day=100))
    day = world.simulate_day(1)  # day 1 has histories
    pq.write_table(day.feed_sessions, tmp_path / "sessions.parquet")
    pq.write_table(day.feed_impressions, tmp_path / "impressions.parquet")
    sessions = spark.read.parquet(str(tmp_path / "sessions.parquet"))
    impressions = spark.read.parquet(str(tmp_path / "impressions.parquet"))
    want = random_bucket_candidates(sessions, impressions).toPandas()
    bucket = day.feed_sessions.filter(day.feed_sessions["random_bucket"])
    got = slate_examples(bucket)
    features = [c for c in EXAMPLE_COLUMNS if c not in (*LABEL_COLUMNS, "split")]
    assert list(got.columns) == [*EXAMPLE_COLUMNS, "ranker_score"]
    key = ["session_id", "position"]
    want = want.sort_values(key).reset_index(drop=True)
    got = got.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 100
    for column in [*features, "ranker_score"]:
        a, b = got[column].to_numpy(), want[column].to_numpy()
        if a.dtype == object:  # lists and strings
            assert [np.asarray(x).tolist() for x in a] == [np.asarray(x).tolist() for x in b], (
                column
            )
        else:
            np.testing.assert_array_equal(a, b, err_msg=column)
    assert (got["split"] == SERVING_SPLIT).all()
    assert (got[[c for c in LABEL_COLUMNS]] == 0).all().all()


def test_a_slate_without_a_contract_column_is_named() -> None:
    with pytest.raises(ValueError, match="hist_actions"):
        slate_examples(pa.table({"session_id": [1]}))
