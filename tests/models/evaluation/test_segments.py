"""Segment metrics, DeLong AUC intervals and reliability diagrams on hand-checkable rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation.gate import paired_auc_difference
from models.evaluation.metrics import auc
from models.evaluation.segments import (
    CALIBRATION_CURVE_COLUMNS,
    SEGMENT_METRIC_COLUMNS,
    auc_interval,
    calibration_curve,
    calibration_curves,
    position_bucket,
    segment_metrics,
)


def test_auc_interval_is_delong_around_the_rank_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = y + rng.normal(0, 1.2, 400)
    value, low, high = auc_interval(y, s)
    assert value == pytest.approx(auc(y, s))
    # DeLong's variance of one AUC is the paired variance against a constant scorer (AUC 0.5,
    # zero variance), which the gate computes independently.
    difference, error = paired_auc_difference(y, s, np.zeros(400))
    assert difference == pytest.approx(value - 0.5)
    assert (high - low) / 2 == pytest.approx(1.959964 * error, rel=1e-4)
    assert low < value < high


def test_auc_interval_edge_cases():
    assert auc_interval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (1.0, 1.0, 1.0)
    value, low, high = auc_interval([0, 0, 1], [0.1, 0.2, 0.9])
    assert value == 1.0 and np.isnan(low) and np.isnan(high)  # one positive: no variance
    assert all(np.isnan(auc_interval([0, 0], [0.1, 0.2])))
    with pytest.raises(ValueError, match="`confidence` must be in"):
        auc_interval([0, 1], [0.1, 0.2], confidence=1.5)


def test_position_buckets_match_the_dwell_clusters():
    assert list(position_bucket(np.array([0, 1, 2, 3, 4, 5, 9, 10, 40]))) == [
        "0", "1", "2", "3-4", "3-4", "5-9", "5-9", "10+", "10+",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="positions must be >= 0"):
        position_bucket(np.array([-1]))


def test_segment_metrics_split_rows_by_each_segment():
    rows = pd.DataFrame(
        {
            "content_type": ["article", "article", "image", "image"],
            "platform": ["web", "ios", "web", "ios"],
            "position": [0, 0, 3, 12],
            "hist_author_ids": [[1, 2], [], [3], None],
        }
    )
    labels = {"click": np.array([1, 0, 1, 0])}
    probs = {"click": np.array([0.8, 0.2, 0.4, 0.6])}
    table = segment_metrics(rows, labels, probs)
    assert tuple(table.columns) == SEGMENT_METRIC_COLUMNS
    by = table.set_index(["segment", "value"])
    assert by.loc[("all", "all"), "auc"] == pytest.approx(0.75)
    assert by.loc[("all", "all"), "calibration"] == pytest.approx(2 / 2.0)
    assert by.loc[("content_type", "article"), "auc"] == 1.0
    assert by.loc[("content_type", "image"), "auc"] == 0.0
    assert by.loc[("content_type", "image"), "calibration"] == pytest.approx(1 / 1.0)
    assert by.loc[("member", "new"), "rows"] == 2 and by.loc[("member", "known"), "positives"] == 2
    assert list(by.loc["position"].index) == ["0", "10+", "3-4"]
    assert np.isnan(by.loc[("position", "10+"), "auc"])  # one class only
    assert by.loc[("platform", "web"), "predicted"] == pytest.approx(1.2)
    with pytest.raises(ValueError, match="one of each per row"):
        segment_metrics(rows, labels, {"click": np.array([0.1])})


def test_calibration_curve_bins_equal_counts():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.6, 0.1, 0.9, 0.2, 0.5, 0.8])
    curve = calibration_curve(y, p, bins=3)
    assert list(curve["rows"]) == [2, 2, 2]
    assert list(curve["mean_predicted"]) == pytest.approx([0.15, 0.55, 0.85])
    assert list(curve["observed_rate"]) == pytest.approx([0.0, 0.5, 1.0])
    assert (curve["observed_ci_low"] <= curve["observed_rate"]).all()
    assert len(calibration_curve(y[:2], p[:2], bins=10)) == 2  # never more bins than rows
    table = calibration_curves({"a": y, "b": y}, {"a": p, "b": p}, bins=2)
    assert tuple(table.columns) == CALIBRATION_CURVE_COLUMNS and len(table) == 4
