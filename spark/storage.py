"""Where data lives under the data root, and atomic, idempotent partition writes."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_DATA_ROOT = ".lirank"


def data_root() -> Path:
    """The data root: `$LIRANK_DATA_ROOT`, or `.lirank/` in the working directory."""
    return Path(os.environ.get("LIRANK_DATA_ROOT", DEFAULT_DATA_ROOT)).resolve()


def partition_dir(root: Path, dataset: str, date: dt.date) -> Path:
    """Directory of one daily partition of `dataset`: `<root>/<dataset>/date=YYYY-MM-DD`."""
    return Path(root) / dataset / f"date={date.isoformat()}"


def atomic_replace_dir(staging: Path, final: Path) -> None:
    """Move a fully written `staging` directory to `final`, replacing any previous version.

    The previous version is renamed aside first and removed only after the new one is in place,
    so a crash leaves either the old or the new partition, never a half-written one.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    backup = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, backup)
    os.replace(staging, final)
    if backup.exists():
        shutil.rmtree(backup)


def staging_dir_for(final: Path) -> Path:
    """A fresh sibling directory of `final` to write into before `atomic_replace_dir`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")


def write_partition(table: pa.Table, root: Path, dataset: str, date: dt.date) -> Path:
    """Write `table` as the `date` partition of `dataset` atomically; returns the partition dir."""
    final = partition_dir(root, dataset, date)
    staging = staging_dir_for(final)
    staging.mkdir(parents=True)
    pq.write_table(table, staging / "part-00000.parquet", compression="zstd")
    atomic_replace_dir(staging, final)
    return final


def read_partition(root: Path, dataset: str, date: dt.date) -> pa.Table:
    """Read one daily partition; raises FileNotFoundError naming the missing upstream."""
    path = partition_dir(root, dataset, date)
    if not path.exists():
        raise FileNotFoundError(
            f"missing upstream partition {dataset} for {date.isoformat()} (looked in {path}); "
            f"materialize `{dataset}` for that day first"
        )
    return pq.read_table(path, partitioning=None)
