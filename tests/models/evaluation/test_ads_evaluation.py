"""Tests for models.evaluation.ads: per-head metrics, calibration curves, the verdict's logic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from models.evaluation.ads import (
    ADS_CALIBRATION_COLUMNS,
    ADS_METRIC_COLUMNS,
    ADS_VERDICT_COLUMNS,
    ads_calibration,
    ads_metrics,
    ads_verdict,
    bootstrap_ece_difference,
    clustered_mean_difference,
    verdict,
)
from spark.schemas import CHARGEABILITY_GROUPS

# a toy day: two website-visit ads, three visit-or-social ads, no any-engagement ad
TOY = pd.DataFrame(
    {
        "session_id": [1, 1, 2, 2, 3],
        "chargeability_group": ["website_visit"] * 2 + ["visit_or_social"] * 3,
        "chargeable_click": [1, 0, 1, 0, 0],
    }
)
TOY_P = np.array([0.8, 0.3, 0.4, 0.5, 0.1])


def _delong_by_pairs(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong standard error from the pairwise kernel ψ, by explicit loops."""
    pos, neg = s[y == 1], s[y == 0]
    psi = np.array([[1.0 if a > b else 0.5 if a == b else 0.0 for b in neg] for a in pos])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


def _day(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows with a true click probability per row, 3 rows a session."""
    rng = np.random.default_rng(seed)
    truth = 1 / (1 + np.exp(-rng.normal(-2.0, 1.2, n)))
    frame = pd.DataFrame(
        {
            "session_id": np.arange(n) // 3,
            "chargeability_group": np.array(CHARGEABILITY_GROUPS)[rng.integers(0, 3, n)],
            "chargeable_click": (rng.random(n) < truth).astype(np.int8),
        }
    )
    return frame, truth


def test_metrics_by_hand_on_a_toy_day():
    table = ads_metrics(TOY, {"model": TOY_P, "constant": np.full(5, 0.4)})
    assert tuple(table.columns) == ADS_METRIC_COLUMNS
    assert table["head"].tolist() == [*CHARGEABILITY_GROUPS, "all"] * 2
    model = table[table["scorer"] == "model"].set_index("head")
    assert model.loc["website_visit", ["rows", "positives"]].tolist() == [2, 1]
    assert model.loc["website_visit", "auc"] == 1.0
    # Σy / Σp exactly
    assert model.loc["all", "observed_expected"] == pytest.approx(2 / 2.1, abs=1e-12)
    assert model.loc["visit_or_social", "observed_expected"] == pytest.approx(1 / 1.0)
    y = TOY["chargeable_click"].to_numpy()
    expected_loss = -np.mean(y * np.log(TOY_P) + (1 - y) * np.log(1 - TOY_P))
    assert model.loc["all", "log_loss"] == pytest.approx(expected_loss)
    # ECE, 10 equal-width bins: bins 8 {1}, 3 {0}, 4 {1}, 5 {0}, 1 {0}
    assert model.loc["all", "ece"] == pytest.approx((0.2 + 0.3 + 0.6 + 0.5 + 0.1) / 5)
    # AUC on all rows: positives 0.8, 0.4 against negatives 0.3, 0.5, 0.1 -> 5 of 6 pairs
    assert model.loc["all", "auc"] == pytest.approx(5 / 6)
    # a head without rows: NaN metrics, not an error
    empty = model.loc["any_engagement"]
    assert empty["rows"] == 0 and all(math.isnan(empty[c]) for c in ADS_METRIC_COLUMNS[4:])
    constant = table[table["scorer"] == "constant"].set_index("head")
    assert constant.loc["all", "auc"] == 0.5


def test_auc_and_interval_match_delong_by_hand():
    frame, truth = _day(400, seed=3)
    noise = np.random.default_rng(4).normal(0, 0.05, len(truth))
    scores = np.clip(truth + noise, 1e-3, 1 - 1e-3)
    table = ads_metrics(frame, {"model": scores}).set_index("head")
    y = frame["chargeable_click"].to_numpy()
    value, error = _delong_by_pairs(y, scores)
    z = norm.ppf(0.975)
    assert table.loc["all", "auc"] == pytest.approx(value, abs=1e-12)
    assert table.loc["all", "auc_lo"] == pytest.approx(value - z * error, abs=1e-9)
    assert table.loc["all", "auc_hi"] == pytest.approx(value + z * error, abs=1e-9)


def test_perfect_and_constant_scorers_and_one_class_heads():
    frame, _ = _day(600, seed=5)
    y = frame["chargeable_click"].to_numpy()
    perfect = np.where(y == 1, 0.9, 0.1)
    table = ads_metrics(frame, {"perfect": perfect, "constant": np.full(len(y), 0.2)})
    table = table.set_index(["scorer", "head"])
    assert (table.loc["perfect", "auc"] == 1.0).all()
    assert (table.loc["constant", "auc"] == 0.5).all()
    no_positives = frame.assign(chargeable_click=0)
    one_class = ads_metrics(no_positives, {"perfect": perfect})
    assert one_class["auc"].isna().all() and one_class["auc_lo"].isna().all()
    assert (one_class["observed_expected"] == 0).all()


def test_bad_probabilities_and_rows_are_refused():
    with pytest.raises(ValueError, match="scorer 'model'.*logits"):
        ads_metrics(TOY, {"model": np.array([0.1, 2.0, 0.1, 0.1, 0.1])})
    with pytest.raises(ValueError, match="4 probabilities for 5 rows"):
        ads_metrics(TOY, {"model": np.full(4, 0.1)})
    with pytest.raises(ValueError, match=r"chargeability_group: 1 rows outside .*cpm"):
        ads_metrics(TOY.assign(chargeability_group=["cpm", *TOY["chargeability_group"][1:]]), {})
    with pytest.raises(ValueError, match=r"missing columns \['chargeable_click'\]"):
        ads_metrics(TOY.drop(columns="chargeable_click"), {})


def test_calibration_curves_per_scorer_and_head():
    frame, truth = _day(1000, seed=6)
    curves = ads_calibration(frame, {"truth": truth, "flat": np.full(len(truth), 0.1)}, bins=5)
    assert tuple(curves.columns) == ADS_CALIBRATION_COLUMNS
    for (_, head), curve in curves.groupby(["scorer", "head"]):
        rows = len(frame) if head == "all" else (frame["chargeability_group"] == head).sum()
        assert curve["rows"].sum() == rows and curve["bin"].tolist() == list(range(5))
    truth_all = curves[(curves["scorer"] == "truth") & (curves["head"] == "all")]
    assert truth_all["mean_predicted"].is_monotonic_increasing
    # a calibrated scorer's observed rates track its predictions
    gap = (truth_all["observed_rate"] - truth_all["mean_predicted"]).abs()
    assert gap.max() < 0.06


def test_verdict_reads_the_interval_side():
    assert verdict(0.01, 0.02, higher_is_better=True) == "wins"
    assert verdict(-0.02, -0.01, higher_is_better=True) == "loses"
    assert verdict(-0.01, 0.02, higher_is_better=True) == "no significant difference"
    assert verdict(0.01, 0.02, higher_is_better=False) == "loses"
    assert verdict(-0.02, -0.01, higher_is_better=False) == "wins"
    assert verdict(math.nan, math.nan, higher_is_better=True) == "no significant difference"


def test_the_truth_beats_a_noisy_miscalibrated_ranker_and_loses_to_nothing():
    frame, truth = _day(6000, seed=7)
    rng = np.random.default_rng(8)
    logit = np.log(truth / (1 - truth))
    production = 1 / (1 + np.exp(-(logit + rng.normal(0, 1.0, len(truth)) + 0.8)))
    table = ads_verdict(frame, truth, production)
    assert tuple(table.columns) == ADS_VERDICT_COLUMNS
    table = table.set_index("metric")
    assert (table["product"] == "ads").all()
    assert table["verdict"].tolist() == ["wins", "wins", "wins"]
    for metric, row in table.iterrows():
        assert row["delta"] == pytest.approx(row["model_value"] - row["production_value"])
        assert row["delta_lo"] <= row["delta"] <= row["delta_hi"], metric
    # swapped, the model is the worse one: it loses on every metric
    swapped = ads_verdict(frame, production, truth)
    assert swapped["verdict"].tolist() == ["loses", "loses", "loses"]
    # the same scorer on both sides: no difference, a zero-width AUC interval
    same = ads_verdict(frame, truth, truth).set_index("metric")
    assert (same["delta"] == 0).all()
    assert (same["verdict"] == "no significant difference").all()


def test_clustered_interval_reduces_to_the_paired_one_with_one_row_a_session():
    rng = np.random.default_rng(9)
    d = rng.normal(0.1, 1.0, 500)
    mean, error = clustered_mean_difference(d, np.arange(500))
    assert mean == pytest.approx(d.mean())
    assert error == pytest.approx(d.std(ddof=1) / math.sqrt(500))
    # perfectly correlated rows within a session: the clustered error is larger
    sessions = np.repeat(np.arange(100), 5)
    shared = np.repeat(rng.normal(0, 1, 100), 5)
    _, clustered = clustered_mean_difference(shared, sessions)
    _, naive = clustered_mean_difference(shared, np.arange(500))
    assert clustered > 2 * naive
    assert math.isnan(clustered_mean_difference(d, np.zeros(500))[1])


def test_ece_bootstrap_is_seeded_and_brackets_the_difference():
    frame, truth = _day(3000, seed=10)
    y = frame["chargeable_click"].to_numpy()
    flat = np.full(len(y), y.mean() * 2)
    sessions = frame["session_id"].to_numpy()
    first = bootstrap_ece_difference(y, truth, flat, sessions)
    assert first == bootstrap_ece_difference(y, truth, flat, sessions)
    assert first != bootstrap_ece_difference(y, truth, flat, sessions, seed=1)
    assert first[0] < first[1] < 0  # the truth is better calibrated than a 2x over-prediction
