"""Tests for models.evaluation.offline: one row per scorer and head, the baseline as specified."""

from __future__ import annotations

import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.metrics import HEAD_METRIC_COLUMNS, head_metrics
from models.evaluation.offline import evaluate_offline
from models.evaluation.scoring import read_partition
from spark.schemas import LABELS


def test_offline_metrics_of_the_model_and_the_popularity_baseline(day):
    metrics = evaluate_offline(day.model_dir, day.effects_dir, day.examples_dir, day.date)
    assert list(metrics.columns) == ["date", "model_id", "scorer", *HEAD_METRIC_COLUMNS]
    assert (metrics["date"] == day.date).all() and (metrics["model_id"] == "feed-2026-01-03").all()
    assert list(metrics["scorer"]) == ["model"] * len(LABELS) + ["popularity_baseline"] * len(
        LABELS
    )
    examples = read_partition(day.examples_dir)
    holdout = examples[examples["split"] == "holdout"]
    train = examples[examples["split"] == "train"]
    baseline = head_metrics(
        {head: holdout[head].to_numpy() for head in LABELS},
        {
            head: popularity_scores(train["post_id"], train[head], holdout["post_id"])
            for head in LABELS
        },
    )
    got = metrics[metrics["scorer"] == "popularity_baseline"][list(HEAD_METRIC_COLUMNS)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), baseline)
    assert (metrics["rows"] == len(holdout)).all()


def test_next_day_scores_every_unseen_row_with_the_baseline_of_the_day_before(
    day, make_examples, tmp_path
):
    """Next-day: the evaluated day's train and holdout rows, the baseline fit on the previous
    day's training rows only."""
    today = make_examples(300, seed=9)
    (tmp_path / "today").mkdir()
    today.to_parquet(tmp_path / "today" / "part-0.parquet")
    metrics = evaluate_offline(
        day.model_dir,
        day.effects_dir,
        tmp_path / "today",
        day.date,
        baseline_examples_dir=day.examples_dir,
        splits=("train", "holdout"),
    )
    unseen = today[today["split"].isin(["train", "holdout"])]
    assert (metrics["rows"] == len(unseen)).all()
    yesterday = read_partition(day.examples_dir)
    past = yesterday[yesterday["split"] == "train"]
    baseline = head_metrics(
        {head: unseen[head].to_numpy() for head in LABELS},
        {
            head: popularity_scores(past["post_id"], past[head], unseen["post_id"])
            for head in LABELS
        },
    )
    got = metrics[metrics["scorer"] == "popularity_baseline"][list(HEAD_METRIC_COLUMNS)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), baseline)


def test_detail_adds_segments_and_reliability_from_the_same_scores(day):
    from models.evaluation.offline import evaluate_offline_detail
    from models.evaluation.segments import CALIBRATION_CURVE_COLUMNS, SEGMENT_METRIC_COLUMNS

    evaluation = evaluate_offline_detail(
        day.model_dir, day.effects_dir, day.examples_dir, day.date, calibration_bins=4
    )
    metrics = evaluation.metrics
    pd.testing.assert_frame_equal(
        metrics, evaluate_offline(day.model_dir, day.effects_dir, day.examples_dir, day.date)
    )
    segments = evaluation.segments
    assert list(segments.columns) == ["date", "model_id", "scorer", *SEGMENT_METRIC_COLUMNS]
    assert set(segments["segment"]) == {"all", "content_type", "platform", "position", "member"}
    overall = segments[segments["segment"] == "all"].reset_index(drop=True)
    pd.testing.assert_series_equal(overall["auc"], metrics["auc"], check_names=False)
    for _, group in segments.groupby(["scorer", "segment", "head"]):
        assert group["rows"].sum() == metrics["rows"].iloc[0]  # each segment splits every row
    curves = evaluation.calibration
    assert list(curves.columns) == ["date", "model_id", "scorer", *CALIBRATION_CURVE_COLUMNS]
    assert len(curves) == 2 * len(LABELS) * 4
