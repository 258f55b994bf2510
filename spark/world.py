"""The simulated feed world: a behavioural model that writes the raw feed logs and their truth.

The world is the project's ground truth. Every random draw derives from `WorldConfig.seed` through
`np.random.default_rng([seed, stream, day])`, so the same config gives byte-identical tables, and a
day's draws do not depend on whether earlier days were computed in this process or read from the
state cache. The only state carried from day to day is the members' interaction history.

Entities (drawn once from the seed)
    Topics: 12 random unit centroids c_j in R^K (K = `interest_dim`); 60 hashtags, five per topic,
    h = normalize(c_j + 0.35 n) with n ~ N(0, I/K).
    Members m: interest u_m = normalize(c_z1 + 0.5 c_z2 + 0.5 n), drifting daily as
    u_m(d) = normalize(u_m(0) + 0.08 * sum_{k<=d} n_k); seniority (5 levels), industry (12),
    country (8), log connections ~ N(5, 1.1) (heavy-tailed counts), activity
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
    with score 2 follows(m, a) + 0.8 pop_p + cos(u_m, v_p) (own posts excluded).
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

The ground-truth table keeps p_examine and the per-action probabilities for every served post;
`expected_top1_contributions` and `expected_session_contributions` turn any ranking of a session's
served posts into the contributions it would earn in expectation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa

from spark import schemas
from spark.world_config import ACTIONS, CONTENT_TYPES, CONTRIBUTION_ACTIONS, PLATFORMS, WorldConfig

MODEL_VERSION = 1  # bump when the behavioural model changes: it keys the on-disk state cache

POST_ID_STRIDE = 1_000_000
SESSION_ID_STRIDE = 1_000_000_000
NUM_SENIORITY = 5
NUM_INDUSTRIES = 12
NUM_COUNTRIES = 8
NUM_TOPICS = 12
NUM_HASHTAGS = 60
MAX_HASHTAGS = 3

SCROLL_CONTINUE = 0.8
EXAMINE_TOP = 0.95
EXAMINE_DECAY = 0.5
RANKER_NOISE_SD = 1.0
INTEREST_DRIFT = 0.08
CANDIDATE_CHUNK_CELLS = 4_000_000
HIST_TOPIC_CENTER = 0.3

# random-stream ids: each kind of draw has its own generator, so draws never shift one another
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


@dataclasses.dataclass(frozen=True)
class _Statics:
    interest0: np.ndarray  # (M, K) unit vectors
    seniority: np.ndarray
    industry: np.ndarray
    country: np.ndarray
    log_connections: np.ndarray  # float32
    conn_std: np.ndarray
    activity: np.ndarray
    platform_pref: np.ndarray  # (M, 3)
    follow_offsets: np.ndarray  # CSR over members
    follow_authors: np.ndarray
    author_topic: np.ndarray  # (A, K)
    author_quality: np.ndarray
    author_post_rate: np.ndarray
    author_type_pref: np.ndarray  # (A, T)
    author_log_followers: np.ndarray  # float32
    hashtag_vec: np.ndarray  # (H, K)
    sen_x_type: np.ndarray
    plat_x_type: np.ndarray


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
class _History:
    """Members' interaction history, left-aligned oldest first, padded with -1."""

    post_id: np.ndarray  # (M, L) int64
    author_id: np.ndarray  # (M, L) int64
    action: np.ndarray  # (M, L) int8
    length: np.ndarray  # (M,) int32

    @classmethod
    def empty(cls, num_members: int, history_length: int) -> _History:
        pad = np.full((num_members, history_length), -1, dtype=np.int64)
        return cls(
            pad,
            pad.copy(),
            np.full((num_members, history_length), -1, dtype=np.int8),
            np.zeros(num_members, dtype=np.int32),
        )


@dataclasses.dataclass(frozen=True)
class _DayArrays:
    """A simulated day as flat arrays: sessions (S,) and served posts (S, N) in position order."""

    session_id: np.ndarray
    member: np.ndarray
    platform: np.ndarray
    hour: np.ndarray
    random_bucket: np.ndarray
    pool: _Posts  # the posts eligible today, concatenated
    pool_created_day: np.ndarray
    served: np.ndarray  # (S, N) index into the pool
    ranker_score: np.ndarray  # (S, N)
    age_hours: np.ndarray  # (S, N)
    depth: np.ndarray  # (S,)
    probs: np.ndarray  # (S, N, len(ACTIONS)) action probabilities given examination
    p_contribution: np.ndarray  # (S, N)
    actions: np.ndarray  # (S, N, len(ACTIONS)) int8, zero where not impressed
    dwell: np.ndarray  # (S, N) float, only meaningful where impressed


def _rng(seed: int, stream: int, day: int | None = None) -> np.random.Generator:
    key = [seed, stream] if day is None else [seed, stream, day]
    return np.random.default_rng(key)


def _normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of `probs` (rows need not be normalized)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    u = rng.random(shape, dtype=np.float32)
    return -np.log(-np.log(np.maximum(u, np.float32(1e-12))))


def _ragged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and position of every element of the ranges [starts[i], ends[i])."""
    lens = ends - starts
    rows = np.repeat(np.arange(len(starts)), lens)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lens) - lens, lens)
    return rows, np.repeat(starts, lens) + within


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _config_key(config: WorldConfig) -> str:
    fields = {f.name: str(getattr(config, f.name)) for f in dataclasses.fields(config)}
    payload = json.dumps({"model": MODEL_VERSION, "config": fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class FeedWorld:
    """The simulated feed world of one `WorldConfig`; `simulate_day(d)` returns day d's tables.

    Day d needs the members' histories at the end of day d-1, so it computes (or reuses) days
    0..d-1 first. States are cached in memory and, with `cache_dir`, as one `.npz` per day keyed
    by a hash of the config, so a later process resumes where an earlier one stopped. Results are
    identical whether a state was cached or recomputed.

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
        self.config = config
        self.cache_dir = None if cache_dir is None else pathlib.Path(cache_dir)
        self._key = _config_key(config)
        self._statics = self._draw_statics()
        self._posts: dict[int, _Posts] = {}
        self._interest: dict[int, np.ndarray] = {}
        self._states: dict[int, _History] = {
            0: _History.empty(config.num_members, config.history_length)
        }

    # ----------------------------------------------------------------------------- public API

    def position_curve(self) -> PositionCurve:
        """P(impressed) and P(examined | impressed) for positions 0..served_per_session-1."""
        pos = np.arange(self.config.served_per_session, dtype=np.float64)
        return PositionCurve(
            p_impressed=SCROLL_CONTINUE**pos,
            p_examine=EXAMINE_TOP * (1.0 + pos) ** -EXAMINE_DECAY,
        )

    def simulate_day(self, day: int) -> WorldDay:
        """Sessions, impressions, new posts, member snapshot and ground truth of world day `day`."""
        self._check_day(day)
        state = self._state_at_start(day)
        arrays, end_state = self._simulate(day, state)
        self._remember(day + 1, end_state)
        return self._tables(day, state, arrays)

    def post_popularity(self, day: int, hour: int = 12) -> pd.Series:
        """Latent popularity of the posts eligible on `day` at `hour` (for tests and analysis)."""
        self._check_day(day)
        pool, created = self._pool(day)
        age = (day - created) * 24.0 + (hour + 1.0) - pool.published_hour
        pop = self._popularity(pool, created, day, age)
        return pd.Series(pop, index=pd.Index(pool.post_id, name="post_id"), name="popularity")

    # --------------------------------------------------------------------------- static world

    def _draw_statics(self) -> _Statics:
        c = self.config
        k = c.interest_dim
        rng = _rng(c.seed, _S_TOPICS)
        centroids = _normalize(rng.standard_normal((NUM_TOPICS, k)))
        topic_weight = 1.0 / np.arange(1, NUM_TOPICS + 1) ** 0.6
        hashtag_topic = np.repeat(np.arange(NUM_TOPICS), NUM_HASHTAGS // NUM_TOPICS)
        hashtag_vec = _normalize(
            centroids[hashtag_topic] + 0.35 * rng.standard_normal((NUM_HASHTAGS, k)) / np.sqrt(k)
        )
        sen_x_type = SENIORITY_X_TYPE + 0.15 * rng.standard_normal(SENIORITY_X_TYPE.shape)
        plat_x_type = PLATFORM_X_TYPE + 0.1 * rng.standard_normal(PLATFORM_X_TYPE.shape)

        rng = _rng(c.seed, _S_MEMBERS)
        m = c.num_members
        z1 = rng.choice(NUM_TOPICS, size=m, p=topic_weight / topic_weight.sum())
        z2 = rng.integers(0, NUM_TOPICS, size=m)
        interest0 = _normalize(
            centroids[z1] + 0.5 * centroids[z2] + 0.5 * rng.standard_normal((m, k)) / np.sqrt(k)
        )
        seniority = rng.choice(NUM_SENIORITY, size=m, p=[0.3, 0.3, 0.2, 0.15, 0.05])
        industry_w = 1.0 / np.arange(1, NUM_INDUSTRIES + 1) ** 0.7
        industry = rng.choice(NUM_INDUSTRIES, size=m, p=industry_w / industry_w.sum())
        country_w = 1.0 / np.arange(1, NUM_COUNTRIES + 1) ** 1.0
        country = rng.choice(NUM_COUNTRIES, size=m, p=country_w / country_w.sum())
        log_conn = np.log1p(np.round(np.exp(rng.normal(5.0, 1.1, size=m))))
        activity = c.mean_sessions_per_member * np.exp(0.9 * rng.standard_normal(m) - 0.405)
        platform_pref = rng.dirichlet([0.9, 0.7, 0.7], size=m)

        rng = _rng(c.seed, _S_AUTHORS)
        a = c.num_authors
        author_topic = _normalize(interest0[:a] + 0.3 * rng.standard_normal((a, k)) / np.sqrt(k))
        author_quality = rng.normal(0.0, 0.5, size=a)
        post_rate = np.exp(rng.standard_normal(a))
        type_pref = rng.dirichlet(6.0 * TYPE_MIX, size=a)
        attract = 0.8 * author_quality + rng.normal(0.0, 0.8, size=a)

        offsets, follows = self._draw_follows(interest0, author_topic, attract)
        followers = np.bincount(follows, minlength=a)
        return _Statics(
            interest0=interest0,
            seniority=seniority.astype(np.int32),
            industry=industry.astype(np.int32),
            country=country.astype(np.int32),
            log_connections=log_conn.astype(np.float32),
            conn_std=(log_conn - log_conn.mean()) / max(float(log_conn.std()), 1e-9),
            activity=activity,
            platform_pref=platform_pref,
            follow_offsets=offsets,
            follow_authors=follows,
            author_topic=author_topic,
            author_quality=author_quality,
            author_post_rate=post_rate / post_rate.sum(),
            author_type_pref=type_pref,
            author_log_followers=np.log1p(followers).astype(np.float32),
            hashtag_vec=hashtag_vec,
            sen_x_type=sen_x_type,
            plat_x_type=plat_x_type,
        )

    def _draw_follows(
        self, interest: np.ndarray, author_topic: np.ndarray, attract: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each member follows 20-40 authors, topic-similar and attractive ones more often."""
        c = self.config
        rng = _rng(c.seed, _S_FOLLOWS)
        m, a = c.num_members, c.num_authors
        max_follows = min(40, a - 1)
        counts = np.minimum(rng.integers(20, 41, size=m), max_follows)
        chunk = max(1, CANDIDATE_CHUNK_CELLS // a)
        picked = []
        for lo in range(0, m, chunk):
            hi = min(m, lo + chunk)
            score = 3.0 * interest[lo:hi] @ author_topic.T + attract[None, :]
            score = score + _gumbel(rng, (hi - lo, a))
            rows = np.arange(lo, hi)
            own = rows < a
            score[own, rows[own]] = -np.inf
            top = np.argpartition(-score, max_follows - 1, axis=1)[:, :max_follows]
            order = np.argsort(-np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
            picked.append(np.take_along_axis(top, order, axis=1))
        top = np.concatenate(picked)
        keep = np.arange(max_follows)[None, :] < counts[:, None]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return offsets, top[keep].astype(np.int64)

    # ---------------------------------------------------------------------------------- posts

    def _posts_of(self, day: int) -> _Posts:
        if day not in self._posts:
            self._posts[day] = self._draw_posts(day)
        return self._posts[day]

    def _draw_posts(self, day: int) -> _Posts:
        c, st = self.config, self._statics
        rng = _rng(c.seed, _S_POSTS, day)
        n, k = c.posts_per_day, c.interest_dim
        author = rng.choice(c.num_authors, size=n, p=st.author_post_rate)
        ctype = _categorical(rng, st.author_type_pref[author])
        topic = _normalize(st.author_topic[author] + 0.4 * rng.standard_normal((n, k)) / np.sqrt(k))
        tag_score = 6.0 * topic @ st.hashtag_vec.T + _gumbel(rng, (n, NUM_HASHTAGS))
        top = np.argsort(-tag_score, axis=1, kind="stable")[:, :MAX_HASHTAGS]
        num_tags = 1 + rng.binomial(MAX_HASHTAGS - 1, 0.4, size=n)
        hashtags = np.where(np.arange(MAX_HASHTAGS)[None, :] < num_tags[:, None], top, -1)
        length = LENGTH_MEDIAN[ctype] * np.exp(LENGTH_SIGMA[ctype] * rng.standard_normal(n))
        quality = st.author_quality[author] + rng.normal(0.0, 0.4, size=n)
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

    def _pool(self, day: int) -> tuple[_Posts, np.ndarray]:
        """Posts eligible on `day` (created in the last `post_lifetime_days` days), concatenated."""
        days = range(max(0, day - self.config.post_lifetime_days + 1), day + 1)
        parts = [self._posts_of(d) for d in days]
        fields = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(_Posts)
            if f.name != "day"
        }
        created = np.concatenate([np.full(len(p.post_id), p.day, dtype=np.int64) for p in parts])
        return _Posts(day=day, **fields), created

    def _popularity(
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

    def _topics_of(self, post_ids: np.ndarray) -> np.ndarray:
        """Topic vectors of (already created) post ids; -1 ids give zero vectors."""
        valid = post_ids >= 0
        safe = np.where(valid, post_ids, 0)
        days, idx = safe // POST_ID_STRIDE, safe % POST_ID_STRIDE
        out = np.zeros((*post_ids.shape, self.config.interest_dim))
        for d in np.unique(days[valid]):
            sel = valid & (days == d)
            out[sel] = self._posts_of(int(d)).topic[idx[sel]]
        return out

    def _interest_on(self, day: int) -> np.ndarray:
        """Member interests on `day`: a deterministic random walk from the day-0 interests."""
        if day not in self._interest:
            c = self.config
            walk = np.zeros((c.num_members, c.interest_dim))
            for d in range(1, day + 1):
                walk += _rng(c.seed, _S_DRIFT, d).standard_normal(walk.shape) / np.sqrt(
                    c.interest_dim
                )
            self._interest[day] = _normalize(self._statics.interest0 + INTEREST_DRIFT * walk)
        return self._interest[day]

    # ------------------------------------------------------------------------------ the day

    def _simulate(self, day: int, hist: _History) -> tuple[_DayArrays, _History]:
        c, st = self.config, self._statics
        n_served = c.served_per_session

        rng = _rng(c.seed, _S_SESSIONS, day)
        counts = rng.poisson(st.activity)
        member = np.repeat(np.arange(c.num_members, dtype=np.int64), counts)
        hour = rng.choice(24, size=len(member), p=HOUR_PROFILE)
        order = np.lexsort((hour, member))
        member, hour = member[order], hour[order].astype(np.int64)
        platform = _categorical(rng, st.platform_pref[member])
        random_bucket = rng.random(len(member)) < c.random_bucket_share
        n_sess = len(member)
        session_id = day * SESSION_ID_STRIDE + np.arange(n_sess, dtype=np.int64)

        pool, created = self._pool(day)
        hours = np.arange(24, dtype=np.float64)[:, None]
        age_tab = (day - created)[None, :] * 24.0 + (hours + 1.0) - pool.published_hour[None, :]
        pop_tab = self._popularity(pool, created, day, age_tab)
        interest = self._interest_on(day)

        cand, follows = self._candidates(day, member, hour, pool, pop_tab, interest, hist)

        # ground-truth action probabilities of every candidate
        hist_topic = _normalize(self._topics_of(hist.post_id).sum(axis=1))
        probs, p_contrib, interest_term, q0, q1 = self._truth(
            member, platform, hour, cand, follows, pool, pop_tab, interest, hist, hist_topic
        )

        # production ranker: noisy truth; top-N served, random bucket shuffled
        rng = _rng(c.seed, _S_RANKER, day)
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
        age_hours = age_tab[hour[:, None], served]

        # scroll, examination and actions
        rng = _rng(c.seed, _S_ACTIONS, day)
        curve = self.position_curve()
        depth = np.minimum(rng.geometric(1.0 - SCROLL_CONTINUE, size=n_sess), n_served)
        impressed = np.arange(n_served)[None, :] < depth[:, None]
        examined = impressed & (rng.random((n_sess, n_served)) < curve.p_examine[None, :])
        clicked = rng.random((n_sess, n_served)) < probs[..., 0]
        q = np.where(clicked[..., None], q1, q0)
        contrib = rng.random(q.shape) < q
        actions = np.concatenate([clicked[..., None], contrib], axis=-1) & examined[..., None]
        actions = actions.astype(np.int8)

        rng = _rng(c.seed, _S_DWELL, day)
        ctype = pool.ctype[served]
        log_mu = (
            np.log(DWELL_MEDIAN_S[ctype])
            + DWELL_LENGTH_ELASTICITY[ctype] * np.log(pool.length[served] / LENGTH_MEDIAN[ctype])
            + PLATFORM_DWELL[platform][:, None]
            - 0.03 * np.arange(n_served)[None, :]
            + 0.25 * interest_term
            + DWELL_CLICK_BOOST[ctype] * actions[..., 0]
            + 0.3 * actions[..., 1:].max(axis=-1)
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
            pool=pool,
            pool_created_day=created,
            served=served,
            ranker_score=ranker_score,
            age_hours=age_hours,
            depth=depth,
            probs=probs,
            p_contribution=p_contrib,
            actions=actions,
            dwell=dwell,
        )
        return arrays, self._update_history(hist, member, pool, served, actions)

    def _candidates(
        self,
        day: int,
        member: np.ndarray,
        hour: np.ndarray,
        pool: _Posts,
        pop_tab: np.ndarray,
        interest: np.ndarray,
        hist: _History,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gumbel-top-k over network, popularity and relevance, without own or acted-on posts.

        Returns (S, k) pool indices and whether the member follows each candidate's author.
        """
        c, st = self.config, self._statics
        rng = _rng(c.seed, _S_CANDIDATES, day)
        k, n_pool = c.candidates_per_session, len(pool.post_id)
        chunk = max(1, CANDIDATE_CHUNK_CELLS // n_pool)
        topic_t = pool.topic.T.astype(np.float32)
        pop_part = (0.8 * pop_tab).astype(np.float32)
        by_author = np.argsort(pool.author, kind="stable")
        sorted_author = pool.author[by_author]
        cands, follows = [], []
        for lo in range(0, len(member), chunk):
            mem = member[lo : lo + chunk]
            n = len(mem)
            followed = np.zeros((n, c.num_authors), dtype=bool)
            rows, at = _ragged(st.follow_offsets[mem], st.follow_offsets[mem + 1])
            followed[rows, st.follow_authors[at]] = True
            net = followed[:, pool.author]
            score = interest[mem].astype(np.float32) @ topic_t
            score += pop_part[hour[lo : lo + chunk]]
            score += _gumbel(rng, (n, n_pool))
            np.add(score, np.float32(2.0), out=score, where=net)
            # never offer a member their own posts or posts they already acted on
            rows, at = _ragged(
                np.searchsorted(sorted_author, mem, side="left"),
                np.searchsorted(sorted_author, mem, side="right"),
            )
            score[rows, by_author[at]] = -1e9
            acted = hist.post_id[mem]
            at = np.minimum(np.searchsorted(pool.post_id, acted), n_pool - 1)
            hit = (acted >= 0) & (pool.post_id[at] == acted)
            score[np.nonzero(hit)[0], at[hit]] = -1e9
            np.negative(score, out=score)
            top = np.sort(np.argpartition(score, k - 1, axis=1)[:, :k], axis=1)
            cands.append(top)
            follows.append(np.take_along_axis(net, top, axis=1))
        return np.concatenate(cands), np.concatenate(follows)

    def _truth(
        self,
        member: np.ndarray,
        platform: np.ndarray,
        hour: np.ndarray,
        cand: np.ndarray,
        follows: np.ndarray,
        pool: _Posts,
        pop_tab: np.ndarray,
        interest: np.ndarray,
        hist: _History,
        hist_topic: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Truth given examination for (S, k) candidates.

        Returns probs (S, k, len(ACTIONS)) marginal per action, p_contribution (S, k), the interest
        term (S, k), and q0, q1 (S, k, len(CONTRIBUTION_ACTIONS)): each contribution action's
        probability without and with a click.
        """
        st = self._statics
        ctype = pool.ctype[cand]
        topic = pool.topic[cand]
        interest_term = 3.0 * np.einsum("sd,skd->sk", interest[member], topic)
        author = pool.author[cand]
        hist_count = (hist.author_id[member][:, None, :] == author[..., None]).sum(axis=-1)
        has_hist = (hist.length[member] > 0)[:, None]
        shared = (
            interest_term
            + st.sen_x_type[st.seniority[member][:, None], ctype]
            + st.plat_x_type[platform[:, None], ctype]
            + 0.8 * np.log1p(hist_count)
            + 1.0
            * (np.einsum("sd,skd->sk", hist_topic[member], topic) - HIST_TOPIC_CENTER)
            * has_hist
            + 0.5 * pop_tab[hour[:, None], cand]
            + 0.5 * pool.quality[cand]
            + 0.3 * follows
        )
        p_click = _sigmoid(
            ACTION_BASE["click"] + shared + _by_type(ACTION_TYPE_OFFSET["click"])[ctype]
        )
        q0, q1 = [], []
        for action in CONTRIBUTION_ACTIONS:
            z = (
                ACTION_BASE[action]
                + ACTION_WEIGHT[action] * shared
                + _by_type(ACTION_TYPE_OFFSET[action])[ctype]
            )
            if action in CONNECTION_ACTIONS:
                z = z + 0.2 * st.conn_std[member][:, None]
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
        self,
        hist: _History,
        member: np.ndarray,
        pool: _Posts,
        served: np.ndarray,
        actions: np.ndarray,
    ) -> _History:
        """Append the day's actions (by session, position, action) and keep the last L."""
        c = self.config
        length = c.history_length
        s_idx, pos, act = np.nonzero(actions)
        new_m = member[s_idx]
        new_post = pool.post_id[served[s_idx, pos]]
        new_author = pool.author[served[s_idx, pos]]
        old_m, old_j = np.nonzero(np.arange(length)[None, :] < hist.length[:, None])
        all_m = np.concatenate([old_m, new_m])
        is_new = np.concatenate([np.zeros(len(old_m), np.int64), np.ones(len(new_m), np.int64)])
        seq = np.concatenate([old_j, np.arange(len(new_m))])
        order = np.lexsort((seq, is_new, all_m))
        post = np.concatenate([hist.post_id[old_m, old_j], new_post])[order]
        author = np.concatenate([hist.author_id[old_m, old_j], new_author])[order]
        action = np.concatenate([hist.action[old_m, old_j], act.astype(np.int8)])[order]
        m_sorted = all_m[order]
        counts = np.bincount(all_m, minlength=c.num_members)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(m_sorted)) - start[m_sorted]
        drop = np.maximum(counts - length, 0)
        keep = rank >= drop[m_sorted]
        slot = (rank - drop[m_sorted])[keep]
        out = _History.empty(c.num_members, length)
        out.post_id[m_sorted[keep], slot] = post[keep]
        out.author_id[m_sorted[keep], slot] = author[keep]
        out.action[m_sorted[keep], slot] = action[keep]
        return dataclasses.replace(out, length=np.minimum(counts, length).astype(np.int32))

    # --------------------------------------------------------------------------------- state

    def _check_day(self, day: int) -> None:
        if not 0 <= day < self.config.num_days:
            raise ValueError(
                f"`day` must be in [0, {self.config.num_days}) for this world. Received: day={day}"
            )

    def _cache_path(self, day: int) -> pathlib.Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"feed-world-{self._key}" / f"history-start-day{day:04d}.npz"

    def _remember(self, day: int, state: _History) -> None:
        self._states[day] = state
        path = self._cache_path(day)
        if path is None or path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    post_id=state.post_id,
                    author_id=state.author_id,
                    action=state.action,
                    length=state.length,
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _load(self, day: int) -> _History | None:
        if day in self._states:
            return self._states[day]
        path = self._cache_path(day)
        if path is None or not path.exists():
            return None
        with np.load(path) as data:
            state = _History(
                post_id=data["post_id"],
                author_id=data["author_id"],
                action=data["action"],
                length=data["length"],
            )
        self._states[day] = state
        return state

    def _state_at_start(self, day: int) -> _History:
        start = day
        while self._load(start) is None:
            start -= 1
        state = self._states[start]
        for d in range(start, day):
            _, state = self._simulate(d, state)
            self._remember(d + 1, state)
        return state

    # -------------------------------------------------------------------------------- tables

    def _tables(self, day: int, hist: _History, arr: _DayArrays) -> WorldDay:
        c, st = self.config, self._statics
        date = c.date_of(day)
        n_sess, n_served = arr.served.shape
        pool = arr.pool
        flat = arr.served.ravel()
        positions = np.tile(np.arange(n_served, dtype=np.int32), n_sess)
        types = np.array(CONTENT_TYPES)
        platforms = np.array(PLATFORMS)

        served_struct = pa.StructArray.from_arrays(
            [
                pa.array(pool.post_id[flat]),
                pa.array(positions),
                pa.array(pool.author[flat]),
                pa.array(types[pool.ctype[flat]]),
                _hashtag_lists(pool.hashtags[flat], pool.num_hashtags[flat]),
                pa.array(pool.length[flat]),
                pa.array(arr.age_hours.ravel().astype(np.float32)),
                pa.array(st.author_log_followers[pool.author[flat]]),
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
                pa.array(mem),
                pa.array(platforms[arr.platform]),
                pa.array(arr.hour.astype(np.int32)),
                pa.array(arr.random_bucket),
                pa.array(st.seniority[mem]),
                pa.array(st.industry[mem]),
                pa.array(st.country[mem]),
                pa.array(st.log_connections[mem]),
                *_history_lists(hist, mem),
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
                pa.array(mem[s_idx[imp]]),
                pa.array(pool.post_id[flat[imp]]),
                pa.array(positions[imp]),
                *[pa.array(acts[:, i]) for i in range(len(ACTIONS))],
                pa.array(arr.dwell.ravel()[imp].astype(np.float32)),
            ],
            schema=schemas.FEED_IMPRESSIONS,
        )

        probs = arr.probs.reshape(-1, len(ACTIONS)).astype(np.float32)
        p_examine = self.position_curve().p_examine.astype(np.float32)
        truth = pa.Table.from_arrays(
            [
                _dates(date, len(flat)),
                pa.array(arr.session_id[s_idx]),
                pa.array(pool.post_id[flat]),
                pa.array(positions),
                pa.array(p_examine[positions]),
                *[pa.array(probs[:, i]) for i in range(len(ACTIONS))],
                pa.array(arr.p_contribution.ravel().astype(np.float32)),
            ],
            schema=schemas.FEED_GROUND_TRUTH,
        )

        new = arr.pool_created_day == day
        posts = pa.Table.from_arrays(
            [
                _dates(date, int(new.sum())),
                pa.array(pool.post_id[new]),
                pa.array(pool.author[new]),
                pa.array(types[pool.ctype[new]]),
                _hashtag_lists(pool.hashtags[new], pool.num_hashtags[new]),
                pa.array(pool.length[new]),
            ],
            schema=schemas.POSTS,
        )

        everyone = np.arange(c.num_members, dtype=np.int64)
        members = pa.Table.from_arrays(
            [
                _dates(date, c.num_members),
                pa.array(everyone),
                pa.array(st.seniority),
                pa.array(st.industry),
                pa.array(st.country),
                pa.array(st.log_connections),
                *_history_lists(hist, everyone),
            ],
            schema=schemas.MEMBERS,
        )
        return WorldDay(
            day=day,
            date=date,
            feed_sessions=sessions,
            feed_impressions=impressions,
            posts=posts,
            members=members,
            feed_ground_truth=truth,
        )


def _dates(date: dt.date, n: int) -> pa.Array:
    days = (date - dt.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32())


def _hashtag_lists(tags: np.ndarray, counts: np.ndarray) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = tags[np.arange(tags.shape[1])[None, :] < counts[:, None]]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32)))


def _history_lists(hist: _History, member: np.ndarray) -> list[pa.Array]:
    lengths = hist.length[member]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    mask = np.arange(hist.post_id.shape[1])[None, :] < lengths[:, None]
    return [
        pa.ListArray.from_arrays(offsets, pa.array(hist.post_id[member][mask])),
        pa.ListArray.from_arrays(offsets, pa.array(hist.author_id[member][mask])),
        pa.ListArray.from_arrays(offsets, pa.array(hist.action[member][mask].astype(np.int32))),
    ]


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
