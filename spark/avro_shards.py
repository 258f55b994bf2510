"""Training examples as Avro shards in the Avro Tensor Dataset layout, and their ATDS reader (§13).

The paper's Avro Tensor Dataset (ATDS, in tensorflow-io as `ATDSDataset`) decodes Avro records
straight into batched tensors. It reads one Avro record per example whose top-level fields are
features in one of three layouts:

| ATDS feature | Avro type of the field | tensor |
|---|---|---|
| `DenseFeature(shape, dtype)` | primitive in `len(shape)` nested arrays of fixed length | dense |
| `SparseFeature(shape, dtype)` | record {indices0: [long], ..., values: [primitive]} | sparse |
| `VarlenFeature([-1], dtype)` | array of the primitive (any length) | sparse [batch, None] |

Every field is decoded (an unread field is parsed and skipped at a cost), ATDS has no int8, bool
only as `boolean`, and no date type. So a `TRAINING_EXAMPLE` row is written as:

* int64 columns -> `long`, int32 and int8 columns (labels) -> `int`, float32 -> `float`,
  string -> `string`: rank-0 dense features;
* `date` -> `int`, days since 1970-01-01 (read back as int32);
* list columns (`hashtag_ids`, `hist_post_ids`, `hist_author_ids`, `hist_actions`) -> arrays:
  varlen features.

No `TRAINING_EXAMPLE` column is sparse (index/value pairs), so none uses the sparse layout.

`AVRO_SCHEMA` is the one definition of the layout; `ATDS_FEATURES` (the reader's feature config)
is derived from it. Each shard records `AVRO_SCHEMA_VERSION` in its Avro file metadata under
`SCHEMA_VERSION_KEY`; `atds_dataset` refuses a shard written with another version, naming it.

Two writers produce the same files:

* `write_avro_shards_spark` (what the `training_examples` asset uses): every Spark task streams its
  partition into one shard `part-NNNNN.avro` (NNNNN = the partition index) inside a staging
  directory, from the executor itself (`mapInArrow` + fastavro), so no row ever travels to the
  driver; the driver collects only one (file, rows, bytes) row per shard and renames the staging
  directory into place. On a cluster the directory must be on storage every executor can write.
* `write_avro_shards`: the same layout from an in-memory table (tests, benchmarks).

Both also write `_manifest.json`, the content fingerprint of the rows they wrote
(`spark.partition_manifest`), into the staging directory, so it commits with the shards;
`check_shards_match_parquet` compares it with the Parquet partition's fingerprint.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import fastavro
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from fastavro.write import Writer

from spark.partition_manifest import (
    FINGERPRINT_ROW_SCHEMA,
    ExampleFingerprint,
    combine,
    fingerprint_parquet,
    fingerprint_row,
    fingerprint_table,
    from_fingerprint_row,
    read_fingerprint,
    write_manifest,
)
from spark.schemas import TRAINING_EXAMPLE
from spark.storage import atomic_replace_dir, parquet_row_count, staging_dir_for

if TYPE_CHECKING:
    import tensorflow as tf
    from pyspark.sql import DataFrame

AVRO_SCHEMA_VERSION = 2
"""Bump whenever `AVRO_SCHEMA` changes; readers refuse shards of another version.
(2: `hist_post_ids` added.)"""

SCHEMA_VERSION_KEY = "lirank.avro_schema_version"
"""Avro file-metadata key holding the shard's `AVRO_SCHEMA_VERSION`."""

AVRO_CODECS: tuple[str, ...] = ("null", "deflate")
"""Block codecs ATDS decodes in every build (snappy only where tensorflow-io was built with it)."""


def _array(items: str) -> dict:
    return {"type": "array", "items": items}


AVRO_SCHEMA: dict = {
    "type": "record",
    "name": "TrainingExample",
    "namespace": "lirank.training",
    "doc": f"One impression: TRAINING_EXAMPLE in the ATDS layout, version {AVRO_SCHEMA_VERSION}.",
    "fields": [
        {"name": "date", "type": "int", "doc": "days since 1970-01-01"},
        {"name": "session_id", "type": "long"},
        {"name": "split", "type": "string"},
        {"name": "member_id", "type": "long"},
        {"name": "post_id", "type": "long"},
        {"name": "position", "type": "int"},
        {"name": "platform", "type": "string"},
        {"name": "hour", "type": "int"},
        {"name": "member_seniority", "type": "int"},
        {"name": "member_industry", "type": "int"},
        {"name": "member_country", "type": "int"},
        {"name": "member_log_connections", "type": "float"},
        {"name": "hist_post_ids", "type": _array("long")},
        {"name": "hist_author_ids", "type": _array("long")},
        {"name": "hist_actions", "type": _array("int")},
        {"name": "author_id", "type": "long"},
        {"name": "content_type", "type": "string"},
        {"name": "hashtag_ids", "type": _array("int")},
        {"name": "length", "type": "float"},
        {"name": "post_age_hours", "type": "float"},
        {"name": "author_log_followers", "type": "float"},
        {"name": "click", "type": "int"},
        {"name": "like", "type": "int"},
        {"name": "comment", "type": "int"},
        {"name": "share", "type": "int"},
        {"name": "vote", "type": "int"},
        {"name": "dwell_seconds", "type": "float"},
        {"name": "long_dwell", "type": "int"},
    ],
}

AVRO_COLUMNS: tuple[str, ...] = tuple(field["name"] for field in AVRO_SCHEMA["fields"])

_PARSED_SCHEMA = fastavro.parse_schema(AVRO_SCHEMA)

# Arrow type each column is cast to before it is handed to fastavro (ATDS has no int8 or date).
_WRITE_TYPES: dict[str, pa.DataType] = {
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "string": pa.string(),
}


def atds_features() -> dict:
    """The `ATDSDataset` feature config of `AVRO_SCHEMA`: rank-0 dense scalars, varlen arrays."""
    import tensorflow as tf
    from tensorflow_io.python.experimental.atds.features import DenseFeature, VarlenFeature

    dtypes = {"int": tf.int32, "long": tf.int64, "float": tf.float32, "string": tf.string}
    features = {}
    for field in AVRO_SCHEMA["fields"]:
        avro_type = field["type"]
        if isinstance(avro_type, dict):  # array
            features[field["name"]] = VarlenFeature([-1], dtypes[avro_type["items"]])
        else:
            features[field["name"]] = DenseFeature([], dtypes[avro_type])
    return features


def to_avro_records(examples: pa.Table | pd.DataFrame) -> list[dict]:
    """TRAINING_EXAMPLE rows -> Avro records of `AVRO_SCHEMA` (dates as days, int8 as int).

    Raises:
        ValueError: a column of `AVRO_SCHEMA` is missing or has nulls (the message names it).
    """
    return _to_avro_table(_as_table(examples)).to_pylist()


def _to_avro_table(table: pa.Table) -> pa.Table:
    """`table` cast column by column to the Arrow types of `AVRO_SCHEMA`, in its field order."""
    missing = [name for name in AVRO_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(
            f"examples are missing columns {missing}; expected TRAINING_EXAMPLE rows "
            f"({', '.join(TRAINING_EXAMPLE.names)})"
        )
    columns = {}
    for field in AVRO_SCHEMA["fields"]:
        name, avro_type = field["name"], field["type"]
        column = table.column(name)
        if column.null_count:
            raise ValueError(
                f"column `{name}` has {column.null_count} null values; Avro shards for ATDS "
                "need every feature present (fill or drop them upstream)"
            )
        if isinstance(avro_type, dict):
            target = pa.list_(_WRITE_TYPES[avro_type["items"]])
        else:
            target = _WRITE_TYPES[avro_type]
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.date32())
        if pa.types.is_date32(column.type):
            column = column.cast(pa.int32())
        columns[name] = pc.cast(column, target)
    return pa.table(columns)


def write_avro_shards(
    examples: pa.Table | pd.DataFrame,
    directory: Path,
    num_shards: int = 1,
    codec: str = "deflate",
) -> list[Path]:
    """Write examples as `num_shards` Avro files `part-NNNNN.avro` under `directory`, atomically.

    Rows are split into contiguous, near-equal shards; each file carries `AVRO_SCHEMA` and
    `SCHEMA_VERSION_KEY` in its metadata. An existing `directory` is replaced whole (written to a
    staging directory first, then renamed), so readers never see half a set of shards; the
    fingerprint of the rows commits with them as `_manifest.json`.

    Args:
        examples: TRAINING_EXAMPLE rows (pyarrow or pandas).
        directory: output directory (created; replaced if present).
        num_shards: number of files; must be positive (files may hold 0 rows).
        codec: Avro block codec, one of `AVRO_CODECS`.

    Returns:
        The shard paths, in row order.
    """
    if num_shards <= 0:
        raise ValueError(f"`num_shards` must be positive. Received: num_shards={num_shards}")
    if codec not in AVRO_CODECS:
        raise ValueError(f"`codec` must be one of {AVRO_CODECS}. Received: codec={codec!r}")
    written = _to_avro_table(_as_table(examples))
    records = written.to_pylist()
    directory = Path(directory)
    staging = staging_dir_for(directory)
    staging.mkdir(parents=True)
    names = []
    bounds = [len(records) * i // num_shards for i in range(num_shards + 1)]
    for shard in range(num_shards):
        name = f"part-{shard:05d}.avro"
        with open(staging / name, "wb") as out:
            fastavro.writer(
                out,
                _PARSED_SCHEMA,
                records[bounds[shard] : bounds[shard + 1]],
                codec=codec,
                metadata={SCHEMA_VERSION_KEY: str(AVRO_SCHEMA_VERSION)},
            )
        names.append(name)
    write_manifest(staging, fingerprint_table(written).to_json())
    atomic_replace_dir(staging, directory)
    return [directory / name for name in names]


@dataclasses.dataclass(frozen=True)
class AvroShard:
    """One Avro shard written by `write_avro_shards_spark`.

    Args:
        path: the shard file, `<directory>/part-NNNNN.avro`.
        rows: examples in the shard.
        bytes: file size.
    """

    path: Path
    rows: int
    bytes: int


_SHARD_RESULT_ARROW = pa.schema(
    [("shard", pa.string()), ("bytes", pa.int64()), *FINGERPRINT_ROW_SCHEMA]
)
_SHARD_RESULT_SCHEMA = ", ".join(
    f"{field.name} {'string' if field.type == pa.string() else 'long'}"
    for field in _SHARD_RESULT_ARROW
)
"""One row per shard: its file name, size and the fingerprint of its rows (`rows` included)."""


def write_avro_shards_spark(
    examples: DataFrame,
    directory: Path,
    *,
    num_shards: int | None = None,
    codec: str = "deflate",
) -> list[AvroShard]:
    """Write a DataFrame of TRAINING_EXAMPLE rows as Avro shards, one per partition, from the tasks.

    Each Spark task streams its partition through fastavro into `part-NNNNN.avro` (NNNNN = the
    partition index; a task writes a hidden temporary file and renames it, so a retried task
    replaces its own shard) inside a staging directory beside `directory`. The driver receives
    one small row per shard (with the fingerprint of its rows, computed by the task from the
    records it wrote), writes their sum as `_manifest.json`, and then swaps the staging directory
    into place
    (`storage.atomic_replace_dir`): readers see the old set of shards or the new one, never a mix,
    and a failed job leaves the old set. Empty partitions write no file; an empty DataFrame
    yields one empty shard, so a reader of the directory always finds a valid file.

    Args:
        examples: rows with (at least) the columns of `AVRO_SCHEMA`, no nulls.
        directory: the shard directory (created; replaced whole if present). On a cluster it must
            be on storage every executor can write (a shared filesystem).
        num_shards: repartition into this many shards first (None: one per existing partition).
        codec: Avro block codec, one of `AVRO_CODECS`.

    Returns:
        The shards written, ordered by file name.

    Raises:
        ValueError: a bad argument, a column of `AVRO_SCHEMA` is missing, or a task found a null
            value (the message names the column); `directory` is then left as it was.
    """
    from pyspark.errors import PythonException
    from pyspark.sql import functions as F

    if num_shards is not None and num_shards <= 0:
        raise ValueError(f"`num_shards` must be positive. Received: num_shards={num_shards}")
    if codec not in AVRO_CODECS:
        raise ValueError(f"`codec` must be one of {AVRO_CODECS}. Received: codec={codec!r}")
    missing = [name for name in AVRO_COLUMNS if name not in examples.columns]
    if missing:
        raise ValueError(
            f"examples are missing columns {missing}; expected TRAINING_EXAMPLE rows "
            f"({', '.join(TRAINING_EXAMPLE.names)})"
        )
    frame = examples.select(*[F.col(name) for name in AVRO_COLUMNS])
    if num_shards is not None:
        frame = frame.repartition(num_shards)
    directory = Path(directory)
    staging = staging_dir_for(directory)
    staging.mkdir(parents=True)
    try:
        write = functools.partial(_write_partition_shard, str(staging), codec)
        try:
            written = frame.mapInArrow(write, _SHARD_RESULT_SCHEMA).collect()
        except PythonException as error:
            raise ValueError(
                f"Avro shards for {directory} were not written (any previous shards are kept): "
                f"{_python_error_line(error)}"
            ) from error
        shards = {row.shard: (int(row.rows), int(row.bytes)) for row in written}
        fingerprint = combine(from_fingerprint_row(row.asDict()) for row in written)
        if not shards:
            empty = write_avro_shards(
                TRAINING_EXAMPLE.empty_table(), staging / "empty", codec=codec
            )
            os.replace(empty[0], staging / empty[0].name)
            shutil.rmtree(staging / "empty")
            shards[empty[0].name] = (0, (staging / empty[0].name).stat().st_size)
        for leftover in set(os.listdir(staging)) - set(shards):  # temp files of killed attempts
            (staging / leftover).unlink()
        write_manifest(staging, fingerprint.to_json())
        atomic_replace_dir(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [
        AvroShard(path=directory / name, rows=rows, bytes=size)
        for name, (rows, size) in sorted(shards.items())
    ]


def _python_error_line(error: Exception) -> str:
    """The last `ValueError: ...` line of a task's Python traceback (else the whole message)."""
    lines = [line for line in str(error).splitlines() if line.startswith("ValueError: ")]
    return lines[-1].removeprefix("ValueError: ") if lines else str(error)


def _write_partition_shard(
    staging: str, codec: str, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: stream this task's batches into one shard; yield (shard, bytes,
    fingerprint of its rows)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    name = f"part-{partition:05d}.avro"
    temporary = os.path.join(staging, f".{name}.attempt-{os.getpid()}-{id(batches)}")
    fingerprint = ExampleFingerprint.empty()
    out = None
    writer = None
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                out = open(temporary, "wb")  # noqa: SIM115 - closed in `finally`
                writer = Writer(
                    out,
                    _PARSED_SCHEMA,
                    codec=codec,
                    metadata={SCHEMA_VERSION_KEY: str(AVRO_SCHEMA_VERSION)},
                )
            table = _to_avro_table(pa.Table.from_batches([batch]))
            for record in table.to_pylist():
                writer.write(record)
            fingerprint = fingerprint + fingerprint_table(table)
        if writer is not None:
            writer.flush()
    finally:
        if out is not None:
            out.close()
    if writer is None:
        return
    final = os.path.join(staging, name)
    os.replace(temporary, final)
    row = {"shard": name, "bytes": os.path.getsize(final), **fingerprint_row(fingerprint)}
    yield pa.RecordBatch.from_pylist([row], schema=_SHARD_RESULT_ARROW)


def check_schema_version(path: Path) -> None:
    """Raise ValueError naming `path` unless its Avro metadata says `AVRO_SCHEMA_VERSION`."""
    with open(path, "rb") as shard:
        metadata = fastavro.reader(shard).metadata
    version = metadata.get(SCHEMA_VERSION_KEY)
    if version != str(AVRO_SCHEMA_VERSION):
        found = "no schema version" if version is None else f"schema version {version}"
        raise ValueError(
            f"Avro shard {path} has {found}, but this reader expects {SCHEMA_VERSION_KEY}="
            f"{AVRO_SCHEMA_VERSION}; rewrite the shard with spark.avro_shards.write_avro_shards "
            "(re-materialize `training_examples_avro` for its date; when its Parquet examples "
            "predate the example schema too, re-materialize `session_explosion` and "
            "`training_examples` first: they are rebuilt from the raw logs)"
        )


def shard_row_counts(paths: Sequence[Path | str]) -> dict[str, int]:
    """Records per shard, from the Avro block headers (no record is decoded).

    Every shard's schema version is checked first (`check_schema_version`).
    """
    counts = {}
    for path in paths:
        check_schema_version(Path(path))
        with open(path, "rb") as shard:
            counts[str(path)] = sum(block.num_records for block in fastavro.block_reader(shard))
    return counts


@dataclasses.dataclass(frozen=True)
class ShardCheck:
    """The Avro shards of one day compared with the day's Parquet training examples.

    Args:
        passed: the shards hold the same rows and labels as the Parquet.
        description: what was compared, or what differs and what to do.
        avro_rows: records in the shards (from their block headers).
        parquet_rows: rows in the Parquet files (from their footers).
        shards: number of shard files.
        differences: one sentence per difference (empty when passed).
    """

    passed: bool
    description: str
    avro_rows: int
    parquet_rows: int
    shards: int
    differences: tuple[str, ...] = ()


def check_shards_match_parquet(avro_dir: Path, parquet_dir: Path) -> ShardCheck:
    """Whether the Avro shards in `avro_dir` hold the rows of the Parquet in `parquet_dir`.

    Compares the fingerprints (`spark.partition_manifest`) the two writers committed with their
    data: row counts, the sum of every label and order-independent checksums of the
    (session_id, post_id) keys and of the labels per row. A Parquet partition without a manifest
    (written before manifests existed) is fingerprinted from its files. Each manifest is also
    checked against its own files' row count, so a manifest never vouches for other data.

    Raises:
        ValueError: a shard was written with another `AVRO_SCHEMA_VERSION` (names the shard).
    """
    avro_dir, parquet_dir = Path(avro_dir), Path(parquet_dir)
    day = avro_dir.name.removeprefix("date=")
    todo = (
        f"re-materialize `training_examples_avro` for {day} (it is rewritten from the current "
        "`training_examples`)"
    )
    shards = sorted(avro_dir.glob("part-*.avro"))
    parquet_rows = parquet_row_count(parquet_dir)
    avro_rows = sum(shard_row_counts(shards).values())

    def failed(*differences: str) -> ShardCheck:
        return ShardCheck(
            passed=False,
            description=f"{'; '.join(differences)}. To fix: {todo}",
            avro_rows=avro_rows,
            parquet_rows=parquet_rows,
            shards=len(shards),
            differences=differences,
        )

    if not shards:
        return failed(f"no Avro shards part-*.avro in {avro_dir}")
    try:
        avro = read_fingerprint(avro_dir)
        parquet = read_fingerprint(parquet_dir)
    except ValueError as error:
        return failed(str(error))
    if avro is None:
        return failed(
            f"{avro_dir} has no _manifest.json (written before content fingerprints existed, "
            "or not by spark.avro_shards), so its labels cannot be compared with the Parquet"
        )
    if avro.rows != avro_rows:
        return failed(
            f"{avro_dir}/_manifest.json counts {avro.rows} rows but its shards hold {avro_rows}"
        )
    if parquet is None:
        parquet = fingerprint_parquet(parquet_dir)
    elif parquet.rows != parquet_rows:
        return failed(
            f"{parquet_dir}/_manifest.json counts {parquet.rows} rows but its Parquet files hold "
            f"{parquet_rows}; re-materialize `training_examples` for {day} first"
        )
    differences = parquet.differences(avro, names=("Parquet", "Avro"))
    if differences:
        return failed(
            f"the Avro shards in {avro_dir} do not hold the rows of {parquet_dir}",
            *differences,
        )
    return ShardCheck(
        passed=True,
        description=f"{avro_rows} rows in {len(shards)} Avro shards (schema version "
        f"{AVRO_SCHEMA_VERSION}) match the {parquet_rows} Parquet rows: same label sums and "
        "checksums",
        avro_rows=avro_rows,
        parquet_rows=parquet_rows,
        shards=len(shards),
    )


def atds_dataset(
    paths: Sequence[Path | str],
    batch_size: int,
    *,
    shuffle_buffer_size: int = 0,
    num_parallel_calls: int | None = None,
    drop_remainder: bool = False,
    columns: Sequence[str] | None = None,
) -> tf.data.Dataset:
    """Batches of training examples read from Avro shards by tensorflow-io's `ATDSDataset`.

    Every shard's schema version is checked first (`check_schema_version`).

    Args:
        paths: shard files written by `write_avro_shards`.
        batch_size: examples per batch.
        shuffle_buffer_size: ATDS block-level shuffle buffer in examples (0: file order).
        num_parallel_calls: decode threads (`tf.data.AUTOTUNE` allowed; None: sequential).
        drop_remainder: drop the last, smaller batch.
        columns: decode only these columns (None: every column).

    Returns:
        A dataset of dicts keyed by `AVRO_COLUMNS` (or `columns`): scalar columns as dense
        [batch] tensors (`date` as int32 days since 1970-01-01, int8 labels as int32), list
        columns as `tf.SparseTensor` [batch, None].
    """
    from tensorflow_io.python.experimental.atds.dataset import ATDSDataset

    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    paths = [str(path) for path in paths]
    if not paths:
        raise ValueError("no Avro shards given to read. Received: paths=[]")
    for path in paths:
        check_schema_version(Path(path))
    features = atds_features()
    if columns is not None:
        unknown = sorted(set(columns) - set(features))
        if unknown:
            raise ValueError(f"no Avro columns {unknown}; the shards hold {sorted(features)}")
        features = {name: features[name] for name in columns}
    return ATDSDataset(
        filenames=paths,
        batch_size=batch_size,
        features=features,
        drop_remainder=drop_remainder,
        shuffle_buffer_size=shuffle_buffer_size,
        num_parallel_calls=num_parallel_calls,
    )


def _as_table(examples: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(examples, pa.Table):
        return examples
    return pa.Table.from_pandas(examples, preserve_index=False)
