"""Tests for models.evaluation.jobs: per-head metrics, the qualified applications of the top-k
(exact values on hand-made sessions) and the verdict against production."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from models.evaluation.jobs import (
    JOBS_METRIC_COLUMNS,
    JOBS_VERDICT_COLUMNS,
    QUALIFIED_TOP_K_COLUMNS,
    jobs_metrics,
    jobs_verdict,
    paired_auc_delta,
    qualified_top_k,
    verdict,
)


def two_sessions() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Session 7 serves 4 jobs, session 3 serves 3 (rows shuffled, as a log may be)."""
    frame = pd.DataFrame(
        {
            "session_id": [7, 3, 7, 3, 7, 3, 7],
            "job_id": [70, 30, 71, 31, 72, 32, 73],
            "position": [0, 0, 1, 1, 2, 2, 3],
            "impressed": [True] * 7,
            "apply": [0, 1, 0, 0, 1, 0, 1],
            "click": [1, 1, 0, 0, 1, 0, 1],
        }
    )
    truth = pd.DataFrame(
        {
            "session_id": [7, 7, 7, 7, 3, 3, 3],
            "job_id": [70, 71, 72, 73, 30, 31, 32],
            "p_qualified_apply": [0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 0.1],
        }
    )
    return frame, truth


def test_qualified_top_k_exact_values_on_two_sessions():
    frame, truth = two_sessions()
    # session 7 by job: 0, 1, 2, 3 (the model prefers later positions); session 3: a tie
    # between positions 0 and 1 above position 2
    model = np.array([0.0, 1.0, 1.0, 1.0, 2.0, 0.0, 3.0])
    table = qualified_top_k(frame, truth, {"model": model}, k=2)
    assert list(table.columns) == list(QUALIFIED_TOP_K_COLUMNS)
    assert table["ranker"].tolist() == ["production", "model"]
    production, ranked = table.iloc[0], table.iloc[1]
    # production = logged order: session 7 → (0.1 + 0.2)/2, session 3 → (0.5 + 0.0)/2
    assert production["qualified_rate"] == pytest.approx((0.15 + 0.25) / 2)
    assert production[["delta_vs_production", "delta_lo", "delta_hi"]].tolist() == [0, 0, 0]
    # model: session 7 → positions 3, 2 → (0.4 + 0.3)/2; session 3: the tie goes to position 0
    assert ranked["qualified_rate"] == pytest.approx((0.35 + 0.25) / 2)
    assert ranked["sessions"] == 2 and ranked["k"] == 2
    diffs = np.array([0.35 - 0.15, 0.0])
    half = student_t.ppf(0.975, 1) * diffs.std(ddof=1) / math.sqrt(2)
    assert ranked["delta_vs_production"] == pytest.approx(0.1)
    assert ranked["delta_lo"] == pytest.approx(0.1 - half)
    assert ranked["delta_hi"] == pytest.approx(0.1 + half)
    values = np.array([0.35, 0.25])
    half = student_t.ppf(0.975, 1) * values.std(ddof=1) / math.sqrt(2)
    assert ranked["qualified_lo"] == pytest.approx(0.3 - half)


def test_a_session_shorter_than_k_takes_all_its_jobs():
    frame, truth = two_sessions()
    table = qualified_top_k(frame, truth, {}, k=10)
    assert table["qualified_rate"].iloc[0] == pytest.approx((0.25 + 0.2) / 2)


def test_the_logged_order_scores_as_production_and_constant_scores_tie_to_it():
    frame, truth = two_sessions()
    logged = -frame["position"].to_numpy(dtype=float)
    table = qualified_top_k(frame, truth, {"logged": logged, "flat": np.zeros(7)}, k=1)
    rates = table.set_index("ranker")["qualified_rate"]
    assert rates["logged"] == rates["flat"] == rates["production"] == pytest.approx(0.3)
    assert (table["delta_vs_production"] == 0).all()


def test_a_better_ranker_wins_beyond_its_interval_and_a_worse_one_loses():
    rng = np.random.default_rng(0)
    sessions = np.repeat(np.arange(200), 5)
    frame = pd.DataFrame(
        {
            "session_id": sessions,
            "job_id": np.arange(1000),
            "position": np.tile(np.arange(5), 200),
        }
    )
    value = rng.uniform(0, 0.2, 1000)
    truth = pd.DataFrame({"session_id": sessions, "job_id": np.arange(1000)})
    truth["p_qualified_apply"] = value
    table = qualified_top_k(frame, truth, {"oracle": value, "anti": -value}).set_index("ranker")
    assert table.loc["oracle", "delta_lo"] > 0 and table.loc["anti", "delta_hi"] < 0
    assert table.loc["oracle", "qualified_lo"] < table.loc["oracle", "qualified_rate"]
    assert table.loc["oracle", "qualified_rate"] > table.loc["production", "qualified_hi"]


def test_qualified_top_k_named_errors():
    frame, truth = two_sessions()
    with pytest.raises(ValueError, match=r"2 served rows have no truth.*'job_id': 73"):
        qualified_top_k(frame, truth[truth["job_id"] < 72].head(5), {})
    with pytest.raises(ValueError, match=r"\(session_id, job_id\): 2 rows .*unique"):
        qualified_top_k(frame, pd.concat([truth, truth.head(1)]), {})
    with pytest.raises(ValueError, match="logged order"):
        qualified_top_k(frame, truth, {"production": np.zeros(7)})
    with pytest.raises(ValueError, match="3 values for 7 rows"):
        qualified_top_k(frame, truth, {"model": np.zeros(3)})
    with pytest.raises(ValueError, match="k=0"):
        qualified_top_k(frame, truth, {}, k=0)


def test_jobs_metrics_on_impressed_rows_with_probability_columns_only_for_probabilities():
    frame, _ = two_sessions()
    frame.loc[6, "impressed"] = False  # its (wild) scores must not count
    probs = np.array([0.2, 0.9, 0.1, 0.3, 0.8, 0.1, 0.0])
    raw = np.array([0.5, 3.0, -1.0, 0.0, 2.0, -2.0, 99.0])
    table = jobs_metrics(
        frame, {"model": {"apply": probs, "click": probs}, "production": {"apply": raw}}
    )
    assert list(table.columns) == list(JOBS_METRIC_COLUMNS)
    assert table[["scorer", "head"]].values.tolist() == [
        ["model", "apply"],
        ["model", "click"],
        ["production", "apply"],
    ]
    apply = table.iloc[0]
    y, p = np.array([0, 1, 0, 0, 1, 0]), probs[:6]
    assert apply["rows"] == 6 and apply["positives"] == 2
    assert apply["auc"] == 1.0  # positives 0.9, 0.8 above every negative
    expected_ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert apply["log_loss"] == pytest.approx(expected_ll)
    assert apply["observed_expected"] == pytest.approx(2 / p.sum())
    # bins: 0.1,0.1 (y 0,0) | 0.2 (0) | 0.3 (0) | 0.8 (1) | 0.9 (1)
    assert apply["ece"] == pytest.approx((0.2 + 0.2 + 0.3 + 0.2 + 0.1) / 6)
    production = table.iloc[2]
    assert production["auc"] == 1.0
    assert np.isnan(production[["log_loss", "ece", "observed_expected"]].astype(float)).all()


def test_jobs_metrics_rejects_bad_scores():
    frame, _ = two_sessions()
    with pytest.raises(ValueError, match=r"'model'.*not a probability in \[0, 1\]"):
        jobs_metrics(frame, {"model": {"apply": np.full(7, 1.5)}})
    with pytest.raises(ValueError, match="unknown heads"):
        jobs_metrics(frame, {"model": {"view": np.zeros(7)}})
    # a raw score is fine when it is not listed among the probabilities
    table = jobs_metrics(frame, {"score": {"apply": np.arange(7.0)}}, probabilities=())
    assert np.isnan(table["log_loss"].iloc[0])


def test_auc_interval_on_a_toy_case():
    rng = np.random.default_rng(1)
    n = 400
    labels = rng.random(n) < 0.3
    frame = pd.DataFrame({"impressed": True, "apply": labels.astype(int), "click": 1 - labels})
    score = labels + rng.normal(0, 1.0, n)
    row = jobs_metrics(frame, {"s": {"apply": score}}, probabilities=()).iloc[0]
    assert 0.5 < row["auc_lo"] < row["auc"] < row["auc_hi"] < 1.0
    assert row["auc_hi"] - row["auc_lo"] == pytest.approx(2 * 1.96 * 0.029, abs=0.03)


def test_paired_auc_delta_sign_and_interval():
    rng = np.random.default_rng(2)
    n = 2000
    labels = rng.random(n) < 0.3
    frame = pd.DataFrame({"impressed": True, "apply": labels.astype(int)})
    good, weak = labels + rng.normal(0, 0.7, n), labels + rng.normal(0, 3.0, n)
    delta, low, high = paired_auc_delta(frame, good, weak)
    assert 0 < low < delta < high
    assert paired_auc_delta(frame, weak, good)[2] < 0
    same = paired_auc_delta(frame, good, good)
    assert same[0] == 0 and same[1] == pytest.approx(0) and same[2] == pytest.approx(0)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.01, 0.02, "wins"),
        (-0.02, -0.01, "loses"),
        (-0.01, 0.01, "no significant difference"),
        (float("nan"), float("nan"), "no significant difference"),
    ],
)
def test_verdict_logic(low, high, expected):
    assert verdict(low, high) == expected


def test_jobs_verdict_reads_both_tables():
    topk = pd.DataFrame(
        {
            "ranker": ["production", "model"],
            "qualified_rate": [0.10, 0.12],
            "delta_vs_production": [0.0, 0.02],
            "delta_lo": [0.0, 0.01],
            "delta_hi": [0.0, 0.03],
        }
    )
    metrics = pd.DataFrame(
        {
            "scorer": ["model", "model", "production"],
            "head": ["apply", "click", "apply"],
            "auc": [0.70, 0.65, 0.72],
            "auc_lo": [0.68, 0.60, 0.71],
            "auc_hi": [0.72, 0.70, 0.73],
        }
    )
    table = jobs_verdict(topk, metrics, (-0.02, -0.03, -0.01))
    assert list(table.columns) == list(JOBS_VERDICT_COLUMNS)
    assert table["product"].eq("jobs").all()
    top, auc = table.iloc[0], table.iloc[1]
    assert top["metric"] == "qualified_applications_top_k" and top["verdict"] == "wins"
    assert (top["model_value"], top["production_value"], top["delta"]) == (0.12, 0.10, 0.02)
    assert auc["metric"] == "apply_auc" and auc["verdict"] == "loses"
    assert (auc["model_value"], auc["production_value"]) == (0.70, 0.72)
    ambiguous = pd.concat([metrics, metrics.tail(1).assign(scorer="other")])
    with pytest.raises(ValueError, match="pass `model=`"):
        jobs_verdict(topk, ambiguous, (0, -1, 1))
    assert jobs_verdict(topk, ambiguous, (0, -1, 1), model="model")["verdict"].iloc[1] == (
        "no significant difference"
    )


def test_jobs_verdict_without_truth_or_paired_delta():
    metrics = pd.DataFrame(
        {
            "scorer": ["model", "production"],
            "head": ["apply", "apply"],
            "auc": [0.70, 0.66],
            "auc_lo": [0.69, 0.64],
            "auc_hi": [0.71, 0.68],
        }
    )
    table = jobs_verdict(None, metrics)
    assert table["metric"].tolist() == ["apply_auc"]
    # conservative: Δ ± (0.01 + 0.02), whatever the two scorers' correlation
    row = table.iloc[0]
    assert row["delta"] == pytest.approx(0.04)
    assert (row["delta_lo"], row["delta_hi"]) == (pytest.approx(0.01), pytest.approx(0.07))
    assert row["verdict"] == "wins"
    close = metrics.assign(auc=[0.70, 0.68], auc_lo=[0.69, 0.66], auc_hi=[0.71, 0.70])
    assert jobs_verdict(None, close)["verdict"].iloc[0] == "no significant difference"
