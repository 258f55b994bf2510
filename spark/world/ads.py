"""Sponsored posts in the feed world: ad slots, the ad auction, chargeable clicks and their truth.

Sponsored posts fill ad slots inside the feed's own sessions. Advertisers, campaigns and ads, their
live days and the drifting campaign effects are the global entities of `spark.world.ad_entities`;
this module simulates a block's day of sponsored slots and writes its `AD_IMPRESSIONS` and
`ADS_GROUND_TRUTH` rows (paper §1, §17: Ads CTR with three chargeability heads).

Chargeability groups (`CHARGEABILITY_GROUPS`, one model head each). Each campaign's chargeable
click is one of three nested definitions over the raw actions `AD_ACTIONS` = (website_visit,
social_action, video_view): group g charges for any of AD_ACTIONS[:g+1], i.e.
    website_visit:   a website visit;
    visit_or_social: a visit or a social action (like, comment, follow);
    any_engagement:  a visit, a social action or a video view (>= 2 s).
`chargeable_click(group, actions)` is that rule; every logged row satisfies it.

Member propensity: r_m ~ N(0, 0.6²) per member (stream keys (block,)), a taste for ads that no
member attribute reveals: a model learns it only through the member id.

A block's day (every draw from `random_stream(seed, STREAM_AD_*, day, block)`)
    Sponsored sessions (stream STREAM_AD_SLOTS, with the scroll and the candidates' Gumbel
    noise): each feed session gets sponsored slots with probability `sponsored_share`; such a
    session has `ad_slots` slots at feed positions i_k = 1 + 4k (k = 0, 1, ...: positions in
    the feed the member scrolls, ads included).
    Candidates: `ad_candidates` distinct ads live that day, drawn without replacement
    (Gumbel-top-k) with targeting score 1.5 cos(u_m(d), t_v) + 0.5 [industry_m = industry_v].
    Truth given examination, for session s (member m, platform f) and ad a (campaign c with
    creative type t, advertiser v):
        affinity = 2.5 cos(u_m(d), t_v)                 # member x advertiser cross (ids only)
                 + 0.6 [industry_m = industry_v]
                 + PLATFORM_X_CREATIVE[f, t] + SEN_X_IND[seniority_m, industry_v]
                 + e_c(d) + q_a + r_m                     # drifting campaign effect, quality,
                                                          # member propensity
        P(website_visit) = p_v   = sigmoid(-5.1 + affinity)
        P(social_action) = p_s   = sigmoid(-5.5 + 0.8 affinity + 0.2 conn_m)
        P(video_view)    = p_vid = sigmoid(-8.3 + affinity + 4.0 [t = video])
    The three actions are independent given examination, so the groups' probabilities are
        p_website_visit   = p_v
        p_visit_or_social = 1 - (1 - p_v)(1 - p_s)
        p_any_engagement  = 1 - (1 - p_v)(1 - p_s)(1 - p_vid)
    and p_chargeable is the ad's own group's.
    Production ranker (stream STREAM_AD_RANKER): a noisy, over-predicting pCTR for the first slot
        ranker_pctr = sigmoid(logit(p_examine(i_0) p_chargeable) + N(0, 0.7²) + 0.4)
        ranker_score = ranker_pctr * bid_c
    The auction fills the slots with the top `ad_slots` candidates by ranker_score, slot 0 the
    best. The pCTR is position-normalized (for slot 0), so it does not fall with the slot.
    Examination (the scroll from STREAM_AD_SLOTS, the rest from STREAM_AD_ACTIONS): the
    member scrolls to depth D = Geometric(0.2) >= 1, drawn apart from the feed's own scroll, so
        P(impressed at feed position i) = 0.8^i
        P(examined | impressed at i)    = p_examine(i) = 0.95 (1 + i)^-0.5
    the feed's position curve (`SCROLL_CONTINUE`, `EXAMINE_TOP`, `EXAMINE_DECAY`). Each action
    is drawn independently only where examined; all actions are 0 where not examined or
    not impressed; chargeable_click = chargeable_click(group_c, actions).
    Rates (default world, 8 days): among impressed rows 7.3% are chargeable clicks, 5.1% /
    7.2% / 10.5% for website_visit / visit_or_social / any_engagement ads; 80% / 32% / 13% of
    slots 0 / 1 / 2 are impressed.

Ground truth (`ADS_GROUND_TRUTH`, one row per served slot, read by no feature): p_examine =
P(examined | impressed at the slot's feed position), the three groups' probabilities given
examination and p_chargeable. `AD_IMPRESSIONS` holds no probability but the ranker's pCTR.

Randomness: a block's tables depend only on the seed, the global entities and the block (the
kernel's "Randomness, blocks and shards"): the same however the members are split into shards.
Rows come in session order, then slot order.

NOT CONFIRMED by the paper (our decisions): the three chargeability definitions and their
nesting, the slot layout, the targeting and truth equations and every number in them, the
ranker's noise and bias, the position-normalized pCTR, and that ad examination follows the
feed's position curve with an independent scroll.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from spark import schemas
from spark.schemas import AD_ACTIONS, CHARGEABILITY_GROUPS
from spark.world.ad_entities import (
    AD_ID_BASE,
    CREATIVE_TYPES,
    AdWorld,
    ad_catalog_table,
    ad_world,
    date_column,
)
from spark.world.behaviour import EXAMINE_DECAY, EXAMINE_TOP, SCROLL_CONTINUE
from spark.world.config import PLATFORMS, WorldConfig
from spark.world.context import WorldContext
from spark.world.entities import Members
from spark.world.sampling import (
    STREAM_AD_ACTIONS,
    STREAM_AD_MEMBERS,
    STREAM_AD_RANKER,
    STREAM_AD_SLOTS,
    gumbel,
    random_stream,
    take_columns,
)
from spark.world.sessions import Sessions

__all__ = [
    "AD_TABLES",
    "AdsBlockDay",
    "ad_catalog_table",
    "ads_block_tables",
    "action_probabilities",
    "chargeable_click",
    "group_probabilities",
    "member_propensity",
    "simulate_ads_block",
    "slot_positions",
]

AD_TABLES: tuple[str, ...] = ("ad_impressions", "ads_ground_truth")

FIRST_SLOT_POSITION, SLOT_STRIDE = 1, 4
TARGETING_COS, TARGETING_INDUSTRY = 1.5, 0.5
AFFINITY_COS, AFFINITY_INDUSTRY = 2.5, 0.6
MEMBER_PROPENSITY_SD = 0.6
BASE_VISIT, BASE_SOCIAL, BASE_VIDEO = -5.1, -5.5, -8.3
SOCIAL_AFFINITY, SOCIAL_CONNECTIONS = 0.8, 0.2
VIDEO_BONUS = 4.0
RANKER_NOISE_SD, RANKER_BIAS = 0.7, 0.4
PCTR_EPS = 1e-6
_VIDEO = CREATIVE_TYPES.index("video")
# platform (web, ios, android) x creative type (image, video, text, carousel)
PLATFORM_X_CREATIVE = np.array(
    [
        [0.1, -0.3, 0.2, 0.2],
        [0.1, 0.4, -0.2, 0.0],
        [0.0, 0.3, -0.1, 0.1],
    ]
)


# ------------------------------------------------------------------------------- the rule


def chargeable_click(group: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The chargeability rule: row i is a chargeable click iff any of actions[i, :group[i]+1].

    Args:
        group: (n,) group index into CHARGEABILITY_GROUPS.
        actions: (n, len(AD_ACTIONS)) 0/1 actions in AD_ACTIONS order.

    Returns:
        (n,) int8 chargeable clicks.
    """
    group, actions = np.asarray(group), np.asarray(actions)
    n_groups = len(CHARGEABILITY_GROUPS)
    if actions.ndim != 2 or actions.shape[1] != len(AD_ACTIONS) or len(group) != len(actions):
        raise ValueError(
            f"`actions` must be (n, {len(AD_ACTIONS)}) in AD_ACTIONS order {AD_ACTIONS} with one "
            f"row per `group` entry. Received: actions.shape={actions.shape}, "
            f"group.shape={group.shape}"
        )
    bad_group = (group < 0) | (group >= n_groups)
    if bad_group.any():
        raise ValueError(
            f"`group` must index CHARGEABILITY_GROUPS (0..{n_groups - 1}). Received: "
            f"{sorted(set(group[bad_group].tolist()))[:5]}"
        )
    if not np.isin(actions, (0, 1)).all():
        raise ValueError(
            "`actions` must hold 0/1 flags. Received values: "
            f"{sorted(set(np.unique(actions).tolist()) - {0, 1})[:5]}"
        )
    charged = np.arange(len(AD_ACTIONS))[None, :] <= group[:, None]
    return ((actions != 0) & charged).any(axis=1).astype(np.int8)


def group_probabilities(p_actions: np.ndarray) -> np.ndarray:
    """P(chargeable click | examined) of each group (..., 3) from independent action
    probabilities (..., 3): p_g = 1 - prod_{j <= g} (1 - p_j)."""
    return 1.0 - np.cumprod(1.0 - p_actions, axis=-1)


# ------------------------------------------------------------------------------- the truth


def member_propensity(config: WorldConfig, block: int, num_members: int) -> np.ndarray:
    """r_m ~ N(0, 0.6²): the block's members' latent taste for ads (stream keys (block,))."""
    rng = random_stream(config.seed, STREAM_AD_MEMBERS, block)
    return MEMBER_PROPENSITY_SD * rng.standard_normal(num_members)


def slot_positions(config: WorldConfig) -> np.ndarray:
    """0-based feed position of every ad slot: 1, 5, 9, ..."""
    return FIRST_SLOT_POSITION + SLOT_STRIDE * np.arange(config.ad_slots, dtype=np.int64)


def p_examine_at(position: np.ndarray) -> np.ndarray:
    """P(examined | impressed at feed position i) = 0.95 (1 + i)^-0.5 (the feed's curve)."""
    return EXAMINE_TOP * (1.0 + np.asarray(position, dtype=np.float64)) ** -EXAMINE_DECAY


def action_probabilities(
    world: AdWorld,
    day: int,
    interest: np.ndarray,
    industry: np.ndarray,
    seniority: np.ndarray,
    conn_std: np.ndarray,
    propensity: np.ndarray,
    platform: np.ndarray,
    ads: np.ndarray,
) -> np.ndarray:
    """P(action | examined) of every (session, ad) pair, (S, k, 3) in AD_ACTIONS order.

    Args:
        world: the Ads entities.
        day: world day (picks the campaign effects e_c(day)).
        interest: (S, K) the session's member's interest u_m(day), unit vectors.
        industry, seniority, conn_std, propensity, platform: (S,) the session's member's
            industry, seniority, standardized log connections, ad propensity r_m, and platform.
        ads: (S, k) ad indices.
    """
    campaign = world.ad_campaign[ads]
    advertiser = world.campaign_advertiser[campaign]
    creative = world.campaign_creative[campaign]
    adv_industry = world.advertiser_industry[advertiser]
    cos = np.einsum("sk,sjk->sj", interest, world.advertiser_target[advertiser])
    affinity = (
        AFFINITY_COS * cos
        + AFFINITY_INDUSTRY * (industry[:, None] == adv_industry)
        + PLATFORM_X_CREATIVE[platform[:, None], creative]
        + world.sen_x_industry[seniority[:, None], adv_industry]
        + world.effect[day, campaign]
        + world.ad_quality[ads]
        + propensity[:, None]
    )
    logits = np.stack(
        [
            BASE_VISIT + affinity,
            BASE_SOCIAL + SOCIAL_AFFINITY * affinity + SOCIAL_CONNECTIONS * conn_std[:, None],
            BASE_VIDEO + affinity + VIDEO_BONUS * (creative == _VIDEO),
        ],
        axis=-1,
    )
    return 1.0 / (1.0 + np.exp(-logits))


# ---------------------------------------------------------------------------- a block's day


@dataclasses.dataclass(frozen=True)
class AdsBlockDay:
    """A block's day of sponsored slots as arrays: S' sponsored sessions, k candidates, n slots.

    `session` indexes the block's `Sessions`; ad arrays hold ad indices (ad_id - AD_ID_BASE).
    """

    session: np.ndarray  # (S',)
    candidates: np.ndarray  # (S', k) by targeting score, best first
    candidate_score: np.ndarray  # (S', k) ranker_score of every candidate
    served: np.ndarray  # (S', n) slot order
    feed_position: np.ndarray  # (n,)
    ranker_pctr: np.ndarray  # (S', n)
    ranker_score: np.ndarray  # (S', n)
    p_examine: np.ndarray  # (n,) P(examined | impressed at the slot)
    p_groups: np.ndarray  # (S', n, 3) given examination, CHARGEABILITY_GROUPS order
    p_chargeable: np.ndarray  # (S', n) the ad's own group's
    group: np.ndarray  # (S', n) the ad's chargeability group
    impressed: np.ndarray  # (S', n) bool
    actions: np.ndarray  # (S', n, 3) int8, AD_ACTIONS order
    chargeable: np.ndarray  # (S', n) int8


def simulate_ads_block(
    context: WorldContext,
    day: int,
    block: int,
    members: Members,
    interest: np.ndarray,
    sessions: Sessions,
) -> AdsBlockDay:
    """A block's day of sponsored slots, in the order of the model (module docstring):
    sponsored sessions and scroll, candidates, truth, ranker and auction, examination, actions."""
    config = context.config
    _check_block_inputs(config, day, members, interest, sessions)
    world = ad_world(config)
    n_slots, k = config.ad_slots, config.ad_candidates
    slots_rng = random_stream(config.seed, STREAM_AD_SLOTS, day, block)
    n_sess = len(sessions.session_id)
    sponsored = np.nonzero(slots_rng.random(n_sess) < config.sponsored_share)[0]
    depth = slots_rng.geometric(1.0 - SCROLL_CONTINUE, size=n_sess)[sponsored]
    member = sessions.member[sponsored]
    u = interest[member]

    live = world.live(day)
    live_adv = world.ad_advertiser[live]
    targeting = TARGETING_COS * (u @ world.advertiser_target[live_adv].T) + TARGETING_INDUSTRY * (
        members.industry[member][:, None] == world.advertiser_industry[live_adv][None, :]
    )
    targeting = targeting + gumbel(slots_rng, targeting.shape)
    top = np.argpartition(-targeting, k - 1, axis=1)[:, :k]
    order = np.argsort(-take_columns(targeting, top), axis=1, kind="stable")
    candidates = live[np.take_along_axis(top, order, axis=1)]

    propensity = member_propensity(config, block, len(members.interest0))
    p_actions = action_probabilities(
        world, day, u, members.industry[member], members.seniority[member],
        members.conn_std[member], propensity[member], sessions.platform[sponsored], candidates,
    )  # fmt: skip
    p_groups = group_probabilities(p_actions)
    campaign = world.ad_campaign[candidates]
    group = world.campaign_group[campaign]
    p_own = np.take_along_axis(p_groups, group[..., None], axis=-1)[..., 0]

    positions = slot_positions(config)
    p_examine = p_examine_at(positions)
    ranker_rng = random_stream(config.seed, STREAM_AD_RANKER, day, block)
    p_ref = p_examine[0] * p_own
    logit = np.log(p_ref) - np.log1p(-p_ref)
    logit = logit + RANKER_NOISE_SD * ranker_rng.standard_normal(logit.shape) + RANKER_BIAS
    pctr = np.clip(1.0 / (1.0 + np.exp(-logit)), PCTR_EPS, 1.0 - PCTR_EPS)
    score = pctr * world.campaign_bid[campaign]
    win = np.argsort(-score, axis=1, kind="stable")[:, :n_slots]

    actions_rng = random_stream(config.seed, STREAM_AD_ACTIONS, day, block)
    impressed = positions[None, :] < depth[:, None]
    examined = impressed & (actions_rng.random(impressed.shape) < p_examine[None, :])
    served_p = take_columns(p_actions, win)
    drawn = actions_rng.random(served_p.shape) < served_p
    actions = (drawn & examined[..., None]).astype(np.int8)
    served_group = take_columns(group, win)
    charged = chargeable_click(served_group.reshape(-1), actions.reshape(-1, len(AD_ACTIONS)))
    return AdsBlockDay(
        session=sponsored,
        candidates=candidates,
        candidate_score=score,
        served=take_columns(candidates, win),
        feed_position=positions,
        ranker_pctr=take_columns(pctr, win),
        ranker_score=take_columns(score, win),
        p_examine=p_examine,
        p_groups=take_columns(p_groups, win),
        p_chargeable=take_columns(p_own, win),
        group=served_group,
        impressed=impressed,
        actions=actions,
        chargeable=charged.reshape(served_group.shape),
    )


def ads_block_tables(
    context: WorldContext,
    day: int,
    block: int,
    members: Members,
    interest: np.ndarray,
    sessions: Sessions,
) -> dict[str, pa.Table]:
    """{"ad_impressions": AD_IMPRESSIONS table, "ads_ground_truth": ADS_GROUND_TRUTH table} of
    the block's feed sessions of `day` (`sessions` = open_sessions(config, day, block, members);
    `interest` = context.interest_on(members, block, day), one row per block member)."""
    sim = simulate_ads_block(context, day, block, members, interest, sessions)
    n_sess, n_slots = sim.served.shape
    n = n_sess * n_slots
    rows = np.repeat(sim.session, n_slots)
    date = date_column(context.config.date_of(day), n)
    session_id = pa.array(sessions.session_id[rows])
    slot = pa.array(np.tile(np.arange(n_slots, dtype=np.int32), n_sess))
    ad_id = pa.array(AD_ID_BASE + sim.served.reshape(-1).astype(np.int64))
    actions = sim.actions.reshape(n, len(AD_ACTIONS))
    impressions = pa.Table.from_arrays(
        [
            date,
            session_id,
            pa.array(members.first + sessions.member[rows].astype(np.int64)),
            pa.array(np.array(PLATFORMS)[sessions.platform[rows]], pa.string()),
            pa.array(sessions.hour[rows].astype(np.int32)),
            slot,
            pa.array(np.tile(sim.feed_position.astype(np.int32), n_sess)),
            ad_id,
            pa.array(sim.ranker_pctr.reshape(-1).astype(np.float32)),
            pa.array(sim.ranker_score.reshape(-1).astype(np.float32)),
            pa.array(sim.impressed.reshape(-1)),
            *(pa.array(actions[:, j]) for j in range(len(AD_ACTIONS))),
            pa.array(sim.chargeable.reshape(-1)),
        ],
        schema=schemas.AD_IMPRESSIONS,
    )
    p_groups = sim.p_groups.reshape(n, len(CHARGEABILITY_GROUPS)).astype(np.float32)
    truth = pa.Table.from_arrays(
        [
            date,
            session_id,
            slot,
            ad_id,
            pa.array(np.tile(sim.p_examine.astype(np.float32), n_sess)),
            *(pa.array(p_groups[:, g]) for g in range(len(CHARGEABILITY_GROUPS))),
            pa.array(sim.p_chargeable.reshape(-1).astype(np.float32)),
        ],
        schema=schemas.ADS_GROUND_TRUTH,
    )
    return {"ad_impressions": impressions, "ads_ground_truth": truth}


def _check_block_inputs(
    config: WorldConfig, day: int, members: Members, interest: np.ndarray, sessions: Sessions
) -> None:
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    n_members = len(members.interest0)
    if interest.shape != members.interest0.shape:
        raise ValueError(
            "`interest` must hold one interest vector per block member "
            f"({members.interest0.shape}, context.interest_on(members, block, day)). "
            f"Received: interest.shape={interest.shape}"
        )
    if len(sessions.member) and not (
        (sessions.member >= 0).all() and (sessions.member < n_members).all()
    ):
        raise ValueError(
            f"`sessions.member` must index the block's {n_members} members (open_sessions of the "
            "same block). Received member indices in "
            f"[{sessions.member.min()}, {sessions.member.max()}]"
        )
