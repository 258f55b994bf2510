"""Tests for the Ads and Jobs tables of the review snapshot (models.reporting.review,
`PRODUCT_SCHEMAS`): round trip with types, NULLs where allowed, and the value rules (domains,
ranges, intervals, one row per key) named in the error."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import pytest

from models.reporting.review import (
    ADS_CALIBRATION_SCHEMA,
    ADS_METRICS_SCHEMA,
    JOBS_METRICS_SCHEMA,
    JOBS_TOPK_SCHEMA,
    PRODUCT_SCHEMAS,
    PRODUCT_VERDICTS_SCHEMA,
    SNAPSHOT_TABLES,
    StaleSnapshotError,
    read_review_snapshot,
    write_review_snapshot,
)

DAY = dt.date(2024, 3, 2)
NAN = float("nan")


def _products() -> dict[str, pd.DataFrame]:
    return {
        "ads_metrics": pd.DataFrame(
            [
                (DAY, "a1", "model", "website_visit", 800, 40, 0.76, 0.74, 0.78, 0.21, 0.004, 1.01),
                (DAY, "a1", "model_8bit", "website_visit", 800, 40, 0.7596, 0.74, 0.78)
                + (0.21, 0.004, 1.01),
                (DAY, "a1", "production", "all", 800, 40, 0.77, 0.75, 0.79, NAN, NAN, NAN),
            ],
            columns=list(ADS_METRICS_SCHEMA),
        ),
        "ads_calibration": pd.DataFrame(
            [
                (DAY, "a1", "model", "website_visit", 0, 0.01, 0.012, 400),
                (DAY, "a1", "model", "website_visit", 1, 0.08, 0.075, 400),
            ],
            columns=list(ADS_CALIBRATION_SCHEMA),
        ),
        "jobs_metrics": pd.DataFrame(
            [
                (DAY, "j1", "model", "apply", 600, 24, 0.81, 0.80, 0.82, 0.15, 0.006, 0.98),
                (DAY, "j1", "production", "apply", 600, 24, 0.78, 0.77, 0.79, NAN, NAN, NAN),
            ],
            columns=list(JOBS_METRICS_SCHEMA),
        ),
        "jobs_topk": pd.DataFrame(
            [
                (DAY, "j1", "model", 10, 60, 0.08, 0.06, 0.10, 0.003, -0.001, 0.007),
                (DAY, "j1", "production", 10, 60, 0.077, 0.057, 0.097, NAN, NAN, NAN),
            ],
            columns=list(JOBS_TOPK_SCHEMA),
        ),
        "product_verdicts": pd.DataFrame(
            [
                (DAY, "a1", "ads", "auc", 0.76, 0.77, -0.01, -0.02, -0.005, "loses"),
                (DAY, "j1", "jobs", "qualified_rate@10", 0.08, 0.077, 0.003, -0.001, 0.007)
                + ("no significant difference",),
            ],
            columns=list(PRODUCT_VERDICTS_SCHEMA),
        ),
    }


def _write(path, details: dict[str, pd.DataFrame]):
    return write_review_snapshot(
        path, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), details=details
    )


def test_product_tables_round_trip_with_types_and_nulls(tmp_path):
    tables = read_review_snapshot(_write(tmp_path / "r.duckdb", _products()))
    assert set(PRODUCT_SCHEMAS) <= set(SNAPSHOT_TABLES)
    for table, schema in PRODUCT_SCHEMAS.items():
        assert list(tables[table].columns) == list(schema), table
    ads = tables["ads_metrics"].set_index("scorer")
    assert ads.loc["model_8bit", "auc"] == pytest.approx(0.7596)
    assert math.isnan(ads.loc["production", "ece"])  # production: no probability to judge
    assert str(tables["jobs_topk"]["k"].dtype) == "int32"
    assert str(tables["ads_calibration"]["bin"].dtype) == "int32"
    assert tables["product_verdicts"]["verdict"].tolist() == [
        "loses",
        "no significant difference",
    ]
    assert pd.isna(tables["jobs_topk"].set_index("ranker").loc["production", "delta_lo"])


def test_empty_product_tables_keep_their_columns(tmp_path):
    tables = read_review_snapshot(_write(tmp_path / "r.duckdb", {}))
    for table, schema in PRODUCT_SCHEMAS.items():
        assert tables[table].empty and list(tables[table].columns) == list(schema)


def _broken(table: str, row: int, column: str, value) -> dict[str, pd.DataFrame]:
    frames = _products()
    frames[table].loc[row, column] = value
    return frames


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "message"),
    [
        ("ads_metrics", 0, "scorer", "model_16bit", r"'ads_metrics' column 'scorer'.*model_16bit"),
        ("ads_metrics", 0, "head", "link_click", r"'ads_metrics' column 'head'.*link_click"),
        ("jobs_metrics", 0, "head", "website_visit", r"'jobs_metrics' column 'head'"),
        ("jobs_topk", 0, "ranker", "random", r"'jobs_topk' column 'ranker'.*random"),
        ("product_verdicts", 0, "product", "feed", r"'product'.*\['feed'\]"),
        ("product_verdicts", 0, "verdict", "win", r"'verdict'.*\['win'\]"),
        ("ads_metrics", 0, "auc", 1.2, r"'ads_metrics' column 'auc'.*outside \[0.0, 1.0\]"),
        ("ads_metrics", 0, "log_loss", math.inf, r"'log_loss'.*not a finite number"),
        ("jobs_metrics", 1, "rows", -1, r"'jobs_metrics' column 'rows'.*outside"),
        ("jobs_topk", 0, "k", 0, r"'jobs_topk' column 'k'.*outside \[1.0, inf\]"),
        ("ads_calibration", 0, "observed_rate", 1.5, r"'observed_rate'.*outside"),
        ("ads_metrics", 0, "positives", 900, r"positives > rows.*900 > 800"),
        ("ads_metrics", 0, "auc_lo", 0.77, r"'auc' is outside its interval"),
        ("jobs_topk", 0, "delta_hi", 0.002, r"'delta_vs_production' is outside its interval"),
        ("product_verdicts", 0, "delta_lo", 0.0, r"'delta' is outside its interval"),
        ("ads_metrics", 0, "rows", None, r"'ads_metrics' column 'rows' has 1 missing"),
        ("ads_calibration", 1, "bin", 0, r"'ads_calibration' has 2 rows sharing a key"),
    ],
)
def test_bad_product_values_are_named(tmp_path, table, row, column, value, message):
    with pytest.raises(ValueError, match=message):
        _write(tmp_path / "r.duckdb", _broken(table, row, column, value))
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_snapshot_without_the_product_tables_is_out_of_date(tmp_path):
    path = _write(tmp_path / "r.duckdb", _products())
    with duckdb.connect(str(path)) as conn:
        conn.execute("DROP TABLE ads_metrics")
    with pytest.raises(StaleSnapshotError, match=r"table 'ads_metrics' has columns \[\]"):
        read_review_snapshot(path)
