"""Tests for models.evaluation.replay_eval: every ranker's replay rate, and the ground truth of its
picks through the `expected_top1` callable (no simulator needed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.evaluation.replay import replay_contribution_rate, top1_choices
from models.evaluation.replay_eval import evaluate_replay


def _post_value(chosen: pd.DataFrame) -> pd.Series:
    """A stand-in ground truth: showing post p first earns p / 1000 expected contributions."""
    return chosen.set_index("session_id")["post_id"] / 1000.0


def test_replay_rates_per_ranker_and_the_truth_of_their_picks(day):
    calls: list[pd.DataFrame] = []

    def truth(chosen: pd.DataFrame) -> pd.Series:
        calls.append(chosen)
        return _post_value(chosen)

    args = (day.model_dir, day.effects_dir, day.candidates_dir, day.examples_dir, day.date)
    metrics = evaluate_replay(*args, expected_top1=truth)
    assert list(metrics["ranker"]) == ["model", "popularity_baseline", "production", "random"]
    assert (metrics["model_id"] == "feed-2026-01-03").all()
    sessions = day.candidates["session_id"].nunique()
    assert len(calls) == 4
    for chosen in calls:
        assert list(chosen.columns) == ["session_id", "post_id"] and len(chosen) == sessions

    production = metrics.set_index("ranker").loc["production"]
    replay = replay_contribution_rate(day.candidates, "ranker_score")
    assert (production["sessions"], production["matched"]) == (replay.sessions, replay.matched)
    assert production["rate"] == pytest.approx(replay.rate, nan_ok=True)
    picks = top1_choices(day.candidates, "ranker_score")
    assert production["expected_contributions"] == pytest.approx(picks["post_id"].mean() / 1000)

    without = evaluate_replay(*args)
    assert all(value is None or math.isnan(value) for value in without["expected_contributions"])
    pd.testing.assert_frame_equal(
        without.drop(columns="expected_contributions"),
        metrics.drop(columns="expected_contributions"),
    )


def test_no_random_bucket_sessions_is_refused(day, tmp_path):
    empty = tmp_path / "candidates"
    empty.mkdir()
    day.candidates.head(0).to_parquet(empty / "part-0.parquet")
    with pytest.raises(ValueError, match="no random-bucket sessions"):
        evaluate_replay(day.model_dir, day.effects_dir, empty, day.examples_dir, day.date)
