"""Replay contribution rate at position 1 on random-bucket traffic (paper §5.2, notes §15).

In a small share of Feed sessions the production model ranks every candidate, then the top-N is
shuffled uniformly before serving. A ranker under test re-ranks the same served posts offline; a
*matched impression @1* is a session where its #1 post is the post actually shown at position 1
(`position == 0` here, 0-based). The metric is

    contribution rate = (# matched impressions @1 with a contribution) / (# matched impressions @1)

Why this is unbiased (Li et al. 2011, "Unbiased offline evaluation of contextual-bandit-based news
article recommendation algorithms"): under the uniform shuffle, the post shown first is drawn
uniformly from the session's N served posts, independently of everything the ranker sees. So for
any ranker π, P(shown₁ = π(session) | session) = 1/N, and conditioned on a match the session is a
draw from the same session distribution, with the contribution outcome that π's pick would have
earned at position 1. Hence E[rate | matched] = E_session[P(contribution | π's #1 at position 1)],
the online contribution rate of π at the top slot, for any π (the sessions must share one N, or
the estimate weights sessions by 1/N, which is the same for every ranker when N is fixed).
About 1/N of the sessions match, so the interval is wide: we report a 95% Wilson interval
(`models.evaluation.intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from models.evaluation.intervals import wilson_interval

REPLAY_CANDIDATE_COLUMNS: tuple[str, ...] = ("session_id", "post_id", "position", "contribution")


@dataclass(frozen=True)
class ReplayResult:
    """Replay contribution rate of one ranker on one set of random-bucket sessions.

    Attributes:
        sessions: sessions with at least one candidate.
        matched: sessions where the ranker's #1 is the post shown at position 0.
        contributions: matched sessions whose position-0 post got a contribution.
        rate: contributions / matched (NaN when nothing matched).
        ci_low, ci_high: 95% Wilson score interval for the rate (NaN when nothing matched).
    """

    sessions: int
    matched: int
    contributions: int
    rate: float
    ci_low: float
    ci_high: float


def _validate(candidates: pd.DataFrame, score_col: str, needed: tuple[str, ...]) -> None:
    missing = [c for c in (*needed, score_col) if c not in candidates.columns]
    if missing:
        raise ValueError(
            f"Replay candidates are missing column(s) {missing}. "
            f"Received columns: {list(candidates.columns)}"
        )
    n_nan = int(candidates[score_col].isna().sum())
    if n_nan:
        raise ValueError(
            f"Score column {score_col!r} has {n_nan} NaN values; every candidate needs a score."
        )


def top1_choices(candidates: pd.DataFrame, score_col: str) -> pd.DataFrame:
    """The ranker's #1 post per session: argmax of `score_col`; ties go to the smallest post_id.

    Returns:
        DataFrame(session_id, post_id), one row per session, sorted by session_id.
    """
    _validate(candidates, score_col, ("session_id", "post_id"))
    ordered = candidates.sort_values(
        ["session_id", score_col, "post_id"], ascending=[True, False, True], kind="mergesort"
    )
    top = ordered.drop_duplicates("session_id", keep="first")
    return top[["session_id", "post_id"]].reset_index(drop=True)


def replay_contribution_rate(candidates: pd.DataFrame, score_col: str) -> ReplayResult:
    """Replay contribution rate @1 of the ranker whose scores are in `score_col`.

    Args:
        candidates: every served post of the random-bucket sessions, with columns session_id,
            post_id, position (served, 0-based), contribution (0/1, meaningful at position 0) and
            `score_col`.
        score_col: the ranker's score column (higher = ranked earlier).

    Returns:
        A `ReplayResult` with the rate and its 95% Wilson interval.
    """
    _validate(candidates, score_col, REPLAY_CANDIDATE_COLUMNS)
    top = top1_choices(candidates, score_col)
    shown = candidates.loc[candidates["position"] == 0, ["session_id", "post_id", "contribution"]]
    shown = shown.drop_duplicates("session_id", keep="first")
    matched = top.merge(shown, on=["session_id", "post_id"], how="inner")
    n_matched = int(len(matched))
    n_contrib = int((matched["contribution"].astype(int) > 0).sum())
    rate = n_contrib / n_matched if n_matched else float("nan")
    low, high = wilson_interval(n_contrib, n_matched)
    return ReplayResult(
        sessions=int(len(top)),
        matched=n_matched,
        contributions=n_contrib,
        rate=float(rate),
        ci_low=low,
        ci_high=high,
    )
