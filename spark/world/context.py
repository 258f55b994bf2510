"""The world's global entities, drawn once per process: `WorldContext`."""

from __future__ import annotations

import functools

import numpy as np

from spark.world.config import WorldConfig
from spark.world.entities import (
    Members,
    Pool,
    Posts,
    draw_authors,
    draw_follows,
    draw_members,
    draw_posts,
    draw_topics,
    eligible_pool,
    interest_on,
    popularity,
)
from spark.world.ids import MAX_BLOCKS, POST_ID_STRIDE, split_post_ids
from spark.world.state import num_blocks


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


class WorldContext:
    """The world's global entities: topics, hashtags, crosses, authors, and every day's posts.

    They are deterministic from the config and cheap next to the members (O(authors + posts)),
    so every process that simulates blocks builds its own; posts and pools are drawn lazily and
    kept. `world_context` keeps one per config in a Spark worker, across tasks. The draws
    themselves are the pure functions of `spark.world.entities`.

    Args:
        config: the world.
    """

    def __init__(self, config: WorldConfig) -> None:
        check_world_config(config)
        self.config = config
        self.topics = draw_topics(config)
        self.authors = draw_authors(config, self.topics)
        self._posts: dict[int, Posts] = {}
        self._pools: dict[int, Pool] = {}

    def members(self, block: int) -> Members:
        """Static attributes of the members of `block`, from the block's own stream."""
        return draw_members(self.config, self.topics, block)

    def interest_on(self, members: Members, block: int, day: int) -> np.ndarray:
        """Interests of a block's members on `day`: a random walk from their day-0 interests."""
        return interest_on(self.config, members, block, day)

    def follows(self, members: Members, block: int) -> tuple[np.ndarray, np.ndarray]:
        """The block's follow lists as CSR (offsets, author ids), best-scored first."""
        return draw_follows(self.config, self.authors, members, block)

    def posts_of(self, day: int) -> Posts:
        """The posts created on `day` (global: every process draws the same)."""
        if day not in self._posts:
            self._posts[day] = draw_posts(self.config, self.topics, self.authors, day)
        return self._posts[day]

    def pool(self, day: int) -> Pool:
        """Posts eligible on `day` (created in the last `post_lifetime_days` days)."""
        if day not in self._pools:
            days = range(max(0, day - self.config.post_lifetime_days + 1), day + 1)
            pool = eligible_pool(self.config, [self.posts_of(d) for d in days], day)
            self._pools = {d: p for d, p in self._pools.items() if d >= day - 1}
            self._pools[day] = pool
        return self._pools[day]

    def popularity(
        self, pool: Posts, created: np.ndarray, day: int, age_hours: np.ndarray
    ) -> np.ndarray:
        """pop = virality + shock(age day) + 0.5 * log rise-and-decay(age hours, type)."""
        return popularity(self.config, pool, created, day, age_hours)

    def topics_of(self, post_ids: np.ndarray) -> np.ndarray:
        """Topic vectors of (already created) post ids; -1 ids give zero vectors."""
        valid = post_ids >= 0
        days, idx = split_post_ids(np.where(valid, post_ids, 0))
        out = np.zeros((*post_ids.shape, self.config.interest_dim))
        for d in np.unique(days[valid]):
            sel = valid & (days == d)
            out[sel] = self.posts_of(int(d)).topic[idx[sel]]
        return out


@functools.lru_cache(maxsize=2)
def world_context(config: WorldConfig) -> WorldContext:
    """The `WorldContext` of `config`, kept for the process (a Spark worker reuses it)."""
    return WorldContext(config)
