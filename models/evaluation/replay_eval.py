"""One day's replay evaluation: the replay contribution rate @1 of each ranker (paper §15).

Rankers compared on replay:
- `model`: the day's feed model with the popularity random effects, position set to 0
  (position debiasing), scored by its final score (`FeedModelConfig.score_weights`: the
  contribution heads, equally weighted, unless the model was trained with other weights);
- `popularity_baseline`: each post's smoothed contribution rate on the day's training sessions;
- `production`: the logged production ranker's score (a noisy version of the truth in the
  simulated world), when the candidates carry `ranker_score`;
- `random`: uniform scores, whose replay rate is the random bucket's own contribution rate at
  position 1.

Where the true action probabilities are known (a simulated world), the caller passes
`expected_top1`, and each ranker's #1 picks are also valued exactly: the noise-free answer that the
replay rate estimates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.replay import replay_contribution_rate, top1_choices
from models.evaluation.scoring import model_probabilities, read_partition
from models.registry import load_model, model_id_of
from spark.schemas import CONTRIBUTION_ACTIONS


def _contribution(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy()


def evaluate_replay(
    model_dir: Path,
    effects_dir: Path,
    candidates_dir: Path,
    examples_dir: Path,
    date: dt.date,
    *,
    expected_top1: Callable[[pd.DataFrame], pd.Series] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Replay contribution rate @1 per ranker on the day's random-bucket sessions (paper §15),
    with the ground-truth expected contributions of each ranker's picks when the truth is known.

    Args:
        model_dir: the day's saved feed model (`models.registry`).
        effects_dir: the day's `popularity_random_effects` partition.
        candidates_dir: the day's `replay_candidates` partition (every served post of the
            random-bucket sessions).
        examples_dir: the day's `training_examples` partition; its training split fits the
            popularity baseline.
        date: the day evaluated.
        expected_top1: given one row per session (session_id, post_id: a ranker's #1 pick), the
            ground-truth expected contributions of showing that post first, one value per
            session; its mean is the ranker's `expected_contributions`. None (truth unknown)
            leaves that column empty.
        seed: seeds the random ranker (with the date).

    Returns:
        One row per ranker: date, model_id, ranker, sessions, matched, contributions, rate,
        ci_low, ci_high (`models.evaluation.replay.ReplayResult`), expected_contributions.

    Raises:
        FileNotFoundError: an upstream partition is missing.
        ValueError: the day has no random-bucket sessions.
    """
    candidates = read_partition(candidates_dir).reset_index(drop=True)
    if candidates.empty:
        raise ValueError(f"no random-bucket sessions in {candidates_dir}; replay needs some")
    train = read_partition(examples_dir)
    train = train[train["split"] == "train"]
    model, _ = load_model(model_dir)
    probabilities = model_probabilities(model, effects_dir, candidates, rank_at_top=True)
    scored = candidates[["session_id", "post_id", "position", "contribution"]].copy()
    scored["model"] = model.config.final_score.score(probabilities)
    scored["popularity_baseline"] = popularity_scores(
        train["post_id"].to_numpy(), _contribution(train), candidates["post_id"].to_numpy()
    )
    scored["random"] = np.random.default_rng([seed, date.toordinal()]).random(len(scored))
    rankers = ["model", "popularity_baseline", "random"]
    if "ranker_score" in candidates.columns:
        scored["production"] = candidates["ranker_score"].to_numpy(dtype=np.float64)
        rankers.insert(2, "production")

    rows = []
    for ranker in rankers:
        result = replay_contribution_rate(scored, ranker)
        expected = None
        if expected_top1 is not None:
            expected = float(expected_top1(top1_choices(scored, ranker)).mean())
        rows.append(
            {
                "date": date,
                "model_id": model_id_of(model_dir),
                "ranker": ranker,
                "sessions": result.sessions,
                "matched": result.matched,
                "contributions": result.contributions,
                "rate": result.rate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "expected_contributions": expected,
            }
        )
    return pd.DataFrame(rows)
