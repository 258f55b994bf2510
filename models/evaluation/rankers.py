"""Rankers as row scorers: the model, popularity, production, random and a degraded model.

A *row scorer* takes example rows (`TRAINING_EXAMPLE` columns, as in the replay candidates or a
slate exploded by `models.serving.slate.slate_examples`) and returns one score per row, higher
ranked first. The same scorer ranks a day's random-bucket candidates for replay and serves a
simulated day's slates online (`slate_ranker` adapts it to `spark.world.serving.Ranker`), so
replay's estimate and the online truth measure one and the same ranker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from models.evaluation.baselines import popularity_scores
from models.evaluation.scoring import model_probabilities
from models.registry import load_model
from models.serving.slate import slate_examples
from spark.schemas import CONTRIBUTION_ACTIONS

RowScorer = Callable[[pd.DataFrame], np.ndarray]


def model_scorer(model_dir: Path, effects_dir: Path) -> RowScorer:
    """The saved feed model with its per-post random effects, scored at position 0 (position
    debiasing), by its final score (`FeedModelConfig.final_score`): as replay ranks it."""
    model, _ = load_model(model_dir)

    def score(rows: pd.DataFrame) -> np.ndarray:
        probabilities = model_probabilities(model, effects_dir, rows, rank_at_top=True)
        return np.asarray(model.config.final_score.score(probabilities), dtype=np.float64)

    return score


def popularity_scorer(train_rows: pd.DataFrame, prior_strength: float = 20.0) -> RowScorer:
    """Each post's Beta-smoothed contribution rate on `train_rows` (`baselines.popularity_scores`);
    posts not seen there score the overall rate."""
    ids = train_rows["post_id"].to_numpy()
    contribution = train_rows[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy()

    def score(rows: pd.DataFrame) -> np.ndarray:
        return popularity_scores(ids, contribution, rows["post_id"].to_numpy(), prior_strength)

    return score


def production_scorer(rows: pd.DataFrame) -> np.ndarray:
    """The logged production ranker: the rows' `ranker_score`."""
    return rows["ranker_score"].to_numpy(dtype=np.float64)


def random_scorer(seed: int) -> RowScorer:
    """Uniform random scores (a fresh draw per call, from a generator seeded once)."""
    rng = np.random.default_rng(seed)

    def score(rows: pd.DataFrame) -> np.ndarray:
        return rng.random(len(rows))

    return score


def degraded_scorer(scorer: RowScorer, noise_sd: float, seed: int) -> RowScorer:
    """`scorer`'s scores made worse: logit(score) + N(0, noise_sd²) per row.

    A ranker of known lower quality than `scorer` whose scores are probabilities (the model).
    """
    if not noise_sd >= 0:
        raise ValueError(f"`noise_sd` must be >= 0. Received: noise_sd={noise_sd}")
    rng = np.random.default_rng(seed)

    def score(rows: pd.DataFrame) -> np.ndarray:
        p = np.clip(scorer(rows), 1e-6, 1 - 1e-6)
        return np.log(p) - np.log1p(-p) + noise_sd * rng.standard_normal(len(p))

    return score


def slate_ranker(scorer: RowScorer) -> Callable[[pa.Table], np.ndarray]:
    """`scorer` as a `spark.world.serving.Ranker`: explode the slate, score every candidate."""

    def rank(slate: pa.Table) -> np.ndarray:
        return scorer(slate_examples(slate))

    rank.__name__ = getattr(scorer, "__name__", "scorer")
    return rank
