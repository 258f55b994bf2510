"""Ids of the world's posts and sessions: they encode their day (and block), so they are unique
across days and blocks however the members are split into shards."""

from __future__ import annotations

import numpy as np

# post_id = day * POST_ID_STRIDE + i, for the i-th post created that day
POST_ID_STRIDE = 1_000_000
# session_id = day * SESSION_ID_STRIDE + block * BLOCK_SESSION_STRIDE + i, for the i-th session
# the block's members open that day
SESSION_ID_STRIDE = 1_000_000_000_000
BLOCK_SESSION_STRIDE = 100_000
MAX_BLOCKS = SESSION_ID_STRIDE // BLOCK_SESSION_STRIDE


def post_ids(day: int, num_posts: int) -> np.ndarray:
    """Ids of the `num_posts` posts created on `day`."""
    return day * POST_ID_STRIDE + np.arange(num_posts, dtype=np.int64)


def split_post_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(creation day, index within that day) of each post id."""
    return ids // POST_ID_STRIDE, ids % POST_ID_STRIDE


def session_ids(day: int, block: int, num_sessions: int) -> np.ndarray:
    """Ids of the `num_sessions` sessions the members of `block` open on `day`."""
    return (
        day * SESSION_ID_STRIDE
        + block * BLOCK_SESSION_STRIDE
        + np.arange(num_sessions, dtype=np.int64)
    )


# Job sessions (Job Search, JYMBII) have their own id range above every feed session id:
# job_session_id = JOB_SESSION_OFFSET + the feed formula, for the i-th job session of the block.
JOB_SESSION_OFFSET = 5 * 10**17
# job_id = day * JOB_ID_STRIDE + i, for the i-th posting created that day
JOB_ID_STRIDE = 1_000_000


def job_session_ids(day: int, block: int, num_sessions: int) -> np.ndarray:
    """Ids of the `num_sessions` job sessions the members of `block` open on `day`."""
    return JOB_SESSION_OFFSET + session_ids(day, block, num_sessions)


def job_ids(day: int, num_jobs: int) -> np.ndarray:
    """Ids of the `num_jobs` postings created on `day`."""
    return day * JOB_ID_STRIDE + np.arange(num_jobs, dtype=np.int64)
