"""The world's ground truth: action probabilities given examination, and what rankings earn.

`truth_given_examination` computes, for every candidate of a session, P(click) and each
contribution action's probability given examination (the "Truth" equations of
`spark.world.kernel`); the ground-truth table keeps them for every served post. Position changes
only whether a post is examined (`PositionCurve`), so `expected_top1_contributions` and
`expected_session_contributions` value any re-ranking of a session's served posts exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from spark.schemas import ACTIONS, CONTRIBUTION_ACTIONS
from spark.world.behaviour import (
    ACTION_BASE,
    ACTION_TYPE_OFFSET,
    ACTION_WEIGHT,
    CLICK_LIFT,
    CONNECTION_ACTIONS,
    HIST_TOPIC_CENTER,
    PositionCurve,
    by_type,
)
from spark.world.config import CONTENT_TYPES
from spark.world.entities import Members, Pool, Topics
from spark.world.sampling import take_columns
from spark.world.sessions import Sessions
from spark.world.state import History

_POLL = CONTENT_TYPES.index("poll")
_CONTRIB_IDX = np.array([ACTIONS.index(a) for a in CONTRIBUTION_ACTIONS])

# ------------------------------------------------------------------- given examination


@dataclasses.dataclass(frozen=True)
class Truth:
    """Truth given examination of (S, k) posts: `probs` (S, k, len(ACTIONS)) marginal per action,
    `p_contribution` and the interest term (S, k), and `q0`, `q1` (S, k,
    len(CONTRIBUTION_ACTIONS)): each contribution action's probability without and with a click.
    """

    probs: np.ndarray
    p_contribution: np.ndarray
    interest_term: np.ndarray
    q0: np.ndarray
    q1: np.ndarray

    def take(self, index: np.ndarray) -> Truth:
        """The truth of the posts `index` (S, n) picks in each row."""
        return Truth(
            *(take_columns(getattr(self, f.name), index) for f in dataclasses.fields(self))
        )


def shared_logit(
    topics: Topics,
    members: Members,
    sessions: Sessions,
    cand: np.ndarray,
    follows: np.ndarray,
    pool: Pool,
    interest: np.ndarray,
    hist: History,
    hist_topic: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The logit term all actions share (interest, crosses, history affinity, popularity) of
    (S, k) candidates, and its personal-interest part (dwell grows with it too)."""
    posts, member, hour = pool.posts, sessions.member, sessions.hour
    ctype, topic = posts.ctype[cand], posts.topic[cand]
    interest_term = 3.0 * np.einsum("sd,skd->sk", interest[member], topic)
    hist_count = (hist.author_id[member][:, None, :] == posts.author[cand][..., None]).sum(axis=-1)
    has_hist = (hist.length[member] > 0)[:, None]
    shared = (
        interest_term
        + topics.sen_x_type[members.seniority[member][:, None], ctype]
        + topics.plat_x_type[sessions.platform[:, None], ctype]
        + 0.8 * np.log1p(hist_count)
        + 1.0 * (np.einsum("sd,skd->sk", hist_topic[member], topic) - HIST_TOPIC_CENTER) * has_hist
        + 0.5 * pool.popularity[hour[:, None], cand]
        + 0.5 * posts.quality[cand]
        + 0.3 * follows
    )
    return shared, interest_term


def truth_given_examination(
    shared: np.ndarray, interest_term: np.ndarray, ctype: np.ndarray, conn_std: np.ndarray
) -> Truth:
    """P(click) and each contribution action's probability given examination, from the shared
    logit of (S, k) candidates, their content types and the sessions' standardized connections."""
    p_click = _sigmoid(ACTION_BASE["click"] + shared + by_type(ACTION_TYPE_OFFSET["click"])[ctype])
    q0, q1 = [], []
    for action in CONTRIBUTION_ACTIONS:
        z = (
            ACTION_BASE[action]
            + ACTION_WEIGHT[action] * shared
            + by_type(ACTION_TYPE_OFFSET[action])[ctype]
        )
        if action in CONNECTION_ACTIONS:
            z = z + 0.2 * conn_std[:, None]
        lift = by_type(CLICK_LIFT[action])[ctype]
        allowed = (ctype == _POLL) if action == "vote" else np.ones_like(ctype, dtype=bool)
        q0.append(np.where(allowed, _sigmoid(z), 0.0))
        q1.append(np.where(allowed, _sigmoid(z + lift), 0.0))
    q0_arr, q1_arr = np.stack(q0, axis=-1), np.stack(q1, axis=-1)
    pc = p_click[..., None]
    marginal = pc * q1_arr + (1 - pc) * q0_arr
    p_contrib = p_click * (1 - np.prod(1 - q1_arr, axis=-1)) + (1 - p_click) * (
        1 - np.prod(1 - q0_arr, axis=-1)
    )
    probs = np.empty((*ctype.shape, len(ACTIONS)))
    probs[..., ACTIONS.index("click")] = p_click
    probs[..., _CONTRIB_IDX] = marginal
    return Truth(probs, p_contrib, interest_term, q0_arr, q1_arr)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------- expected contributions


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


def _probabilities_of(ground_truth: pd.DataFrame, picks: pd.DataFrame, what: str) -> pd.DataFrame:
    """`picks` with the p_contribution of each (session, post); raises on a post not served."""
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
