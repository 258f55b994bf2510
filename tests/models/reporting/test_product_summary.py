"""The Ads and Jobs verdicts of the demo summary: `pool_product_verdicts` pools each product's
per-day model − production differences over the evaluated days (mean, √Σse²/n), judges them in
the metric's direction, and `format_product_verdicts` prints one line per metric."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from models.evaluation.ads import HIGHER_IS_BETTER, verdict
from models.evaluation.jobs import AUC_METRIC, TOP_K_METRIC
from models.reporting.summary import format_product_verdicts, pool_product_verdicts

Z95 = 1.959963984540054
COLUMNS = [
    "product", "metric", "days", "model_value", "production_value",
    "delta", "delta_lo", "delta_hi", "verdict",
]  # fmt: skip


def _day(day: int, product: str, metric: str, delta: float, half: float, model=0.7, prod=0.6):
    """One `product_verdicts` row: Δ with a symmetric 95% interval of half-width `half`."""
    return {
        "date": dt.date(2026, 1, day),
        "product": product,
        "metric": metric,
        "model_value": model,
        "production_value": prod,
        "delta": delta,
        "delta_lo": delta - half,
        "delta_hi": delta + half,
        "verdict": "per-day verdict (ignored)",
        "model_id": f"{product}-{day}",
    }


# three days whose intervals each contain 0, but whose pooled interval does not:
# pooled Δ = 0.02, half-width = √(0.02² + 0.04² + 0.025²) / 3 = √0.002625 / 3 ≈ 0.017078
DAYS = [(2, 0.01, 0.02), (3, 0.03, 0.04), (4, 0.02, 0.025)]
HALF = math.sqrt(0.02**2 + 0.04**2 + 0.025**2) / 3


def _frame(metrics_and_products) -> pd.DataFrame:
    return pd.DataFrame(
        [
            _day(day, product, metric, delta, half, model=0.5 + day / 100, prod=0.5)
            for product, metric in metrics_and_products
            for day, delta, half in DAYS
        ]
    )


def test_pooled_delta_is_the_mean_and_the_interval_sums_the_daily_variances():
    pooled = pool_product_verdicts(_frame([("ads", "auc")]))
    assert list(pooled.columns) == COLUMNS and len(pooled) == 1
    row = pooled.iloc[0]
    assert (row["product"], row["metric"], row["days"]) == ("ads", "auc", 3)
    assert row["delta"] == pytest.approx(0.02, abs=1e-15)
    assert row["delta_lo"] == pytest.approx(0.02 - HALF, rel=1e-12)
    assert row["delta_hi"] == pytest.approx(0.02 + HALF, rel=1e-12)
    assert row["model_value"] == pytest.approx((0.52 + 0.53 + 0.54) / 3)
    assert row["production_value"] == pytest.approx(0.5)
    # no single day is significant, the pooled three days are: the model wins on AUC
    assert all(delta - half < 0 for _, delta, half in DAYS)
    assert row["verdict"] == "wins"


def test_the_interval_reads_each_days_standard_error_from_its_bounds():
    """se_d = (hi − lo) / (2·1.96): an asymmetric day counts by its full width."""
    rows = pd.DataFrame(
        [
            {**_day(2, "jobs", AUC_METRIC, 0.0, 0.0), "delta_lo": -0.01, "delta_hi": 0.05},
            {**_day(3, "jobs", AUC_METRIC, 0.04, 0.0), "delta_lo": 0.0, "delta_hi": 0.08},
        ]
    )
    row = pool_product_verdicts(rows).iloc[0]
    se = [0.06 / (2 * Z95), 0.08 / (2 * Z95)]
    half = Z95 * math.sqrt(se[0] ** 2 + se[1] ** 2) / 2
    assert row["delta"] == pytest.approx(0.02)
    assert (row["delta_lo"], row["delta_hi"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert row["verdict"] == "no significant difference"  # 0.02 ± 0.025


@pytest.mark.parametrize(
    ("metric", "sign", "expected"),
    [
        ("auc", +1, "wins"),  # higher is better
        ("auc", -1, "loses"),
        ("log_loss", +1, "loses"),  # lower is better: a larger loss than production loses
        ("log_loss", -1, "wins"),
        ("ece", +1, "loses"),
        ("ece", -1, "wins"),
        (AUC_METRIC, -1, "loses"),
        (TOP_K_METRIC, +1, "wins"),
    ],
)
def test_the_verdict_follows_the_metrics_direction(metric, sign, expected):
    rows = pd.DataFrame([_day(day, "ads", metric, sign * delta, half) for day, delta, half in DAYS])
    row = pool_product_verdicts(rows).iloc[0]
    assert row["delta"] == pytest.approx(sign * 0.02)
    assert row["verdict"] == expected


@pytest.mark.parametrize("metric", ["auc", "log_loss", "ece"])
@pytest.mark.parametrize(("delta", "half"), [(0.03, 0.01), (-0.03, 0.01), (0.005, 0.01)])
def test_one_day_pools_to_itself_and_agrees_with_the_daily_verdict(metric, delta, half):
    row = pool_product_verdicts(pd.DataFrame([_day(2, "ads", metric, delta, half)])).iloc[0]
    assert (row["delta"], row["delta_lo"], row["delta_hi"]) == pytest.approx(
        (delta, delta - half, delta + half)
    )
    assert row["verdict"] == verdict(delta - half, delta + half, HIGHER_IS_BETTER[metric])


def test_products_and_metrics_pool_separately_and_keep_their_order():
    frame = _frame([("jobs", AUC_METRIC), ("ads", "auc"), ("ads", "log_loss")])
    extra = pd.DataFrame([_day(5, "jobs", TOP_K_METRIC, -0.05, 0.01)])
    pooled = pool_product_verdicts(pd.concat([frame, extra], ignore_index=True))
    assert list(zip(pooled["product"], pooled["metric"], pooled["days"], strict=True)) == [
        ("jobs", AUC_METRIC, 3),
        ("ads", "auc", 3),
        ("ads", "log_loss", 3),
        ("jobs", TOP_K_METRIC, 1),
    ]
    assert pooled["verdict"].tolist() == ["wins", "wins", "loses", "loses"]


def test_days_without_an_interval_are_left_out_of_the_pool():
    rows = _frame([("ads", "auc")])
    rows.loc[0, "delta_lo"] = float("nan")  # day 2 without an interval
    only_nan = pd.DataFrame([{**_day(2, "ads", "ece", 0.1, 0.01), "delta": float("nan")}])
    pooled = pool_product_verdicts(pd.concat([rows, only_nan], ignore_index=True))
    assert pooled["metric"].tolist() == ["auc"]  # the ECE row had no usable day
    row = pooled.iloc[0]
    assert row["days"] == 2
    assert row["delta"] == pytest.approx(0.025)
    half = math.sqrt(0.04**2 + 0.025**2) / 2
    assert (row["delta_lo"], row["delta_hi"]) == pytest.approx((0.025 - half, 0.025 + half))


@pytest.mark.parametrize("empty", [None, pd.DataFrame(), pd.DataFrame(columns=COLUMNS)])
def test_no_verdict_rows_give_an_empty_frame_with_the_columns(empty):
    pooled = pool_product_verdicts(empty)
    assert pooled.empty and list(pooled.columns) == COLUMNS
    assert "no evaluated day yet" in format_product_verdicts(pooled)


def test_the_report_names_each_product_and_prints_the_losing_metric_loudly():
    frame = _frame([("ads", "auc"), ("ads", "log_loss"), ("jobs", AUC_METRIC)])
    flat = pd.DataFrame([_day(2, "jobs", TOP_K_METRIC, 0.0, 0.01)])
    text = format_product_verdicts(
        pool_product_verdicts(pd.concat([frame, flat], ignore_index=True))
    )
    lines = text.strip().splitlines()
    assert "Ads CTR vs its production ranker (pooled over 3 days):" in lines
    assert "Jobs vs its production ranker (pooled over 3 days):" in lines
    assert lines.index("Ads CTR vs its production ranker (pooled over 3 days):") < lines.index(
        "Jobs vs its production ranker (pooled over 3 days):"
    )
    auc = next(line for line in lines if line.strip().startswith("auc:"))
    assert auc.endswith("the model WINS") and "difference +0.0200" in auc
    loss = next(line for line in lines if line.strip().startswith("log_loss:"))
    assert loss.endswith("the model LOSES")
    assert f"[{0.02 - HALF:+.4f}, {0.02 + HALF:+.4f}]" in loss
    top = next(line for line in lines if line.strip().startswith(f"{TOP_K_METRIC}:"))
    assert top.endswith(": no significant difference") and "LOSES" not in top
    assert text.count("LOSES") == 1
