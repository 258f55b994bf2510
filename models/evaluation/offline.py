"""One day's offline metrics per head: the model against the popularity baseline.

Which rows are evaluated and which data fits the baseline is the caller's choice (the protocol):
next-day evaluation scores every non-replay row of day D (`splits=("train", "holdout")`, none of
which the model trained through D−1 has seen) with the baseline fit on day D−1's training rows;
same-day evaluation scores day D's held-out sessions with the baseline fit on day D's training
rows. `evaluate_offline_detail` also cuts the same scores by segment and into reliability diagrams
(`models.evaluation.segments`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.metrics import HEAD_METRIC_COLUMNS, head_metrics
from models.evaluation.scoring import model_probabilities, read_partition
from models.evaluation.segments import (
    CALIBRATION_CURVE_COLUMNS,
    SEGMENT_METRIC_COLUMNS,
    calibration_curves,
    segment_metrics,
)
from models.registry import load_model, model_id_of
from spark.schemas import LABELS


@dataclasses.dataclass(frozen=True)
class OfflineEvaluation:
    """One day's offline evaluation, each table led by (date, model_id, scorer).

    Args:
        metrics: one row per scorer and head, `HEAD_METRIC_COLUMNS` (the `offline_metrics`
            table).
        segments: per scorer, segment value and head, `SEGMENT_METRIC_COLUMNS`: AUC with its
            95% interval and observed / expected by content type, platform, position and new vs
            known members, and overall (segment 'all').
        calibration: per scorer and head, the reliability diagram's bins,
            `CALIBRATION_CURVE_COLUMNS`.
    """

    metrics: pd.DataFrame
    segments: pd.DataFrame
    calibration: pd.DataFrame


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
    return evaluate_offline_detail(
        model_dir,
        effects_dir,
        examples_dir,
        date,
        baseline_examples_dir=baseline_examples_dir,
        splits=splits,
        detail=False,
    ).metrics


def evaluate_offline_detail(
    model_dir: Path,
    effects_dir: Path,
    examples_dir: Path,
    date: dt.date,
    *,
    baseline_examples_dir: Path | None = None,
    splits: tuple[str, ...] = ("holdout",),
    detail: bool = True,
    calibration_bins: int = 10,
) -> OfflineEvaluation:
    """`evaluate_offline`'s per-head metrics plus, from the same scored rows, the segment
    metrics and reliability diagrams of both scorers (`models.evaluation.segments`); with
    `detail` False those two tables are empty. Arguments and errors as `evaluate_offline`."""
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
    scores = {
        "model": model_probabilities(feed_model, effects_dir, evaluated, rank_at_top=False),
        "popularity_baseline": {
            head: popularity_scores(
                train["post_id"].to_numpy(), train[head].to_numpy(), evaluated["post_id"].to_numpy()
            )
            for head in LABELS
        },
    }
    keys = {"date": date, "model_id": model_id_of(model_dir)}

    def table(compute, columns: tuple[str, ...]) -> pd.DataFrame:
        frames = [compute(probs).assign(scorer=scorer) for scorer, probs in scores.items()]
        out = pd.concat(frames, ignore_index=True).assign(**keys)
        return out[["date", "model_id", "scorer", *columns]]

    metrics = table(lambda probs: head_metrics(labels, probs), HEAD_METRIC_COLUMNS)
    if not detail:
        empty = pd.DataFrame()
        return OfflineEvaluation(metrics=metrics, segments=empty, calibration=empty)
    return OfflineEvaluation(
        metrics=metrics,
        segments=table(
            lambda probs: segment_metrics(evaluated, labels, probs), SEGMENT_METRIC_COLUMNS
        ),
        calibration=table(
            lambda probs: calibration_curves(labels, probs, calibration_bins),
            CALIBRATION_CURVE_COLUMNS,
        ),
    )
