"""Small Ads raw tables (AD_IMPRESSIONS, AD_CATALOG, MEMBERS) with planted signals, for the Ads
model tests; independent of the simulated world (`spark.world.ads`).

Truth given examination, for member m, ad a (campaign c, advertiser v) and platform f:

    affinity = 1.5·[industry_m = industry_v] + ad_effect_a + member_effect_m + 0.8·[mobile, video]
    P(website_visit) = σ(−3.2 + affinity),  P(social_action) = σ(−3.6 + 0.8·affinity),
    P(video_view)    = σ(−1.5 + affinity) for video creatives, σ(−7) otherwise

Examination: slot k is impressed with probability 0.9 − 0.2k; actions only on impressed slots.
The production ranker's pCTR is σ(logit(p_own) + N(0, 0.7) + 0.4): noisy and over-predicting.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from models.ads_examples import CREATIVE_TYPES, PLATFORM_VALUES
from spark.schemas import AD_CATALOG, AD_IMPRESSIONS, CHARGEABILITY_GROUPS, MEMBERS

START = dt.date(2026, 1, 1)
SLOTS = 3


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def ads_entities(seed: int = 0, advertisers: int = 8, members: int = 200) -> dict:
    """The world's fixed entities: members and ads with their hidden effects."""
    rng = np.random.default_rng([seed, 0])
    campaigns, ads_per = 2, 2
    n_ads = advertisers * campaigns * ads_per
    advertiser = np.repeat(np.arange(advertisers), campaigns * ads_per)
    campaign = np.repeat(np.arange(advertisers * campaigns), ads_per)
    industry_v = rng.integers(0, 12, advertisers)
    return {
        "members": pd.DataFrame(
            {
                "member_id": np.arange(members, dtype=np.int64) + 1,
                "seniority": rng.integers(0, 5, members).astype(np.int32),
                "industry": rng.integers(0, 12, members).astype(np.int32),
                "country": rng.integers(0, 8, members).astype(np.int32),
                "log_connections": rng.normal(5.0, 1.0, members).astype(np.float32),
            }
        ),
        "member_effect": rng.normal(0.0, 0.5, members),
        "catalog": pd.DataFrame(
            {
                "ad_id": 1_000_000 + np.arange(n_ads, dtype=np.int64),
                "campaign_id": 100_000 + campaign.astype(np.int64),
                "advertiser_id": 1_000 + advertiser.astype(np.int64),
                "advertiser_industry": industry_v[advertiser].astype(np.int32),
                "chargeability_group": np.array(CHARGEABILITY_GROUPS)[
                    rng.integers(0, 3, advertisers * campaigns)[campaign]
                ],
                "creative_type": np.array(CREATIVE_TYPES)[
                    rng.integers(0, 4, advertisers * campaigns)[campaign]
                ],
                "bid": rng.lognormal(0.0, 0.5, n_ads).astype(np.float32),
            }
        ),
        "ad_effect": rng.normal(0.0, 1.0, n_ads),
    }


def ads_day_tables(
    day: int = 0, sessions: int = 400, seed: int = 0, entities: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(impressions, catalog, members) of one day, round-tripped through the contract's pyarrow
    schemas (so their dtypes are those a Parquet read gives)."""
    entities = entities or ads_entities(seed)
    rng = np.random.default_rng([seed, 1, day])
    date = START + dt.timedelta(days=day)
    members, catalog = entities["members"], entities["catalog"]
    n_ads, rows = len(catalog), sessions * SLOTS

    member_index = np.repeat(rng.integers(0, len(members), sessions), SLOTS)
    platform = np.repeat(rng.integers(0, len(PLATFORM_VALUES), sessions), SLOTS)
    hour = np.repeat(rng.integers(0, 24, sessions), SLOTS)
    ad_index = np.argsort(rng.random((sessions, n_ads)), axis=1)[:, :SLOTS].reshape(-1)
    slot = np.tile(np.arange(SLOTS), sessions)
    impressed = rng.random(rows) < 0.9 - 0.2 * slot

    ad = catalog.iloc[ad_index]
    video = ad["creative_type"].to_numpy() == "video"
    match = members["industry"].to_numpy()[member_index] == ad["advertiser_industry"].to_numpy()
    affinity = (
        1.5 * match
        + entities["ad_effect"][ad_index]
        + entities["member_effect"][member_index]
        + 0.8 * (video & (platform > 0))
    )
    p = np.stack(
        [
            sigmoid(-3.2 + affinity),
            sigmoid(-3.6 + 0.8 * affinity),
            np.where(video, sigmoid(-1.5 + affinity), sigmoid(-7.0)),
        ],
        axis=1,
    )
    actions = (rng.random((rows, 3)) < p) & impressed[:, None]
    group = pd.Series(ad["chargeability_group"].to_numpy()).map(
        {g: i for i, g in enumerate(CHARGEABILITY_GROUPS)}
    )
    group = group.to_numpy()
    own = np.maximum.accumulate(actions, axis=1)[np.arange(rows), group]
    p_own = 1.0 - np.cumprod(1.0 - p, axis=1)[np.arange(rows), group]
    pctr = sigmoid(np.log(p_own / (1.0 - p_own)) + rng.normal(0.0, 0.7, rows) + 0.4)

    impressions = pd.DataFrame(
        {
            "date": date,
            "session_id": np.repeat(day * 10**12 + np.arange(sessions, dtype=np.int64), SLOTS),
            "member_id": members["member_id"].to_numpy()[member_index],
            "platform": np.array(PLATFORM_VALUES)[platform],
            "hour": hour.astype(np.int32),
            "slot": slot.astype(np.int32),
            "feed_position": (1 + 4 * slot).astype(np.int32),
            "ad_id": ad["ad_id"].to_numpy(),
            "ranker_pctr": pctr.astype(np.float32),
            "ranker_score": (pctr * ad["bid"].to_numpy()).astype(np.float32),
            "impressed": impressed,
            "website_visit": actions[:, 0].astype(np.int8),
            "social_action": actions[:, 1].astype(np.int8),
            "video_view": actions[:, 2].astype(np.int8),
            "chargeable_click": own.astype(np.int8),
        }
    )
    member_table = members.assign(
        date=date, hist_post_ids=[[]] * len(members), hist_author_ids=[[]] * len(members),
        hist_actions=[[]] * len(members),
    )  # fmt: skip
    return (
        _contract(impressions, AD_IMPRESSIONS),
        _contract(catalog.assign(date=date), AD_CATALOG),
        _contract(member_table, MEMBERS),
    )


def _contract(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    return pa.Table.from_pandas(
        frame[schema.names], schema=schema, preserve_index=False
    ).to_pandas()
