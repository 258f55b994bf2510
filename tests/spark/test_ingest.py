"""Validation and quarantine of user-supplied raw log partitions (Parquet and Avro)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark.ingest import (
    QUARANTINE_DIR,
    BadLogPartitionError,
    EmptyPartitionError,
    LogValidationError,
    QuarantinedPartitionError,
    quarantine_bad_partition,
    quarantine_partition,
    validate_raw_partition,
)
from spark.schemas import FEED_IMPRESSIONS, FEED_SESSIONS

DAY = dt.date(2026, 1, 2)


def _impressions(n: int = 3) -> pa.Table:
    rows = [
        {
            "date": DAY,
            "session_id": 1,
            "member_id": 7,
            "post_id": 100 + i,
            "position": i,
            "click": i % 2,
            "like": 0,
            "comment": 0,
            "share": 0,
            "vote": 0,
            "dwell_seconds": 1.5 * i,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=FEED_IMPRESSIONS)


def _partition(root: Path, table: str = "feed_impressions") -> Path:
    path = root / table / f"date={DAY.isoformat()}"
    path.mkdir(parents=True)
    return path


def test_valid_parquet_partition_round_trips_in_schema_order(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    reordered = table.select(list(reversed(table.column_names)))
    pq.write_table(reordered.slice(0, 2), path / "part-00000.parquet")
    pq.write_table(reordered.slice(2), path / "part-00001.parquet")
    (path / "_SUCCESS").touch()
    result = validate_raw_partition(path, "feed_impressions")
    assert result.schema.equals(FEED_IMPRESSIONS)
    assert result.equals(table)


def test_safe_integer_and_float_widening_is_cast_to_the_schema(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    widened = table.set_column(
        table.schema.get_field_index("click"), "click", table.column("click").cast(pa.int64())
    ).set_column(
        table.schema.get_field_index("position"),
        "position",
        table.column("position").cast(pa.int16()),
    )
    pq.write_table(widened.append_column("extra", pa.array(["x"] * 3)), path / "p.parquet")
    result = validate_raw_partition(path, "feed_impressions")
    assert result.schema.equals(FEED_IMPRESSIONS)
    assert result.column("click").to_pylist() == [0, 1, 0]


def test_missing_column_names_file_column_and_expected_type(tmp_path):
    path = _partition(tmp_path)
    pq.write_table(_impressions().drop_columns(["dwell_seconds"]), path / "part-0.parquet")
    with pytest.raises(LogValidationError) as info:
        validate_raw_partition(path, "feed_impressions")
    message = str(info.value)
    assert str(path / "part-0.parquet") in message
    assert "`dwell_seconds` is missing" in message
    assert "expected type float" in message
    assert "Re-export" in message
    assert isinstance(info.value, BadLogPartitionError) and isinstance(info.value, ValueError)


def test_wrong_type_names_file_column_expected_and_found_type(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    index = table.schema.get_field_index("dwell_seconds")
    bad = table.set_column(index, "dwell_seconds", pa.array(["1.0", "2.0", "3.0"]))
    pq.write_table(bad, path / "part-0.parquet")
    with pytest.raises(LogValidationError) as info:
        validate_raw_partition(path, "feed_impressions")
    message = str(info.value)
    assert str(path / "part-0.parquet") in message
    assert "`dwell_seconds` has type string, expected type float" in message


def test_narrowing_float_is_rejected_and_out_of_range_integer_too(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    index = table.schema.get_field_index("dwell_seconds")
    pq.write_table(
        table.set_column(index, "dwell_seconds", table.column(index).cast(pa.float64())),
        path / "a.parquet",
    )
    with pytest.raises(LogValidationError, match="has type double, expected type float"):
        validate_raw_partition(path, "feed_impressions")
    (path / "a.parquet").unlink()
    index = table.schema.get_field_index("click")
    pq.write_table(
        table.set_column(index, "click", pa.array([0, 1, 300], pa.int32())), path / "b.parquet"
    )
    with pytest.raises(LogValidationError, match=r"`click` \(type int32\).*expected type int8"):
        validate_raw_partition(path, "feed_impressions")


def test_nested_struct_field_missing_is_named(tmp_path):
    path = _partition(tmp_path, "feed_sessions")
    served = pa.struct([("post_id", pa.int64()), ("author_id", pa.int64())])
    schema = pa.schema(
        [field for field in FEED_SESSIONS if field.name != "served"]
        + [pa.field("served", pa.list_(served))]
    )
    row = {name: None for name in schema.names} | {"date": DAY, "served": []}
    pq.write_table(pa.Table.from_pylist([row], schema=schema), path / "s.parquet")
    with pytest.raises(LogValidationError, match=r"`served\[\]\.position` is missing"):
        validate_raw_partition(path, "feed_sessions")


def test_empty_partition_names_the_date(tmp_path):
    path = _partition(tmp_path)
    pq.write_table(_impressions(0), path / "part-0.parquet")
    with pytest.raises(EmptyPartitionError, match="zero rows for date 2026-01-02") as info:
        validate_raw_partition(path, "feed_impressions")
    assert "part-0.parquet" in str(info.value)
    (path / "part-0.parquet").unlink()
    with pytest.raises(EmptyPartitionError, match="no .parquet or .avro file"):
        validate_raw_partition(path, "feed_impressions")


def test_corrupt_files_name_the_file(tmp_path):
    path = _partition(tmp_path)
    (path / "part-0.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(LogValidationError, match="cannot read .*part-0.parquet"):
        validate_raw_partition(path, "feed_impressions")
    (path / "part-0.parquet").unlink()
    (path / "part-0.avro").write_bytes(b"Obj\x01 truncated")
    with pytest.raises(LogValidationError, match="cannot read .*part-0.avro"):
        validate_raw_partition(path, "feed_impressions")


def test_rows_of_another_date_are_rejected(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    other = table.set_column(0, "date", pa.array([DAY, DAY, dt.date(2026, 1, 1)]))
    pq.write_table(other, path / "p.parquet")
    with pytest.raises(LogValidationError, match="partition date 2026-01-02.*2026-01-01"):
        validate_raw_partition(path, "feed_impressions")


AVRO_IMPRESSIONS = {
    "type": "record",
    "name": "FeedImpression",
    "fields": [
        {"name": "date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "session_id", "type": "long"},
        {"name": "member_id", "type": "long"},
        {"name": "post_id", "type": "long"},
        {"name": "position", "type": "int"},
        *[{"name": name, "type": "int"} for name in ("click", "like", "comment", "share", "vote")],
        {"name": "dwell_seconds", "type": ["null", "float"]},
    ],
}


def test_avro_partition_is_read_and_narrowed_to_int8(tmp_path):
    path = _partition(tmp_path)
    table = _impressions()
    with (path / "part-0.avro").open("wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(AVRO_IMPRESSIONS), table.to_pylist())
    result = validate_raw_partition(path, "feed_impressions")
    assert result.schema.equals(FEED_IMPRESSIONS)
    assert result.equals(table)


def test_avro_missing_column_names_file_and_type(tmp_path):
    path = _partition(tmp_path)
    schema = dict(AVRO_IMPRESSIONS)
    schema["fields"] = [f for f in AVRO_IMPRESSIONS["fields"] if f["name"] != "post_id"]
    rows = [{k: v for k, v in row.items() if k != "post_id"} for row in _impressions().to_pylist()]
    with (path / "part-0.avro").open("wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(schema), rows)
    with pytest.raises(LogValidationError, match=r"part-0.avro.*`post_id` is missing.*int64"):
        validate_raw_partition(path, "feed_impressions")


def test_quarantine_moves_the_partition_aside(tmp_path):
    path = _partition(tmp_path / "logs")
    pq.write_table(_impressions(0), path / "part-0.parquet")
    moved = quarantine_partition(path, tmp_path / "quarantine")
    assert not path.exists()
    assert moved == tmp_path / "quarantine" / "feed_impressions" / "date=2026-01-02"
    assert (moved / "part-0.parquet").exists()
    again = _partition(tmp_path / "logs")
    second = quarantine_partition(again, tmp_path / "quarantine")
    assert second != moved and second.parent == moved.parent and moved.exists()
    with pytest.raises(FileNotFoundError):
        validate_raw_partition(path, "feed_impressions")


def test_unknown_table_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="table='clicks'"):
        validate_raw_partition(tmp_path, "clicks")


def _validation_error(path: Path, table: str = "feed_impressions") -> BadLogPartitionError:
    with pytest.raises(BadLogPartitionError) as info:
        validate_raw_partition(path, table)
    return info.value


def test_errors_carry_the_partition_and_table(tmp_path):
    path = _partition(tmp_path)
    pq.write_table(_impressions().drop_columns(["click"]), path / "part-0.parquet")
    error = _validation_error(path)
    assert isinstance(error, LogValidationError)
    assert (error.partition, error.table) == (path, "feed_impressions")
    (path / "part-0.parquet").unlink()
    empty = _validation_error(path)
    assert isinstance(empty, EmptyPartitionError)
    assert (empty.partition, empty.table) == (path, "feed_impressions")


@pytest.mark.parametrize("problem", ["wrong_type", "missing_column", "corrupt_file"])
def test_a_malformed_partition_is_quarantined_beside_the_logs(tmp_path, problem):
    logs = tmp_path / "logs"
    path = _partition(logs)
    table = _impressions()
    file = path / "part-0.parquet"
    if problem == "wrong_type":
        index = table.schema.get_field_index("position")
        pq.write_table(table.set_column(index, "position", pa.array(["a", "b", "c"])), file)
    elif problem == "missing_column":
        pq.write_table(table.drop_columns(["position"]), file)
    else:
        file.write_bytes(b"PAR1 not parquet at all PAR1")
    original = file.read_bytes()
    quarantined = quarantine_bad_partition(_validation_error(path))
    assert isinstance(quarantined, QuarantinedPartitionError)
    target = logs / QUARANTINE_DIR / "feed_impressions" / f"date={DAY.isoformat()}"
    assert quarantined.quarantined_to == target
    assert not path.exists() and (target / "part-0.parquet").read_bytes() == original
    message = str(quarantined)
    assert str(file) in message and f"QUARANTINED: moved {path} to {target}" in message
    if problem != "corrupt_file":
        assert "`position`" in message and "expected type int32" in message
    else:
        assert "cannot read" in message
    # The quarantine is invisible to the next validation: the day is now simply missing.
    with pytest.raises(FileNotFoundError, match="does not exist"):
        validate_raw_partition(path, "feed_impressions")


def test_an_empty_partition_is_reported_not_moved(tmp_path):
    path = _partition(tmp_path / "logs")
    pq.write_table(_impressions(0), path / "part-0.parquet")
    error = _validation_error(path)
    assert quarantine_bad_partition(error) is error
    assert (path / "part-0.parquet").exists()
    assert not (tmp_path / "logs" / QUARANTINE_DIR).exists()
