"""The simulated feed world: a behavioural model that writes the raw feed logs and their truth.

The world is the project's ground truth. Same seed and config give byte-identical tables, however
the members are split across processes (see "Randomness, blocks and shards").

Entities (drawn from the seed)
    Topics: 12 random unit centroids c_j in R^K (K = `interest_dim`); 60 hashtags, five per topic,
    h = normalize(c_j + 0.35 n) with n ~ N(0, I/K).
    Members m: interest u_m = normalize(c_z1 + 0.5 c_z2 + 0.5 n), drifting daily as
    u_m(d) = normalize(u_m(0) + 0.08 * sum_{k<=d} n_k); seniority (5 levels), industry (12),
    country (8), log connections ~ N(5, 1.1) (heavy-tailed counts; the comment and share logits
    use it standardized with those population values), activity
    a_m = mean_sessions * exp(0.9 g - 0.405) (log-normal, mean = `mean_sessions_per_member`),
    platform preference ~ Dirichlet(0.9, 0.7, 0.7) over (web, ios, android).
    Authors = members 0..A-1: topic w_a = normalize(u_a + 0.3 n), quality q_a ~ N(0, 0.5),
    post rate ~ log-normal(sd 1), content-type preference ~ Dirichlet(6 * global mix).
    Follows: each member follows 20-40 authors, drawn without replacement (Gumbel-top-k) with
    score 3 cos(u_m, w_a) + 0.8 q_a + N(0, 0.8)_a; followers of a = in-world follow count.

Posts (created each day; post_id = day * 1_000_000 + i)
    author ~ post rate, type ~ author preference, topic v_p = normalize(w_a + 0.4 n), 1-3
    hashtags (Gumbel-top-k over 6 cos(v_p, h)), length ~ LogNormal(log median_type, sd_type),
    quality q_p = q_a + N(0, 0.4), virality r_p = 0.4 q_p + N(0, 0.7), published in the first hour
    of its day and eligible for `post_lifetime_days` days. Popularity at age x hours:
        pop_p(x) = r_p + s_p(day) + 0.5 * [log(1 - exp(-x / 3)) - ln2 * x / halflife_type]
    (rises over a few hours, decays with a type-dependent half-life) where the shock
    s_p(age day j) = 0.3 s_p(j-1) + 0.6 sqrt(1 - 0.09) e_j is volatile and short-lived.

A day of sessions
    Member m opens Poisson(a_m) sessions; platform ~ preference; hour ~ a fixed daily profile.
    Candidates: `candidates_per_session` eligible posts drawn without replacement (Gumbel-top-k)
    with score 2 follows(m, a) + 0.8 pop_p + cos(u_m, v_p) (own and already acted-on posts
    excluded).
    Truth, given examination, for session s (member m, platform f) and post p (type t):
        shared = 3 cos(u_m, v_p)                                      # personal interest
               + SEN_X_TYPE[seniority_m, t] + PLAT_X_TYPE[f, t]        # categorical crosses
               + 0.8 log(1 + #{history entries with author a_p})       # history affinity
               + 1.0 cos(v_p, mean topic of history posts)
               + 0.5 pop_p(x) + 0.5 q_p + 0.3 follows(m, a_p)
        P(click)         = sigmoid(b_click + shared + o_click[t])
        q_k(c)           = sigmoid(b_k + w_k shared + o_k[t] + 0.2 conn_m [k in comment, share]
                                   + lift_k[t] * c)        for k in like, comment, share, vote
        p_k              = P(click) q_k(1) + (1 - P(click)) q_k(0)        (vote: polls only)
        p_contribution   = P(click) [1 - prod_k (1 - q_k(1))]
                           + (1 - P(click)) [1 - prod_k (1 - q_k(0))]
    Sampling follows exactly this model: click first, then each contribution action independently
    given the click; so on articles a like mostly follows a click (lift 2.5).
    Production ranker: logit(p_contribution) + N(0, 1), top `served_per_session` served; a
    `random_bucket_share` of sessions gets its top-N shuffled uniformly.
    Scroll depth D = min(Geometric(0.2), N) >= 1: P(impressed at position i) = 0.8^i.
    Examination given impression: p_examine(i) = 0.95 (1 + i)^-0.5. Actions need examination.
    Dwell (impressed posts): examined ones are
        log dwell ~ N(log median_t + e_t log(length / median length_t) + plat_f - 0.03 i
                      + 0.25 * 3 cos(u_m, v_p) + boost_t click + 0.3 contributed, 0.6)
    and unexamined ones scroll past, log dwell ~ N(log 1.5, 0.4).
    After the day each member's history (last `history_length` actions, oldest first) gets that
    day's clicks and contributions, ordered by session, position and action.

Randomness, blocks and shards
    Members are grouped in blocks of `members_per_block` consecutive ids. Each kind of draw has
    its own generator `np.random.default_rng([seed, stream, *keys])`, so draws never shift one
    another:
        global entities (topics, authors, the posts of day d):   keys = () or (d,)
        a block b's members (attributes, follows):               keys = (b,)
        block b on day d (drift, sessions, candidates, ranker, actions, dwell): keys = (d, b)
    A block's day therefore depends on the seed, the global entities, the authors' follower counts
    and the block's own member state (`spark.world_state`), never on which other blocks are
    simulated beside it. `simulate_blocks` is the one simulator kernel: it takes any run of whole
    blocks (a "shard"). `FeedWorld` runs it over all members in one process; the Spark generator
    (`spark.world_spark`) runs it in one task per shard. The tables are the same for any number
    of shards (rows come block by block), and with one shard byte-identical to `FeedWorld`'s.
    Ids are unique across blocks and days: session_id = d * 10^12 + b * 10^5 + i, post_id =
    d * 10^6 + i.

State
    The only state carried from day to day is the members' interaction history, kept with the
    (static) follow lists in the member state table; `FeedWorld` caches it per day in memory and,
    with `cache_dir`, on disk in the layout of `spark.world_state`, which the Spark generator
    shares. A day needs the state at the end of the day before, so missing days are computed first.

The ground-truth table keeps p_examine and the per-action probabilities for every served post;
`expected_top1_contributions` and `expected_session_contributions` turn any ranking of a session's
served posts into the contributions it would earn in expectation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import pathlib
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from spark import schemas
from spark.storage import write_partition
from spark.world_config import ACTIONS, CONTENT_TYPES, CONTRIBUTION_ACTIONS, PLATFORMS, WorldConfig
from spark.world_state import (
    STATE_DATASET,
    BlockState,
    History,
    block_members,
    history_lists,
    log_followers,
    num_blocks,
    read_state,
    split_blocks,
    state_dir,
    world_cache_dir,
)

POST_ID_STRIDE = 1_000_000
SESSION_ID_STRIDE = 1_000_000_000_000  # per day
BLOCK_SESSION_STRIDE = 100_000  # per block within a day
MAX_BLOCKS = SESSION_ID_STRIDE // BLOCK_SESSION_STRIDE
NUM_SENIORITY = 5
NUM_INDUSTRIES = 12
NUM_COUNTRIES = 8
NUM_TOPICS = 12
NUM_HASHTAGS = 60
MAX_HASHTAGS = 3
MIN_FOLLOWS, MAX_FOLLOWS = 20, 40
LOG_CONNECTIONS_MEAN, LOG_CONNECTIONS_SD = 5.0, 1.1

SCROLL_CONTINUE = 0.8
EXAMINE_TOP = 0.95
EXAMINE_DECAY = 0.5
RANKER_NOISE_SD = 1.0
INTEREST_DRIFT = 0.08
CANDIDATE_CHUNK_CELLS = 4_000_000
TOP_K_MIN_STRIDE = 5  # shorter rows: plain argpartition
HIST_TOPIC_CENTER = 0.3

BLOCK_TABLES: tuple[str, ...] = (
    "feed_sessions",
    "feed_impressions",
    "members",
    "feed_ground_truth",
)
"""The per-member tables `simulate_blocks` writes; `posts` is global (`posts_table`)."""

# random-stream ids (see "Randomness, blocks and shards")
_S_TOPICS, _S_MEMBERS, _S_AUTHORS, _S_FOLLOWS, _S_DRIFT = 1, 2, 3, 4, 5
_S_POSTS, _S_SESSIONS, _S_CANDIDATES, _S_RANKER, _S_ACTIONS, _S_DWELL = 10, 11, 12, 13, 14, 15


def _by_type(values: dict[str, float]) -> np.ndarray:
    return np.array([values[c] for c in CONTENT_TYPES], dtype=np.float64)


TYPE_MIX = _by_type(
    {"text": 0.30, "image": 0.25, "video": 0.14, "article": 0.12, "poll": 0.08, "job": 0.11}
)
LENGTH_MEDIAN = _by_type(
    {"text": 60, "image": 25, "video": 45, "article": 900, "poll": 20, "job": 150}
)
LENGTH_SIGMA = _by_type(
    {"text": 0.7, "image": 0.6, "video": 0.8, "article": 0.5, "poll": 0.4, "job": 0.5}
)
HALF_LIFE_HOURS = _by_type(
    {"text": 18, "image": 18, "video": 30, "article": 48, "poll": 12, "job": 60}
)
RISE_HOURS = 3.0
DWELL_MEDIAN_S = _by_type({"text": 6, "image": 5, "video": 14, "article": 10, "poll": 5, "job": 8})
DWELL_LENGTH_ELASTICITY = _by_type(
    {"text": 0.3, "image": 0.1, "video": 0.6, "article": 0.5, "poll": 0.1, "job": 0.3}
)
DWELL_CLICK_BOOST = _by_type(
    {"text": 0.4, "image": 0.5, "video": 0.9, "article": 1.6, "poll": 0.3, "job": 1.0}
)
PLATFORM_DWELL = np.array([0.15, 0.0, -0.1])  # web, ios, android
HOUR_PROFILE = np.array(
    [
        1,
        0.5,
        0.3,
        0.3,
        0.5,
        1.5,
        3,
        5,
        7,
        6,
        5,
        5,
        6.5,
        5.5,
        4.5,
        4.5,
        5,
        5.5,
        6,
        6.5,
        6.5,
        5,
        3,
        1.5,
    ]
)
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.sum()

# seniority (rows, junior -> executive) x content type: juniors read jobs, seniors read articles
SENIORITY_X_TYPE = np.array(
    [
        [0.1, 0.2, 0.2, -0.4, 0.1, 0.8],
        [0.1, 0.1, 0.1, -0.1, 0.1, 0.4],
        [0.0, 0.0, 0.0, 0.2, 0.0, 0.0],
        [-0.1, -0.1, -0.2, 0.4, 0.1, -0.3],
        [-0.2, -0.2, -0.4, 0.6, 0.2, -0.6],
    ]
)
# platform (web, ios, android) x content type: articles on the desktop, video on phones
PLATFORM_X_TYPE = np.array(
    [
        [0.1, -0.1, -0.3, 0.5, 0.0, 0.2],
        [-0.1, 0.3, 0.5, -0.4, 0.1, -0.2],
        [0.0, 0.2, 0.3, -0.3, 0.2, 0.0],
    ]
)
ACTION_BASE = {"click": -5.0, "like": -5.5, "comment": -7.1, "share": -7.5, "vote": -2.3}
ACTION_WEIGHT = {"click": 1.0, "like": 1.0, "comment": 0.9, "share": 0.8, "vote": 0.7}
ACTION_TYPE_OFFSET = {
    "click": {"text": -0.8, "image": -0.3, "video": 0.3, "article": 0.9, "poll": -0.5, "job": 0.3},
    "like": {"text": 0.0, "image": 0.3, "video": 0.1, "article": -0.8, "poll": -0.5, "job": -0.4},
    "comment": {
        "text": 0.3,
        "image": 0.0,
        "video": -0.1,
        "article": 0.2,
        "poll": -0.3,
        "job": -0.3,
    },
    "share": {"text": -0.2, "image": 0.0, "video": 0.2, "article": 0.3, "poll": -0.5, "job": 0.8},
    "vote": {"text": 0.0, "image": 0.0, "video": 0.0, "article": 0.0, "poll": 0.0, "job": 0.0},
}
CLICK_LIFT = {
    "like": {"text": 0.7, "image": 0.7, "video": 0.7, "article": 2.5, "poll": 0.5, "job": 0.7},
    "comment": {"text": 0.5, "image": 0.5, "video": 0.5, "article": 1.5, "poll": 0.3, "job": 0.5},
    "share": {"text": 0.5, "image": 0.5, "video": 0.5, "article": 1.5, "poll": 0.3, "job": 1.0},
    "vote": {"text": 0.0, "image": 0.0, "video": 0.0, "article": 0.0, "poll": 0.0, "job": 0.0},
}
CONNECTION_ACTIONS = ("comment", "share")

_POLL = CONTENT_TYPES.index("poll")
_CONTRIB_IDX = np.array([ACTIONS.index(a) for a in CONTRIBUTION_ACTIONS])


@dataclasses.dataclass(frozen=True)
class WorldDay:
    """One simulated day: the four raw log tables plus the ground truth no feature may read."""

    day: int
    date: dt.date
    feed_sessions: pa.Table
    feed_impressions: pa.Table
    posts: pa.Table
    members: pa.Table
    feed_ground_truth: pa.Table


@dataclasses.dataclass(frozen=True, eq=False)
class PositionCurve:
    """Position effects of the world, identical for every session.

    Args:
        p_impressed: `p_impressed[i]` = P(scroll depth > i) = P(position i is impressed).
        p_examine: `p_examine[i]` = P(examined | impressed at position i).
    """

    p_impressed: np.ndarray
    p_examine: np.ndarray

    @property
    def p_seen(self) -> np.ndarray:
        """P(examined | served at position i) = p_impressed * p_examine."""
        return self.p_impressed * self.p_examine


def position_curve(config: WorldConfig) -> PositionCurve:
    """P(impressed) and P(examined | impressed) for positions 0..served_per_session-1."""
    pos = np.arange(config.served_per_session, dtype=np.float64)
    return PositionCurve(
        p_impressed=SCROLL_CONTINUE**pos,
        p_examine=EXAMINE_TOP * (1.0 + pos) ** -EXAMINE_DECAY,
    )


def check_world_config(config: WorldConfig) -> None:
    """Reject configs the simulator cannot run (beyond `WorldConfig`'s own checks)."""
    if config.posts_per_day >= POST_ID_STRIDE:
        raise ValueError(
            f"`posts_per_day` must be below {POST_ID_STRIDE} (post ids are "
            f"day * {POST_ID_STRIDE} + i). Received: posts_per_day={config.posts_per_day}"
        )
    if config.posts_per_day < 2 * config.candidates_per_session:
        raise ValueError(
            "`posts_per_day` must be at least 2 * `candidates_per_session` so that day 0 "
            f"has enough candidates. Received: posts_per_day={config.posts_per_day}, "
            f"candidates_per_session={config.candidates_per_session}"
        )
    if config.num_authors < 2:
        raise ValueError(
            f"`num_authors` must be at least 2. Received: num_authors={config.num_authors}"
        )
    if num_blocks(config) > MAX_BLOCKS:
        raise ValueError(
            f"the world has {num_blocks(config)} member blocks, more than session ids allow "
            f"({MAX_BLOCKS}); raise `members_per_block`. Received: "
            f"num_members={config.num_members}, members_per_block={config.members_per_block}"
        )


@dataclasses.dataclass(frozen=True)
class _Topics:
    centroids: np.ndarray  # (NUM_TOPICS, K)
    weight: np.ndarray  # topic popularity, sums to 1
    hashtag_vec: np.ndarray  # (H, K)
    sen_x_type: np.ndarray
    plat_x_type: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Authors:
    topic: np.ndarray  # (A, K)
    quality: np.ndarray
    post_rate: np.ndarray  # sums to 1
    type_pref: np.ndarray  # (A, T)
    attract: np.ndarray  # follow attractiveness


@dataclasses.dataclass(frozen=True)
class _Members:
    """Static attributes of one block of consecutive members."""

    first: int
    interest0: np.ndarray  # (n, K) unit vectors
    seniority: np.ndarray
    industry: np.ndarray
    country: np.ndarray
    log_connections: np.ndarray  # float32
    conn_std: np.ndarray
    activity: np.ndarray
    platform_pref: np.ndarray  # (n, 3)


@dataclasses.dataclass(frozen=True)
class _Posts:
    day: int
    post_id: np.ndarray
    author: np.ndarray
    ctype: np.ndarray
    hashtags: np.ndarray  # (n, MAX_HASHTAGS), -1 padded
    num_hashtags: np.ndarray
    length: np.ndarray  # float32
    topic: np.ndarray  # (n, K)
    quality: np.ndarray
    virality: np.ndarray
    published_hour: np.ndarray
    shock: np.ndarray  # (n, post_lifetime_days): shock at age day j


@dataclasses.dataclass(frozen=True)
class _Pool:
    """The posts eligible on a day, concatenated, with their age and popularity by hour."""

    posts: _Posts
    created: np.ndarray  # creation day of each post
    age_hours: np.ndarray  # (24, n) age at the end of each hour of the day
    popularity: np.ndarray  # (24, n)
    by_author: np.ndarray  # pool indices sorted by author (stable)


@dataclasses.dataclass(frozen=True)
class _DayArrays:
    """A block's simulated day as flat arrays: sessions (S,) and served posts (S, N) in position
    order; `member` indexes the block's members."""

    session_id: np.ndarray
    member: np.ndarray
    platform: np.ndarray
    hour: np.ndarray
    random_bucket: np.ndarray
    served: np.ndarray  # (S, N) index into the pool
    ranker_score: np.ndarray  # (S, N)
    age_hours: np.ndarray  # (S, N)
    depth: np.ndarray  # (S,)
    probs: np.ndarray  # (S, N, len(ACTIONS)) action probabilities given examination
    p_contribution: np.ndarray  # (S, N)
    actions: np.ndarray  # (S, N, len(ACTIONS)) int8, zero where not impressed
    dwell: np.ndarray  # (S, N) float, only meaningful where impressed


@dataclasses.dataclass(frozen=True)
class BlockDay:
    """One block's simulated day: its rows of `BLOCK_TABLES` and its state for the next day.

    `tables` is empty when the day was simulated only to advance the state.
    """

    block: int
    tables: dict[str, pa.Table]
    state: pa.Table


def _rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *keys])


def _normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of `probs` (rows need not be normalized)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel noise as -log(Exponential(1)) (float32; one log per draw)."""
    noise = rng.standard_exponential(shape, dtype=np.float32)
    np.maximum(noise, np.float32(1e-30), out=noise)
    np.log(noise, out=noise)
    return np.negative(noise, out=noise)


def _ragged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and position of every element of the ranges [starts[i], ends[i])."""
    lens = ends - starts
    rows = np.repeat(np.arange(len(starts)), lens)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lens) - lens, lens)
    return rows, np.repeat(starts, lens) + within


def _top_k_unsorted(score: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest entries of each row, in increasing index order (exact).

    A full `argpartition` of long rows is the simulator's largest cost, so long rows are first
    cut by a threshold: the k-th largest entry of an evenly strided sample of a row is at most
    the row's own k-th largest, so every top-k entry lies at or above it. About k * stride
    entries per row survive (stride ~ sqrt(row length / k)), and only those are partitioned.
    """
    n, width = score.shape
    stride = int(np.sqrt(width / k)) if k else 0
    if stride < TOP_K_MIN_STRIDE or n == 0:
        top = np.argpartition(score, width - k, axis=1)[:, width - k :]
        return np.sort(top, axis=1)
    sample = score[:, ::stride]
    threshold = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
    rows, cols = np.nonzero(score >= threshold[:, None])
    counts = np.bincount(rows, minlength=n)
    kept = int(counts.max())
    slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    values = np.full((n, kept), -np.inf, dtype=score.dtype)
    values[rows, slot] = score[rows, cols]
    columns = np.zeros((n, kept), dtype=np.int64)
    columns[rows, slot] = cols
    best = np.argpartition(values, kept - k, axis=1)[:, kept - k :]
    return np.sort(np.take_along_axis(columns, best, axis=1), axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------- global entities


class WorldContext:
    """The world's global entities: topics, hashtags, crosses, authors, and every day's posts.

    They are deterministic from the config and cheap next to the members (O(authors + posts)),
    so every process that simulates blocks builds its own; posts and pools are drawn lazily and
    kept. `world_context` keeps one per config in a Spark worker, across tasks.

    Args:
        config: the world.
    """

    def __init__(self, config: WorldConfig) -> None:
        check_world_config(config)
        self.config = config
        self.topics = self._draw_topics()
        self.authors = self._draw_authors()
        self._posts: dict[int, _Posts] = {}
        self._pools: dict[int, _Pool] = {}

    def _draw_topics(self) -> _Topics:
        c = self.config
        k = c.interest_dim
        rng = _rng(c.seed, _S_TOPICS)
        centroids = _normalize(rng.standard_normal((NUM_TOPICS, k)))
        weight = 1.0 / np.arange(1, NUM_TOPICS + 1) ** 0.6
        hashtag_topic = np.repeat(np.arange(NUM_TOPICS), NUM_HASHTAGS // NUM_TOPICS)
        hashtag_vec = _normalize(
            centroids[hashtag_topic] + 0.35 * rng.standard_normal((NUM_HASHTAGS, k)) / np.sqrt(k)
        )
        return _Topics(
            centroids=centroids,
            weight=weight / weight.sum(),
            hashtag_vec=hashtag_vec,
            sen_x_type=SENIORITY_X_TYPE + 0.15 * rng.standard_normal(SENIORITY_X_TYPE.shape),
            plat_x_type=PLATFORM_X_TYPE + 0.1 * rng.standard_normal(PLATFORM_X_TYPE.shape),
        )

    def _draw_authors(self) -> _Authors:
        c = self.config
        a, k = c.num_authors, c.interest_dim
        author_blocks = range((a - 1) // c.members_per_block + 1)
        interest = np.concatenate([self.members(b).interest0 for b in author_blocks])[:a]
        rng = _rng(c.seed, _S_AUTHORS)
        topic = _normalize(interest + 0.3 * rng.standard_normal((a, k)) / np.sqrt(k))
        quality = rng.normal(0.0, 0.5, size=a)
        post_rate = np.exp(rng.standard_normal(a))
        type_pref = rng.dirichlet(6.0 * TYPE_MIX, size=a)
        attract = 0.8 * quality + rng.normal(0.0, 0.8, size=a)
        return _Authors(
            topic=topic,
            quality=quality,
            post_rate=post_rate / post_rate.sum(),
            type_pref=type_pref,
            attract=attract,
        )

    # -------------------------------------------------------------------------------- members

    def members(self, block: int) -> _Members:
        """Static attributes of the members of `block`, from the block's own stream."""
        c = self.config
        first, end = block_members(c, block)
        m, k = end - first, c.interest_dim
        t = self.topics
        rng = _rng(c.seed, _S_MEMBERS, block)
        z1 = rng.choice(NUM_TOPICS, size=m, p=t.weight)
        z2 = rng.integers(0, NUM_TOPICS, size=m)
        interest0 = _normalize(
            t.centroids[z1] + 0.5 * t.centroids[z2] + 0.5 * rng.standard_normal((m, k)) / np.sqrt(k)
        )
        seniority = rng.choice(NUM_SENIORITY, size=m, p=[0.3, 0.3, 0.2, 0.15, 0.05])
        industry_w = 1.0 / np.arange(1, NUM_INDUSTRIES + 1) ** 0.7
        industry = rng.choice(NUM_INDUSTRIES, size=m, p=industry_w / industry_w.sum())
        country_w = 1.0 / np.arange(1, NUM_COUNTRIES + 1) ** 1.0
        country = rng.choice(NUM_COUNTRIES, size=m, p=country_w / country_w.sum())
        log_conn = np.log1p(
            np.round(np.exp(rng.normal(LOG_CONNECTIONS_MEAN, LOG_CONNECTIONS_SD, size=m)))
        )
        activity = c.mean_sessions_per_member * np.exp(0.9 * rng.standard_normal(m) - 0.405)
        platform_pref = rng.dirichlet([0.9, 0.7, 0.7], size=m)
        return _Members(
            first=first,
            interest0=interest0,
            seniority=seniority.astype(np.int32),
            industry=industry.astype(np.int32),
            country=country.astype(np.int32),
            log_connections=log_conn.astype(np.float32),
            conn_std=(log_conn - LOG_CONNECTIONS_MEAN) / LOG_CONNECTIONS_SD,
            activity=activity,
            platform_pref=platform_pref,
        )

    def interest_on(self, members: _Members, block: int, day: int) -> np.ndarray:
        """Interests of a block's members on `day`: a random walk from their day-0 interests."""
        c = self.config
        walk = np.zeros_like(members.interest0)
        for d in range(1, day + 1):
            walk += _rng(c.seed, _S_DRIFT, d, block).standard_normal(walk.shape)
        return _normalize(members.interest0 + INTEREST_DRIFT * walk / np.sqrt(c.interest_dim))

    def follows(self, members: _Members, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Each member follows 20-40 authors, topic-similar and attractive ones more often.

        Returns the block's follow lists as CSR (offsets, author ids), best-scored first.
        """
        c, au = self.config, self.authors
        rng = _rng(c.seed, _S_FOLLOWS, block)
        m, a = len(members.interest0), c.num_authors
        max_follows = min(MAX_FOLLOWS, a - 1)
        counts = np.minimum(rng.integers(MIN_FOLLOWS, MAX_FOLLOWS + 1, size=m), max_follows)
        chunk = max(1, CANDIDATE_CHUNK_CELLS // a)
        picked = []
        for lo in range(0, m, chunk):
            hi = min(m, lo + chunk)
            score = 3.0 * members.interest0[lo:hi] @ au.topic.T + au.attract[None, :]
            score += _gumbel(rng, (hi - lo, a))
            ids = members.first + np.arange(lo, hi)
            own = ids < a
            score[np.nonzero(own)[0], ids[own]] = -np.inf
            top = np.argpartition(-score, max_follows - 1, axis=1)[:, :max_follows]
            order = np.argsort(-np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
            picked.append(np.take_along_axis(top, order, axis=1))
        top = np.concatenate(picked) if picked else np.zeros((0, max_follows), dtype=np.int64)
        keep = np.arange(max_follows)[None, :] < counts[:, None]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return offsets, top[keep].astype(np.int64)

    # ---------------------------------------------------------------------------------- posts

    def posts_of(self, day: int) -> _Posts:
        """The posts created on `day` (global: every process draws the same)."""
        if day not in self._posts:
            self._posts[day] = self._draw_posts(day)
        return self._posts[day]

    def _draw_posts(self, day: int) -> _Posts:
        c, au = self.config, self.authors
        rng = _rng(c.seed, _S_POSTS, day)
        n, k = c.posts_per_day, c.interest_dim
        author = rng.choice(c.num_authors, size=n, p=au.post_rate)
        ctype = _categorical(rng, au.type_pref[author])
        topic = _normalize(au.topic[author] + 0.4 * rng.standard_normal((n, k)) / np.sqrt(k))
        tag_score = 6.0 * topic @ self.topics.hashtag_vec.T + _gumbel(rng, (n, NUM_HASHTAGS))
        top = np.argsort(-tag_score, axis=1, kind="stable")[:, :MAX_HASHTAGS]
        num_tags = 1 + rng.binomial(MAX_HASHTAGS - 1, 0.4, size=n)
        hashtags = np.where(np.arange(MAX_HASHTAGS)[None, :] < num_tags[:, None], top, -1)
        length = LENGTH_MEDIAN[ctype] * np.exp(LENGTH_SIGMA[ctype] * rng.standard_normal(n))
        quality = au.quality[author] + rng.normal(0.0, 0.4, size=n)
        virality = 0.4 * quality + rng.normal(0.0, 0.7, size=n)
        published = rng.random(n)
        eps = rng.standard_normal((n, c.post_lifetime_days))
        shock = np.empty_like(eps)
        shock[:, 0] = 0.6 * eps[:, 0]
        for j in range(1, c.post_lifetime_days):
            shock[:, j] = 0.3 * shock[:, j - 1] + 0.6 * np.sqrt(1 - 0.09) * eps[:, j]
        return _Posts(
            day=day,
            post_id=day * POST_ID_STRIDE + np.arange(n, dtype=np.int64),
            author=author.astype(np.int64),
            ctype=ctype.astype(np.int64),
            hashtags=hashtags.astype(np.int32),
            num_hashtags=num_tags.astype(np.int64),
            length=np.round(length).clip(1).astype(np.float32),
            topic=topic,
            quality=quality,
            virality=virality,
            published_hour=published,
            shock=shock,
        )

    def pool(self, day: int) -> _Pool:
        """Posts eligible on `day` (created in the last `post_lifetime_days` days)."""
        if day not in self._pools:
            days = range(max(0, day - self.config.post_lifetime_days + 1), day + 1)
            parts = [self.posts_of(d) for d in days]
            fields = {
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in dataclasses.fields(_Posts)
                if f.name != "day"
            }
            posts = _Posts(day=day, **fields)
            created = np.concatenate([np.full(len(p.post_id), p.day, np.int64) for p in parts])
            hours = np.arange(24, dtype=np.float64)[:, None]
            age = (day - created)[None, :] * 24.0 + (hours + 1.0) - posts.published_hour[None, :]
            self._pools = {d: p for d, p in self._pools.items() if d >= day - 1}
            self._pools[day] = _Pool(
                posts=posts,
                created=created,
                age_hours=age,
                popularity=self.popularity(posts, created, day, age),
                by_author=np.argsort(posts.author, kind="stable"),
            )
        return self._pools[day]

    def popularity(
        self, pool: _Posts, created: np.ndarray, day: int, age_hours: np.ndarray
    ) -> np.ndarray:
        """pop = virality + shock(age day) + 0.5 * log rise-and-decay(age hours, type)."""
        age_day = np.clip(day - created, 0, self.config.post_lifetime_days - 1)
        shock = pool.shock[np.arange(len(created)), age_day]
        x = np.maximum(age_hours, 1e-3)
        log_curve = (
            np.log1p(-np.exp(-x / RISE_HOURS)) - np.log(2.0) * x / HALF_LIFE_HOURS[pool.ctype]
        )
        return pool.virality + shock + 0.5 * log_curve

    def topics_of(self, post_ids: np.ndarray) -> np.ndarray:
        """Topic vectors of (already created) post ids; -1 ids give zero vectors."""
        valid = post_ids >= 0
        safe = np.where(valid, post_ids, 0)
        days, idx = safe // POST_ID_STRIDE, safe % POST_ID_STRIDE
        out = np.zeros((*post_ids.shape, self.config.interest_dim))
        for d in np.unique(days[valid]):
            sel = valid & (days == d)
            out[sel] = self.posts_of(int(d)).topic[idx[sel]]
        return out


@functools.lru_cache(maxsize=2)
def world_context(config: WorldConfig) -> WorldContext:
    """The `WorldContext` of `config`, kept for the process (a Spark worker reuses it)."""
    return WorldContext(config)


def posts_table(context: WorldContext, day: int) -> pa.Table:
    """The `posts` table of `day`: the posts created that day."""
    config = context.config
    posts = context.posts_of(day)
    return pa.Table.from_arrays(
        [
            _dates(config.date_of(day), len(posts.post_id)),
            pa.array(posts.post_id),
            pa.array(posts.author),
            pa.array(np.array(CONTENT_TYPES)[posts.ctype]),
            _hashtag_lists(posts.hashtags, posts.num_hashtags),
            pa.array(posts.length),
        ],
        schema=schemas.POSTS,
    )


# ---------------------------------------------------------------------------- the kernel


def initial_block_states(context: WorldContext, blocks: Iterable[int]) -> Iterator[pa.Table]:
    """The member state at the start of day 0 of each of `blocks`: follows, empty histories."""
    config = context.config
    for block in blocks:
        members = context.members(block)
        offsets, authors = context.follows(members, block)
        n = len(members.interest0)
        yield BlockState(
            member_id=members.first + np.arange(n, dtype=np.int64),
            follow_offsets=offsets,
            follow_authors=authors,
            history=History.empty(n, config.history_length),
        ).to_arrow()


def simulate_blocks(
    context: WorldContext,
    day: int,
    state: Iterable[pa.Table | pa.RecordBatch],
    author_log_followers: np.ndarray,
    emit_tables: bool = True,
) -> Iterator[BlockDay]:
    """Simulate `day` for the blocks of `state`, one block at a time: the simulator kernel.

    Args:
        context: the world's global entities (`world_context(config)`).
        day: world day index.
        state: `spark.world_state.WORLD_STATE` rows at the start of `day`, whole blocks in member
            order, in any chunking (a table, or a Spark task's record batches).
        author_log_followers: log(1 + followers) of every author (`world_state.log_followers`
            over all members' follow lists): the only thing a block needs from other blocks.
        emit_tables: build the block's rows of `BLOCK_TABLES` (False: only advance the state).

    Yields:
        One `BlockDay` per block, in the order of `state`.
    """
    config = context.config
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    if len(author_log_followers) != config.num_authors:
        raise ValueError(
            f"`author_log_followers` must have one value per author ({config.num_authors}). "
            f"Received: {len(author_log_followers)} values"
        )
    for block, rows in split_blocks(config, state):
        start = BlockState.from_arrow(rows, config.history_length)
        yield _simulate_block(context, day, block, start, author_log_followers, emit_tables)


def _simulate_block(
    context: WorldContext,
    day: int,
    block: int,
    start: BlockState,
    author_log_followers: np.ndarray,
    emit_tables: bool,
) -> BlockDay:
    c = context.config
    n_served = c.served_per_session
    members = context.members(block)
    hist = start.history

    rng = _rng(c.seed, _S_SESSIONS, day, block)
    counts = rng.poisson(members.activity)
    member = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    hour = rng.choice(24, size=len(member), p=HOUR_PROFILE)
    order = np.lexsort((hour, member))
    member, hour = member[order], hour[order].astype(np.int64)
    platform = _categorical(rng, members.platform_pref[member])
    random_bucket = rng.random(len(member)) < c.random_bucket_share
    n_sess = len(member)
    if n_sess >= BLOCK_SESSION_STRIDE:
        raise ValueError(
            f"block {block} opened {n_sess} sessions on day {day}, more than session ids allow "
            f"per block ({BLOCK_SESSION_STRIDE}); lower `members_per_block`. Received: "
            f"members_per_block={c.members_per_block}"
        )
    session_id = (
        day * SESSION_ID_STRIDE + block * BLOCK_SESSION_STRIDE + np.arange(n_sess, dtype=np.int64)
    )

    pool = context.pool(day)
    interest = context.interest_on(members, block, day)
    cand, follows = _candidates(context, day, block, member, hour, pool, interest, start)

    # ground-truth action probabilities of every candidate
    hist_topic = _normalize(context.topics_of(hist.post_id).sum(axis=1))
    probs, p_contrib, interest_term, q0, q1 = _truth(
        context, members, member, platform, hour, cand, follows, pool, interest, hist, hist_topic
    )

    # production ranker: noisy truth; top-N served, random bucket shuffled
    rng = _rng(c.seed, _S_RANKER, day, block)
    logit = np.log(p_contrib) - np.log1p(-p_contrib)
    score = logit + RANKER_NOISE_SD * rng.standard_normal(logit.shape)
    top = np.argsort(-score, axis=1, kind="stable")[:, :n_served]
    shuffle = np.argsort(rng.random((n_sess, n_served)), axis=1)
    top = np.where(random_bucket[:, None], np.take_along_axis(top, shuffle, axis=1), top)

    def pick(x: np.ndarray) -> np.ndarray:
        return np.take_along_axis(x, top.reshape(*top.shape, *([1] * (x.ndim - 2))), axis=1)

    served = pick(cand)
    probs, p_contrib, interest_term = pick(probs), pick(p_contrib), pick(interest_term)
    q0, q1 = pick(q0), pick(q1)
    ranker_score = pick(score)
    age_hours = pool.age_hours[hour[:, None], served]

    # scroll, examination and actions
    rng = _rng(c.seed, _S_ACTIONS, day, block)
    curve = position_curve(c)
    depth = np.minimum(rng.geometric(1.0 - SCROLL_CONTINUE, size=n_sess), n_served)
    impressed = np.arange(n_served)[None, :] < depth[:, None]
    examined = impressed & (rng.random((n_sess, n_served)) < curve.p_examine[None, :])
    clicked = rng.random((n_sess, n_served)) < probs[..., 0]
    q = np.where(clicked[..., None], q1, q0)
    contrib = rng.random(q.shape) < q
    actions = np.concatenate([clicked[..., None], contrib], axis=-1) & examined[..., None]
    actions = actions.astype(np.int8)

    rng = _rng(c.seed, _S_DWELL, day, block)
    posts = pool.posts
    ctype = posts.ctype[served]
    log_mu = (
        np.log(DWELL_MEDIAN_S[ctype])
        + DWELL_LENGTH_ELASTICITY[ctype] * np.log(posts.length[served] / LENGTH_MEDIAN[ctype])
        + PLATFORM_DWELL[platform][:, None]
        - 0.03 * np.arange(n_served)[None, :]
        + 0.25 * interest_term
        + DWELL_CLICK_BOOST[ctype] * actions[..., 0]
        + 0.3 * actions[..., 1:].max(axis=-1, initial=0)
    )
    noise = rng.standard_normal((2, n_sess, n_served))
    dwell = np.where(
        examined, np.exp(log_mu + 0.6 * noise[0]), np.exp(np.log(1.5) + 0.4 * noise[1])
    )

    arrays = _DayArrays(
        session_id=session_id,
        member=member,
        platform=platform,
        hour=hour,
        random_bucket=random_bucket,
        served=served,
        ranker_score=ranker_score,
        age_hours=age_hours,
        depth=depth,
        probs=probs,
        p_contribution=p_contrib,
        actions=actions,
        dwell=dwell,
    )
    end = dataclasses.replace(
        start, history=_update_history(hist, member, posts, served, actions, c.history_length)
    )
    tables = (
        _block_tables(context, day, members, hist, pool, arrays, author_log_followers)
        if emit_tables
        else {}
    )
    return BlockDay(block=block, tables=tables, state=end.to_arrow())


def _candidates(
    context: WorldContext,
    day: int,
    block: int,
    member: np.ndarray,
    hour: np.ndarray,
    pool: _Pool,
    interest: np.ndarray,
    start: BlockState,
) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-top-k over network, popularity and relevance, without own or acted-on posts.

    Returns (S, k) pool indices and whether the member follows each candidate's author.
    """
    c = context.config
    posts = pool.posts
    first = int(start.member_id[0]) if len(start.member_id) else 0
    rng = _rng(c.seed, _S_CANDIDATES, day, block)
    k, n_pool = c.candidates_per_session, len(posts.post_id)
    chunk = max(1, CANDIDATE_CHUNK_CELLS // n_pool)
    topic_t = posts.topic.T.astype(np.float32)
    pop_part = (0.8 * pool.popularity).astype(np.float32)
    sorted_author = posts.author[pool.by_author]
    cands = [np.zeros((0, k), dtype=np.int64)]
    follows = [np.zeros((0, k), dtype=bool)]
    for lo in range(0, len(member), chunk):
        mem = member[lo : lo + chunk]
        n = len(mem)
        score = interest[mem].astype(np.float32) @ topic_t
        score += pop_part[hour[lo : lo + chunk]]
        score += _gumbel(rng, (n, n_pool))
        # +2 on the posts of followed authors: each session's follow list walked into the pool's
        # posts by author (a member follows an author once, so no (row, post) pair repeats)
        rows, at = _ragged(start.follow_offsets[mem], start.follow_offsets[mem + 1])
        followed_author = start.follow_authors[at]
        hits, at = _ragged(
            np.searchsorted(sorted_author, followed_author, side="left"),
            np.searchsorted(sorted_author, followed_author, side="right"),
        )
        score[rows[hits], pool.by_author[at]] += np.float32(2.0)
        followed = np.zeros((n, c.num_authors), dtype=bool)
        followed[rows, followed_author] = True
        # never offer a member their own posts or posts they already acted on
        rows, at = _ragged(
            np.searchsorted(sorted_author, first + mem, side="left"),
            np.searchsorted(sorted_author, first + mem, side="right"),
        )
        score[rows, pool.by_author[at]] = -1e9
        acted = start.history.post_id[mem]
        at = np.minimum(np.searchsorted(posts.post_id, acted), n_pool - 1)
        hit = (acted >= 0) & (posts.post_id[at] == acted)
        score[np.nonzero(hit)[0], at[hit]] = -1e9
        top = _top_k_unsorted(score, k)
        cands.append(top)
        follows.append(np.take_along_axis(followed, posts.author[top], axis=1))
    return np.concatenate(cands), np.concatenate(follows)


def _truth(
    context: WorldContext,
    members: _Members,
    member: np.ndarray,
    platform: np.ndarray,
    hour: np.ndarray,
    cand: np.ndarray,
    follows: np.ndarray,
    pool: _Pool,
    interest: np.ndarray,
    hist: History,
    hist_topic: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Truth given examination for (S, k) candidates.

    Returns probs (S, k, len(ACTIONS)) marginal per action, p_contribution (S, k), the interest
    term (S, k), and q0, q1 (S, k, len(CONTRIBUTION_ACTIONS)): each contribution action's
    probability without and with a click.
    """
    t, posts = context.topics, pool.posts
    ctype = posts.ctype[cand]
    topic = posts.topic[cand]
    interest_term = 3.0 * np.einsum("sd,skd->sk", interest[member], topic)
    author = posts.author[cand]
    hist_count = (hist.author_id[member][:, None, :] == author[..., None]).sum(axis=-1)
    has_hist = (hist.length[member] > 0)[:, None]
    shared = (
        interest_term
        + t.sen_x_type[members.seniority[member][:, None], ctype]
        + t.plat_x_type[platform[:, None], ctype]
        + 0.8 * np.log1p(hist_count)
        + 1.0 * (np.einsum("sd,skd->sk", hist_topic[member], topic) - HIST_TOPIC_CENTER) * has_hist
        + 0.5 * pool.popularity[hour[:, None], cand]
        + 0.5 * posts.quality[cand]
        + 0.3 * follows
    )
    p_click = _sigmoid(ACTION_BASE["click"] + shared + _by_type(ACTION_TYPE_OFFSET["click"])[ctype])
    q0, q1 = [], []
    for action in CONTRIBUTION_ACTIONS:
        z = (
            ACTION_BASE[action]
            + ACTION_WEIGHT[action] * shared
            + _by_type(ACTION_TYPE_OFFSET[action])[ctype]
        )
        if action in CONNECTION_ACTIONS:
            z = z + 0.2 * members.conn_std[member][:, None]
        lift = _by_type(CLICK_LIFT[action])[ctype]
        allowed = (ctype == _POLL) if action == "vote" else np.ones_like(ctype, dtype=bool)
        q0.append(np.where(allowed, _sigmoid(z), 0.0))
        q1.append(np.where(allowed, _sigmoid(z + lift), 0.0))
    q0_arr, q1_arr = np.stack(q0, axis=-1), np.stack(q1, axis=-1)
    pc = p_click[..., None]
    marginal = pc * q1_arr + (1 - pc) * q0_arr
    p_contrib = p_click * (1 - np.prod(1 - q1_arr, axis=-1)) + (1 - p_click) * (
        1 - np.prod(1 - q0_arr, axis=-1)
    )
    probs = np.empty((*cand.shape, len(ACTIONS)))
    probs[..., ACTIONS.index("click")] = p_click
    probs[..., _CONTRIB_IDX] = marginal
    return probs, p_contrib, interest_term, q0_arr, q1_arr


def _update_history(
    hist: History,
    member: np.ndarray,
    posts: _Posts,
    served: np.ndarray,
    actions: np.ndarray,
    length: int,
) -> History:
    """Append the day's actions (by session, position, action) and keep the last `length`."""
    num_members = len(hist.length)
    s_idx, pos, act = np.nonzero(actions)
    new_m = member[s_idx]
    new_post = posts.post_id[served[s_idx, pos]]
    new_author = posts.author[served[s_idx, pos]]
    old_m, old_j = np.nonzero(np.arange(length)[None, :] < hist.length[:, None])
    all_m = np.concatenate([old_m, new_m])
    is_new = np.concatenate([np.zeros(len(old_m), np.int64), np.ones(len(new_m), np.int64)])
    seq = np.concatenate([old_j, np.arange(len(new_m))])
    order = np.lexsort((seq, is_new, all_m))
    post = np.concatenate([hist.post_id[old_m, old_j], new_post])[order]
    author = np.concatenate([hist.author_id[old_m, old_j], new_author])[order]
    action = np.concatenate([hist.action[old_m, old_j], act.astype(np.int8)])[order]
    m_sorted = all_m[order]
    counts = np.bincount(all_m, minlength=num_members)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(m_sorted)) - start[m_sorted]
    drop = np.maximum(counts - length, 0)
    keep = rank >= drop[m_sorted]
    slot = (rank - drop[m_sorted])[keep]
    out = History.empty(num_members, length)
    out.post_id[m_sorted[keep], slot] = post[keep]
    out.author_id[m_sorted[keep], slot] = author[keep]
    out.action[m_sorted[keep], slot] = action[keep]
    return dataclasses.replace(out, length=np.minimum(counts, length).astype(np.int32))


# ------------------------------------------------------------------------------- the tables


def _block_tables(
    context: WorldContext,
    day: int,
    members: _Members,
    hist: History,
    pool: _Pool,
    arr: _DayArrays,
    author_log_followers: np.ndarray,
) -> dict[str, pa.Table]:
    c = context.config
    date = c.date_of(day)
    n_sess, n_served = arr.served.shape
    posts = pool.posts
    flat = arr.served.ravel()
    positions = np.tile(np.arange(n_served, dtype=np.int32), n_sess)
    types = np.array(CONTENT_TYPES)
    platforms = np.array(PLATFORMS)

    served_struct = pa.StructArray.from_arrays(
        [
            pa.array(posts.post_id[flat]),
            pa.array(positions),
            pa.array(posts.author[flat]),
            pa.array(types[posts.ctype[flat]]),
            _hashtag_lists(posts.hashtags[flat], posts.num_hashtags[flat]),
            pa.array(posts.length[flat]),
            pa.array(arr.age_hours.ravel().astype(np.float32)),
            pa.array(author_log_followers[posts.author[flat]]),
            pa.array(arr.ranker_score.ravel().astype(np.float32)),
        ],
        fields=list(schemas.SERVED_POST),
    )
    served_offsets = pa.array(np.arange(n_sess + 1, dtype=np.int32) * n_served)
    mem = arr.member
    sessions = pa.Table.from_arrays(
        [
            _dates(date, n_sess),
            pa.array(arr.session_id),
            pa.array(members.first + mem),
            pa.array(platforms[arr.platform]),
            pa.array(arr.hour.astype(np.int32)),
            pa.array(arr.random_bucket),
            pa.array(members.seniority[mem]),
            pa.array(members.industry[mem]),
            pa.array(members.country[mem]),
            pa.array(members.log_connections[mem]),
            *history_lists(hist, mem),
            pa.ListArray.from_arrays(served_offsets, served_struct),
        ],
        schema=schemas.FEED_SESSIONS,
    )

    s_idx = np.repeat(np.arange(n_sess), n_served)
    imp = positions < np.repeat(arr.depth, n_served)
    acts = arr.actions.reshape(-1, len(ACTIONS))[imp]
    impressions = pa.Table.from_arrays(
        [
            _dates(date, int(imp.sum())),
            pa.array(arr.session_id[s_idx[imp]]),
            pa.array(members.first + mem[s_idx[imp]]),
            pa.array(posts.post_id[flat[imp]]),
            pa.array(positions[imp]),
            *[pa.array(acts[:, i]) for i in range(len(ACTIONS))],
            pa.array(arr.dwell.ravel()[imp].astype(np.float32)),
        ],
        schema=schemas.FEED_IMPRESSIONS,
    )

    probs = arr.probs.reshape(-1, len(ACTIONS)).astype(np.float32)
    p_examine = position_curve(c).p_examine.astype(np.float32)
    truth = pa.Table.from_arrays(
        [
            _dates(date, len(flat)),
            pa.array(arr.session_id[s_idx]),
            pa.array(posts.post_id[flat]),
            pa.array(positions),
            pa.array(p_examine[positions]),
            *[pa.array(probs[:, i]) for i in range(len(ACTIONS))],
            pa.array(arr.p_contribution.ravel().astype(np.float32)),
        ],
        schema=schemas.FEED_GROUND_TRUTH,
    )

    everyone = np.arange(len(members.interest0))
    snapshot = pa.Table.from_arrays(
        [
            _dates(date, len(everyone)),
            pa.array(members.first + everyone.astype(np.int64)),
            pa.array(members.seniority),
            pa.array(members.industry),
            pa.array(members.country),
            pa.array(members.log_connections),
            *history_lists(hist, everyone),
        ],
        schema=schemas.MEMBERS,
    )
    return {
        "feed_sessions": sessions,
        "feed_impressions": impressions,
        "members": snapshot,
        "feed_ground_truth": truth,
    }


def _dates(date: dt.date, n: int) -> pa.Array:
    days = (date - dt.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32())


def _hashtag_lists(tags: np.ndarray, counts: np.ndarray) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = tags[np.arange(tags.shape[1])[None, :] < counts[:, None]]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32)))


# ------------------------------------------------------------------------- in one process


class FeedWorld:
    """The simulated feed world in one process: `simulate_day(d)` returns day d's tables.

    It runs the simulator kernel `simulate_blocks` over all members' blocks at once (the Spark
    generator, `spark.world_spark.SparkWorld`, runs the same kernel per shard). Day d needs the
    member state at the end of day d-1, so it computes (or reuses) days 0..d-1 first. States are
    kept in memory and, with `cache_dir`, as Parquet in the layout of `spark.world_state` (shared
    with the Spark generator), so a later process resumes where an earlier one stopped. Results
    are identical whether a state was cached or recomputed.

    Args:
        config: size, seed and constants of the world.
        cache_dir: optional directory for the per-day state cache.

    Example:
        >>> world = FeedWorld(WorldConfig(num_members=300, num_authors=60, posts_per_day=100))
        >>> day = world.simulate_day(1)
        >>> day.feed_impressions.schema == schemas.FEED_IMPRESSIONS
        True
    """

    def __init__(self, config: WorldConfig, cache_dir: pathlib.Path | None = None) -> None:
        check_world_config(config)
        self.config = config
        self.cache_dir = None if cache_dir is None else pathlib.Path(cache_dir)
        self._context: WorldContext | None = None
        self._states: dict[int, pa.Table] = {}
        self._log_followers: np.ndarray | None = None

    @property
    def context(self) -> WorldContext:
        """The world's global entities (drawn on first use)."""
        if self._context is None:
            self._context = WorldContext(self.config)
        return self._context

    def position_curve(self) -> PositionCurve:
        """P(impressed) and P(examined | impressed) for positions 0..served_per_session-1."""
        return position_curve(self.config)

    def simulate_day(self, day: int) -> WorldDay:
        """Sessions, impressions, new posts, member snapshot and ground truth of world day `day`."""
        self._check_day(day)
        state = self._state_at_start(day)
        blocks = list(simulate_blocks(self.context, day, [state], self._followers(state)))
        self._remember(day + 1, pa.concat_tables([b.state for b in blocks]))
        tables = {name: pa.concat_tables([b.tables[name] for b in blocks]) for name in BLOCK_TABLES}
        return WorldDay(
            day=day,
            date=self.config.date_of(day),
            posts=posts_table(self.context, day),
            **tables,
        )

    def post_popularity(self, day: int, hour: int = 12) -> pd.Series:
        """Latent popularity of the posts eligible on `day` at `hour` (for tests and analysis)."""
        self._check_day(day)
        pool = self.context.pool(day)
        return pd.Series(
            pool.popularity[hour],
            index=pd.Index(pool.posts.post_id, name="post_id"),
            name="popularity",
        )

    def state_at_start(self, day: int) -> pa.Table:
        """The member state (`WORLD_STATE`, all members) at the start of `day`."""
        if not 0 <= day <= self.config.num_days:
            raise ValueError(
                f"`day` must be in [0, {self.config.num_days}] for this world's states. "
                f"Received: day={day}"
            )
        return self._state_at_start(day)

    # --------------------------------------------------------------------------------- state

    def _check_day(self, day: int) -> None:
        if not 0 <= day < self.config.num_days:
            raise ValueError(
                f"`day` must be in [0, {self.config.num_days}) for this world. Received: day={day}"
            )

    def _followers(self, state: pa.Table) -> np.ndarray:
        if self._log_followers is None:
            follows = state.column("follow_author_ids").combine_chunks().flatten()
            self._log_followers = log_followers(self.config, follows.to_numpy())
        return self._log_followers

    def _remember(self, day: int, state: pa.Table) -> None:
        self._states[day] = state
        if self.cache_dir is not None and not state_dir(self.cache_dir, self.config, day).exists():
            write_partition(
                state,
                world_cache_dir(self.cache_dir, self.config),
                STATE_DATASET,
                self.config.date_of(day),
            )

    def _load(self, day: int) -> pa.Table | None:
        if day in self._states:
            return self._states[day]
        if self.cache_dir is None:
            return None
        path = state_dir(self.cache_dir, self.config, day)
        if not path.is_dir():
            return None
        self._states[day] = read_state(path, self.config)
        return self._states[day]

    def _state_at_start(self, day: int) -> pa.Table:
        start = day
        while start >= 0 and self._load(start) is None:
            start -= 1
        if start < 0:
            blocks = range(num_blocks(self.config))
            self._remember(0, pa.concat_tables(initial_block_states(self.context, blocks)))
            start = 0
        state = self._states[start]
        for d in range(start, day):
            blocks = simulate_blocks(self.context, d, [state], self._followers(state), False)
            state = pa.concat_tables([b.state for b in blocks])
            self._remember(d + 1, state)
        return state


# ---------------------------------------------------------------------- expected contributions


def _probabilities_of(ground_truth: pd.DataFrame, picks: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = {"session_id", "post_id", "p_contribution"} - set(ground_truth.columns)
    if missing:
        raise ValueError(f"`ground_truth` lacks columns {sorted(missing)}")
    truth = ground_truth[["session_id", "post_id", "p_contribution"]].drop_duplicates(
        ["session_id", "post_id"]
    )
    merged = picks.merge(truth, on=["session_id", "post_id"], how="left")
    unknown = merged["p_contribution"].isna()
    if unknown.any():
        first = merged.loc[unknown, ["session_id", "post_id"]].iloc[0].tolist()
        raise ValueError(
            f"{int(unknown.sum())} rows of `{what}` name a post that was not served in its session "
            f"(first: session_id={first[0]}, post_id={first[1]}); rank only served posts"
        )
    return merged


def expected_top1_contributions(
    ground_truth: pd.DataFrame, chosen: pd.DataFrame, curve: PositionCurve
) -> pd.Series:
    """Expected contributions of putting `chosen`'s post at position 0 of each session.

    value(s) = p_impressed[0] * p_examine[0] * p_contribution(s, post). Position does not change
    the action probabilities given examination, so this is exact for any served post.

    Args:
        ground_truth: the `feed_ground_truth` table as pandas (session_id, post_id, p_contribution).
        chosen: one row per session with columns session_id, post_id.
        curve: `FeedWorld.position_curve()`.

    Returns:
        Series indexed by session_id, named `expected_contributions`.
    """
    needed = {"session_id", "post_id"} - set(chosen.columns)
    if needed:
        raise ValueError(f"`chosen` lacks columns {sorted(needed)}")
    if chosen["session_id"].duplicated().any():
        raise ValueError("`chosen` must hold one post per session; found duplicated session_id")
    merged = _probabilities_of(ground_truth, chosen[["session_id", "post_id"]], "chosen")
    value = float(curve.p_impressed[0] * curve.p_examine[0]) * merged["p_contribution"].to_numpy(
        dtype=np.float64
    )
    return pd.Series(
        value,
        index=pd.Index(merged["session_id"], name="session_id"),
        name="expected_contributions",
    )


def expected_session_contributions(
    ground_truth: pd.DataFrame, ranking: pd.DataFrame, curve: PositionCurve
) -> pd.Series:
    """Expected contributions of serving each session's posts in the order of `ranking`.

    value(s) = sum_r p_impressed[r] * p_examine[r] * p_contribution(s, post at rank r); ranks at or
    beyond the served length are not shown and earn nothing.

    Args:
        ground_truth: the `feed_ground_truth` table as pandas.
        ranking: columns session_id, post_id, rank (0-based new position, unique per session).
        curve: `FeedWorld.position_curve()`.

    Returns:
        Series indexed by session_id, named `expected_contributions`.
    """
    needed = {"session_id", "post_id", "rank"} - set(ranking.columns)
    if needed:
        raise ValueError(f"`ranking` lacks columns {sorted(needed)}")
    rank = ranking["rank"].to_numpy()
    if (rank < 0).any():
        raise ValueError(f"`rank` must be >= 0. Received: min rank={int(rank.min())}")
    if ranking.duplicated(["session_id", "rank"]).any():
        raise ValueError("`ranking` must give each rank at most once per session")
    merged = _probabilities_of(ground_truth, ranking[["session_id", "post_id", "rank"]], "ranking")
    seen = curve.p_seen
    r = merged["rank"].to_numpy()
    weight = np.where(r < len(seen), seen[np.minimum(r, len(seen) - 1)], 0.0)
    merged["value"] = weight * merged["p_contribution"].to_numpy(dtype=np.float64)
    return merged.groupby("session_id")["value"].sum().rename("expected_contributions")
