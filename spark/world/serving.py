"""Serving a day with any ranker: slates, the `Ranker` interface, and the truth of every candidate.

The world's own production ranker orders each session's candidates by a noisy truth
(`spark.world.kernel`). To measure what another ranker would truly earn online (replay validation,
explore/exploit in a closed loop), the world can instead serve a day's sessions with a ranker it
is given:

1. For each block it builds a *slate*: the sessions' `FEED_SESSIONS` rows whose `served` list holds
   every candidate of the session (`candidates_per_session`, in candidate order; `position` is the
   candidate's index, `ranker_score` the production ranker's score). A slate holds exactly the
   features a logged session holds, so a model scores it with the same feature contract; it never
   holds the truth.
2. The ranker returns one score per candidate; the world serves each session's top
   `served_per_session` by that score (ties keep candidate order), shuffles the random bucket's
   top-N uniformly as production does, and samples scroll, examination, actions and dwell from the
   same random streams as the logged day.

With the production ranker (`production_ranker`, which returns the slate's `ranker_score`) the
served day is byte-identical to the logged one. Every ranker sees the same sessions, candidates,
production noise and uniform draws for actions (common random numbers), so two rankers' realized
outcomes differ only where their choices differ.

The truth of every candidate, served or not, comes back as `CANDIDATE_TRUTH` rows: the action
probabilities given examination, the production score and the served position (−1: not served).
Position changes only examination (`PositionCurve`), so the exact expected contributions of any
ranking of a session's candidates follow from them (`expected_slate_contributions`).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from spark.schemas import ACTIONS
from spark.world.behaviour import PositionCurve

CANDIDATE_TRUTH = pa.schema(
    [
        ("date", pa.date32()),
        ("session_id", pa.int64()),
        ("post_id", pa.int64()),
        ("candidate", pa.int32()),  # index in the session's slate
        ("served_position", pa.int32()),  # 0-based position served, -1 when not served
        ("random_bucket", pa.bool_()),
        ("production_score", pa.float32()),  # the world's production ranker's score
        ("score", pa.float32()),  # the serving ranker's score
        *[(f"p_{action}", pa.float32()) for action in ACTIONS],  # given examination
        ("p_contribution", pa.float32()),
    ]
)
"""Ground truth of every candidate of a served day: what any ranking of the slate would earn."""


class Ranker(Protocol):
    """Scores a slate: one float per candidate, in the order of the flattened `served` lists
    (session by session, candidate by candidate), as an (S * k,) or (S, k) array. Higher serves
    first. A ranker may be stochastic (exploration); it gets no truth."""

    def __call__(self, slate: pa.Table) -> np.ndarray: ...


def production_ranker(slate: pa.Table) -> np.ndarray:
    """The world's own production ranker: the logged `ranker_score` of every candidate."""
    return slate_column(slate, "ranker_score")


def slate_column(slate: pa.Table, field: str) -> np.ndarray:
    """One field of every candidate of a slate, flat (S * k,), e.g. `post_id` or `ranker_score`."""
    served = slate.column("served").combine_chunks().flatten()
    return served.field(field).to_numpy(zero_copy_only=False)


def ranker_scores(ranker: Ranker, slate: pa.Table, shape: tuple[int, int]) -> np.ndarray:
    """The ranker's scores of a slate as (S, k) float64, checked: one finite value per candidate.

    Raises:
        ValueError: wrong count or shape, or NaN/inf scores (named, with the ranker).
    """
    raw = np.asarray(ranker(slate), dtype=np.float64)
    name = getattr(ranker, "__name__", type(ranker).__name__)
    if raw.size != shape[0] * shape[1]:
        raise ValueError(
            f"ranker {name} returned {raw.size} scores for a slate of {shape[0]} sessions × "
            f"{shape[1]} candidates; it must return one score per candidate ({shape[0] * shape[1]})"
        )
    scores = raw.reshape(shape)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"ranker {name} returned {int(bad.sum())} non-finite scores (first at candidate "
            f"{int(np.flatnonzero(bad.ravel())[0])}); every candidate needs a finite score"
        )
    return scores


def serve_top(
    scores: np.ndarray, random_bucket: np.ndarray, n_served: int, uniform: np.ndarray
) -> np.ndarray:
    """The candidates served (S, N), in position order: each session's top-N by score (ties keep
    candidate order), shuffled by `uniform` (S, N) draws in the random bucket."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :n_served]
    shuffle = np.argsort(uniform, axis=1)
    return np.where(random_bucket[:, None], np.take_along_axis(top, shuffle, axis=1), top)


def candidate_truth_table(
    date: dt.date,
    session_id: np.ndarray,
    post_id: np.ndarray,
    random_bucket: np.ndarray,
    top: np.ndarray,
    production_score: np.ndarray,
    score: np.ndarray,
    probs: np.ndarray,
    p_contribution: np.ndarray,
) -> pa.Table:
    """`CANDIDATE_TRUTH` rows of a block: every (session, candidate), `post_id` (S, k) ids."""
    n_sess, k = post_id.shape
    position = np.full((n_sess, k), -1, dtype=np.int32)
    np.put_along_axis(position, top, np.arange(top.shape[1], dtype=np.int32)[None, :], axis=1)
    days = (date - dt.date(1970, 1, 1)).days
    flat_probs = probs.reshape(-1, len(ACTIONS)).astype(np.float32)
    return pa.Table.from_arrays(
        [
            pa.array(np.full(n_sess * k, days, dtype=np.int32)).cast(pa.date32()),
            pa.array(np.repeat(session_id, k)),
            pa.array(post_id.ravel()),
            pa.array(np.tile(np.arange(k, dtype=np.int32), n_sess)),
            pa.array(position.ravel()),
            pa.array(np.repeat(random_bucket, k)),
            pa.array(production_score.ravel().astype(np.float32)),
            pa.array(score.ravel().astype(np.float32)),
            *[pa.array(flat_probs[:, i]) for i in range(len(ACTIONS))],
            pa.array(p_contribution.ravel().astype(np.float32)),
        ],
        schema=CANDIDATE_TRUTH,
    )


def expected_slate_contributions(
    candidate_truth: pd.DataFrame, scores: np.ndarray | pd.Series, curve: PositionCurve
) -> pd.DataFrame:
    """Expected contributions per session of serving each session's candidates by `scores`.

        top1(s)    = p_seen[0] · p_contribution(s, argmax_c score(s, c))
        session(s) = Σ_{r < N} p_seen[r] · p_contribution(s, candidate at rank r)

    with p_seen[r] = P(impressed at r) · P(examined | impressed at r) (`PositionCurve.p_seen`):
    position changes only examination, so these are exact for any ranking of the slate. Ties keep
    candidate order, as serving does.

    Args:
        candidate_truth: `CANDIDATE_TRUTH` rows (pandas), in slate order (session, candidate).
        scores: one score per row of `candidate_truth`.
        curve: the world's position curve (`FeedWorld.position_curve()`).

    Returns:
        One row per session (index session_id): `top1` and `session`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(candidate_truth):
        raise ValueError(
            f"need one score per candidate row: {len(candidate_truth)} rows, {len(scores)} scores"
        )
    session_id = candidate_truth["session_id"].to_numpy()
    if len(session_id) and (np.diff(session_id) < 0).any():
        raise ValueError("`candidate_truth` must be in slate order (sorted by session_id)")
    k = int(candidate_truth.groupby("session_id").size().max()) if len(session_id) else 0
    if k == 0 or len(session_id) % k:
        raise ValueError("every session of `candidate_truth` must list the same candidate count")
    p = candidate_truth["p_contribution"].to_numpy(dtype=np.float64).reshape(-1, k)
    order = np.argsort(-scores.reshape(-1, k), axis=1, kind="stable")
    seen = curve.p_seen
    ranked = np.take_along_axis(p, order[:, : len(seen)], axis=1)
    return pd.DataFrame(
        {"top1": seen[0] * ranked[:, 0], "session": ranked @ seen[: ranked.shape[1]]},
        index=pd.Index(session_id[::k], name="session_id"),
    )
