"""Shuffle bytes from the Spark REST API: a repartition shuffles, a narrow transform does not."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from spark.shuffle_metrics import measure_shuffle


@pytest.fixture(scope="module")
def frame(spark):
    if not spark.sparkContext.uiWebUrl:
        pytest.skip("the shared Spark session runs without its UI (spark.ui.enabled=false)")
    return spark.range(20_000).select(
        F.col("id"), F.sha2(F.col("id").cast("string"), 256).alias("payload")
    )


def test_repartition_reports_shuffle_bytes_and_rows(spark, frame):
    measured = measure_shuffle(spark, frame.repartition(4, F.col("id")), "repartition")
    assert measured.label == "repartition"
    assert measured.rows == 20_000
    # 20k rows of a 64-char hex digest cannot compress below ~32 bytes a row.
    assert measured.shuffle_write_bytes > 20_000 * 32
    assert measured.seconds > 0


def test_narrow_transformation_reports_no_shuffle(spark, frame):
    narrow = frame.filter(F.col("id") % 2 == 0).select(F.col("id"), F.upper(F.col("payload")))
    measured = measure_shuffle(spark, narrow, "narrow")
    assert measured.shuffle_write_bytes == 0
    assert measured.rows == 10_000


def test_measurements_are_per_action(spark, frame):
    first = measure_shuffle(spark, frame.repartition(4, F.col("id")), "first")
    measure_shuffle(spark, frame.filter(F.col("id") < 10), "between")
    again = measure_shuffle(spark, frame.repartition(4, F.col("id")), "again")
    # Each action counts only its own job group: same plan, same bytes, nothing accumulated.
    assert again.shuffle_write_bytes == first.shuffle_write_bytes
