"""Tests for models.evaluation.replay_eval: every ranker's replay rate, the ground truth of its
picks through the `expected_top1` callable (no simulator needed), and the model's paired
differences against every other ranker on the same sessions."""

from __future__ import annotations

import math

import numpy as np
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
    replay = evaluate_replay(*args, expected_top1=truth)
    metrics = replay.rates
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

    without = evaluate_replay(*args).rates
    assert evaluate_replay(*args).paired.empty
    assert all(value is None or math.isnan(value) for value in without["expected_contributions"])
    pd.testing.assert_frame_equal(
        without.drop(columns="expected_contributions"),
        metrics.drop(columns="expected_contributions"),
    )


def test_paired_differences_are_per_session_differences_of_the_picks(day):
    """Against each reference ranker: n sessions, the mean and sample variance of the model's
    pick value minus the reference's pick value, session by session."""
    args = (day.model_dir, day.effects_dir, day.candidates_dir, day.examples_dir, day.date)
    replay = evaluate_replay(*args, expected_top1=_post_value)
    paired = replay.paired.set_index("reference")
    assert list(paired.index) == ["popularity_baseline", "production", "random"]
    scores = replay.rates.set_index("ranker")
    production = paired.loc["production"]
    model_value = _post_value(top1_choices(_scored_by_model(day, replay), "score"))
    production_value = _post_value(top1_choices(day.candidates, "ranker_score"))
    difference = (model_value - production_value).to_numpy()
    assert production["sessions"] == day.candidates["session_id"].nunique()
    assert production["mean_difference"] == pytest.approx(difference.mean())
    assert production["variance"] == pytest.approx(np.var(difference, ddof=1))
    expected_gap = (
        scores.loc["model", "expected_contributions"]
        - scores.loc["production", "expected_contributions"]
    )
    assert production["mean_difference"] == pytest.approx(expected_gap)
    assert (paired["model_id"] == "feed-2026-01-03").all()
    # the per-session values the paired rows summarize, for pairing two models (the ablation)
    pd.testing.assert_series_equal(replay.values["model"], model_value, check_names=False)
    assert replay.values["model"].mean() == pytest.approx(
        scores.loc["model", "expected_contributions"]
    )
    assert evaluate_replay(*args).values == {}


def _scored_by_model(day, replay) -> pd.DataFrame:
    """The candidates scored by the day's model as `evaluate_replay` does (score column)."""
    from models.evaluation.scoring import model_probabilities
    from models.registry import load_model

    model, _ = load_model(day.model_dir)
    probabilities = model_probabilities(model, day.effects_dir, day.candidates, rank_at_top=True)
    scored = day.candidates[["session_id", "post_id", "position"]].copy()
    scored["score"] = model.config.final_score.score(probabilities)
    return scored


def test_no_random_bucket_sessions_is_refused(day, tmp_path):
    empty = tmp_path / "candidates"
    empty.mkdir()
    day.candidates.head(0).to_parquet(empty / "part-0.parquet")
    with pytest.raises(ValueError, match="no random-bucket sessions"):
        evaluate_replay(day.model_dir, day.effects_dir, empty, day.examples_dir, day.date)
