"""The Ads world's global entities: advertisers, campaigns, ads, live spans and campaign drift.

Drawn once per config from the stream `STREAM_AD_ENTITIES` (keys ()), and the campaign effects
from `STREAM_AD_DRIFT` (keys (d,)), so every process that simulates blocks draws the same ones
(`ad_world` caches them per config). The behavioural model that uses them is documented in
`spark.world.ads`.

Advertisers v (v = 0..V-1, advertiser_id = 1_000 + v)
    industry_v ~ Zipf(0.7) over the members' NUM_INDUSTRIES industries (the members' own mix);
    target t_v = normalize(c_z + 0.5 n / sqrt(K)), z ~ the topic popularity, c_z the feed's topic
    centroids (`draw_topics`), so member interests and advertiser targets share one space R^K;
    quality q_v ~ N(0, 0.4).
Campaigns c (`campaigns_per_advertiser` per advertiser, campaign_id = 100_000 + c)
    chargeability group g ~ (0.40, 0.35, 0.25) over CHARGEABILITY_GROUPS; creative type over
    CREATIVE_TYPES ~ CREATIVE_MIX[g] (70% of any_engagement campaigns run video, 10-15% of the
    others); bid ~ LogNormal(log BID_MEDIAN[g], 0.5) per chargeable click, BID_MEDIAN =
    (3.0, 2.0, 1.2): the broader the chargeable click, the cheaper it is; live days
    [start_c, end_c] with start_c ~ U{-5..num_days-1} and length ~ U{4..12}, so campaigns
    (and their never-seen ids) start throughout the world: the cold-start ids.
    Coverage: a day with fewer than `ad_candidates` live ads gets the campaigns nearest to it
    (distance from their span, ties by index) stretched to cover it, until it has enough.
Ads a (`ads_per_campaign` per campaign, ad_id = 1_000_000 + a)
    quality q_a = q_v + N(0, 0.3) (advertiser quality plus the creative's own).
Campaign effect, drifting daily (an AR(1) with stationary sd 0.6 and day-to-day correlation 0.8):
    e_c(0) = 0.6 n_{c,0},   e_c(d) = 0.8 e_c(d-1) + 0.6 sqrt(1 - 0.64) n_{c,d}
    with n_{., d} ~ N(0, I) from the stream keyed (d,).
Seniority x advertiser-industry cross: SEN_X_IND[s, i] ~ N(0, 0.3²), a hidden categorical cross.

NOT CONFIRMED by the paper (our decisions): every distribution and number above; the paper says
only that Ads CTR has advertiser, campaign and ad ids and three chargeability groups (§1, §17).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import numpy as np
import pyarrow as pa

from spark import schemas
from spark.schemas import CHARGEABILITY_GROUPS
from spark.world.behaviour import NUM_INDUSTRIES, NUM_SENIORITY
from spark.world.config import WorldConfig
from spark.world.entities import draw_topics
from spark.world.sampling import (
    STREAM_AD_DRIFT,
    STREAM_AD_ENTITIES,
    categorical,
    normalize,
    random_stream,
)

CREATIVE_TYPES: tuple[str, ...] = ("image", "video", "text", "carousel")
GROUP_MIX = np.array([0.40, 0.35, 0.25])  # CHARGEABILITY_GROUPS order
# creative type mix (CREATIVE_TYPES order) by chargeability group: view-charged campaigns run video
CREATIVE_MIX = np.array(
    [
        [0.45, 0.10, 0.20, 0.25],
        [0.45, 0.15, 0.15, 0.25],
        [0.15, 0.70, 0.05, 0.10],
    ]
)
# median bid per chargeable click by group: a visit costs more than a view
BID_MEDIAN = np.array([3.0, 2.0, 1.2])
ADVERTISER_ID_BASE, CAMPAIGN_ID_BASE, AD_ID_BASE = 1_000, 100_000, 1_000_000
EARLIEST_START = -5
MIN_SPAN_DAYS, MAX_SPAN_DAYS = 4, 12
BID_SIGMA = 0.5
TARGET_NOISE = 0.5
ADVERTISER_QUALITY_SD, CREATIVE_QUALITY_SD = 0.4, 0.3
SEN_X_INDUSTRY_SD = 0.3
EFFECT_AR, EFFECT_SD = 0.8, 0.6


@dataclasses.dataclass(frozen=True, eq=False)
class AdWorld:
    """The Ads world's global entities, by index (v advertisers, c campaigns, a ads).

    Ad a belongs to campaign a // ads_per_campaign; campaign c to advertiser
    c // campaigns_per_advertiser. Spans are inclusive world days (start may be negative: the
    campaign was already running on day 0). `effect` is (num_days, C): e_c(d).
    """

    advertiser_industry: np.ndarray  # (V,) int32
    advertiser_target: np.ndarray  # (V, K) unit vectors
    advertiser_quality: np.ndarray  # (V,)
    campaign_advertiser: np.ndarray  # (C,) int64
    campaign_group: np.ndarray  # (C,) index into CHARGEABILITY_GROUPS
    campaign_creative: np.ndarray  # (C,) index into CREATIVE_TYPES
    campaign_bid: np.ndarray  # (C,) > 0
    campaign_start: np.ndarray  # (C,) first live day
    campaign_end: np.ndarray  # (C,) last live day
    ad_campaign: np.ndarray  # (A,) int64
    ad_quality: np.ndarray  # (A,)
    sen_x_industry: np.ndarray  # (NUM_SENIORITY, NUM_INDUSTRIES)
    effect: np.ndarray  # (num_days, C)

    @property
    def ad_advertiser(self) -> np.ndarray:
        """Advertiser index of every ad (A,)."""
        return self.campaign_advertiser[self.ad_campaign]

    def live(self, day: int) -> np.ndarray:
        """Indices (ascending) of the ads live on `day`."""
        c = self.ad_campaign
        return np.nonzero((self.campaign_start[c] <= day) & (day <= self.campaign_end[c]))[0]


def check_ads_config(config: WorldConfig) -> None:
    """Reject Ads worlds whose ids would overlap or that cannot fill a session's candidates."""
    campaigns = config.num_advertisers * config.campaigns_per_advertiser
    ads = campaigns * config.ads_per_campaign
    limits = {
        "num_advertisers": (config.num_advertisers, CAMPAIGN_ID_BASE - ADVERTISER_ID_BASE),
        "num_advertisers * campaigns_per_advertiser": (campaigns, AD_ID_BASE - CAMPAIGN_ID_BASE),
    }
    for name, (value, limit) in limits.items():
        if value > limit:
            raise ValueError(
                f"`{name}` must be at most {limit} so that advertiser, campaign and ad ids keep "
                f"their own ranges. Received: {name}={value}"
            )
    if ads < config.ad_candidates:
        raise ValueError(
            "the Ads world has fewer ads (num_advertisers * campaigns_per_advertiser * "
            f"ads_per_campaign = {ads}) than `ad_candidates` ({config.ad_candidates}) a session "
            "draws; add advertisers, campaigns or ads, or lower `ad_candidates`."
        )


@functools.lru_cache(maxsize=4)
def ad_world(config: WorldConfig) -> AdWorld:
    """The Ads world's global entities of `config` (cached per config: drawn once per process)."""
    check_ads_config(config)
    k = config.interest_dim
    n_adv = config.num_advertisers
    n_camp = n_adv * config.campaigns_per_advertiser
    n_ads = n_camp * config.ads_per_campaign
    topics = draw_topics(config)
    rng = random_stream(config.seed, STREAM_AD_ENTITIES)
    industry_w = 1.0 / np.arange(1, NUM_INDUSTRIES + 1) ** 0.7
    industry = rng.choice(NUM_INDUSTRIES, size=n_adv, p=industry_w / industry_w.sum())
    topic = rng.choice(len(topics.weight), size=n_adv, p=topics.weight)
    target = normalize(
        topics.centroids[topic] + TARGET_NOISE * rng.standard_normal((n_adv, k)) / np.sqrt(k)
    )
    adv_quality = rng.normal(0.0, ADVERTISER_QUALITY_SD, size=n_adv)
    group = rng.choice(len(CHARGEABILITY_GROUPS), size=n_camp, p=GROUP_MIX)
    creative = categorical(rng, CREATIVE_MIX[group])
    bid = BID_MEDIAN[group] * np.exp(BID_SIGMA * rng.standard_normal(n_camp))
    start = rng.integers(EARLIEST_START, config.num_days, size=n_camp)
    end = start + rng.integers(MIN_SPAN_DAYS, MAX_SPAN_DAYS + 1, size=n_camp) - 1
    advertiser = np.arange(n_camp, dtype=np.int64) // config.campaigns_per_advertiser
    ad_campaign = np.arange(n_ads, dtype=np.int64) // config.ads_per_campaign
    ad_quality = adv_quality[advertiser[ad_campaign]] + rng.normal(
        0.0, CREATIVE_QUALITY_SD, size=n_ads
    )
    sen_x_industry = SEN_X_INDUSTRY_SD * rng.standard_normal((NUM_SENIORITY, NUM_INDUSTRIES))
    start, end = cover_days(
        start, end, config.num_days, config.ad_candidates, config.ads_per_campaign
    )
    return AdWorld(
        advertiser_industry=industry.astype(np.int32),
        advertiser_target=target,
        advertiser_quality=adv_quality,
        campaign_advertiser=advertiser,
        campaign_group=group.astype(np.int64),
        campaign_creative=creative.astype(np.int64),
        campaign_bid=bid,
        campaign_start=start,
        campaign_end=end,
        ad_campaign=ad_campaign,
        ad_quality=ad_quality,
        sen_x_industry=sen_x_industry,
        effect=campaign_effects(config.seed, config.num_days, n_camp),
    )


def cover_days(
    start: np.ndarray, end: np.ndarray, num_days: int, min_ads: int, ads_per_campaign: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stretch campaign spans so every day 0..num_days-1 has at least `min_ads` live ads.

    Day by day, a day short of ads gets the campaigns not live on it stretched to cover it,
    nearest span first (distance in days from the span, ties by campaign index). Stretching only
    adds live days, so days already covered stay covered. Returns new (start, end) arrays.
    """
    start, end = start.copy(), end.copy()
    needed_campaigns = -(-min_ads // ads_per_campaign)
    if needed_campaigns > len(start):
        raise ValueError(
            f"{len(start)} campaigns of {ads_per_campaign} ads cannot keep {min_ads} ads live "
            "every day; add campaigns or lower `ad_candidates`."
        )
    for day in range(num_days):
        live = (start <= day) & (day <= end)
        missing = needed_campaigns - int(live.sum())
        if missing <= 0:
            continue
        distance = np.where(live, np.inf, np.maximum(start - day, day - end)).astype(np.float64)
        stretch = np.argsort(distance, kind="stable")[:missing]
        start[stretch] = np.minimum(start[stretch], day)
        end[stretch] = np.maximum(end[stretch], day)
    return start, end


def campaign_effects(seed: int, num_days: int, num_campaigns: int) -> np.ndarray:
    """e_c(d) for every day and campaign (num_days, C): the AR(1) of the module docstring."""
    effect = np.empty((num_days, num_campaigns))
    innovation_sd = EFFECT_SD * np.sqrt(1.0 - EFFECT_AR**2)
    for day in range(num_days):
        noise = random_stream(seed, STREAM_AD_DRIFT, day).standard_normal(num_campaigns)
        effect[day] = (
            EFFECT_SD * noise if day == 0 else EFFECT_AR * effect[day - 1] + innovation_sd * noise
        )
    return effect


def ad_catalog_table(config: WorldConfig, day: int) -> pa.Table:
    """schemas.AD_CATALOG rows: every ad live on `day` (date = that day), by ad_id."""
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    world = ad_world(config)
    live = world.live(day)
    campaign = world.ad_campaign[live]
    advertiser = world.campaign_advertiser[campaign]
    return pa.Table.from_arrays(
        [
            date_column(config.date_of(day), len(live)),
            pa.array(AD_ID_BASE + live.astype(np.int64)),
            pa.array(CAMPAIGN_ID_BASE + campaign),
            pa.array(ADVERTISER_ID_BASE + advertiser),
            pa.array(world.advertiser_industry[advertiser]),
            pa.array(np.array(CHARGEABILITY_GROUPS)[world.campaign_group[campaign]], pa.string()),
            pa.array(np.array(CREATIVE_TYPES)[world.campaign_creative[campaign]], pa.string()),
            pa.array(world.campaign_bid[campaign].astype(np.float32)),
        ],
        schema=schemas.AD_CATALOG,
    )


def date_column(date: dt.date, n: int) -> pa.Array:
    """A date32 column of `n` copies of `date`."""
    days = (date - dt.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32())
