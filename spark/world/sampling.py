"""The world's random streams and the vectorized sampling primitives its draws are made of."""

from __future__ import annotations

import numpy as np

# Random-stream ids (see "Randomness, blocks and shards" in `spark.world.kernel`): every kind of
# draw has its own stream, so draws never shift one another.
STREAM_TOPICS, STREAM_MEMBERS, STREAM_AUTHORS, STREAM_FOLLOWS, STREAM_DRIFT = 1, 2, 3, 4, 5
STREAM_POSTS, STREAM_SESSIONS, STREAM_CANDIDATES = 10, 11, 12
STREAM_RANKER, STREAM_ACTIONS, STREAM_DWELL = 13, 14, 15
# Ads (`spark.world.ads`): global entities, campaign drift, then per (day, block) draws
STREAM_AD_ENTITIES, STREAM_AD_DRIFT, STREAM_AD_MEMBERS = 20, 21, 22
STREAM_AD_SLOTS, STREAM_AD_RANKER, STREAM_AD_ACTIONS = 23, 24, 25
# Jobs (`spark.world.jobs`): taxonomy, companies, postings of a day, profiles, then per day/block
STREAM_JOB_TAXONOMY, STREAM_JOB_COMPANIES, STREAM_JOB_POSTINGS, STREAM_JOB_PROFILES = 30, 31, 32, 33
STREAM_JOB_SESSIONS, STREAM_JOB_CANDIDATES, STREAM_JOB_RANKER, STREAM_JOB_ACTIONS = 34, 35, 36, 37

CHUNK_CELLS = 4_000_000
"""Score matrices (rows x posts or authors) are built in row chunks of at most this many cells."""
TOP_K_MIN_STRIDE = 5  # shorter rows: plain argpartition


def random_stream(seed: int, stream: int, *keys: int) -> np.random.Generator:
    """The generator of one stream, keyed by e.g. (day,), (block,) or (day, block)."""
    return np.random.default_rng([seed, stream, *keys])


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows of `x` scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of `probs` (rows need not be normalized)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel noise as -log(Exponential(1)) (float32; one log per draw)."""
    noise = rng.standard_exponential(shape, dtype=np.float32)
    np.maximum(noise, np.float32(1e-30), out=noise)
    np.log(noise, out=noise)
    return np.negative(noise, out=noise)


def ragged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index and position of every element of the ranges [starts[i], ends[i])."""
    lens = ends - starts
    rows = np.repeat(np.arange(len(starts)), lens)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lens) - lens, lens)
    return rows, np.repeat(starts, lens) + within


def take_columns(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """x[s, index[s, j], ...] for every row s: the columns `index` picks, trailing axes kept."""
    return np.take_along_axis(x, index.reshape(*index.shape, *([1] * (x.ndim - 2))), axis=1)


def top_k_unsorted(score: np.ndarray, k: int) -> np.ndarray:
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
