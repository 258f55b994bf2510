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
replay rate estimates. Then the model is also compared with each other ranker on the same sessions
(`paired`): per session d_s = value(model's pick) − value(reference's pick), summarized per day as
(n, mean, sample variance) so that days pool exactly into one paired interval
(`intervals.pooled_paired_interval`). The session-to-session spread cancels in d_s, so this
interval is far tighter than two independent ones.

Which model ranks which day is the caller's choice (the protocol): next-day evaluation passes the
model trained through day D−1, its random effects and day D−1's training rows for the popularity
baseline, with day D's candidates and truth, so nothing evaluated was seen in training.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.intervals import paired_difference_stats
from models.evaluation.replay import replay_contribution_rate, top1_choices
from models.evaluation.scoring import model_probabilities, read_partition
from models.registry import load_model, model_id_of
from spark.schemas import CONTRIBUTION_ACTIONS


def _contribution(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy()


PAIRED_COLUMNS: tuple[str, ...] = (
    "date",
    "model_id",
    "reference",
    "sessions",
    "mean_difference",
    "variance",
)


@dataclasses.dataclass(frozen=True)
class ReplayEvaluation:
    """One day's replay figures.

    Args:
        rates: one row per ranker: date, model_id, ranker, sessions, matched, contributions,
            rate, ci_low, ci_high, expected_contributions.
        paired: one row per reference ranker (`PAIRED_COLUMNS`): the model minus that ranker's
            ground-truth expected contributions over the same sessions; empty without a truth.
        values: ranker -> the ground-truth expected contributions of its #1 pick, one value per
            session (indexed by session_id); empty without a truth. Pair two models' `values`
            on the same sessions to compare them (`intervals.paired_difference_stats`).
    """

    rates: pd.DataFrame
    paired: pd.DataFrame
    values: dict[str, pd.Series] = dataclasses.field(default_factory=dict)


def evaluate_replay(
    model_dir: Path,
    effects_dir: Path,
    candidates_dir: Path,
    examples_dir: Path,
    date: dt.date,
    *,
    expected_top1: Callable[[pd.DataFrame], pd.Series] | None = None,
    seed: int = 0,
) -> ReplayEvaluation:
    """Replay contribution rate @1 per ranker on the day's random-bucket sessions (paper §15),
    with the ground-truth expected contributions of each ranker's picks when the truth is known.

    Args:
        model_dir: the saved feed model that ranks (`models.registry`).
        effects_dir: that model's `popularity_random_effects` partition.
        candidates_dir: the day's `replay_candidates` partition (every served post of the
            random-bucket sessions).
        examples_dir: a `training_examples` partition whose training split fits the
            popularity baseline (the previous day's under the next-day protocol).
        date: the day evaluated.
        expected_top1: given one row per session (session_id, post_id: a ranker's #1 pick), the
            ground-truth expected contributions of showing that post first, one value per
            session; its mean is the ranker's `expected_contributions`. None (truth unknown)
            leaves that column empty.
        seed: seeds the random ranker (with the date).

    Returns:
        the `ReplayEvaluation` (rates per ranker, paired ground-truth differences).

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

    model_id = model_id_of(model_dir)
    values = {}
    rows = []
    for ranker in rankers:
        result = replay_contribution_rate(scored, ranker)
        if expected_top1 is not None:
            values[ranker] = expected_top1(top1_choices(scored, ranker))
        rows.append(
            {
                "date": date,
                "model_id": model_id,
                "ranker": ranker,
                "sessions": result.sessions,
                "matched": result.matched,
                "contributions": result.contributions,
                "rate": result.rate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "expected_contributions": float(values[ranker].mean()) if values else None,
            }
        )
    paired = [
        (date, model_id, ranker, *_paired(values["model"], values[ranker]))
        for ranker in rankers[1:]
        if values
    ]
    return ReplayEvaluation(
        rates=pd.DataFrame(rows),
        paired=pd.DataFrame(paired, columns=list(PAIRED_COLUMNS)),
        values=values,
    )


def _paired(model: pd.Series, reference: pd.Series) -> tuple[int, float, float]:
    """`paired_difference_stats` over the sessions both series value (aligned by session)."""
    model, reference = model.align(reference, join="inner")
    return paired_difference_stats(model.to_numpy(), reference.to_numpy())
