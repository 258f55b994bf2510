"""Data-health review tables from example and dwell-threshold partitions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from models.evaluation.data_quality import DENSE_FEATURES
from models.reporting.data_health import EXAMPLE_QUALITY_CHECK, data_health
from models.reporting.review import DWELL_THRESHOLDS_SCHEMA, LABEL_RATES_SCHEMA
from spark.schemas import LABELS

DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


def _examples(path, long_dwell: list[int]) -> None:
    n = len(long_dwell)
    frame = pd.DataFrame(
        {
            "split": ["train"] * (n - 2) + ["holdout"] * 2,
            **{label: [0] * n for label in LABELS},
            **{feature: [1.0] * n for feature in DENSE_FEATURES},
        }
    )
    frame["click"] = [1] + [0] * (n - 1)
    frame["long_dwell"] = long_dwell
    path.mkdir(parents=True)
    frame.to_parquet(path / "part-0.parquet")


def test_rates_checks_and_thresholds_per_day(tmp_path):
    _examples(tmp_path / "ex1", [1] + [0] * 9)  # long_dwell 1 / 8 train rows
    _examples(tmp_path / "ex2", [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])  # 5 / 10 overall: out of bounds
    thresholds = tmp_path / "th1"
    thresholds.mkdir()
    pd.DataFrame(
        [(0, "article", "web", 41.5, 300, "cluster", 0.9, 35.0)],
        columns=list(DWELL_THRESHOLDS_SCHEMA)[1:],
    ).to_parquet(thresholds / "part-0.parquet")
    health = data_health(
        {DAY1: tmp_path / "ex1", DAY2: tmp_path / "ex2", dt.date(2026, 1, 3): tmp_path / "no"},
        {DAY1: thresholds, DAY2: tmp_path / "missing"},
    )
    rates = health.label_rates.set_index(["date", "split", "label"])
    assert list(health.label_rates.columns) == list(LABEL_RATES_SCHEMA)
    assert len(health.label_rates) == 2 * 2 * len(LABELS)  # 2 days x 2 splits, the third missing
    assert rates.loc[(DAY1, "train", "long_dwell"), "rate"] == pytest.approx(1 / 8)
    assert rates.loc[(DAY1, "train", "click"), "positives"] == 1
    assert rates.loc[(DAY1, "holdout", "click"), "rows"] == 2
    checks = health.data_checks.set_index("date")
    assert list(checks["check"]) == [EXAMPLE_QUALITY_CHECK] * 2
    assert not checks.loc[DAY2, "passed"] and "long_dwell rate 0.5000" in checks.loc[DAY2, "detail"]
    assert list(health.dwell_thresholds.columns) == list(DWELL_THRESHOLDS_SCHEMA)
    assert health.dwell_thresholds["date"].tolist() == [DAY1]


def test_threshold_contract_matches_spark():
    from spark.dwell import THRESHOLD_COLUMNS

    assert list(DWELL_THRESHOLDS_SCHEMA)[1:] == list(THRESHOLD_COLUMNS)
