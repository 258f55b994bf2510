"""The world served by any ranker: the production ranker reproduces the logged day, other rankers
change only the order, and the candidate truth values any ranking exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spark.world import (
    CANDIDATE_TRUTH,
    FeedWorld,
    WorldConfig,
    expected_session_contributions,
    expected_slate_contributions,
    production_ranker,
    slate_column,
)

TINY = WorldConfig(
    num_members=300, num_authors=60, posts_per_day=100, num_days=3, random_bucket_share=0.2
)
TABLES = ("feed_sessions", "feed_impressions", "members", "feed_ground_truth", "posts")


@pytest.fixture(scope="module")
def world() -> FeedWorld:
    return FeedWorld(TINY)


def reverse_production(slate: pa.Table) -> np.ndarray:
    """A bad ranker: the production ranker upside down."""
    return -slate_column(slate, "ranker_score")


def test_production_ranker_reproduces_the_logged_day(world: FeedWorld) -> None:
    logged = world.simulate_day(1)
    served = world.serve_day(1, production_ranker)
    for name in TABLES:
        assert getattr(served.day, name).equals(getattr(logged, name)), name
    assert served.candidate_truth.schema == CANDIDATE_TRUTH
    assert served.state_after.equals(world.state_at_start(2))


def test_another_ranker_changes_only_the_order(world: FeedWorld) -> None:
    logged = world.simulate_day(1)
    served = world.serve_day(1, reverse_production)
    a, b = logged.feed_sessions.to_pandas(), served.day.feed_sessions.to_pandas()
    same = ["session_id", "member_id", "platform", "hour", "random_bucket", "hist_post_ids"]
    pd.testing.assert_frame_equal(a[same], b[same])
    assert not served.day.feed_sessions.column("served").equals(logged.feed_sessions["served"])
    truth = served.candidate_truth.to_pandas()
    k, n = TINY.candidates_per_session, TINY.served_per_session
    assert len(truth) == len(b) * k
    # every session serves each position once, and the served posts are the ranker's top-N
    served_rows = truth[truth["served_position"] >= 0]
    assert (served_rows.groupby("session_id")["served_position"].nunique() == n).all()
    top = truth.sort_values(["session_id", "score"], ascending=[True, False], kind="stable")
    top_sets = top.groupby("session_id").head(n).groupby("session_id")["post_id"].apply(set)
    got_sets = served_rows.groupby("session_id")["post_id"].apply(set)
    assert (top_sets == got_sets).all()
    # outside the random bucket, position order is score order
    ordered = served_rows[~served_rows["random_bucket"]].sort_values(
        ["session_id", "served_position"]
    )
    diffs = ordered.groupby("session_id")["score"].diff().dropna()
    assert (diffs <= 0).all()
    # the served posts' truth is the logged ground truth of the served day
    gt = served.day.feed_ground_truth.to_pandas()
    merged = gt.merge(served_rows, on=["session_id", "post_id"], suffixes=("", "_c"))
    assert len(merged) == len(gt)
    assert (merged["position"] == merged["served_position"]).all()
    np.testing.assert_array_equal(merged["p_contribution"], merged["p_contribution_c"])


def test_expected_slate_contributions_value_the_served_ranking(world: FeedWorld) -> None:
    served = world.serve_day(1, production_ranker)
    truth = served.candidate_truth.to_pandas()
    curve = world.position_curve()
    value = expected_slate_contributions(truth, truth["score"], curve)
    gt = served.day.feed_ground_truth.to_pandas()
    normal = ~truth.groupby("session_id")["random_bucket"].first()
    logged = expected_session_contributions(gt, gt.rename(columns={"position": "rank"}), curve)
    np.testing.assert_allclose(value.loc[normal, "session"], logged.loc[normal[normal].index])
    top = gt[gt["position"] == 0].set_index("session_id")["p_contribution"]
    np.testing.assert_allclose(
        value.loc[normal, "top1"], curve.p_seen[0] * top.loc[normal[normal].index], rtol=1e-6
    )


def test_a_better_ranker_earns_more(world: FeedWorld) -> None:
    curve = world.position_curve()
    earned = {}
    for name, ranker in {"production": production_ranker, "reverse": reverse_production}.items():
        truth = world.serve_day(2, ranker).candidate_truth.to_pandas()
        earned[name] = expected_slate_contributions(truth, truth["score"], curve)["top1"].mean()
    assert earned["production"] > 1.5 * earned["reverse"]


def test_closed_loop_histories_follow_what_was_served(world: FeedWorld) -> None:
    day1 = world.serve_day(1, reverse_production)
    day2 = world.serve_day(2, reverse_production, state=day1.state_after)
    logged2 = world.simulate_day(2)
    hist = day2.day.feed_sessions.column("hist_post_ids")
    assert not hist.equals(logged2.feed_sessions.column("hist_post_ids"))
    acted = set(day1.day.feed_impressions.to_pandas().query("click == 1")["post_id"])
    assert acted & set(pa.concat_arrays(hist.chunks).flatten().to_pylist())


@pytest.mark.parametrize(
    ("ranker", "message"),
    [
        (lambda slate: np.zeros(3), "one score per candidate"),
        (lambda slate: np.full(slate.num_rows * TINY.candidates_per_session, np.nan), "non-finite"),
    ],
)
def test_bad_ranker_output_is_named(world: FeedWorld, ranker, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        world.serve_day(0, ranker)
