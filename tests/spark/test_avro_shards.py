"""Avro shards for ATDS: examples survive a write + ATDSDataset read; schema versions checked."""

from __future__ import annotations

import datetime as dt

import fastavro
import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from spark.avro_shards import (
    AVRO_COLUMNS,
    AVRO_SCHEMA,
    AVRO_SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    atds_dataset,
    write_avro_shards,
    write_avro_shards_spark,
)
from spark.partition_manifest import MANIFEST_FILE, fingerprint_table, read_fingerprint
from spark.schemas import TRAINING_EXAMPLE

EPOCH = dt.date(1970, 1, 1)


def _examples(n: int = 5) -> pa.Table:
    rows = [
        {
            "date": dt.date(2026, 1, 1 + i % 2),
            "session_id": 1_000_000_007 * (i + 1),
            "split": ("train", "holdout", "random_bucket")[i % 3],
            "member_id": 10 + i,
            "post_id": 2**40 + i,
            "position": i,
            "platform": ("web", "ios", "android")[i % 3],
            "hour": 23 - i,
            "member_seniority": i % 4,
            "member_industry": 7 * i,
            "member_country": 3,
            "member_log_connections": 1.25 * i,
            "hist_post_ids": [2**41 + j for j in range(i)],  # row 0: empty history
            "hist_author_ids": [2**33 + j for j in range(i)],
            "hist_actions": [j % 5 for j in range(i)],
            "author_id": 500 + i,
            "content_type": ("text", "video", "poll")[i % 3],
            "hashtag_ids": [i, i + 1, i + 2][: 1 + i % 3],
            "length": 0.5 + i,
            "post_age_hours": 3.75 * i,
            "author_log_followers": 4.0 - i,
            "click": i % 2,
            "like": (i + 1) % 2,
            "comment": 0,
            "share": 1 if i == 3 else 0,
            "vote": 0,
            "dwell_seconds": 9.5 * i,
            "long_dwell": 1 if i > 2 else 0,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=TRAINING_EXAMPLE)


def spark_schema():
    """TRAINING_EXAMPLE as a Spark schema (date, tinyint labels, arrays)."""
    return from_arrow_schema(TRAINING_EXAMPLE)


def _rows_of_batches(dataset) -> dict[str, list]:
    """Concatenate batches into per-column Python lists (sparse rows back to lists)."""
    out: dict[str, list] = {name: [] for name in AVRO_COLUMNS}
    for batch in dataset:
        for name, tensor in batch.items():
            if hasattr(tensor, "indices"):  # tf.SparseTensor [batch, None]
                rows = [[] for _ in range(int(tensor.dense_shape[0]))]
                for (row, _), value in zip(
                    tensor.indices.numpy(), tensor.values.numpy(), strict=True
                ):
                    rows[row].append(value.item())
                out[name].extend(rows)
            else:
                values = tensor.numpy().tolist()
                out[name].extend(v.decode() if isinstance(v, bytes) else v for v in values)
    return out


def test_schema_covers_every_training_example_column():
    assert AVRO_COLUMNS == tuple(TRAINING_EXAMPLE.names)
    assert AVRO_SCHEMA["doc"].endswith(f"version {AVRO_SCHEMA_VERSION}.")


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_round_trip_through_atds(tmp_path, codec):
    table = _examples(5)
    paths = write_avro_shards(table, tmp_path / "shards", num_shards=2, codec=codec)
    assert [p.name for p in paths] == ["part-00000.avro", "part-00001.avro"]
    got = _rows_of_batches(atds_dataset(paths, batch_size=2))
    want = table.to_pydict()
    assert got["date"] == [(d - EPOCH).days for d in want["date"]]
    for name in AVRO_COLUMNS:
        if name == "date":
            continue
        if TRAINING_EXAMPLE.field(name).type == pa.float32():
            np.testing.assert_array_equal(np.float32(got[name]), np.float32(want[name]), name)
        else:
            assert got[name] == want[name], name


def test_pandas_rows_write_the_same_records(tmp_path):
    table = _examples(3)
    from_arrow = write_avro_shards(table, tmp_path / "a")[0]
    from_pandas = write_avro_shards(table.to_pandas(), tmp_path / "b")[0]
    with open(from_arrow, "rb") as a, open(from_pandas, "rb") as b:
        assert list(fastavro.reader(a)) == list(fastavro.reader(b))


def test_rewrite_replaces_the_shard_set(tmp_path):
    write_avro_shards(_examples(4), tmp_path / "s", num_shards=3)
    paths = write_avro_shards(_examples(2), tmp_path / "s", num_shards=1)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [MANIFEST_FILE, "part-00000.avro"]
    assert read_fingerprint(tmp_path / "s") == fingerprint_table(_examples(2))
    assert len(_rows_of_batches(atds_dataset(paths, batch_size=8))["post_id"]) == 2


@pytest.mark.parametrize("metadata", [{SCHEMA_VERSION_KEY: "0"}, {}])
def test_reader_names_the_shard_with_another_schema_version(tmp_path, metadata):
    good = write_avro_shards(_examples(2), tmp_path / "good")[0]
    with open(good, "rb") as shard:
        records = list(fastavro.reader(shard))
    stale = tmp_path / "stale.avro"
    with open(stale, "wb") as out:
        fastavro.writer(out, fastavro.parse_schema(AVRO_SCHEMA), records, metadata=metadata)
    expected = rf"{stale}.*expects {SCHEMA_VERSION_KEY}={AVRO_SCHEMA_VERSION}"
    with pytest.raises(ValueError, match=expected):
        atds_dataset([good, stale], batch_size=2)


def test_nulls_and_missing_columns_are_refused(tmp_path):
    table = _examples(2)
    with pytest.raises(ValueError, match="missing columns \\['long_dwell'\\]"):
        write_avro_shards(table.drop(["long_dwell"]), tmp_path / "x")
    nulls = table.set_column(
        table.schema.get_field_index("click"), "click", pa.array([1, None], pa.int8())
    )
    with pytest.raises(ValueError, match="column `click` has 1 null"):
        write_avro_shards(nulls, tmp_path / "y")
    with pytest.raises(ValueError, match="num_shards"):
        write_avro_shards(table, tmp_path / "z", num_shards=0)


def _sorted_rows(columns: dict[str, list]) -> list[tuple]:
    """Rows of a column dict as tuples (lists made hashable), sorted by (session_id, post_id)."""
    names = list(AVRO_COLUMNS)
    rows = zip(*[columns[name] for name in names], strict=True)
    frozen = [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows]
    key = (names.index("session_id"), names.index("post_id"))
    return sorted(frozen, key=lambda row: (row[key[0]], row[key[1]]))


def test_spark_tasks_write_one_shard_per_partition_with_the_same_rows(spark, tmp_path):
    table = _examples(7)
    frame = spark.createDataFrame(table.to_pandas(), schema=spark_schema()).repartition(3)
    shards = write_avro_shards_spark(frame, tmp_path / "shards")
    assert [s.path.name for s in shards] == [f"part-{i:05d}.avro" for i in range(len(shards))]
    assert 1 <= len(shards) <= 3
    assert sum(s.rows for s in shards) == 7
    assert all(s.bytes == s.path.stat().st_size for s in shards)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        MANIFEST_FILE,
        *[s.path.name for s in shards],
    ]
    assert read_fingerprint(tmp_path / "shards") == fingerprint_table(table)  # summed over tasks
    got = _rows_of_batches(atds_dataset([s.path for s in shards], batch_size=3))
    want = table.to_pydict()
    want["date"] = [(d - EPOCH).days for d in want["date"]]
    want = {
        name: list(np.float32(values))
        if TRAINING_EXAMPLE.field(name).type == pa.float32()
        else values
        for name, values in want.items()
    }
    got = {
        name: list(np.float32(values))
        if TRAINING_EXAMPLE.field(name).type == pa.float32()
        else values
        for name, values in got.items()
    }
    assert _sorted_rows(got) == _sorted_rows(want)
    with open(shards[0].path, "rb") as shard:
        assert fastavro.reader(shard).metadata[SCHEMA_VERSION_KEY] == str(AVRO_SCHEMA_VERSION)


def test_spark_writer_replaces_the_set_and_writes_one_empty_shard_for_no_rows(spark, tmp_path):
    frame = spark.createDataFrame(_examples(4).to_pandas(), schema=spark_schema())
    write_avro_shards_spark(frame, tmp_path / "s", num_shards=3)
    shards = write_avro_shards_spark(frame.limit(0), tmp_path / "s")
    assert [(s.path.name, s.rows) for s in shards] == [("part-00000.avro", 0)]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [MANIFEST_FILE, "part-00000.avro"]
    assert read_fingerprint(tmp_path / "s").rows == 0
    assert _rows_of_batches(atds_dataset([shards[0].path], batch_size=2))["post_id"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no staging directory left


def test_spark_writer_refuses_missing_columns_and_nulls_keeping_the_old_shards(spark, tmp_path):
    frame = spark.createDataFrame(_examples(3).to_pandas(), schema=spark_schema())
    write_avro_shards_spark(frame, tmp_path / "s")
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    with pytest.raises(ValueError, match=r"missing columns \['long_dwell'\]"):
        write_avro_shards_spark(frame.drop("long_dwell"), tmp_path / "s")
    nulls = frame.withColumn("click", F.lit(None).cast("tinyint"))
    with pytest.raises(ValueError, match=r"not written.*column `click` has \d+ null values"):
        write_avro_shards_spark(nulls, tmp_path / "s")
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["s"]
