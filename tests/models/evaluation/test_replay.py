"""Tests for models.evaluation.replay: matched impressions @1, the rate, unbiasedness."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.evaluation.intervals import wilson_interval
from models.evaluation.replay import ReplayResult, replay_contribution_rate, top1_choices


def _sessions() -> pd.DataFrame:
    # Session 1: ranker picks post 11 (score 0.9), shown at position 0, contributed → match, +1.
    # Session 2: ranker picks post 22, but post 21 was shown first → no match.
    # Session 3: tie between 31 and 32 (0.7) → smallest post_id 31, shown first, no contribution.
    # Session 4: ranker picks 41, shown first, contributed → match, +1.
    rows = [
        (1, 11, 0, 1, 0.9),
        (1, 12, 1, 0, 0.2),
        (2, 21, 0, 1, 0.1),
        (2, 22, 1, 0, 0.8),
        (3, 32, 1, 0, 0.7),
        (3, 31, 0, 0, 0.7),
        (3, 33, 2, 0, 0.1),
        (4, 41, 0, 1, 0.6),
        (4, 42, 1, 1, 0.5),
    ]
    return pd.DataFrame(
        rows, columns=["session_id", "post_id", "position", "contribution", "score"]
    )


def test_top1_choices_breaks_ties_by_post_id():
    top = top1_choices(_sessions(), "score")
    assert list(top.columns) == ["session_id", "post_id"]
    assert top.to_records(index=False).tolist() == [(1, 11), (2, 22), (3, 31), (4, 41)]


def test_matched_counting_and_rate():
    result = replay_contribution_rate(_sessions(), "score")
    assert isinstance(result, ReplayResult)
    assert (result.sessions, result.matched, result.contributions) == (4, 3, 2)
    assert result.rate == pytest.approx(2 / 3)
    low, high = wilson_interval(2, 3)
    assert (result.ci_low, result.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_no_match_gives_nan_rate():
    frame = _sessions()
    frame = frame[frame["session_id"] == 2]
    result = replay_contribution_rate(frame, "score")
    assert result.matched == 0 and math.isnan(result.rate) and math.isnan(result.ci_low)


def test_validation_names_missing_columns_and_nan_scores():
    with pytest.raises(ValueError, match=r"\['position'\]"):
        replay_contribution_rate(_sessions().drop(columns="position"), "score")
    frame = _sessions()
    frame.loc[0, "score"] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        replay_contribution_rate(frame, "score")


def _uniform_shuffle_log(
    n_sessions: int, n_posts: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Random-bucket log: each session serves n_posts posts in a uniformly shuffled order; only the
    post at position 0 gets a contribution draw, with its true probability."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=(n_sessions, n_posts))
    p_true = 1.0 / (1.0 + np.exp(-(quality * 1.5 - 1.0)))
    positions = np.argsort(rng.random((n_sessions, n_posts)), axis=1)
    contribution = (rng.random((n_sessions, n_posts)) < p_true) & (positions == 0)
    frame = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(n_sessions), n_posts),
            "post_id": np.arange(n_sessions * n_posts),
            "position": positions.ravel(),
            "contribution": contribution.ravel().astype(int),
            "signal": (quality + rng.normal(scale=0.3, size=quality.shape)).ravel(),
            "random": rng.random(n_sessions * n_posts),
        }
    )
    return frame, p_true.ravel()


def test_signal_ranker_beats_random_and_replay_is_unbiased():
    frame, p_true = _uniform_shuffle_log(n_sessions=20_000, n_posts=5, seed=7)
    model = replay_contribution_rate(frame, "signal")
    random = replay_contribution_rate(frame, "random")
    # About 1/N of sessions match for any ranker.
    assert model.matched == pytest.approx(20_000 / 5, rel=0.1)
    assert model.ci_low > random.ci_high
    # The replay rate estimates the true expected contribution of the ranker's #1 picks.
    truth = pd.Series(p_true, index=frame["post_id"])
    for column, result in (("signal", model), ("random", random)):
        picks = top1_choices(frame, column)
        expected = float(truth.loc[picks["post_id"]].mean())
        assert result.ci_low < expected < result.ci_high
