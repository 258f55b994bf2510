"""Tests of the simulated feed world: determinism, schemas, invariants and its behavioural model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spark import schemas
from spark.schemas import ACTIONS, CONTRIBUTION_ACTIONS
from spark.world import (
    FeedWorld,
    WorldConfig,
    WorldDay,
    expected_session_contributions,
    expected_top1_contributions,
)
from spark.world.products import PRODUCT_TABLE_SCHEMAS

TINY = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=3)
TABLES = ("feed_sessions", "feed_impressions", "posts", "members", "feed_ground_truth")
TABLES = (*TABLES, *PRODUCT_TABLE_SCHEMAS)  # and the Ads and Jobs products' tables


@pytest.fixture(scope="module")
def world() -> FeedWorld:
    return FeedWorld(TINY)


@pytest.fixture(scope="module")
def days(world: FeedWorld) -> list[WorldDay]:
    return [world.simulate_day(d) for d in range(TINY.num_days)]


@pytest.fixture(scope="module")
def impressions(days: list[WorldDay]) -> pd.DataFrame:
    """Impressions of all days joined with their ground truth and session flags."""
    frames = []
    for day in days:
        imp = day.feed_impressions.to_pandas()
        truth = day.feed_ground_truth.to_pandas().drop(columns=["date", "position"])
        sessions = day.feed_sessions.to_pandas()[["session_id", "random_bucket"]]
        frames.append(
            imp.merge(truth, on=["session_id", "post_id"], how="left").merge(
                sessions, on="session_id", how="left"
            )
        )
    return pd.concat(frames, ignore_index=True)


def _served(day: WorldDay) -> pd.DataFrame:
    sessions = day.feed_sessions.to_pandas()
    rows = sessions[["session_id", "member_id", "random_bucket", "served"]].explode("served")
    served = pd.DataFrame(list(rows["served"]), index=rows.index)
    return pd.concat([rows.drop(columns="served"), served], axis=1).reset_index(drop=True)


def test_same_config_gives_identical_tables(days: list[WorldDay]) -> None:
    other = FeedWorld(TINY)
    for day in days:
        again = other.simulate_day(day.day)
        for name in TABLES:
            assert again.table(name).equals(day.table(name)), name


def test_another_seed_gives_other_logs(days: list[WorldDay]) -> None:
    other = FeedWorld(WorldConfig(**{**TINY.__dict__, "seed": TINY.seed + 1})).simulate_day(0)
    assert not other.feed_impressions.equals(days[0].feed_impressions)


def test_schemas_are_the_contracts(days: list[WorldDay]) -> None:
    expected = {
        "feed_sessions": schemas.FEED_SESSIONS,
        "feed_impressions": schemas.FEED_IMPRESSIONS,
        "posts": schemas.POSTS,
        "members": schemas.MEMBERS,
        "feed_ground_truth": schemas.FEED_GROUND_TRUTH,
        **PRODUCT_TABLE_SCHEMAS,
    }
    for day in days:
        for name, schema in expected.items():
            assert day.table(name).schema.equals(schema), name
        assert day.date == TINY.date_of(day.day)
        dates = day.feed_impressions.column("date").unique().to_pylist()
        assert dates == [day.date]


def test_cache_gives_the_same_days_as_a_fresh_world(days: list[WorldDay], tmp_path) -> None:
    first = FeedWorld(TINY, cache_dir=tmp_path)
    first.simulate_day(1)  # writes the member states at the start of days 0, 1 and 2
    cached = sorted(p.parent.name for p in tmp_path.rglob("*.parquet"))
    assert cached == [f"date={TINY.date_of(d).isoformat()}" for d in range(3)]
    resumed = FeedWorld(TINY, cache_dir=tmp_path)  # a new process: only the disk cache
    last = resumed.simulate_day(2)
    assert sorted(resumed._states) == [2, 3]  # resumed from day 2's cached state
    for name in TABLES:
        assert last.table(name).equals(days[2].table(name)), name
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_day_out_of_range_is_rejected(world: FeedWorld) -> None:
    with pytest.raises(ValueError, match="day=3"):
        world.simulate_day(3)


def test_served_positions_and_impressions(days: list[WorldDay]) -> None:
    n = TINY.served_per_session
    for day in days:
        served = _served(day)
        per_session = served.groupby("session_id")["position"].agg(["count", "nunique", "max"])
        assert (per_session["count"] == n).all()
        assert (per_session["nunique"] == n).all()
        assert (per_session["max"] == n - 1).all()
        imp = day.feed_impressions.to_pandas()
        joined = imp.merge(served, on=["session_id", "post_id", "position"], how="left")
        assert joined["author_id"].notna().all()  # impressed is a subset of served
        assert set(imp["session_id"]) == set(served["session_id"])  # position 0 always seen
        assert (imp.groupby("session_id")["position"].min() == 0).all()
        depth = imp.groupby("session_id")["position"].agg(["max", "count"])
        assert (depth["max"] + 1 == depth["count"]).all()  # impressed = a prefix
        assert len(imp) < 0.7 * len(served)  # many served posts are never impressed
        truth = day.feed_ground_truth.to_pandas()
        assert len(truth) == len(served)
        assert (
            served["post_id"]
            .isin(pd.concat([d.posts.to_pandas()["post_id"] for d in days[: day.day + 1]]))
            .all()
        )


def test_random_bucket_share_matches_config(days: list[WorldDay]) -> None:
    flags = np.concatenate([d.feed_sessions.column("random_bucket").to_numpy() for d in days])
    share = flags.mean()
    se = np.sqrt(TINY.random_bucket_share * (1 - TINY.random_bucket_share) / len(flags))
    assert abs(share - TINY.random_bucket_share) < 4 * se


def test_production_ranker_orders_all_but_the_random_bucket(days: list[WorldDay]) -> None:
    served = _served(days[1])
    diffs = served.groupby("session_id")["ranker_score"].apply(lambda s: np.diff(s.to_numpy()))
    bucket = served.groupby("session_id")["random_bucket"].first()
    sorted_desc = diffs.apply(lambda d: bool((d <= 0).all()))
    assert sorted_desc[~bucket].all()
    assert sorted_desc[bucket].mean() < 0.05


def test_probabilities_are_valid_and_consistent(days: list[WorldDay]) -> None:
    curve = FeedWorld(TINY).position_curve()
    for day in days:
        truth = day.feed_ground_truth.to_pandas()
        cols = ["p_examine"] + [f"p_{a}" for a in ACTIONS] + ["p_contribution"]
        values = truth[cols].to_numpy()
        assert ((values >= 0) & (values <= 1)).all()
        np.testing.assert_allclose(
            truth["p_examine"], curve.p_examine[truth["position"]], rtol=1e-6
        )
        marginals = truth[[f"p_{a}" for a in CONTRIBUTION_ACTIONS]].to_numpy()
        p = truth["p_contribution"].to_numpy()
        # P(any) lies between the largest marginal and the sum of the marginals
        assert (p >= marginals.max(axis=1) - 1e-6).all()
        assert (p <= marginals.sum(axis=1) + 1e-6).all()
        # actions are positively correlated through the click, so P(any) is below the value
        # independent actions would give (their "none" events overlap more)
        independent = 1 - np.prod(1 - marginals, axis=1)
        assert (p <= independent + 1e-6).all()
        assert (independent - p).max() > 1e-3


def test_votes_only_on_polls(days: list[WorldDay], impressions: pd.DataFrame) -> None:
    for day in days:
        served = _served(day)
        truth = day.feed_ground_truth.to_pandas().merge(
            served[["session_id", "post_id", "content_type"]], on=["session_id", "post_id"]
        )
        assert (truth.loc[truth["content_type"] != "poll", "p_vote"] == 0).all()
        assert truth.loc[truth["content_type"] == "poll", "p_vote"].min() > 0
    assert (impressions.loc[impressions["p_vote"] == 0, "vote"] == 0).all()
    assert impressions["vote"].sum() > 0


def test_all_content_types_and_hashtags(days: list[WorldDay]) -> None:
    posts = pd.concat([d.posts.to_pandas() for d in days])
    assert set(posts["content_type"]) == {"text", "image", "video", "article", "poll", "job"}
    n_tags = posts["hashtag_ids"].map(len)
    assert n_tags.between(1, 3).all() and n_tags.nunique() == 3
    assert posts["post_id"].is_unique
    assert (posts["length"] > 0).all()
    lengths = posts.groupby("content_type")["length"].median()
    assert lengths["article"] > 5 * lengths["text"]


def test_history_is_bounded_and_made_of_earlier_actions(days: list[WorldDay]) -> None:
    acted: set[tuple[int, int, int]] = set()
    for day in days:
        members = day.members.to_pandas()
        assert members["hist_post_ids"].map(len).max() <= TINY.history_length
        for row in members.itertuples():
            assert len(row.hist_post_ids) == len(row.hist_author_ids) == len(row.hist_actions)
            for post, action in zip(row.hist_post_ids, row.hist_actions, strict=True):
                assert (row.member_id, post, action) in acted
        sessions = day.feed_sessions.to_pandas()
        snapshot = members.set_index("member_id")["hist_post_ids"]
        for row in sessions.head(50).itertuples():
            assert list(row.hist_post_ids) == list(snapshot[row.member_id])
        imp = day.feed_impressions.to_pandas()
        for i, action in enumerate(ACTIONS):
            hit = imp[imp[action] == 1]
            acted.update(zip(hit["member_id"], hit["post_id"], [i] * len(hit), strict=True))
    assert days[0].members.to_pandas()["hist_post_ids"].map(len).max() == 0
    full = days[-1].members.to_pandas()["hist_post_ids"].map(len)
    assert full.max() == TINY.history_length and (full > 0).mean() > 0.3


def test_empirical_rates_match_the_truth(impressions: pd.DataFrame) -> None:
    """Law of large numbers: observed actions average p_examine * p_action over impressions."""
    for action in ACTIONS:
        p = impressions["p_examine"] * impressions[f"p_{action}"]
        observed = impressions[action].mean()
        se = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(observed - p.mean()) < 4 * se + 1e-4, action
    contributed = impressions[list(CONTRIBUTION_ACTIONS)].max(axis=1)
    p = impressions["p_examine"] * impressions["p_contribution"]
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(contributed.mean() - p.mean()) < 4 * se


def test_base_rates_differ_by_action(impressions: pd.DataFrame) -> None:
    rate = impressions[list(ACTIONS)].mean()
    assert rate["click"] > rate["comment"] and rate["like"] > rate["comment"]
    assert rate["comment"] < 0.05 and rate["share"] < 0.05
    assert 0.03 < rate["like"] < 0.25 and 0.03 < rate["click"] < 0.3


def test_article_likes_follow_clicks(impressions: pd.DataFrame, days: list[WorldDay]) -> None:
    types = pd.concat([_served(d)[["session_id", "post_id", "content_type"]] for d in days])
    rows = impressions.merge(types, on=["session_id", "post_id"], how="left")
    articles = rows[rows["content_type"] == "article"]
    like_given_click = articles.loc[articles["click"] == 1, "like"].mean()
    examined_no_click = articles[(articles["click"] == 0)]
    assert like_given_click > 3 * examined_no_click["like"].mean()


def test_position_bias_in_the_random_bucket() -> None:
    config = WorldConfig(
        num_members=600, num_authors=100, posts_per_day=150, num_days=2, random_bucket_share=1.0
    )
    world = FeedWorld(config)
    imp = pd.concat([world.simulate_day(d).feed_impressions.to_pandas() for d in range(2)])
    acted = imp[list(ACTIONS)].max(axis=1)
    rate = acted.groupby(imp["position"].clip(upper=6)).mean()
    assert rate[0] > rate[2] > rate[5]
    assert rate[0] > 1.6 * rate[5]


def test_dwell_depends_on_content_and_click(impressions: pd.DataFrame, days) -> None:
    types = pd.concat([_served(d)[["session_id", "post_id", "content_type"]] for d in days])
    rows = impressions.merge(types, on=["session_id", "post_id"], how="left")
    assert (rows["dwell_seconds"] > 0).all()
    median = rows.groupby("content_type")["dwell_seconds"].median()
    assert median["video"] > median["poll"]
    clicked = rows.groupby("click")["dwell_seconds"].median()
    assert clicked[1] > 2 * clicked[0]


def test_ranking_by_truth_beats_random_and_production(days: list[WorldDay]) -> None:
    world = FeedWorld(TINY)
    curve = world.position_curve()
    truth = days[2].feed_ground_truth.to_pandas()
    served = _served(days[2])
    rng = np.random.default_rng(0)
    truth["noise"] = rng.random(len(truth))
    truth = truth.merge(
        served[["session_id", "post_id", "ranker_score"]], on=["session_id", "post_id"]
    )

    def earned(key: str) -> float:
        rank = truth.groupby("session_id")[key].rank(ascending=False, method="first") - 1
        ranking = truth[["session_id", "post_id"]].assign(rank=rank.astype(int))
        return float(expected_session_contributions(truth, ranking, curve).mean())

    best, production, random = earned("p_contribution"), earned("ranker_score"), earned("noise")
    assert best > production > random
    assert best > 1.3 * random

    top = truth.loc[
        truth.groupby("session_id")["p_contribution"].idxmax(), ["session_id", "post_id"]
    ]
    per_session = expected_top1_contributions(truth, top, curve)
    expected = (
        curve.p_impressed[0]
        * curve.p_examine[0]
        * truth.groupby("session_id")["p_contribution"].max()
    )
    np.testing.assert_allclose(per_session.sort_index(), expected.sort_index(), rtol=1e-6)


def test_expected_contributions_by_hand() -> None:
    curve = FeedWorld(TINY).position_curve()
    truth = pd.DataFrame(
        {"session_id": [1, 1, 2], "post_id": [10, 11, 20], "p_contribution": [0.5, 0.2, 0.4]}
    )
    ranking = pd.DataFrame({"session_id": [1, 1, 2], "post_id": [11, 10, 20], "rank": [0, 1, 0]})
    got = expected_session_contributions(truth, ranking, curve)
    seen = curve.p_impressed * curve.p_examine
    assert got[1] == pytest.approx(0.2 * seen[0] + 0.5 * seen[1])
    assert got[2] == pytest.approx(0.4 * seen[0])
    assert curve.p_impressed[0] == 1.0
    assert np.all(np.diff(curve.p_examine) < 0) and np.all(np.diff(curve.p_impressed) < 0)
    with pytest.raises(ValueError, match="post_id=99"):
        bad = pd.DataFrame({"session_id": [1], "post_id": [99]})
        expected_top1_contributions(truth, bad, curve)


def test_popularity_drifts_across_days(world: FeedWorld, days: list[WorldDay]) -> None:
    day1, day2 = world.post_popularity(1), world.post_popularity(2)
    both = day1.index.intersection(day2.index)
    assert len(both) >= TINY.posts_per_day
    corr = np.corrcoef(day1[both], day2[both])[0, 1]
    assert 0.2 < corr < 0.95  # persistent virality, but volatile shocks and decay
    assert (day2[both] - day1[both]).abs().mean() > 0.3


def test_personal_interest_dominates_popularity(days: list[WorldDay]) -> None:
    """The same post earns very different p_like across members on the same day."""
    truth = pd.concat([d.feed_ground_truth.to_pandas() for d in days])
    logit = np.log(truth["p_like"]) - np.log1p(-truth["p_like"])
    by_post = logit.groupby(truth["post_id"])
    within = by_post.std().dropna().mean()
    assert within > 0.8


def test_world_rejects_unusable_configs() -> None:
    with pytest.raises(ValueError, match="posts_per_day=40"):
        FeedWorld(WorldConfig(num_members=300, num_authors=60, posts_per_day=40))
