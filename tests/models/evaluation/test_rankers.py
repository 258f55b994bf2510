"""Rankers as row scorers: the same ranker replay measures is the one the world serves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from models.evaluation.rankers import (
    degraded_scorer,
    model_scorer,
    popularity_scorer,
    production_scorer,
    random_scorer,
    slate_ranker,
)
from models.evaluation.replay import replay_contribution_rate
from models.evaluation.replay_eval import evaluate_replay
from models.serving.slate import slate_examples
from spark.world import FeedWorld, WorldConfig, production_ranker


def test_model_scorer_ranks_as_the_graphs_replay(day) -> None:
    scored = day.candidates[["session_id", "post_id", "position", "contribution"]].copy()
    scored["score"] = model_scorer(day.model_dir, day.effects_dir)(day.candidates)
    ours = replay_contribution_rate(scored, "score")
    graph = evaluate_replay(
        day.model_dir, day.effects_dir, day.candidates_dir, day.examples_dir, day.date
    ).rates.set_index("ranker")
    assert (ours.matched, ours.contributions) == (
        graph.loc["model", "matched"],
        graph.loc["model", "contributions"],
    )


def test_model_serves_a_world_slate(day) -> None:
    world = FeedWorld(WorldConfig(num_members=200, num_authors=40, posts_per_day=80, num_days=2))
    scorer = model_scorer(day.model_dir, day.effects_dir)
    seen = []

    def ranker(slate):
        seen.append(slate)
        return slate_ranker(scorer)(slate)

    served = world.serve_day(1, ranker)
    truth = served.candidate_truth.to_pandas()
    assert np.isfinite(truth["score"]).all()
    expected = np.concatenate([scorer(slate_examples(s)) for s in seen])
    np.testing.assert_allclose(truth["score"], expected, rtol=1e-6)
    assert not truth["score"].equals(truth["production_score"])


def test_production_scorer_is_the_logged_score_on_slates_and_candidates(day) -> None:
    world = FeedWorld(WorldConfig(num_members=200, num_authors=40, posts_per_day=80, num_days=2))
    logged = world.simulate_day(1)
    served = world.serve_day(1, slate_ranker(production_scorer))
    assert served.day.feed_sessions.equals(logged.feed_sessions)
    assert world.serve_day(1, production_ranker).day.feed_impressions.equals(
        served.day.feed_impressions
    )
    np.testing.assert_array_equal(
        production_scorer(day.candidates), day.candidates["ranker_score"].to_numpy()
    )


def test_popularity_scores_smoothed_rates() -> None:
    train = pd.DataFrame(
        {"post_id": [1, 1, 1, 2], "like": [1, 1, 0, 0], "comment": 0, "share": 0, "vote": 0}
    )
    scores = popularity_scorer(train, prior_strength=0.0)(pd.DataFrame({"post_id": [1, 2, 3]}))
    np.testing.assert_allclose(scores, [2 / 3, 0.0, 0.5])


def test_degraded_scorer_is_worse_but_related() -> None:
    rows = pd.DataFrame({"p": np.random.default_rng(0).uniform(0.01, 0.99, 5000)})
    base = lambda r: r["p"].to_numpy()  # noqa: E731
    same = degraded_scorer(base, 0.0, seed=1)(rows)
    assert spearmanr(same, rows["p"]).statistic == pytest.approx(1.0)
    noisy = degraded_scorer(base, 2.0, seed=1)(rows)
    rho = spearmanr(noisy, rows["p"]).statistic
    assert 0.2 < rho < 0.9
    with pytest.raises(ValueError, match="noise_sd=-1"):
        degraded_scorer(base, -1.0, seed=1)


def test_random_scorer_is_seeded() -> None:
    rows = pd.DataFrame({"post_id": range(10)})
    np.testing.assert_array_equal(random_scorer(3)(rows), random_scorer(3)(rows))
