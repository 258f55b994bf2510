"""Tests of the Ads world: determinism, shard invariance, the log contract, the chargeability rule,
truth kept apart and consistent, the production ranker and the drifting campaign effects."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spark import schemas
from spark.schemas import AD_ACTIONS, CHARGEABILITY_GROUPS
from spark.world import WorldConfig, WorldContext
from spark.world.ad_entities import (
    AD_ID_BASE,
    ADVERTISER_ID_BASE,
    CAMPAIGN_ID_BASE,
    CREATIVE_TYPES,
    EFFECT_AR,
    ad_world,
)
from spark.world.ads import (
    action_probabilities,
    ad_catalog_table,
    ads_block_tables,
    chargeable_click,
    member_propensity,
    simulate_ads_block,
)
from spark.world.sessions import Sessions, open_sessions
from spark.world.state import num_blocks

TINY = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=3)
BLOCKS = range(num_blocks(TINY))
DAYS = range(TINY.num_days)
WEBSITE_VISIT, VISIT_OR_SOCIAL, ANY_ENGAGEMENT = range(3)


def _block_inputs(context: WorldContext, day: int, block: int):
    members = context.members(block)
    interest = context.interest_on(members, block, day)
    sessions = open_sessions(context.config, day, block, members)
    return members, interest, sessions


def _tables(context: WorldContext, day: int, block: int) -> dict[str, pa.Table]:
    return ads_block_tables(context, day, block, *_block_inputs(context, day, block))


@pytest.fixture(scope="module")
def context() -> WorldContext:
    return WorldContext(TINY)


@pytest.fixture(scope="module")
def tables(context: WorldContext) -> dict[tuple[int, int], dict[str, pa.Table]]:
    return {(d, b): _tables(context, d, b) for d in DAYS for b in BLOCKS}


@pytest.fixture(scope="module")
def catalogs() -> dict[int, pd.DataFrame]:
    return {d: ad_catalog_table(TINY, d).to_pandas() for d in DAYS}


@pytest.fixture(scope="module")
def rows(tables, catalogs) -> pd.DataFrame:
    """Every impression of the tiny world with its truth and its ad's catalog row."""
    frames = []
    for (day, block), t in tables.items():
        imp = t["ad_impressions"].to_pandas()
        truth = t["ads_ground_truth"].to_pandas().drop(columns=["date", "ad_id"])
        cat = catalogs[day].drop(columns="date")
        frame = imp.merge(truth, on=["session_id", "slot"], how="left", validate="1:1")
        frame = frame.merge(cat, on="ad_id", how="left", validate="m:1")
        frames.append(frame.assign(day=day, block=block))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ determinism and shards


def test_same_config_gives_identical_tables(tables) -> None:
    ad_world.cache_clear()
    other = WorldContext(TINY)
    for (day, block), t in tables.items():
        again = _tables(other, day, block)
        for name in ("ad_impressions", "ads_ground_truth"):
            assert again[name].equals(t[name]), (day, block, name)
    for day in DAYS:
        assert ad_catalog_table(TINY, day).equals(ad_catalog_table(TINY, day))


def test_a_block_does_not_depend_on_the_other_blocks(tables) -> None:
    ad_world.cache_clear()
    alone = _tables(WorldContext(TINY), 2, 1)  # block 1 on the last day, nothing else simulated
    for name in ("ad_impressions", "ads_ground_truth"):
        assert alone[name].equals(tables[(2, 1)][name])


def test_a_block_is_the_same_in_another_process(tables, tmp_path: Path) -> None:
    out = tmp_path / "block.arrow"
    script = (
        "import pyarrow as pa, sys\n"
        "from spark.world import WorldConfig, WorldContext\n"
        "from spark.world.ads import ads_block_tables\n"
        "from spark.world.sessions import open_sessions\n"
        "c = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=3)\n"
        "x = WorldContext(c); m = x.members(1)\n"
        "t = ads_block_tables(x, 1, 1, m, x.interest_on(m, 1, 1), open_sessions(c, 1, 1, m))\n"
        "t = t['ad_impressions']\n"
        "with pa.OSFile(sys.argv[1], 'wb') as f, pa.ipc.new_file(f, t.schema) as w:\n"
        "    w.write_table(t)\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(out)], cwd=root, check=True)
    with pa.memory_map(str(out)) as source:
        theirs = pa.ipc.open_file(source).read_all()
    assert theirs.equals(tables[(1, 1)]["ad_impressions"])


# --------------------------------------------------------------------------- the contract


def test_tables_match_the_contract(tables, catalogs) -> None:
    for day in DAYS:
        assert ad_catalog_table(TINY, day).schema.equals(schemas.AD_CATALOG)
    for t in tables.values():
        assert t["ad_impressions"].schema.equals(schemas.AD_IMPRESSIONS)
        assert t["ads_ground_truth"].schema.equals(schemas.ADS_GROUND_TRUTH)
        assert t["ad_impressions"].num_rows == t["ads_ground_truth"].num_rows > 0
    for day, cat in catalogs.items():
        assert cat["ad_id"].is_unique
        assert (cat["date"] == TINY.date_of(day)).all()
        assert set(cat["chargeability_group"]) <= set(CHARGEABILITY_GROUPS)
        assert set(cat["creative_type"]) <= set(CREATIVE_TYPES)
        assert (cat["bid"] > 0).all() and np.isfinite(cat["bid"]).all()


def test_ids_are_unique_and_known(rows, tables, catalogs, context) -> None:
    assert not rows.duplicated(["session_id", "slot"]).any()
    assert not rows.duplicated(["session_id", "ad_id"]).any()  # no ad twice in a session
    assert rows["chargeability_group"].notna().all()  # every served ad is in its day's catalog
    for day, cat in catalogs.items():
        assert set(rows.loc[rows["day"] == day, "ad_id"]) <= set(cat["ad_id"])
    all_ads = pd.concat(catalogs.values())
    ranges = [
        (all_ads["advertiser_id"], ADVERTISER_ID_BASE, CAMPAIGN_ID_BASE),
        (all_ads["campaign_id"], CAMPAIGN_ID_BASE, AD_ID_BASE),
        (all_ads["ad_id"], AD_ID_BASE, 10 * AD_ID_BASE),
    ]
    for ids, low, high in ranges:
        assert ids.between(low, high - 1).all()
    # one campaign and advertiser per ad, whatever the day
    assert (all_ads.groupby("ad_id")[["campaign_id", "advertiser_id"]].nunique() == 1).all().all()
    for (day, block), t in tables.items():
        members, _, sessions = _block_inputs(context, day, block)
        imp = t["ad_impressions"].to_pandas()
        assert set(imp["session_id"]) <= set(sessions.session_id)
        first, n = members.first, len(members.interest0)
        assert imp["member_id"].between(first, first + n - 1).all()
        ids = imp["session_id"].to_numpy()
        assert (np.diff(ids) >= 0).all()  # session order, then slot order
        order = imp.groupby("session_id")["slot"].apply(lambda s: list(s) == sorted(s))
        assert order.all()


def test_slots_sit_at_their_feed_positions_in_a_share_of_sessions(rows, context) -> None:
    assert set(zip(rows["slot"], rows["feed_position"], strict=True)) == {(0, 1), (1, 5), (2, 9)}
    assert (rows.groupby("session_id").size() == TINY.ad_slots).all()
    n_feed = sum(len(_block_inputs(context, d, b)[2].session_id) for d in DAYS for b in BLOCKS)
    share = rows["session_id"].nunique() / n_feed
    se = np.sqrt(TINY.sponsored_share * (1 - TINY.sponsored_share) / n_feed)
    assert abs(share - TINY.sponsored_share) < 4 * se


# --------------------------------------------------------------------------- the grouping


def test_chargeable_click_rule_by_hand() -> None:
    group = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    actions = np.array(
        [
            [0, 0, 1],  # a video view alone: chargeable only for any_engagement
            [0, 0, 1],
            [0, 0, 1],
            [0, 1, 0],  # a social action alone: not for website_visit
            [0, 1, 0],
            [0, 1, 0],
            [1, 0, 0],  # a website visit: chargeable for every group
            [1, 0, 0],
            [1, 0, 0],
            [0, 0, 0],
        ]
    )
    expected = np.array([0, 0, 1, 0, 1, 1, 1, 1, 1, 0], dtype=np.int8)
    got = chargeable_click(group, actions)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("group", "actions", "message"),
    [
        (np.array([3]), np.array([[1, 0, 0]]), "CHARGEABILITY_GROUPS"),
        (np.array([-1]), np.array([[1, 0, 0]]), "CHARGEABILITY_GROUPS"),
        (np.array([0]), np.array([[1, 0]]), "AD_ACTIONS"),
        (np.array([0, 1]), np.array([[1, 0, 0]]), "AD_ACTIONS"),
        (np.array([0]), np.array([[2, 0, 0]]), "0/1"),
    ],
)
def test_chargeable_click_rejects_bad_input(group, actions, message) -> None:
    with pytest.raises(ValueError, match=message):
        chargeable_click(group, actions)


def test_logged_clicks_follow_the_rule(rows) -> None:
    group = rows["chargeability_group"].map(CHARGEABILITY_GROUPS.index).to_numpy()
    actions = rows[list(AD_ACTIONS)].to_numpy()
    np.testing.assert_array_equal(rows["chargeable_click"], chargeable_click(group, actions))
    assert (rows.loc[~rows["impressed"], [*AD_ACTIONS, "chargeable_click"]] == 0).all().all()
    assert rows["chargeable_click"].sum() > 50  # enough positives for an AUC


# ----------------------------------------------------------------------------- the truth


def test_truth_is_kept_apart() -> None:
    assert not [n for n in schemas.AD_IMPRESSIONS.names if n.startswith("p_")]
    assert not set(schemas.ADS_GROUND_TRUTH.names) & set(AD_ACTIONS)


def test_truth_is_consistent_with_the_logs(rows) -> None:
    p_groups = rows[[f"p_{g}" for g in CHARGEABILITY_GROUPS]].to_numpy()
    assert np.isfinite(p_groups).all() and ((p_groups > 0) & (p_groups < 1)).all()
    assert (np.diff(p_groups, axis=1) >= 0).all()  # website <= visit_or_social <= any
    own = rows["chargeability_group"].map(CHARGEABILITY_GROUPS.index).to_numpy()
    np.testing.assert_array_equal(rows["p_chargeable"], p_groups[np.arange(len(rows)), own])
    expected_examine = 0.95 * (1.0 + rows["feed_position"]) ** -0.5
    np.testing.assert_allclose(rows["p_examine"], expected_examine, rtol=1e-6)
    imp = rows[rows["impressed"]]
    p = imp["p_examine"] * imp["p_chargeable"]
    se = np.sqrt((p * (1 - p)).sum()) / len(imp)
    assert abs(imp["chargeable_click"].mean() - p.mean()) < 4 * se
    # each raw action too: visits and any engagement against their own probabilities
    for action, column in (("website_visit", "p_website_visit"),):
        q = imp["p_examine"] * imp[column]
        assert abs(imp[action].mean() - q.mean()) < 4 * np.sqrt((q * (1 - q)).sum()) / len(imp)
    engaged = imp[list(AD_ACTIONS)].max(axis=1)
    q = imp["p_examine"] * imp["p_any_engagement"]
    assert abs(engaged.mean() - q.mean()) < 4 * np.sqrt((q * (1 - q)).sum()) / len(imp)


def test_impressions_follow_the_scroll(rows) -> None:
    by_session = rows.pivot(index="session_id", columns="slot", values="impressed").astype(int)
    assert (by_session.diff(axis=1).iloc[:, 1:] <= 0).all().all()  # a later slot needs an earlier
    rate = rows.groupby("feed_position")["impressed"].agg(["mean", "size"])
    for position, (mean, size) in rate.iterrows():
        p = 0.8**position
        assert abs(mean - p) < 4 * np.sqrt(p * (1 - p) / size), position


def test_video_views_come_from_video_creatives(rows) -> None:
    imp = rows[rows["impressed"]]
    by_type = imp.groupby("creative_type")["video_view"].mean()
    assert by_type["video"] > 5 * by_type.drop("video").max()


# ---------------------------------------------------------------------------- the ranker


def test_the_auction_serves_the_top_candidates_by_score(context) -> None:
    day, block = 1, 0
    sim = simulate_ads_block(context, day, block, *_block_inputs(context, day, block))
    n = TINY.ad_slots
    assert sim.candidates.shape[1] == TINY.ad_candidates
    assert (np.sort(sim.candidates, axis=1)[:, 1:] != np.sort(sim.candidates, axis=1)[:, :-1]).all()
    best = -np.sort(-sim.candidate_score, axis=1)[:, :n]
    np.testing.assert_array_equal(sim.ranker_score, best)
    assert (np.isin(sim.served, sim.candidates).all()) and (np.diff(sim.ranker_score) <= 0).all()
    world = ad_world(TINY)
    bid = world.campaign_bid[world.ad_campaign[sim.served]]
    np.testing.assert_allclose(sim.ranker_score, sim.ranker_pctr * bid)
    assert set(np.unique(sim.served)) <= set(world.live(day))


def test_ranker_pctr_is_noisy_truth(rows) -> None:
    scores = rows.groupby("session_id")["ranker_score"].apply(lambda s: (np.diff(s) <= 0).all())
    assert scores.all()
    assert rows["ranker_pctr"].between(0, 1, inclusive="neither").all()
    truth = rows["p_examine"].iloc[0] * rows["p_chargeable"]  # slot 0's examination: its pCTR
    corr = np.corrcoef(np.log(rows["ranker_pctr"]), np.log(truth))[0, 1]
    assert 0.5 < corr < 0.95
    assert rows["ranker_pctr"].mean() > truth.mean()  # over-predicts: calibration has room
    np.testing.assert_allclose(rows["ranker_score"], rows["ranker_pctr"] * rows["bid"], rtol=1e-5)


# ------------------------------------------------------------------------ entities, drift


def test_campaign_effects_drift_as_an_ar1() -> None:
    config = dataclasses.replace(TINY, num_days=6, num_advertisers=200)
    effect = ad_world(config).effect
    assert effect.shape == (6, 200 * config.campaigns_per_advertiser)
    assert (np.abs(np.diff(effect, axis=0)) > 0).all()
    lag1 = np.mean([np.corrcoef(effect[d], effect[d + 1])[0, 1] for d in range(5)])
    assert abs(lag1 - EFFECT_AR) < 0.08
    assert abs(effect.std() - 0.6) < 0.05


def test_truth_of_a_pair_changes_with_the_campaign_effect(context) -> None:
    world = ad_world(TINY)
    members = context.members(0)
    interest = context.interest_on(members, 0, 0)[:1]
    ad = np.array([[0, 1]])
    args = (
        interest, members.industry[:1], members.seniority[:1], members.conn_std[:1],
        member_propensity(TINY, 0, len(members.interest0))[:1], np.array([1]), ad,
    )  # fmt: skip
    p0, p1 = action_probabilities(world, 0, *args), action_probabilities(world, 1, *args)
    assert not np.allclose(p0, p1)
    logit = np.log(p1[..., 0] / (1 - p1[..., 0])) - np.log(p0[..., 0] / (1 - p0[..., 0]))
    campaign = world.ad_campaign[ad]
    np.testing.assert_allclose(logit, world.effect[1, campaign] - world.effect[0, campaign])


def test_campaigns_start_during_the_world_and_every_day_has_enough_ads(catalogs) -> None:
    first_day = set(catalogs[0]["ad_id"])
    new = set().union(*(set(catalogs[d]["ad_id"]) - first_day for d in DAYS if d > 0))
    assert new  # cold-start ids appear after day 0
    assert all(len(cat) >= TINY.ad_candidates for cat in catalogs.values())


def test_short_worlds_stretch_campaigns_to_fill_the_candidates() -> None:
    config = dataclasses.replace(
        TINY, num_advertisers=2, campaigns_per_advertiser=2, ads_per_campaign=2, ad_candidates=6,
        num_days=20,
    )  # fmt: skip
    world = ad_world(config)
    assert min(len(world.live(d)) for d in range(20)) >= 6
    assert (world.campaign_end >= world.campaign_start).all()


def test_ads_config_errors_name_the_bad_value() -> None:
    config = dataclasses.replace(TINY, num_advertisers=2, campaigns_per_advertiser=1,
                                 ads_per_campaign=2, ad_candidates=5)  # fmt: skip
    with pytest.raises(ValueError, match="ad_candidates"):
        ad_world(config)
    with pytest.raises(ValueError, match="day"):
        ad_catalog_table(TINY, TINY.num_days)


def test_an_empty_block_gives_empty_tables(context) -> None:
    members = context.members(0)
    empty = np.zeros(0, dtype=np.int64)
    sessions = Sessions(empty, empty, empty, empty, np.zeros(0, dtype=bool))
    out = ads_block_tables(context, 0, 0, members, context.interest_on(members, 0, 0), sessions)
    assert out["ad_impressions"].num_rows == out["ads_ground_truth"].num_rows == 0
    assert out["ad_impressions"].schema.equals(schemas.AD_IMPRESSIONS)
    assert out["ads_ground_truth"].schema.equals(schemas.ADS_GROUND_TRUTH)


def test_block_inputs_are_checked(context) -> None:
    members, interest, sessions = _block_inputs(context, 0, 0)
    with pytest.raises(ValueError, match="interest"):
        ads_block_tables(context, 0, 0, members, interest[:-1], sessions)
    with pytest.raises(ValueError, match="day"):
        ads_block_tables(context, TINY.num_days, 0, members, interest, sessions)
