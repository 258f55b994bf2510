"""One day's offline metrics per head on the held-out sessions: the model against popularity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.metrics import HEAD_METRIC_COLUMNS, head_metrics
from models.evaluation.scoring import model_probabilities, read_partition
from models.registry import load_model, model_id_of
from spark.schemas import LABELS


def evaluate_offline(
    model_dir: Path, effects_dir: Path, examples_dir: Path, date: dt.date
) -> pd.DataFrame:
    """AUC, log loss and calibration per head on the day's held-out sessions, for the model and for
    the popularity baseline (fit on the day's training sessions).

    Args:
        model_dir: the day's saved feed model (`models.registry`).
        effects_dir: the day's `popularity_random_effects` partition.
        examples_dir: the day's `training_examples` partition (Parquet, with `split`).
        date: the day evaluated.

    Returns:
        DataFrame(date, model_id, scorer, *`HEAD_METRIC_COLUMNS`), one row per scorer ('model' |
        'popularity_baseline') and head.

    Raises:
        FileNotFoundError: an upstream partition is missing.
        ValueError: the day has no held-out rows.
    """
    examples = read_partition(examples_dir)
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
    return out[["date", "model_id", "scorer", *HEAD_METRIC_COLUMNS]]
