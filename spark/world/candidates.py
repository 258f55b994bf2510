"""Candidate generation: each session's candidates, drawn from the day's pool of eligible posts.

Score = 2 follows(m, a) + 0.8 pop_p + cos(u_m, v_p) + Gumbel noise, top `candidates_per_session`
taken (Gumbel-top-k: a draw without replacement); a member's own posts and the posts already in
their history are never offered.
"""

from __future__ import annotations

import numpy as np

from spark.world.config import WorldConfig
from spark.world.entities import Pool
from spark.world.sampling import (
    CHUNK_CELLS,
    STREAM_CANDIDATES,
    gumbel,
    ragged,
    random_stream,
    top_k_unsorted,
)
from spark.world.state import BlockState

_EXCLUDED = -1e9


def draw_candidates(
    config: WorldConfig,
    day: int,
    block: int,
    member: np.ndarray,
    hour: np.ndarray,
    pool: Pool,
    interest: np.ndarray,
    start: BlockState,
) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-top-k over network, popularity and relevance, without own or acted-on posts.

    Args:
        member, hour: each session's member (index into the block) and hour, (S,).
        interest: the block's member interests on `day`.
        start: the block's state at the start of `day` (follow lists and histories).

    Returns:
        (S, k) pool indices, and whether the member follows each candidate's author.
    """
    posts = pool.posts
    rng = random_stream(config.seed, STREAM_CANDIDATES, day, block)
    k, n_pool = config.candidates_per_session, len(posts.post_id)
    chunk = max(1, CHUNK_CELLS // n_pool)
    topic_t = posts.topic.T.astype(np.float32)
    pop_part = (0.8 * pool.popularity).astype(np.float32)
    sorted_author = posts.author[pool.by_author]
    cands = [np.zeros((0, k), dtype=np.int64)]
    follows = [np.zeros((0, k), dtype=bool)]
    for lo in range(0, len(member), chunk):
        mem = member[lo : lo + chunk]
        score = interest[mem].astype(np.float32) @ topic_t
        score += pop_part[hour[lo : lo + chunk]]
        score += gumbel(rng, (len(mem), n_pool))
        followed = _add_followed(score, mem, start, pool, sorted_author, config.num_authors)
        _exclude_own_and_acted(score, mem, start, pool, sorted_author)
        top = top_k_unsorted(score, k)
        cands.append(top)
        follows.append(np.take_along_axis(followed, posts.author[top], axis=1))
    return np.concatenate(cands), np.concatenate(follows)


def _add_followed(
    score: np.ndarray,
    mem: np.ndarray,
    start: BlockState,
    pool: Pool,
    sorted_author: np.ndarray,
    num_authors: int,
) -> np.ndarray:
    """Add 2 to the scores of followed authors' posts; returns (rows, authors) follows flags.

    Each session's follow list is walked into the pool's posts by author (a member follows an
    author once, so no (row, post) pair repeats).
    """
    rows, at = ragged(start.follow_offsets[mem], start.follow_offsets[mem + 1])
    followed_author = start.follow_authors[at]
    hits, at = ragged(
        np.searchsorted(sorted_author, followed_author, side="left"),
        np.searchsorted(sorted_author, followed_author, side="right"),
    )
    score[rows[hits], pool.by_author[at]] += np.float32(2.0)
    followed = np.zeros((len(mem), num_authors), dtype=bool)
    followed[rows, followed_author] = True
    return followed


def _exclude_own_and_acted(
    score: np.ndarray, mem: np.ndarray, start: BlockState, pool: Pool, sorted_author: np.ndarray
) -> None:
    """Never offer a member their own posts or posts they already acted on."""
    posts, n_pool = pool.posts, len(pool.posts.post_id)
    first = int(start.member_id[0]) if len(start.member_id) else 0
    rows, at = ragged(
        np.searchsorted(sorted_author, first + mem, side="left"),
        np.searchsorted(sorted_author, first + mem, side="right"),
    )
    score[rows, pool.by_author[at]] = _EXCLUDED
    acted = start.history.post_id[mem]
    at = np.minimum(np.searchsorted(posts.post_id, acted), n_pool - 1)
    hit = (acted >= 0) & (posts.post_id[at] == acted)
    score[np.nonzero(hit)[0], at[hit]] = _EXCLUDED
