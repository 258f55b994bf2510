"""One day's offline metrics per head: the model against the popularity baseline.

Which rows are evaluated and which data fits the baseline is the caller's choice (the protocol):
next-day evaluation scores every non-replay row of day D (`splits=("train", "holdout")`, none of
which the model trained through D−1 has seen) with the baseline fit on day D−1's training rows;
same-day evaluation scores day D's held-out sessions with the baseline fit on day D's training
rows.
"""

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
    model_dir: Path,
    effects_dir: Path,
    examples_dir: Path,
    date: dt.date,
    *,
    baseline_examples_dir: Path | None = None,
    splits: tuple[str, ...] = ("holdout",),
) -> pd.DataFrame:
    """AUC, log loss and calibration per head on the day's rows of `splits`, for the model and
    for the popularity baseline.

    Args:
        model_dir: the saved feed model that scores (`models.registry`).
        effects_dir: that model's `popularity_random_effects` partition.
        examples_dir: the evaluated day's `training_examples` partition (Parquet, with `split`).
        date: the day evaluated.
        baseline_examples_dir: the `training_examples` partition whose training rows fit the
            popularity baseline (default: `examples_dir`, same-day).
        splits: the `split` values of the evaluated rows.

    Returns:
        DataFrame(date, model_id, scorer, *`HEAD_METRIC_COLUMNS`), one row per scorer ('model' |
        'popularity_baseline') and head.

    Raises:
        FileNotFoundError: an upstream partition is missing.
        ValueError: the day has no rows of `splits`.
    """
    examples = read_partition(examples_dir)
    evaluated = examples[examples["split"].isin(splits)].reset_index(drop=True)
    baseline_rows = read_partition(baseline_examples_dir or examples_dir)
    train = baseline_rows[baseline_rows["split"] == "train"]
    if evaluated.empty:
        raise ValueError(
            f"no rows of split {list(splits)} in {examples_dir}; cannot compute offline metrics"
        )
    labels = {head: evaluated[head].to_numpy() for head in LABELS}
    feed_model, _ = load_model(model_dir)
    model = head_metrics(
        labels, model_probabilities(feed_model, effects_dir, evaluated, rank_at_top=False)
    )
    baseline_probs = {
        head: popularity_scores(
            train["post_id"].to_numpy(), train[head].to_numpy(), evaluated["post_id"].to_numpy()
        )
        for head in LABELS
    }
    baseline = head_metrics(labels, baseline_probs)
    frames = [model.assign(scorer="model"), baseline.assign(scorer="popularity_baseline")]
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "model_id", model_id_of(model_dir))
    out.insert(0, "date", date)
    return out[["date", "model_id", "scorer", *HEAD_METRIC_COLUMNS]]
