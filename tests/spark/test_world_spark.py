"""Tests of the Spark world generator: the same tables as `FeedWorld`, for any number of shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark import schemas
from spark.ingest import validate_raw_partition
from spark.io import read_raw_partitions
from spark.schemas import ACTIONS
from spark.storage import partition_dir
from spark.world import (
    RAW_TABLE_ORDER,
    WORLD_STATE,
    FeedWorld,
    SparkWorld,
    WorldConfig,
    WorldContext,
    default_num_shards,
    log_followers,
    read_state,
    simulate_blocks,
    state_dir,
)
from spark.world.products import PRODUCT_DAY_TABLES, PRODUCT_TABLE_SCHEMAS

# 5 blocks of 64 members (the last one 44): enough for shards to split unevenly
CONFIG = WorldConfig(
    num_members=300,
    num_authors=60,
    posts_per_day=100,
    num_days=3,
    members_per_block=64,
    random_bucket_share=0.2,
)
SCHEMAS = {
    **schemas.RAW_TABLES,
    "feed_ground_truth": schemas.FEED_GROUND_TRUTH,
    **PRODUCT_TABLE_SCHEMAS,
}
GLOBAL_TABLES = ("posts", *PRODUCT_DAY_TABLES)  # one file per day, not one per shard
DAYS = range(CONFIG.num_days)


def _read(root: Path, table: str, day: int) -> pa.Table:
    """A raw partition as pyarrow reads it, cast to the contract (Spark names list items
    `element`, the contract `item`; the cast changes nothing else)."""
    path = partition_dir(root / "raw", table, CONFIG.date_of(day))
    return pq.read_table(path).cast(SCHEMAS[table])


@pytest.fixture(scope="module")
def feed_world() -> FeedWorld:
    return FeedWorld(CONFIG)


@pytest.fixture(scope="module")
def one_shard(spark, tmp_path_factory) -> Path:
    """Every day written in order by a 1-shard Spark world."""
    root = tmp_path_factory.mktemp("one-shard")
    world = SparkWorld(spark, CONFIG, root / "world_state", num_shards=1)
    for day in DAYS:
        world.write_day(day, root / "raw")
    return root


@pytest.fixture(scope="module")
def three_shards(spark, tmp_path_factory) -> Path:
    """A 3-shard Spark world asked for its last day first (so it advances the state itself)."""
    root = tmp_path_factory.mktemp("three-shards")
    world = SparkWorld(spark, CONFIG, root / "world_state", num_shards=3)
    for day in reversed(DAYS):
        world.write_day(day, root / "raw")
    return root


def test_one_shard_writes_feedworlds_tables_byte_for_byte(one_shard, feed_world) -> None:
    for day in DAYS:
        expected = feed_world.simulate_day(day)
        for table in RAW_TABLE_ORDER:
            path = partition_dir(one_shard / "raw", table, CONFIG.date_of(day))
            assert [p.name for p in path.glob("*.parquet")] == ["part-00000.parquet"]
            got = _read(one_shard, table, day)
            assert got.equals(expected.table(table)), (table, day)


def test_three_shards_write_the_same_tables_in_three_files(three_shards, one_shard) -> None:
    for day in DAYS:
        for table in RAW_TABLE_ORDER:
            path = partition_dir(three_shards / "raw", table, CONFIG.date_of(day))
            files = sorted(p.name for p in path.glob("*.parquet"))
            # posts, ads and postings are global (one file); the per-member tables come one file
            # per shard
            assert len(files) == (1 if table in GLOBAL_TABLES else 3), (table, files)
            # shards are contiguous runs of blocks, so even the row order is FeedWorld's
            assert _read(three_shards, table, day).equals(_read(one_shard, table, day))


def test_states_match_feedworld_and_either_resumes_the_other(
    three_shards, feed_world, spark, tmp_path
) -> None:
    for day in range(CONFIG.num_days + 1):
        path = state_dir(three_shards / "world_state", CONFIG, day)
        assert len(list(path.glob("*.parquet"))) == 3
        assert read_state(path, CONFIG).equals(feed_world.state_at_start(day)), day
    # FeedWorld resumes from the state Spark cached: nothing before day 2 is recomputed
    resumed = FeedWorld(CONFIG, cache_dir=three_shards / "world_state")
    last = resumed.simulate_day(2)
    assert sorted(resumed._states) == [2, 3]
    for table in RAW_TABLE_ORDER:
        assert last.table(table).equals(_read(three_shards, table, 2)), table
    # ... and Spark resumes from the state FeedWorld cached
    cached = FeedWorld(CONFIG, cache_dir=tmp_path / "world_state")
    cached.simulate_day(1)
    spark_world = SparkWorld(spark, CONFIG, tmp_path / "world_state", num_shards=2)
    written = {t.name: t for t in spark_world.write_day(2, tmp_path / "raw")}
    for table in RAW_TABLE_ORDER:
        assert (
            pq.read_table(written[table].path)
            .cast(SCHEMAS[table])
            .equals(_read(three_shards, table, 2))
        )


def test_a_missing_state_is_computed_from_the_last_cached_one(three_shards) -> None:
    # the 3-shard world was asked for day 2 first: it advanced the state through days 0 and 1
    # (states 0..3 cached) and wrote raw tables only for the days it was asked for
    for day in range(CONFIG.num_days + 1):
        assert state_dir(three_shards / "world_state", CONFIG, day).is_dir()
    assert sorted(p.name for p in (three_shards / "raw" / "posts").iterdir()) == [
        f"date={CONFIG.date_of(d).isoformat()}" for d in DAYS
    ]
    # no staging leftovers; `.commits/` (the commit journals' folder) is empty at rest
    assert not any((three_shards / ".commits").iterdir())
    hidden = [p for p in three_shards.rglob("*") if p.name.startswith(".")]
    assert hidden == [three_shards / ".commits"]


def test_rewriting_a_day_gives_the_same_files(spark, three_shards) -> None:
    path = partition_dir(three_shards / "raw", "feed_sessions", CONFIG.date_of(1))
    before = {p.name: p.read_bytes() for p in path.glob("*.parquet")}
    world = SparkWorld(spark, CONFIG, three_shards / "world_state", num_shards=3)
    world.write_day(1, three_shards / "raw")
    assert {p.name: p.read_bytes() for p in path.glob("*.parquet")} == before


def test_ids_are_unique_across_shards_and_days(three_shards) -> None:
    sessions = pa.concat_tables([_read(three_shards, "feed_sessions", d) for d in DAYS])
    assert pd.Series(sessions.column("session_id").to_numpy()).is_unique
    posts = pa.concat_tables([_read(three_shards, "posts", d) for d in DAYS])
    assert pd.Series(posts.column("post_id").to_numpy()).is_unique
    for day in DAYS:
        members = _read(three_shards, "members", day).column("member_id").to_numpy()
        np.testing.assert_array_equal(np.sort(members), np.arange(CONFIG.num_members))
        truth = _read(three_shards, "feed_ground_truth", day).to_pandas()
        assert not truth.duplicated(["session_id", "post_id"]).any()
        assert not truth.duplicated(["session_id", "position"]).any()


def test_history_is_carried_across_days_and_shards(three_shards) -> None:
    """Members' history at the start of day d+1 = history at the start of d, then d's actions."""
    for day in range(CONFIG.num_days - 1):
        start = _read(three_shards, "members", day).to_pandas().set_index("member_id")
        end = _read(three_shards, "members", day + 1).to_pandas().set_index("member_id")
        imp = _read(three_shards, "feed_impressions", day).to_pandas()
        acted = imp.melt(
            id_vars=["member_id", "session_id", "position", "post_id"],
            value_vars=list(ACTIONS),
            var_name="action",
        )
        acted = acted[acted["value"] == 1]
        acted["code"] = acted["action"].map(ACTIONS.index)
        acted = acted.sort_values(["member_id", "session_id", "position", "code"])
        new = acted.groupby("member_id")[["post_id", "code"]].agg(list)
        changed = 0
        for member in range(CONFIG.num_members):
            posts, codes = (
                list(start.at[member, "hist_post_ids"]),
                list(start.at[member, "hist_actions"]),
            )
            if member in new.index:
                posts += new.at[member, "post_id"]
                codes += new.at[member, "code"]
                changed += 1
            keep = CONFIG.history_length
            assert list(end.at[member, "hist_post_ids"]) == posts[-keep:], member
            assert list(end.at[member, "hist_actions"]) == codes[-keep:], member
        assert changed > CONFIG.num_members // 4  # members of every shard acted


def test_rates_and_random_bucket_are_plausible(three_shards) -> None:
    imp = pd.concat([_read(three_shards, "feed_impressions", d).to_pandas() for d in DAYS])
    rate = imp[list(ACTIONS)].mean()
    assert 0.03 < rate["click"] < 0.3 and 0.02 < rate["like"] < 0.25
    assert rate["comment"] < 0.05 and rate["share"] < 0.05
    sessions = pd.concat([_read(three_shards, "feed_sessions", d).to_pandas() for d in DAYS])
    share = sessions["random_bucket"].mean()
    se = np.sqrt(CONFIG.random_bucket_share * (1 - CONFIG.random_bucket_share) / len(sessions))
    assert abs(share - CONFIG.random_bucket_share) < 4 * se
    # the sessions of every shard are served and impressed
    first_member = sessions.groupby(sessions["member_id"] // 64)["session_id"].count()
    assert len(first_member) == 5 and (first_member > 0).all()
    assert len(imp) < 0.7 * CONFIG.served_per_session * len(sessions)


def test_raw_partitions_are_valid_for_every_reader(spark, three_shards) -> None:
    """Spark, pandas and the user-log validator read the generated partitions as the contract."""
    date = CONFIG.date_of(0)
    for table, schema in SCHEMAS.items():
        frame = read_raw_partitions(spark, three_shards, table, [date])
        assert frame.columns == schema.names
        assert frame.count() == _read(three_shards, table, 0).num_rows
        path = partition_dir(three_shards / "raw", table, date)
        assert list(pd.read_parquet(path).columns) == schema.names
        if table in schemas.RAW_TABLES:
            assert validate_raw_partition(path, table).equals(_read(three_shards, table, 0))
    types = dict(read_raw_partitions(spark, three_shards, "feed_impressions", [date]).dtypes)
    assert (types["date"], types["click"], types["dwell_seconds"]) == ("date", "tinyint", "float")


def test_shard_count_is_capped_and_validated(spark, tmp_path) -> None:
    assert SparkWorld(spark, CONFIG, tmp_path, num_shards=50).num_shards == 5  # 5 blocks
    with pytest.raises(ValueError, match="num_shards=0"):
        SparkWorld(spark, CONFIG, tmp_path, num_shards=0)
    with pytest.raises(ValueError, match="day=3"):
        SparkWorld(spark, CONFIG, tmp_path).write_day(3, tmp_path / "raw")
    assert default_num_shards(CONFIG) == 1
    assert default_num_shards(WorldConfig(num_members=60_000, num_authors=600)) == 3


def test_the_kernel_refuses_a_shard_that_splits_a_block(feed_world) -> None:
    context = WorldContext(CONFIG)
    state = feed_world.state_at_start(0)
    followers = log_followers(CONFIG, state.column("follow_author_ids").combine_chunks().flatten())
    split = state.slice(0, 100)  # block 1 holds members 64..127
    with pytest.raises(ValueError, match="block 1 must hold members 64..127; received 36 rows"):
        list(simulate_blocks(context, 0, [split], followers))
    shuffled = pa.concat_tables([state.slice(64, 64), state.slice(0, 64)])
    with pytest.raises(ValueError, match="member_id=0 after member_id=127"):
        list(simulate_blocks(context, 0, [shuffled], followers))
    # whole blocks in any chunking give the same rows as the whole state
    whole = list(simulate_blocks(context, 0, [state], followers))
    chunked = list(simulate_blocks(context, 0, state.to_batches(max_chunksize=50), followers))
    assert [b.block for b in chunked] == [0, 1, 2, 3, 4]
    for a, b in zip(whole, chunked, strict=True):
        assert a.state.equals(b.state)
        for name, table in a.tables.items():
            assert table.equals(b.tables[name]), name
    assert whole[0].state.schema.equals(WORLD_STATE)
