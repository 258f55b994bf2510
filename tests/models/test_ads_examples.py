"""Tests for models.ads_examples: joins, chargeability labels, value rules, split, model arrays."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from models.ads_examples import (
    ADS_DENSE_FEATURES,
    ADS_EXAMPLE_COLUMNS,
    ADS_FEATURE_GROUPS,
    ADS_ID_FEATURES,
    SINGLE_HEAD,
    ads_examples,
    ads_inputs,
    ads_labels,
    holdout_split,
    served_probability,
)
from spark.schemas import CHARGEABILITY_GROUPS
from tests.models.ads_data import START, ads_day_tables, ads_entities


@pytest.fixture(scope="module")
def day():
    return ads_day_tables(day=0, sessions=300, seed=1)


def _hand_tables(actions, groups, creatives=("video", "video", "video"), impressed=True):
    """One session, one slot per ad; ad i is in group groups[i] with actions actions[i]."""
    n = len(groups)
    catalog = pd.DataFrame(
        {
            "date": START,
            "ad_id": [11, 12, 13][:n],
            "campaign_id": [21, 22, 23][:n],
            "advertiser_id": [31, 31, 32][:n],
            "advertiser_industry": [4, 5, 4][:n],
            "chargeability_group": list(groups),
            "creative_type": list(creatives)[:n],
            "bid": [2.0, 0.5, 1.0][:n],
        }
    )
    actions = np.array(actions, dtype=np.int8)
    group_index = [CHARGEABILITY_GROUPS.index(g) for g in groups]
    own = [int(actions[i, : g + 1].any()) for i, g in enumerate(group_index)]
    impressions = pd.DataFrame(
        {
            "date": START,
            "session_id": 7,
            "member_id": 1,
            "platform": ["ios", "web", "vr_headset"][:n],
            "hour": [6, 12, 0][:n],
            "slot": np.arange(n),
            "feed_position": 1 + 4 * np.arange(n),
            "ad_id": catalog["ad_id"],
            "ranker_pctr": 0.1,
            "ranker_score": 0.1,
            "impressed": impressed,
            "website_visit": actions[:, 0],
            "social_action": actions[:, 1],
            "video_view": actions[:, 2],
            "chargeable_click": np.array(own, dtype=np.int8),
        }
    )
    members = pd.DataFrame(
        {"member_id": [1], "seniority": [3], "industry": [4], "country": [0],
         "log_connections": [5.5]}
    )  # fmt: skip
    return impressions, catalog, members


def test_rows_are_the_impressed_slots_joined_with_their_ad_and_member(day):
    impressions, catalog, members = day
    frame = ads_examples(impressions, catalog, members)
    assert tuple(frame.columns) == ADS_EXAMPLE_COLUMNS
    impressed = impressions[impressions["impressed"]].reset_index(drop=True)
    assert len(frame) == len(impressed) > 0
    np.testing.assert_array_equal(frame["session_id"], impressed["session_id"])
    np.testing.assert_array_equal(frame["ad_id"], impressed["ad_id"])
    ads = catalog.set_index("ad_id").loc[frame["ad_id"]]
    np.testing.assert_array_equal(frame["campaign_id"], ads["campaign_id"])
    np.testing.assert_array_equal(frame["advertiser_id"], ads["advertiser_id"])
    np.testing.assert_allclose(frame["log_bid"], np.log(ads["bid"]), rtol=1e-6)
    who = members.set_index("member_id").loc[frame["member_id"]]
    np.testing.assert_array_equal(frame["seniority"], who["seniority"])
    np.testing.assert_array_equal(
        frame["industry_match"], (who["industry"].to_numpy() == ads["advertiser_industry"])
    )
    assert frame["group_index"].tolist() == [
        CHARGEABILITY_GROUPS.index(g) for g in frame["chargeability_group"]
    ]
    # the chargeable click is the own group's label, as logged
    np.testing.assert_array_equal(frame["chargeable_click"], impressed["chargeable_click"])
    assert frame[list(ADS_DENSE_FEATURES)].dtypes.eq(np.float32).all()
    assert set(frame["date"]) == {START}


def test_the_five_feature_groups_make_up_the_dense_features():
    assert list(ADS_FEATURE_GROUPS) == ["context", "ad", "member", "advertiser", "ad_x_member"]
    assert len(ADS_DENSE_FEATURES) == len(set(ADS_DENSE_FEATURES)) == 18
    assert "advertiser_industry" not in ADS_DENSE_FEATURES


def test_group_labels_follow_the_chargeability_rule():
    # a video view alone, a social action alone, a website visit alone; one ad per group
    impressions, catalog, members = _hand_tables(
        actions=[[0, 0, 1], [0, 1, 0], [1, 0, 0]], groups=CHARGEABILITY_GROUPS
    )
    frame = ads_examples(impressions, catalog, members)
    labels = frame[list(CHARGEABILITY_GROUPS)].to_numpy().tolist()
    assert labels == [[0, 0, 1], [0, 1, 1], [1, 1, 1]]
    # the video view is chargeable only for the any_engagement group: the first ad (website
    # visit group) is not charged, the social action is charged for visit_or_social
    assert frame["chargeable_click"].tolist() == [0, 1, 1]
    impressions, catalog, members = _hand_tables(
        actions=[[0, 0, 1]] * 3, groups=("any_engagement", "visit_or_social", "website_visit")
    )
    assert ads_examples(impressions, catalog, members)["chargeable_click"].tolist() == [1, 0, 0]


def test_dense_features_by_hand():
    impressions, catalog, members = _hand_tables(
        actions=[[0, 0, 0]] * 3, groups=CHARGEABILITY_GROUPS,
        creatives=("video", "text", "hologram"),
    )  # fmt: skip
    frame = ads_examples(impressions, catalog, members).set_index("ad_id")
    first, third = frame.loc[11], frame.loc[13]
    assert (first["platform_web"], first["platform_ios"], first["platform_android"]) == (0, 1, 0)
    assert first["hour_sin"] == pytest.approx(1.0) and first["hour_cos"] == pytest.approx(0.0)
    assert (first["creative_video"], first["group_website_visit"], first["slot"]) == (1, 1, 0)
    assert first["log_bid"] == pytest.approx(math.log(2.0))
    assert first["industry_match"] == 1 and frame.loc[12, "industry_match"] == 0
    # advertiser 31 runs two live ads, advertiser 32 one
    assert first["advertiser_log_live_ads"] == pytest.approx(math.log(3.0))
    assert third["advertiser_log_live_ads"] == pytest.approx(math.log(2.0))
    # an unseen creative type and platform get all-zero one-hots
    creative = [f"creative_{c}" for c in ("image", "video", "text", "carousel")]
    assert third[creative].sum() == 0
    assert third[["platform_web", "platform_ios", "platform_android"]].sum() == 0
    assert (first["seniority"], first["log_connections"]) == (3.0, 5.5)


def _set(table, column, value, row=0):
    def mutate(tables):
        frame = tables[table].copy()
        if column not in frame:
            frame[column] = None
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        tables[table] = frame

    return mutate


def _duplicate_slot(tables):
    frame = tables["impressions"].copy()
    frame.loc[1, "slot"] = frame.loc[0, "slot"]
    tables["impressions"] = frame


def _drop_member(tables):
    tables["members"] = tables["members"].iloc[1:]


def _drop_column(tables):
    tables["catalog"] = tables["catalog"].drop(columns=["bid"])


def _action_not_impressed(tables):
    frame = tables["impressions"].copy()
    frame.loc[0, ["impressed", "video_view", "chargeable_click"]] = [False, 1, 1]
    tables["impressions"] = frame


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("impressions", "ad_id", 999), r"ad_impressions\.ad_id: 1 rows .*ad_catalog.*999"),
        (_duplicate_slot, r"ad_impressions\.\(session_id, slot\): 2 rows .*one row per"),
        (_set("catalog", "chargeability_group", "cpm"), r"ad_catalog\.chargeability_group.*cpm"),
        (_set("impressions", "ranker_pctr", 1.0), r"ranker_pctr: 1 rows .*\(0, 1\).*1\.0"),
        (_set("impressions", "ranker_pctr", 0.0), r"ranker_pctr: 1 rows .*\(0, 1\)"),
        (_set("impressions", "ranker_pctr", float("nan")), r"ranker_pctr: 1 rows .*nan"),
        (_set("catalog", "bid", 0.0), r"ad_catalog\.bid: 1 rows .*> 0"),
        (_set("catalog", "bid", float("inf")), r"ad_catalog\.bid: 1 rows .*inf"),
        (_set("impressions", "social_action", 2), r"ad_impressions\.social_action: .*0 or 1"),
        (_action_not_impressed, r"impressed: 1 rows .*not impressed"),
        (
            _set("impressions", "chargeable_click", 1),
            r"chargeable_click: 1 rows .*AD_ACTIONS\[:g\+1\].*group website_visit",
        ),
        (_drop_member, r"ad_impressions\.member_id: 3 rows .*members table.*\['1'\]"),
        (_set("impressions", "hour", 24), r"ad_impressions\.hour: .*0\.\.23"),
        (_set("impressions", "slot", -1), r"ad_impressions\.slot: .*>= 0"),
        (_set("members", "log_connections", float("nan")), r"members\.log_connections"),
        (_drop_column, r"ad_catalog is missing columns \['bid'\]"),
    ],
)
def test_each_value_rule_raises_a_named_error(mutate, message):
    impressions, catalog, members = _hand_tables(
        actions=[[0, 0, 0]] * 3, groups=CHARGEABILITY_GROUPS
    )
    tables = {"impressions": impressions, "catalog": catalog, "members": members}
    mutate(tables)
    with pytest.raises(ValueError, match=message):
        ads_examples(tables["impressions"], tables["catalog"], tables["members"])


def test_duplicated_catalog_and_member_rows_are_refused():
    impressions, catalog, members = _hand_tables([[0, 0, 0]] * 3, CHARGEABILITY_GROUPS)
    with pytest.raises(ValueError, match=r"ad_catalog\.ad_id: 2 rows .*\(date, ad_id\)"):
        ads_examples(impressions, pd.concat([catalog, catalog.iloc[:1]]), members)
    with pytest.raises(ValueError, match=r"members\.member_id: 2 rows .*one row per"):
        ads_examples(impressions, catalog, pd.concat([members, members]))
    with pytest.raises(ValueError, match="holdout_share=1.5"):
        ads_examples(impressions, catalog, members, holdout_share=1.5)


def test_split_is_stable_per_session_and_near_its_share():
    ids = np.arange(20_000, dtype=np.int64) + 10**12
    split = holdout_split(ids, 0.1)
    assert abs((split == "holdout").mean() - 0.1) < 0.01
    # a session's side does not depend on the other rows, nor on the call
    np.testing.assert_array_equal(holdout_split(ids[::-7], 0.1), split[::-7])
    assert set(holdout_split(ids, 0.0)) == {"train"} and set(holdout_split(ids, 1.0)) == {"holdout"}
    # more holdout only moves sessions from train to holdout
    assert (holdout_split(ids, 0.3)[split == "holdout"] == "holdout").all()


def test_a_session_is_never_split(day):
    frame = ads_examples(*day, holdout_share=0.3)
    assert frame.groupby("session_id")["split"].nunique().max() == 1
    assert set(frame["split"]) == {"train", "holdout"}


def test_several_days_join_the_catalog_and_members_of_their_own_date():
    entities = ads_entities(seed=2)
    days = [ads_day_tables(d, sessions=50, seed=2, entities=entities) for d in (0, 1)]
    impressions = pd.concat([t[0] for t in days], ignore_index=True)
    catalog = pd.concat([t[1] for t in days], ignore_index=True)
    members = pd.concat([t[2] for t in days], ignore_index=True)
    frame = ads_examples(impressions, catalog, members)
    assert sorted(set(frame["date"])) == [START, START + dt.timedelta(days=1)]
    # an ad live on day 0 only is unknown on day 1
    first_ad = int(days[1][0]["ad_id"].iloc[0])
    late = catalog[
        ~((catalog["date"] == START + dt.timedelta(days=1)) & (catalog["ad_id"] == first_ad))
    ]
    with pytest.raises(ValueError, match=f"2026-01-02 {first_ad}"):
        ads_examples(impressions, late, members)


def test_model_arrays(day):
    frame = ads_examples(*day)
    inputs = ads_inputs(frame)
    assert set(inputs) == {*ADS_ID_FEATURES, "dense"}
    assert all(inputs[name].dtype == np.int64 for name in ADS_ID_FEATURES)
    assert inputs["dense"].dtype == np.float32
    assert inputs["dense"].shape == (len(frame), len(ADS_DENSE_FEATURES))
    np.testing.assert_array_equal(inputs["dense"][:, -1], frame["industry_match"])
    labels = ads_labels(frame, CHARGEABILITY_GROUPS)
    assert list(labels) == list(CHARGEABILITY_GROUPS)
    np.testing.assert_array_equal(labels["any_engagement"], frame["any_engagement"])
    single = ads_labels(frame, SINGLE_HEAD)
    np.testing.assert_array_equal(single["chargeable_click"], frame["chargeable_click"])
    assert single["chargeable_click"].dtype == np.float32
    with pytest.raises(ValueError, match="heads=\\('link_click',\\)"):
        ads_labels(frame, ("link_click",))
    bad = frame.assign(log_bid=np.float32("nan"))
    with pytest.raises(ValueError, match=r"non-finite dense features \(columns \['log_bid'\]\)"):
        ads_inputs(bad)


def test_served_probability_is_the_own_groups_head():
    frame = pd.DataFrame({"group_index": [0, 1, 2, 1]})
    probs = {g: np.full(4, 0.1 * (i + 1)) for i, g in enumerate(CHARGEABILITY_GROUPS)}
    np.testing.assert_allclose(served_probability(probs, frame), [0.1, 0.2, 0.3, 0.2])
    single = {"chargeable_click": np.array([0.5, 0.4, 0.3, 0.2])}
    np.testing.assert_allclose(served_probability(single, frame), [0.5, 0.4, 0.3, 0.2])
    with pytest.raises(ValueError, match="missing \\['any_engagement'\\]"):
        served_probability({g: probs[g] for g in CHARGEABILITY_GROUPS[:2]}, frame)
    with pytest.raises(ValueError, match="3 probabilities for 4 rows"):
        served_probability({"chargeable_click": np.ones(3) / 2}, frame)
