"""The raw log tables of a simulated day as Arrow tables, in the contracts of `spark.schemas`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa

from spark import schemas
from spark.schemas import ACTIONS
from spark.world.behaviour import position_curve
from spark.world.config import CONTENT_TYPES, PLATFORMS, WorldConfig
from spark.world.context import WorldContext
from spark.world.entities import Members, Posts
from spark.world.state import History, history_lists

BLOCK_TABLES: tuple[str, ...] = (
    "feed_sessions",
    "feed_impressions",
    "members",
    "feed_ground_truth",
)
"""The per-member tables `simulate_blocks` writes; `posts` is global (`posts_table`)."""


@dataclasses.dataclass(frozen=True)
class DayArrays:
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
class CandidateArrays:
    """A block's sessions (S,) and every candidate (S, k) before ranking: what a slate shows."""

    session_id: np.ndarray
    member: np.ndarray
    platform: np.ndarray
    hour: np.ndarray
    random_bucket: np.ndarray
    age_hours: np.ndarray  # (S, k)


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


def block_tables(
    config: WorldConfig,
    day: int,
    members: Members,
    hist: History,
    posts: Posts,
    arr: DayArrays,
    author_log_followers: np.ndarray,
) -> dict[str, pa.Table]:
    """A block's rows of `BLOCK_TABLES`; `hist` is its members' history at the start of `day`."""
    date = config.date_of(day)
    return {
        "feed_sessions": sessions_table(
            date, members, hist, posts, arr, arr.served, arr.ranker_score, author_log_followers
        ),
        "feed_impressions": _impressions(date, members, posts, arr),
        "members": _member_snapshot(date, members, hist),
        "feed_ground_truth": _ground_truth(config, date, posts, arr),
    }


def sessions_table(
    date: dt.date,
    members: Members,
    hist: History,
    posts: Posts,
    arr: DayArrays | CandidateArrays,
    listed: np.ndarray,
    score: np.ndarray,
    author_log_followers: np.ndarray,
) -> pa.Table:
    """`FEED_SESSIONS` rows of the sessions of `arr` whose `served` lists hold the pool posts
    `listed` (S, n) in column order, with `score` (S, n) as their `ranker_score`: the served
    posts of a logged day, or every candidate of a slate (`spark.world.serving`)."""
    n_sess, n_listed = listed.shape
    served_offsets = pa.array(np.arange(n_sess + 1, dtype=np.int32) * n_listed)
    served = _listed_posts(posts, listed, score, arr.age_hours, author_log_followers)
    mem = arr.member
    return pa.Table.from_arrays(
        [
            _dates(date, n_sess),
            pa.array(arr.session_id),
            pa.array(members.first + mem),
            pa.array(np.array(PLATFORMS)[arr.platform]),
            pa.array(arr.hour.astype(np.int32)),
            pa.array(arr.random_bucket),
            pa.array(members.seniority[mem]),
            pa.array(members.industry[mem]),
            pa.array(members.country[mem]),
            pa.array(members.log_connections[mem]),
            *history_lists(hist, mem),
            pa.ListArray.from_arrays(served_offsets, served),
        ],
        schema=schemas.FEED_SESSIONS,
    )


def _listed_posts(
    posts: Posts,
    listed: np.ndarray,
    score: np.ndarray,
    age_hours: np.ndarray,
    author_log_followers: np.ndarray,
) -> pa.Array:
    """The `served` structs of all sessions' listed posts, flat in session and column order."""
    flat = listed.ravel()
    return pa.StructArray.from_arrays(
        [
            pa.array(posts.post_id[flat]),
            pa.array(_column_index(listed)),
            pa.array(posts.author[flat]),
            pa.array(np.array(CONTENT_TYPES)[posts.ctype[flat]]),
            _hashtag_lists(posts.hashtags[flat], posts.num_hashtags[flat]),
            pa.array(posts.length[flat]),
            pa.array(age_hours.ravel().astype(np.float32)),
            pa.array(author_log_followers[posts.author[flat]]),
            pa.array(score.ravel().astype(np.float32)),
        ],
        fields=list(schemas.SERVED_POST),
    )


def _impressions(date: dt.date, members: Members, posts: Posts, arr: DayArrays) -> pa.Table:
    n_sess, n_served = arr.served.shape
    flat = arr.served.ravel()
    positions = _positions(arr)
    s_idx = np.repeat(np.arange(n_sess), n_served)
    imp = positions < np.repeat(arr.depth, n_served)
    acts = arr.actions.reshape(-1, len(ACTIONS))[imp]
    return pa.Table.from_arrays(
        [
            _dates(date, int(imp.sum())),
            pa.array(arr.session_id[s_idx[imp]]),
            pa.array(members.first + arr.member[s_idx[imp]]),
            pa.array(posts.post_id[flat[imp]]),
            pa.array(positions[imp]),
            *[pa.array(acts[:, i]) for i in range(len(ACTIONS))],
            pa.array(arr.dwell.ravel()[imp].astype(np.float32)),
        ],
        schema=schemas.FEED_IMPRESSIONS,
    )


def _ground_truth(config: WorldConfig, date: dt.date, posts: Posts, arr: DayArrays) -> pa.Table:
    n_sess, n_served = arr.served.shape
    flat = arr.served.ravel()
    positions = _positions(arr)
    s_idx = np.repeat(np.arange(n_sess), n_served)
    probs = arr.probs.reshape(-1, len(ACTIONS)).astype(np.float32)
    p_examine = position_curve(config).p_examine.astype(np.float32)
    return pa.Table.from_arrays(
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


def _member_snapshot(date: dt.date, members: Members, hist: History) -> pa.Table:
    everyone = np.arange(len(members.interest0))
    return pa.Table.from_arrays(
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


def _positions(arr: DayArrays) -> np.ndarray:
    """The served position of every (session, position) cell, flat (int32)."""
    return _column_index(arr.served)


def _column_index(cells: np.ndarray) -> np.ndarray:
    """The column of every cell of an (S, n) array, flat in row order (int32)."""
    n_rows, n_cols = cells.shape
    return np.tile(np.arange(n_cols, dtype=np.int32), n_rows)


def _dates(date: dt.date, n: int) -> pa.Array:
    days = (date - dt.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32())


def _hashtag_lists(tags: np.ndarray, counts: np.ndarray) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = tags[np.arange(tags.shape[1])[None, :] < counts[:, None]]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32)))
