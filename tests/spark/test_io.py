"""Atomic, idempotent Spark partition writes and reads that name what is missing."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from spark.io import read_raw_partitions, read_spark_partitions, write_spark_partition
from spark.schemas import FEED_IMPRESSIONS
from spark.storage import partition_dir, write_partition

DAY = dt.date(2026, 1, 1)
NEXT = dt.date(2026, 1, 2)


def _frame(spark, date: dt.date, values: list[int]):
    return spark.createDataFrame([(v,) for v in values], "value long").select(
        F.lit(date).alias("date"), F.col("value")
    )


def _leftovers(root) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".") and p.is_dir())


def test_write_twice_replaces_the_partition_and_leaves_no_staging(spark, tmp_path):
    first = write_spark_partition(_frame(spark, DAY, [1, 2, 3]), tmp_path, "features", DAY)
    assert first == partition_dir(tmp_path, "features", DAY)
    again = write_spark_partition(_frame(spark, DAY, [1, 2, 3]), tmp_path, "features", DAY)
    assert again == first
    read = read_spark_partitions(spark, tmp_path, "features", [DAY])
    assert sorted(row.value for row in read.collect()) == [1, 2, 3]
    replaced = write_spark_partition(_frame(spark, DAY, [9]), tmp_path, "features", DAY)
    assert [row.value for row in spark.read.parquet(str(replaced)).collect()] == [9]
    assert _leftovers(tmp_path) == []
    assert [p.name for p in (tmp_path / "features").iterdir()] == ["date=2026-01-01"]


def test_failed_write_keeps_the_previous_partition_and_no_staging(spark, tmp_path):
    write_spark_partition(_frame(spark, DAY, [1]), tmp_path, "features", DAY)
    failing = _frame(spark, DAY, [1]).select(
        F.col("date"), F.raise_error(F.lit("boom")).cast("long").alias("value")
    )
    with pytest.raises(Exception, match="boom"):
        write_spark_partition(failing, tmp_path, "features", DAY)
    read = read_spark_partitions(spark, tmp_path, "features", [DAY])
    assert [row.value for row in read.collect()] == [1]
    assert _leftovers(tmp_path) == []


def test_read_several_days_keeps_the_date_column_from_the_files(spark, tmp_path):
    write_spark_partition(_frame(spark, DAY, [1, 2]), tmp_path, "features", DAY)
    write_spark_partition(_frame(spark, NEXT, [3]), tmp_path, "features", NEXT)
    read = read_spark_partitions(spark, tmp_path, "features", [DAY, NEXT])
    assert read.columns == ["date", "value"]
    assert dict(read.dtypes)["date"] == "date"
    assert sorted((row.date, row.value) for row in read.collect()) == [
        (DAY, 1),
        (DAY, 2),
        (NEXT, 3),
    ]


def test_missing_partition_names_dataset_and_date(spark, tmp_path):
    write_spark_partition(_frame(spark, DAY, [1]), tmp_path, "features", DAY)
    with pytest.raises(FileNotFoundError, match="features for 2026-01-02.*materialize"):
        read_spark_partitions(spark, tmp_path, "features", [DAY, NEXT])
    with pytest.raises(ValueError, match="no dates"):
        read_spark_partitions(spark, tmp_path, "features", [])


def test_raw_partitions_written_by_arrow_read_with_their_types(spark, tmp_path):
    row = {name: 0 for name in FEED_IMPRESSIONS.names} | {"date": DAY, "dwell_seconds": 2.5}
    write_partition(
        pa.Table.from_pylist([row], schema=FEED_IMPRESSIONS),
        tmp_path / "raw",
        "feed_impressions",
        DAY,
    )
    assert pq.read_schema(
        partition_dir(tmp_path / "raw", "feed_impressions", DAY) / "part-00000.parquet"
    ).equals(FEED_IMPRESSIONS)
    read = read_raw_partitions(spark, tmp_path, "feed_impressions", [DAY])
    assert read.columns == FEED_IMPRESSIONS.names
    types = dict(read.dtypes)
    assert (types["date"], types["click"], types["dwell_seconds"]) == ("date", "tinyint", "float")
    assert read.collect()[0].dwell_seconds == 2.5
