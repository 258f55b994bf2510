"""Validation of user-supplied raw log partitions (Parquet or Avro) against the raw-log schemas.

A user can point the project at their own feed logs instead of the simulated world. Each daily
partition `<logs>/<table>/date=YYYY-MM-DD/` holds `.parquet` and/or `.avro` files that must match
`spark.schemas.RAW_TABLES[table]`. `validate_raw_partition` reads them, reports every problem with
the file, the column, the expected type and what to do, and returns one Arrow table cast to the
exact schema. `quarantine_partition` moves a bad partition aside so nothing downstream reads it;
`quarantine_bad_partition` does that for the partition a validation error names and returns the
error to raise (what the `raw_feed_logs` asset does).

What happens to a bad day (nothing is written for it, so every downstream partition stays as it
was):

* malformed (a file unreadable, a column missing or of the wrong type, rows of another date):
  `LogValidationError`; the partition directory is moved to
  `<logs>/_quarantine/<table>/date=YYYY-MM-DD` (`QUARANTINE_DIR`, beside the tables, so the move
  is one rename on the same filesystem) and the error says where;
* empty (no data file, or zero rows): `EmptyPartitionError`, reported but not moved (an export
  may still be filling the directory);
* missing: `FileNotFoundError`.

Type changes accepted (each one loses no value; anything else is an error):

* integer -> any integer type, when every value fits (checked at the cast: Avro has no int8, so
  a `click` column arrives as Avro `int`; an out-of-range value is an error naming the column);
* float16/float32 -> float64, float16 -> float32 (widening only: float64 -> float32 is rejected,
  since it rounds values; cast it in your export if that is what you want);
* large_string/string_view -> string, large_list -> list (same values, other offsets);
* the same rules recursively inside lists and structs; extra columns and struct fields are dropped.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from spark.schemas import RAW_TABLES

DATA_SUFFIXES: tuple[str, ...] = (".parquet", ".avro")
QUARANTINE_DIR = "_quarantine"
"""Quarantine root under the logs directory: `<logs>/_quarantine/<table>/date=YYYY-MM-DD`."""

_PARTITION_NAME = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class BadLogPartitionError(ValueError):
    """A raw log partition that must not be read downstream (quarantine it or fix it).

    Args:
        message: what is wrong (file, column, expected type) and what to do.
        partition: the partition directory (or file) that was validated.
        table: the raw table it belongs to.
    """

    def __init__(self, message: str, partition: Path | None = None, table: str | None = None):
        super().__init__(message)
        self.partition = partition
        self.table = table


class LogValidationError(BadLogPartitionError):
    """A file of the partition is unreadable or does not match the raw-log schema."""


class EmptyPartitionError(BadLogPartitionError):
    """The partition holds no rows."""


class QuarantinedPartitionError(LogValidationError):
    """A malformed partition that was moved to quarantine (`quarantined_to`)."""

    def __init__(
        self, message: str, partition: Path, table: str | None, quarantined_to: Path
    ) -> None:
        super().__init__(message, partition, table)
        self.quarantined_to = quarantined_to


def validate_raw_partition(path: Path, table: str) -> pa.Table:
    """Read and validate one raw log partition (a `date=YYYY-MM-DD` directory, or one file).

    Every `.parquet` / `.avro` file (names starting with `.` or `_` are skipped) is checked
    against `RAW_TABLES[table]` on its own, so an error names the file at fault.

    Args:
        path: the partition directory, or a single data file.
        table: one of `spark.schemas.RAW_TABLES`.

    Returns:
        All rows of the partition, cast to the exact schema, columns in schema order.

    Raises:
        ValueError: `table` is not a raw table.
        FileNotFoundError: `path` does not exist.
        LogValidationError: a file is unreadable, misses a column, has a column of the wrong type,
            a value out of range of its type, or rows dated outside the partition's date.
        EmptyPartitionError: the partition has no data file or no rows.
    """
    if table not in RAW_TABLES:
        raise ValueError(f"`table` must be one of {sorted(RAW_TABLES)}. Received: table={table!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"raw log partition {path} of `{table}` does not exist; write the day's logs there "
            f"(`<logs>/{table}/date=YYYY-MM-DD/*.parquet|*.avro`) or point the source elsewhere"
        )
    schema = RAW_TABLES[table]
    files = _data_files(path)
    if not files:
        raise EmptyPartitionError(
            f"raw log partition {path} of `{table}` has no .parquet or .avro file; "
            "write the day's logs there or quarantine the partition",
            path,
            table,
        )
    partition_date = _partition_date(path)
    try:
        tables = [
            _conform(_read_file(file, table), schema, file, table, partition_date) for file in files
        ]
    except LogValidationError as error:
        error.partition, error.table = path, table  # raised per file: name the partition too
        raise
    combined = pa.concat_tables(tables)
    if combined.num_rows == 0:
        where = f"date {partition_date.isoformat()}" if partition_date else "the partition"
        raise EmptyPartitionError(
            f"raw log partition {path} of `{table}` has zero rows for {where} "
            f"(files: {', '.join(file.name for file in files)}); an empty day would silently "
            "train on nothing: re-export the day's logs or quarantine the partition",
            path,
            table,
        )
    return combined.combine_chunks()


def quarantine_bad_partition(
    error: BadLogPartitionError, quarantine_root: Path | None = None
) -> BadLogPartitionError:
    """Quarantine the malformed partition `error` names; return the error to raise in its place.

    A `LogValidationError` partition is moved by `quarantine_partition` to `quarantine_root`
    (default: `<logs>/_quarantine`, the logs directory being two levels above the partition,
    `<logs>/<table>/date=...`), and a `QuarantinedPartitionError` is returned whose message is the
    validation error (file, column, expected type) plus where the files went and how to put them
    back. An `EmptyPartitionError`, or an error without a partition, is returned unchanged:
    nothing is moved.

    Args:
        error: what `validate_raw_partition` raised.
        quarantine_root: where quarantined partitions go (same filesystem as the logs).
    """
    if not isinstance(error, LogValidationError) or error.partition is None:
        return error
    if isinstance(error, QuarantinedPartitionError):
        return error
    partition = Path(error.partition)
    root = Path(quarantine_root) if quarantine_root else partition.parent.parent / QUARANTINE_DIR
    moved = quarantine_partition(partition, root)
    return QuarantinedPartitionError(
        f"{error} QUARANTINED: moved {partition} to {moved}; nothing was written for this day and "
        f"every downstream partition is unchanged. After fixing the files, move them back to "
        f"{partition} and materialize the day again.",
        partition,
        error.table,
        moved,
    )


def quarantine_partition(path: Path, quarantine_root: Path) -> Path:
    """Move a bad partition directory aside, atomically, so nothing downstream reads it.

    The partition `<...>/<table>/date=YYYY-MM-DD` moves to
    `<quarantine_root>/<table>/date=YYYY-MM-DD` (with a unique suffix if that is taken) by one
    rename, so readers see the whole partition or none of it.

    Returns:
        The new location.

    Raises:
        FileNotFoundError: `path` does not exist.
        OSError: `quarantine_root` is on another filesystem (a rename cannot cross filesystems;
            choose a quarantine root on the same one as the logs).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cannot quarantine {path}: it does not exist")
    target_dir = Path(quarantine_root) / path.parent.name
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.name}.{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, target)
    except OSError as exc:
        raise OSError(
            f"could not move {path} to quarantine {target} ({exc}); the quarantine root must be on "
            "the same filesystem as the logs so that the move is one atomic rename"
        ) from exc
    return target


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        file
        for file in path.iterdir()
        if file.is_file() and file.suffix in DATA_SUFFIXES and not file.name.startswith((".", "_"))
    )


def _partition_date(path: Path) -> dt.date | None:
    directory = path if path.is_dir() else path.parent
    match = _PARTITION_NAME.match(directory.name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _read_file(file: Path, table: str) -> pa.Table:
    """Read one Parquet or Avro file; any read failure becomes a LogValidationError."""
    try:
        if file.suffix == ".avro":
            return _read_avro(file)
        return pq.ParquetFile(file).read()  # one file: no hive `date=` inference
    # Decoders signal corrupt input with many exception types; each is re-raised naming the file.
    except (
        pa.ArrowException,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
    ) as exc:
        raise LogValidationError(
            f"cannot read {file} ({table}): {type(exc).__name__}: {str(exc).rstrip('. ?')}. "
            "The file is corrupt or not a valid Parquet/Avro file; re-export it or quarantine "
            "the partition"
        ) from exc


def _read_avro(file: Path) -> pa.Table:
    with file.open("rb") as handle:
        reader = fastavro.reader(handle)
        schema = _avro_to_arrow_schema(reader.writer_schema)
        records = list(reader)
    return pa.Table.from_pylist(records, schema=schema)


_AVRO_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
}


def _avro_to_arrow_schema(avro_schema: dict[str, Any]) -> pa.Schema:
    named: dict[str, pa.DataType] = {}
    record = _avro_to_arrow(avro_schema, named)
    if not pa.types.is_struct(record):
        raise ValueError(f"top-level Avro schema must be a record, found {avro_schema!r}")
    return pa.schema(list(record))


def _avro_to_arrow(avro: Any, named: dict[str, pa.DataType]) -> pa.DataType:
    if isinstance(avro, str):
        if avro in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro]
        if avro in named:
            return named[avro]
        raise ValueError(f"unsupported Avro type {avro!r}")
    if isinstance(avro, list):
        members = [member for member in avro if member != "null"]
        if len(members) != 1:
            raise ValueError(f"unsupported Avro union {avro!r} (only [null, T] is supported)")
        return _avro_to_arrow(members[0], named)
    kind = avro["type"]
    logical = avro.get("logicalType")
    if logical == "date" and kind == "int":
        return pa.date32()
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return pa.timestamp("ms" if logical == "timestamp-millis" else "us", tz="UTC")
    if kind == "array":
        return pa.list_(_avro_to_arrow(avro["items"], named))
    if kind == "enum":
        result: pa.DataType = pa.string()
    elif kind == "record":
        result = pa.struct(
            [(field["name"], _avro_to_arrow(field["type"], named)) for field in avro["fields"]]
        )
    else:
        return _avro_to_arrow(kind, named)
    if "name" in avro:
        named[avro["name"]] = result
    return result


def _type_problem(expected: pa.DataType, found: pa.DataType, column: str) -> list[str]:
    """What is wrong with `found` as `expected` (empty when accepted); nested columns dotted."""
    if found.equals(expected):
        return []
    if pa.types.is_integer(expected) and pa.types.is_integer(found):
        return []
    if pa.types.is_floating(expected) and pa.types.is_floating(found):
        if found.bit_width <= expected.bit_width:
            return []
    if pa.types.is_string(expected) and (
        pa.types.is_large_string(found) or pa.types.is_string_view(found)
    ):
        return []
    if pa.types.is_list(expected) and (pa.types.is_list(found) or pa.types.is_large_list(found)):
        return _type_problem(expected.value_type, found.value_type, f"{column}[]")
    if pa.types.is_struct(expected) and pa.types.is_struct(found):
        problems = []
        for field in expected:
            nested = f"{column}.{field.name}"
            index = found.get_field_index(field.name)
            if index < 0:
                problems.append(f"column `{nested}` is missing (expected type {field.type})")
            else:
                problems += _type_problem(field.type, found.field(index).type, nested)
        return problems
    return [f"column `{column}` has type {found}, expected type {expected}"]


def _conform(
    data: pa.Table, schema: pa.Schema, file: Path, table: str, date: dt.date | None
) -> pa.Table:
    """Check one file's table against `schema` and cast it; errors name file, column and type."""
    problems = []
    for field in schema:
        if field.name not in data.column_names:
            problems.append(f"column `{field.name}` is missing (expected type {field.type})")
        else:
            problems += _type_problem(field.type, data.schema.field(field.name).type, field.name)
    if problems:
        raise LogValidationError(
            f"{file} does not match the `{table}` schema (version in spark/schemas.py): "
            + "; ".join(problems)
            + ". Re-export the file with these columns and types, or quarantine the partition"
        )
    columns = []
    for field in schema:
        try:
            columns.append(data.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LogValidationError(
                f"{file}: column `{field.name}` (type {data.schema.field(field.name).type}) "
                f"cannot be converted to the expected type {field.type}: {exc}. Fix the values "
                "or quarantine the partition"
            ) from exc
    conformed = pa.Table.from_arrays(columns, schema=schema)
    if date is not None and conformed.num_rows:
        dates = conformed.column("date").unique().to_pylist()
        if dates != [date]:
            shown = ", ".join(str(value) for value in dates[:5])
            raise LogValidationError(
                f"{file}: column `date` (expected type date32[day]) must equal the partition date "
                f"{date.isoformat()} on every row; found {shown}. Move the rows to their own "
                "partitions or quarantine this one"
            )
    return conformed
