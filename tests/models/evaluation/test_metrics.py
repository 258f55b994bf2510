"""Tests for models.evaluation.metrics: AUC, log loss, calibration O/E, the per-head table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from models.evaluation.metrics import (
    HEAD_METRIC_COLUMNS,
    auc,
    calibration_ratio,
    head_metrics,
    log_loss,
)


def test_auc_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 2, size=500)
        s = rng.normal(size=500) + 0.7 * y
        assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_with_ties_matches_sklearn_and_counts_half():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=400)
    s = rng.integers(0, 4, size=400).astype(float)  # heavy ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # One positive and one negative with the same score: the pair counts 1/2.
    assert auc([1, 0], [0.3, 0.3]) == 0.5


def test_auc_hand_checkable():
    # Positives at 0.9 and 0.4, negatives at 0.5 and 0.1: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5,
    # 0.4>0.1) → 3 of 4 ordered correctly.
    assert auc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1]) == pytest.approx(0.75)
    assert auc([1, 0], [0.9, 0.1]) == 1.0
    assert auc([0, 1], [0.9, 0.1]) == 0.0


def test_auc_nan_when_one_class_absent():
    assert math.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auc([0, 0], [0.1, 0.2]))


def test_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        auc(np.array([1, 0, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="shape"):
        log_loss(np.array([1, 0]), np.array([[0.1, 0.2]]))


def test_log_loss_matches_sklearn_and_hand_value():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=300)
    p = rng.uniform(0.01, 0.99, size=300)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-10)
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    # Clipping keeps a confident miss finite: -log(eps).
    assert log_loss([1], [0.0], eps=1e-7) == pytest.approx(-math.log(1e-7))


def test_calibration_ratio_is_observed_over_expected():
    assert calibration_ratio([1, 0, 1, 0], [0.5, 0.5, 0.25, 0.25]) == pytest.approx(2 / 1.5)
    assert calibration_ratio([0, 1], [0.5, 0.5]) == pytest.approx(1.0)
    assert math.isnan(calibration_ratio([0, 1], [0.0, 0.0]))


def test_head_metrics_table():
    labels = {"click": np.array([1, 0, 1, 0]), "like": np.array([0, 0, 1, 0])}
    probs = {"click": np.array([0.9, 0.4, 0.5, 0.1]), "like": np.array([0.1, 0.1, 0.6, 0.2])}
    table = head_metrics(labels, probs)
    assert tuple(table.columns) == HEAD_METRIC_COLUMNS
    assert list(table["head"]) == ["click", "like"]
    click = table.set_index("head").loc["click"]
    assert click["rows"] == 4 and click["positives"] == 2
    assert click["auc"] == pytest.approx(1.0)
    assert click["calibration"] == pytest.approx(2 / 1.9)
    assert click["log_loss"] == pytest.approx(log_loss(labels["click"], probs["click"]))
    assert table.set_index("head").loc["like", "auc"] == pytest.approx(1.0)


def test_head_metrics_rejects_nan_naming_head_and_count():
    labels = {"click": np.array([1, 0, 1])}
    probs = {"click": np.array([0.5, np.nan, np.nan])}
    with pytest.raises(ValueError, match=r"'click' has 2 NaN"):
        head_metrics(labels, probs)


def test_head_metrics_rejects_missing_head_and_shape_mismatch():
    with pytest.raises(ValueError, match="No labels for head 'share'"):
        head_metrics({"click": np.array([1])}, {"share": np.array([0.5])})
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        head_metrics({"click": np.array([1, 0])}, {"click": np.array([0.5, 0.2, 0.1])})
