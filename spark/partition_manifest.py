"""Content fingerprints of a day's training examples, committed as `_manifest.json` with the data.

A day's examples exist twice: as Parquet (`training_examples`) and as Avro shards
(`training_examples_avro`, written from that Parquet). Each directory is replaced atomically on its
own, so a run killed between the two swaps leaves them disagreeing. Counting rows does not see
that (a re-labelled day has the same rows). So each writer stores a fingerprint of what it wrote
inside the directory it commits, and the shard check compares the two.

The fingerprint of a set of rows, independent of their order and of how they are split into
files or shards:

* `rows`: the number of rows;
* `label_sums`: the sum of each label of `spark.schemas.LABELS` (names the label that differs);
* `key_checksum`: sum mod 2**64 of `h(session_id, post_id)` per row (which rows);
* `content_checksum`: sum mod 2**64 of `h(session_id, post_id, click, ..., long_dwell)` per row
  (which labels on which row, when the sums happen to agree).

`h` chains the splitmix64 finalizer (Steele et al., 2014) over the 64-bit values; null values
count as 0. Partial fingerprints add up (`+`), so Spark tasks fingerprint their own partitions
and the driver sums one small row per task.

The manifest file name starts with `_`, which Spark, pyarrow and pandas skip when they read a
directory, and the Avro readers read only `part-*.avro`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark.schemas import LABELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MANIFEST_FILE = "_manifest.json"
"""The manifest inside a partition directory (skipped by readers: it starts with `_`)."""

FINGERPRINT_VERSION = 1
"""Bump whenever the fingerprint changes definition; manifests of another version do not compare."""

KEY_COLUMNS: tuple[str, ...] = ("session_id", "post_id")
FINGERPRINT_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *LABELS)

_MASK = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclasses.dataclass(frozen=True)
class ExampleFingerprint:
    """Order-independent fingerprint of training-example rows (see the module docstring).

    Args:
        rows: number of rows.
        label_sums: sum of each label of `LABELS`.
        key_checksum: sum mod 2**64 of the per-row hash of (session_id, post_id).
        content_checksum: sum mod 2**64 of the per-row hash of the keys and every label.

    Example:
        >>> table = pa.table({"session_id": [1], "post_id": [2], **{l: [1] for l in LABELS}})
        >>> fingerprint_table(table).label_sums["click"]
        1
    """

    rows: int
    label_sums: Mapping[str, int]
    key_checksum: int
    content_checksum: int

    @classmethod
    def empty(cls) -> ExampleFingerprint:
        """The fingerprint of no rows (the identity of `+`)."""
        return cls(0, dict.fromkeys(LABELS, 0), 0, 0)

    def __add__(self, other: ExampleFingerprint) -> ExampleFingerprint:
        """The fingerprint of the union of both sets of rows."""
        return ExampleFingerprint(
            rows=self.rows + other.rows,
            label_sums={k: self.label_sums[k] + other.label_sums[k] for k in LABELS},
            key_checksum=(self.key_checksum + other.key_checksum) & _MASK,
            content_checksum=(self.content_checksum + other.content_checksum) & _MASK,
        )

    def to_json(self) -> dict:
        """The manifest's JSON object (checksums as unsigned 64-bit integers)."""
        return {
            "fingerprint_version": FINGERPRINT_VERSION,
            "rows": self.rows,
            "label_sums": {k: self.label_sums[k] for k in LABELS},
            "key_checksum": self.key_checksum,
            "content_checksum": self.content_checksum,
        }

    @classmethod
    def from_json(cls, data: Mapping, source: str = "manifest") -> ExampleFingerprint:
        """Parse `to_json` output; raises ValueError naming `source` if it is of another kind."""
        version = data.get("fingerprint_version")
        if version != FINGERPRINT_VERSION:
            raise ValueError(
                f"{source} has fingerprint_version={version!r}, but this code writes "
                f"{FINGERPRINT_VERSION}; re-materialize the partition to rewrite it"
            )
        sums = data["label_sums"]
        missing = [k for k in LABELS if k not in sums]
        if missing:
            raise ValueError(f"{source} has no label sums for {missing}; re-materialize it")
        return cls(
            rows=int(data["rows"]),
            label_sums={k: int(sums[k]) for k in LABELS},
            key_checksum=int(data["key_checksum"]),
            content_checksum=int(data["content_checksum"]),
        )

    def differences(
        self, other: ExampleFingerprint, names: tuple[str, str] = ("this", "other")
    ) -> list[str]:
        """What differs between `self` and `other`, one sentence each ([] when they match).

        Labels are named with both sums and rates, e.g. "label `long_dwell`: Parquet 528 of
        1000 rows (rate 0.528), Avro 122 of 1000 rows (rate 0.122)".
        """
        mine, theirs = names
        found = []
        if self.rows != other.rows:
            found.append(f"rows: {mine} {self.rows}, {theirs} {other.rows}")
        for label in LABELS:
            a, b = self.label_sums[label], other.label_sums[label]
            if a != b:
                found.append(
                    f"label `{label}`: {mine} {a} of {self.rows} rows (rate "
                    f"{_rate(a, self.rows)}), {theirs} {b} of {other.rows} rows "
                    f"(rate {_rate(b, other.rows)})"
                )
        if self.key_checksum != other.key_checksum:
            found.append(f"the (session_id, post_id) rows differ between {mine} and {theirs}")
        elif self.content_checksum != other.content_checksum and not found:
            found.append(
                f"labels differ row by row between {mine} and {theirs} (same rows, same label sums)"
            )
        return found


def _rate(total: int, rows: int) -> str:
    return f"{total / rows:.3f}" if rows else "n/a"


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, elementwise on uint64 (wraps mod 2**64 by design)."""
    values = values + _GOLDEN
    values = (values ^ (values >> np.uint64(30))) * _MIX1
    values = (values ^ (values >> np.uint64(27))) * _MIX2
    return values ^ (values >> np.uint64(31))


def _as_uint64(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(pc.cast(column, pa.int64()), 0)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64).view(np.uint64)


def fingerprint_table(table: pa.Table | pa.RecordBatch) -> ExampleFingerprint:
    """The fingerprint of the rows of `table` (which needs the columns `FINGERPRINT_COLUMNS`).

    Raises:
        ValueError: a column of `FINGERPRINT_COLUMNS` is missing (the message names it).
    """
    missing = [name for name in FINGERPRINT_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(
            f"cannot fingerprint examples without columns {missing}; "
            f"expected {', '.join(FINGERPRINT_COLUMNS)}"
        )
    if table.num_rows == 0:
        return ExampleFingerprint.empty()
    with np.errstate(over="ignore"):
        keys = _mix(_mix(_as_uint64(table.column("session_id"))) ^ _as_uint64(table["post_id"]))
        content = keys
        sums = {}
        for label in LABELS:
            values = _as_uint64(table.column(label))
            sums[label] = int(values.view(np.int64).sum())
            content = _mix(content ^ values)
        return ExampleFingerprint(
            rows=table.num_rows,
            label_sums=sums,
            key_checksum=int(keys.sum(dtype=np.uint64)),
            content_checksum=int(content.sum(dtype=np.uint64)),
        )


def combine(fingerprints: Iterable[ExampleFingerprint]) -> ExampleFingerprint:
    """The fingerprint of the union of disjoint parts (e.g. one per Spark task or shard)."""
    total = ExampleFingerprint.empty()
    for part in fingerprints:
        total = total + part
    return total


FINGERPRINT_ROW_SCHEMA = pa.schema(
    [
        ("rows", pa.int64()),
        *[(f"sum_{label}", pa.int64()) for label in LABELS],
        ("key_checksum", pa.int64()),
        ("content_checksum", pa.int64()),
    ]
)
"""One partial fingerprint as an Arrow/Spark row (checksums as signed views of their 64 bits)."""


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fingerprint_row(fingerprint: ExampleFingerprint) -> dict[str, int]:
    """`fingerprint` as a row of `FINGERPRINT_ROW_SCHEMA`."""
    return {
        "rows": fingerprint.rows,
        **{f"sum_{label}": fingerprint.label_sums[label] for label in LABELS},
        "key_checksum": _signed(fingerprint.key_checksum),
        "content_checksum": _signed(fingerprint.content_checksum),
    }


def from_fingerprint_row(row: Mapping[str, int]) -> ExampleFingerprint:
    """Inverse of `fingerprint_row` (accepts a Spark `Row.asDict()` too)."""
    return ExampleFingerprint(
        rows=int(row["rows"]),
        label_sums={label: int(row[f"sum_{label}"]) for label in LABELS},
        key_checksum=int(row["key_checksum"]) & _MASK,
        content_checksum=int(row["content_checksum"]) & _MASK,
    )


def _fingerprint_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: one partial fingerprint row for this task's batches."""
    part = combine(fingerprint_table(batch) for batch in batches)
    yield pa.RecordBatch.from_pylist([fingerprint_row(part)], schema=FINGERPRINT_ROW_SCHEMA)


def fingerprint_dataframe(examples: DataFrame) -> ExampleFingerprint:
    """The fingerprint of a Spark DataFrame, computed in its tasks (one small row each to the
    driver).

    Raises:
        ValueError: a column of `FINGERPRINT_COLUMNS` is missing.
    """
    from pyspark.sql import functions as F

    missing = [name for name in FINGERPRINT_COLUMNS if name not in examples.columns]
    if missing:
        raise ValueError(
            f"cannot fingerprint examples without columns {missing}; "
            f"expected {', '.join(FINGERPRINT_COLUMNS)}"
        )
    frame = examples.select(*[F.col(name) for name in FINGERPRINT_COLUMNS])
    spark_schema = ", ".join(f"{field.name} long" for field in FINGERPRINT_ROW_SCHEMA)
    parts = frame.mapInArrow(_fingerprint_batches, spark_schema).collect()
    return combine(from_fingerprint_row(row.asDict()) for row in parts)


def example_manifest(examples: DataFrame) -> dict:
    """The `_manifest.json` object of a DataFrame of examples (for `spark.io.write_parquet_dir`)."""
    return fingerprint_dataframe(examples).to_json()


def fingerprint_parquet(directory: Path, batch_size: int = 1 << 16) -> ExampleFingerprint:
    """The fingerprint of the Parquet files `*.parquet` in `directory`, streamed in batches."""
    parts = []
    for file in sorted(Path(directory).glob("*.parquet")):
        reader = pq.ParquetFile(file)
        for batch in reader.iter_batches(batch_size=batch_size, columns=list(FINGERPRINT_COLUMNS)):
            parts.append(fingerprint_table(batch))
    return combine(parts)


def write_manifest(directory: Path, manifest: Mapping) -> Path:
    """Write `manifest` as `<directory>/_manifest.json` (into a staging directory, before its
    swap, so the manifest commits with the data); returns the file."""
    path = Path(directory) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def read_fingerprint(directory: Path) -> ExampleFingerprint | None:
    """The fingerprint in `<directory>/_manifest.json`, or None if the directory has none
    (written before manifests existed)."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        return None
    return ExampleFingerprint.from_json(json.loads(path.read_text()), source=str(path))
