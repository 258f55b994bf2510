"""The world's entities and how each is drawn: topics, members, authors, follows, posts.

Each draw is a pure function of the config (and the entities it builds on), made from its own
random stream, as "Entities" and "Posts" in `spark.world.kernel` describe. `WorldContext` holds
the global ones; a block's members and follows are drawn where the block is simulated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spark.world.behaviour import (
    HALF_LIFE_HOURS,
    INTEREST_DRIFT,
    LENGTH_MEDIAN,
    LENGTH_SIGMA,
    LOG_CONNECTIONS_MEAN,
    LOG_CONNECTIONS_SD,
    MAX_FOLLOWS,
    MAX_HASHTAGS,
    MIN_FOLLOWS,
    NUM_COUNTRIES,
    NUM_HASHTAGS,
    NUM_INDUSTRIES,
    NUM_SENIORITY,
    NUM_TOPICS,
    PLATFORM_X_TYPE,
    RISE_HOURS,
    SENIORITY_X_TYPE,
    TYPE_MIX,
)
from spark.world.config import WorldConfig
from spark.world.ids import post_ids
from spark.world.sampling import (
    CHUNK_CELLS,
    STREAM_AUTHORS,
    STREAM_DRIFT,
    STREAM_FOLLOWS,
    STREAM_MEMBERS,
    STREAM_POSTS,
    STREAM_TOPICS,
    categorical,
    gumbel,
    normalize,
    random_stream,
)
from spark.world.state import block_members


@dataclasses.dataclass(frozen=True)
class Topics:
    centroids: np.ndarray  # (NUM_TOPICS, K)
    weight: np.ndarray  # topic popularity, sums to 1
    hashtag_vec: np.ndarray  # (H, K)
    sen_x_type: np.ndarray
    plat_x_type: np.ndarray


@dataclasses.dataclass(frozen=True)
class Authors:
    topic: np.ndarray  # (A, K)
    quality: np.ndarray
    post_rate: np.ndarray  # sums to 1
    type_pref: np.ndarray  # (A, T)
    attract: np.ndarray  # follow attractiveness


@dataclasses.dataclass(frozen=True)
class Members:
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
class Posts:
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
class Pool:
    """The posts eligible on a day, concatenated, with their age and popularity by hour."""

    posts: Posts
    created: np.ndarray  # creation day of each post
    age_hours: np.ndarray  # (24, n) age at the end of each hour of the day
    popularity: np.ndarray  # (24, n)
    by_author: np.ndarray  # pool indices sorted by author (stable)


# -------------------------------------------------------------------------------- topics


def draw_topics(config: WorldConfig) -> Topics:
    """Topic centroids and popularity, hashtags around them, and the noisy categorical crosses."""
    k = config.interest_dim
    rng = random_stream(config.seed, STREAM_TOPICS)
    centroids = normalize(rng.standard_normal((NUM_TOPICS, k)))
    weight = 1.0 / np.arange(1, NUM_TOPICS + 1) ** 0.6
    hashtag_topic = np.repeat(np.arange(NUM_TOPICS), NUM_HASHTAGS // NUM_TOPICS)
    hashtag_vec = normalize(
        centroids[hashtag_topic] + 0.35 * rng.standard_normal((NUM_HASHTAGS, k)) / np.sqrt(k)
    )
    return Topics(
        centroids=centroids,
        weight=weight / weight.sum(),
        hashtag_vec=hashtag_vec,
        sen_x_type=SENIORITY_X_TYPE + 0.15 * rng.standard_normal(SENIORITY_X_TYPE.shape),
        plat_x_type=PLATFORM_X_TYPE + 0.1 * rng.standard_normal(PLATFORM_X_TYPE.shape),
    )


# ------------------------------------------------------------------------------- members


def draw_members(config: WorldConfig, topics: Topics, block: int) -> Members:
    """Static attributes of the members of `block`, from the block's own stream."""
    first, end = block_members(config, block)
    m, k = end - first, config.interest_dim
    rng = random_stream(config.seed, STREAM_MEMBERS, block)
    z1 = rng.choice(NUM_TOPICS, size=m, p=topics.weight)
    z2 = rng.integers(0, NUM_TOPICS, size=m)
    interest0 = normalize(
        topics.centroids[z1]
        + 0.5 * topics.centroids[z2]
        + 0.5 * rng.standard_normal((m, k)) / np.sqrt(k)
    )
    seniority = rng.choice(NUM_SENIORITY, size=m, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    industry_w = 1.0 / np.arange(1, NUM_INDUSTRIES + 1) ** 0.7
    industry = rng.choice(NUM_INDUSTRIES, size=m, p=industry_w / industry_w.sum())
    country_w = 1.0 / np.arange(1, NUM_COUNTRIES + 1) ** 1.0
    country = rng.choice(NUM_COUNTRIES, size=m, p=country_w / country_w.sum())
    log_conn = np.log1p(
        np.round(np.exp(rng.normal(LOG_CONNECTIONS_MEAN, LOG_CONNECTIONS_SD, size=m)))
    )
    activity = config.mean_sessions_per_member * np.exp(0.9 * rng.standard_normal(m) - 0.405)
    platform_pref = rng.dirichlet([0.9, 0.7, 0.7], size=m)
    return Members(
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


def interest_on(config: WorldConfig, members: Members, block: int, day: int) -> np.ndarray:
    """Interests of a block's members on `day`: a random walk from their day-0 interests."""
    walk = np.zeros_like(members.interest0)
    for d in range(1, day + 1):
        walk += random_stream(config.seed, STREAM_DRIFT, d, block).standard_normal(walk.shape)
    return normalize(members.interest0 + INTEREST_DRIFT * walk / np.sqrt(config.interest_dim))


# ------------------------------------------------------------------------------- authors


def draw_authors(config: WorldConfig, topics: Topics) -> Authors:
    """Authors are members 0..A-1: topic near their interest, quality, post rate, type mix."""
    a, k = config.num_authors, config.interest_dim
    author_blocks = range((a - 1) // config.members_per_block + 1)
    interest = np.concatenate([draw_members(config, topics, b).interest0 for b in author_blocks])
    rng = random_stream(config.seed, STREAM_AUTHORS)
    topic = normalize(interest[:a] + 0.3 * rng.standard_normal((a, k)) / np.sqrt(k))
    quality = rng.normal(0.0, 0.5, size=a)
    post_rate = np.exp(rng.standard_normal(a))
    type_pref = rng.dirichlet(6.0 * TYPE_MIX, size=a)
    attract = 0.8 * quality + rng.normal(0.0, 0.8, size=a)
    return Authors(
        topic=topic,
        quality=quality,
        post_rate=post_rate / post_rate.sum(),
        type_pref=type_pref,
        attract=attract,
    )


def draw_follows(
    config: WorldConfig, authors: Authors, members: Members, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each member follows 20-40 authors, topic-similar and attractive ones more often.

    Returns the block's follow lists as CSR (offsets, author ids), best-scored first.
    """
    rng = random_stream(config.seed, STREAM_FOLLOWS, block)
    m, a = len(members.interest0), config.num_authors
    max_follows = min(MAX_FOLLOWS, a - 1)
    counts = np.minimum(rng.integers(MIN_FOLLOWS, MAX_FOLLOWS + 1, size=m), max_follows)
    chunk = max(1, CHUNK_CELLS // a)
    picked = []
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        score = 3.0 * members.interest0[lo:hi] @ authors.topic.T + authors.attract[None, :]
        score += gumbel(rng, (hi - lo, a))
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


# --------------------------------------------------------------------------------- posts


def draw_posts(config: WorldConfig, topics: Topics, authors: Authors, day: int) -> Posts:
    """The posts created on `day` (global: every process draws the same)."""
    rng = random_stream(config.seed, STREAM_POSTS, day)
    n, k = config.posts_per_day, config.interest_dim
    author = rng.choice(config.num_authors, size=n, p=authors.post_rate)
    ctype = categorical(rng, authors.type_pref[author])
    topic = normalize(authors.topic[author] + 0.4 * rng.standard_normal((n, k)) / np.sqrt(k))
    tag_score = 6.0 * topic @ topics.hashtag_vec.T + gumbel(rng, (n, NUM_HASHTAGS))
    top = np.argsort(-tag_score, axis=1, kind="stable")[:, :MAX_HASHTAGS]
    num_tags = 1 + rng.binomial(MAX_HASHTAGS - 1, 0.4, size=n)
    hashtags = np.where(np.arange(MAX_HASHTAGS)[None, :] < num_tags[:, None], top, -1)
    length = LENGTH_MEDIAN[ctype] * np.exp(LENGTH_SIGMA[ctype] * rng.standard_normal(n))
    quality = authors.quality[author] + rng.normal(0.0, 0.4, size=n)
    virality = 0.4 * quality + rng.normal(0.0, 0.7, size=n)
    published = rng.random(n)
    shock = _shocks(rng.standard_normal((n, config.post_lifetime_days)))
    return Posts(
        day=day,
        post_id=post_ids(day, n),
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


def _shocks(eps: np.ndarray) -> np.ndarray:
    """Popularity shocks by age day: an AR(1) of the innovations `eps` (posts x days)."""
    shock = np.empty_like(eps)
    shock[:, 0] = 0.6 * eps[:, 0]
    for j in range(1, eps.shape[1]):
        shock[:, j] = 0.3 * shock[:, j - 1] + 0.6 * np.sqrt(1 - 0.09) * eps[:, j]
    return shock


def eligible_pool(config: WorldConfig, parts: list[Posts], day: int) -> Pool:
    """The posts of `parts` (the last days' posts, oldest first) as the pool of `day`."""
    fields = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in dataclasses.fields(Posts)
        if f.name != "day"
    }
    posts = Posts(day=day, **fields)
    created = np.concatenate([np.full(len(p.post_id), p.day, np.int64) for p in parts])
    hours = np.arange(24, dtype=np.float64)[:, None]
    age = (day - created)[None, :] * 24.0 + (hours + 1.0) - posts.published_hour[None, :]
    return Pool(
        posts=posts,
        created=created,
        age_hours=age,
        popularity=popularity(config, posts, created, day, age),
        by_author=np.argsort(posts.author, kind="stable"),
    )


def popularity(
    config: WorldConfig, pool: Posts, created: np.ndarray, day: int, age_hours: np.ndarray
) -> np.ndarray:
    """pop = virality + shock(age day) + 0.5 * log rise-and-decay(age hours, type)."""
    age_day = np.clip(day - created, 0, config.post_lifetime_days - 1)
    shock = pool.shock[np.arange(len(created)), age_day]
    x = np.maximum(age_hours, 1e-3)
    log_curve = np.log1p(-np.exp(-x / RISE_HOURS)) - np.log(2.0) * x / HALF_LIFE_HOURS[pool.ctype]
    return pool.virality + shock + 0.5 * log_curve
