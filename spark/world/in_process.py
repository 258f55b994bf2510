"""The simulated feed world in one process: `FeedWorld`, with its per-day member-state cache."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib

import numpy as np
import pandas as pd
import pyarrow as pa

from spark.storage import write_partition
from spark.world.behaviour import PositionCurve, position_curve
from spark.world.config import WorldConfig
from spark.world.context import WorldContext, check_world_config
from spark.world.kernel import initial_block_states, simulate_blocks
from spark.world.products import PRODUCT_BLOCK_TABLES, product_day_tables
from spark.world.serving import Ranker
from spark.world.state import (
    STATE_DATASET,
    log_followers,
    num_blocks,
    read_state,
    state_dir,
    world_cache_dir,
)
from spark.world.tables import BLOCK_TABLES, posts_table


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
    # the Ads and Jobs products' tables (`spark.world.products`), by name; empty for a served day
    products: dict[str, pa.Table] = dataclasses.field(default_factory=dict)

    def table(self, name: str) -> pa.Table:
        """A raw table of the day by name: the feed's, or a product's (`RAW_TABLE_ORDER`)."""
        if name in self.products:
            return self.products[name]
        if name in {f.name for f in dataclasses.fields(self)} - {"day", "date", "products"}:
            return getattr(self, name)
        raise KeyError(
            f"no table {name!r} in world day {self.date}; tables: feed's and "
            f"{sorted(self.products)}"
        )


@dataclasses.dataclass(frozen=True)
class ServedDay:
    """A day served by a given ranker: its log tables as served (`day`), the truth of every
    candidate (`CANDIDATE_TRUTH`, served or not) and the member state at the end of the day."""

    day: WorldDay
    candidate_truth: pa.Table
    state_after: pa.Table


class FeedWorld:
    """The simulated feed world in one process: `simulate_day(d)` returns day d's tables.

    It runs the simulator kernel `simulate_blocks` over all members' blocks at once (the Spark
    generator, `spark.world.spark_world.SparkWorld`, runs the same kernel per shard). Day d needs
    the member state at the end of day d-1, so it computes (or reuses) days 0..d-1 first. States
    are kept in memory and, with `cache_dir`, as Parquet in the layout of `spark.world.state`
    (shared with the Spark generator), so a later process resumes where an earlier one stopped.
    Results are identical whether a state was cached or recomputed.

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
        products = {
            **{n: pa.concat_tables([b.tables[n] for b in blocks]) for n in PRODUCT_BLOCK_TABLES},
            **product_day_tables(self.config, day),
        }
        return WorldDay(
            day=day,
            date=self.config.date_of(day),
            posts=posts_table(self.context, day),
            **tables,
            products=products,
        )

    def serve_day(self, day: int, ranker: Ranker, state: pa.Table | None = None) -> ServedDay:
        """Day `day` served by `ranker` instead of the production ranker (`spark.world.serving`).

        The same sessions, candidates and random draws as the logged day; only the order of each
        session's candidates is the ranker's. The world's own states are left as they are, so this
        is a counterfactual day beside the logged one.

        Args:
            day: world day index.
            ranker: scores each block's slate of candidates.
            state: the member state (`WORLD_STATE`, all members) at the start of `day`: e.g. the
                `state_after` of the previous served day, for a closed loop whose histories
                follow what the ranker served. None: the logged world's state.

        Returns:
            the `ServedDay`: the day's log tables as served, every candidate's truth, and the
            member state at the end of the day.
        """
        self._check_day(day)
        if state is None:
            state = self._state_at_start(day)
        blocks = list(
            simulate_blocks(self.context, day, [state], self._followers(state), ranker=ranker)
        )
        tables = {
            name: pa.concat_tables([b.tables[name] for b in blocks])
            for name in (*BLOCK_TABLES, "feed_candidate_truth")
        }
        truth = tables.pop("feed_candidate_truth")
        return ServedDay(
            day=WorldDay(
                day=day, date=self.config.date_of(day), posts=posts_table(self.context, day),
                **tables,
            ),
            candidate_truth=truth,
            state_after=pa.concat_tables([b.state for b in blocks]),
        )  # fmt: skip

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
