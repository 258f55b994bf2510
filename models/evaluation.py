"""One day's evaluation of a ranking model: offline metrics per head and replay.

Rankers compared on replay:
- `model`: the day's feed model with the popularity random effects, position set to 0
  (position debiasing), scored by its final score (`FeedModelConfig.score_weights`: the
  contribution heads, equally weighted, unless the model was trained with other weights);
- `popularity_baseline`: each post's smoothed contribution rate on the day's training sessions;
- `production`: the logged production ranker's score (a noisy version of the truth in the
  simulated world), when the candidates carry `ranker_score`;
- `random`: uniform scores, whose replay rate is the random bucket's own contribution rate at
  position 1.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from models.baselines import popularity_scores
from models.inputs.spec import with_position
from models.feed_model import feed_inputs, predict_probabilities
from models.metrics import head_metrics
from models.random_effects import apply_random_effects
from models.training.job import RANDOM_EFFECT_HEADS, logits_from, model_id_of
from models.registry import load_model
from models.replay import replay_contribution_rate, top1_choices
from spark.schemas import LABELS
from spark.world_config import CONTRIBUTION_ACTIONS, WorldConfig


def _read_examples(path: Path) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"missing upstream partition {path}; materialize it first")
    return pd.read_parquet(path)


def model_probabilities(
    model: keras.Model, effects_dir: Path, rows: pd.DataFrame, rank_at_top: bool
) -> dict[str, np.ndarray]:
    """Per-head probabilities of the global model with the per-post random effects added to the
    logits of `RANDOM_EFFECT_HEADS`: y = σ(logit(y_global) + b_post) (paper §8)."""
    inputs = feed_inputs(rows, model.config)
    if rank_at_top:
        inputs = with_position(inputs, 0)
    probabilities = predict_probabilities(model, inputs)
    effects = _read_examples(effects_dir)
    post_ids = rows["post_id"].to_numpy()
    for head in RANDOM_EFFECT_HEADS:
        head_effects = effects[effects["head"] == head].rename(columns={"post_id": "id"})
        logits = apply_random_effects(post_ids, logits_from(probabilities[head]), head_effects)
        probabilities[head] = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return probabilities


def evaluate_offline(
    model_dir: Path, effects_dir: Path, examples_dir: Path, date: dt.date
) -> pd.DataFrame:
    """AUC, log loss and calibration per head on the day's held-out sessions, for the model and for
    the popularity baseline (fit on the day's training sessions)."""
    examples = _read_examples(examples_dir)
    holdout = examples[examples["split"] == "holdout"].reset_index(drop=True)
    train = examples[examples["split"] == "train"]
    if holdout.empty:
        raise ValueError(f"no held-out rows in {examples_dir}; cannot compute offline metrics")
    labels = {head: holdout[head].to_numpy() for head in LABELS}
    feed_model, _ = load_model(model_dir)
    model = head_metrics(
        labels, model_probabilities(feed_model, effects_dir, holdout, rank_at_top=False)
    )
    baseline_probs = {
        head: popularity_scores(
            train["post_id"].to_numpy(), train[head].to_numpy(), holdout["post_id"].to_numpy()
        )
        for head in LABELS
    }
    baseline = head_metrics(labels, baseline_probs)
    frames = [model.assign(scorer="model"), baseline.assign(scorer="popularity_baseline")]
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "model_id", model_id_of(model_dir))
    out.insert(0, "date", date)
    return out[
        [
            "date",
            "model_id",
            "scorer",
            "head",
            "rows",
            "positives",
            "auc",
            "log_loss",
            "calibration",
        ]
    ]


def _contribution(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy()


def evaluate_replay(
    model_dir: Path,
    effects_dir: Path,
    candidates_dir: Path,
    examples_dir: Path,
    date: dt.date,
    ground_truth_dir: Path | None = None,
    world: WorldConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Replay contribution rate @1 per ranker on the day's random-bucket sessions (paper §15),
    with the ground-truth expected contributions of each ranker's picks when the truth is known."""
    candidates = _read_examples(candidates_dir).reset_index(drop=True)
    if candidates.empty:
        raise ValueError(f"no random-bucket sessions in {candidates_dir}; replay needs some")
    train = _read_examples(examples_dir)
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

    expected = None
    if ground_truth_dir is not None and world is not None:
        from spark.world import FeedWorld, expected_top1_contributions

        truth = pd.read_parquet(ground_truth_dir)
        curve = FeedWorld(world).position_curve()
        expected = lambda choices: float(expected_top1_contributions(truth, choices, curve).mean())  # noqa: E731

    rows = []
    for ranker in rankers:
        result = replay_contribution_rate(scored, ranker)
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
                "expected_contributions": expected(top1_choices(scored, ranker))
                if expected
                else None,
            }
        )
    return pd.DataFrame(rows)
