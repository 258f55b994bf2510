"""Spark reads and writes of daily partitions under the data root, atomic and idempotent.

Layout (see `spark.storage.DataLayout`): `<root>/<dataset>/date=YYYY-MM-DD/`. Spark output keeps
its `date` column inside the files (no `partitionBy`): a partition directory is self-describing,
and reading leaf directories directly means Spark infers no partition column that could clash
with it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from spark.partition_manifest import write_manifest
from spark.storage import (
    atomic_replace_dir,
    commit_together,
    discard_uncommitted,
    partition_dir,
    recover,
    recover_pending_commits,
    staging_dir_for,
)

PARQUET_COMPRESSION = "zstd"
"""Compression of Spark output (the paper tuned Spark compression for a further -25%, §6.1)."""

RAW_DATASET_PREFIX = "raw"


def write_parquet_dir(
    df: DataFrame,
    final: Path,
    *,
    manifest: Callable[[DataFrame], Mapping] | None = None,
) -> Path:
    """Write `df` as Parquet into directory `final`, replacing any previous version atomically.

    Spark writes into a fresh staging directory beside `final`, which is then renamed into
    place (`storage.atomic_replace_dir`): re-running a day replaces it, a failed run leaves the
    previous version and no staging directory, and a killed one leaves the previous or the new
    version, restored and cleaned by the next write (`storage.recover`, run by `staging_dir_for`).

    Args:
        df: the rows to write.
        final: the partition directory.
        manifest: when given, called with the staged output as read back by Spark; its JSON is
            written to `_manifest.json` inside the staging directory, so it commits with the data
            (e.g. `partition_manifest.example_manifest`, the content fingerprint of examples).

    Returns:
        `final`.
    """
    final = Path(final)
    staging = staging_dir_for(final)
    try:
        df.write.mode("error").option("compression", PARQUET_COMPRESSION).parquet(str(staging))
        if manifest is not None:
            write_manifest(staging, manifest(df.sparkSession.read.parquet(str(staging))))
        atomic_replace_dir(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def write_parquet_dirs_together(
    frames_and_finals: Sequence[tuple[DataFrame, Path]], journal_root: Path
) -> list[Path]:
    """Write each `(df, final)` as Parquet into `final`, all directories committed as one unit.

    Every frame is written into its own staging directory first; only when all are complete are
    they swapped in together (`storage.commit_together`, journaled under `journal_root`, the
    data root's `DataLayout.commits`). A step that writes several datasets of one day (e.g.
    `exploded_session_features` and `replay_candidates`) thus leaves all of them old or all new.

    Returns:
        The `final` directories, in order.
    """
    finals = [Path(final) for _, final in frames_and_finals]
    stagings: list[Path] = []
    try:
        for (df, _), final in zip(frames_and_finals, finals, strict=True):
            stagings.append(staging_dir_for(final))
            df.write.mode("error").option("compression", PARQUET_COMPRESSION).parquet(
                str(stagings[-1])
            )
        commit_together(list(zip(stagings, finals, strict=True)), journal_root)
    finally:
        discard_uncommitted(stagings, journal_root)
    return finals


def read_parquet_dirs(spark: SparkSession, paths: Sequence[Path]) -> DataFrame:
    """Read the Parquet partition directories `paths` as one DataFrame (`date` column included).

    Commits of several directories that a kill interrupted are finished first
    (`storage.recover_pending_commits`), and a missing directory whose previous version a killed
    swap left aside is restored (`storage.recover(path, clean=False)`, which deletes nothing).

    Raises:
        ValueError: `paths` is empty.
        FileNotFoundError: a directory is missing; the message names it and the dataset to
            materialize (the directory's parent, for `<dataset>/date=...` partitions).
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise ValueError(f"no partitions given to read. Received: paths={paths}")
    recover_pending_commits(paths)
    for path in paths:
        if not path.is_dir():
            recover(path, clean=False)  # a swap killed between its renames left it aside
        if not path.is_dir():
            dataset, day = path.parent.name, path.name.removeprefix("date=")
            raise FileNotFoundError(
                f"missing upstream partition {dataset} for {day} (looked in {path}); "
                f"materialize `{dataset}` for that day first"
            )
    return spark.read.parquet(*[str(path) for path in paths])


def write_spark_partition(df: DataFrame, root: Path, dataset: str, date: dt.date) -> Path:
    """Write `df` as the `date` partition of `dataset` under `root` (`write_parquet_dir`).

    Returns:
        The partition directory, `<root>/<dataset>/date=YYYY-MM-DD`.
    """
    return write_parquet_dir(df, partition_dir(Path(root), dataset, date))


def read_spark_partitions(
    spark: SparkSession, root: Path, dataset: str, dates: Iterable[dt.date]
) -> DataFrame:
    """Read the `dates` partitions of `dataset` under `root` as one DataFrame.

    Raises:
        ValueError: `dates` is empty.
        FileNotFoundError: a partition is missing; the message names the dataset and the date.
    """
    dates = list(dates)
    if not dates:
        raise ValueError(f"no dates given to read from `{dataset}`. Received: dates={dates}")
    return read_parquet_dirs(spark, [partition_dir(Path(root), dataset, date) for date in dates])


def read_raw_partitions(
    spark: SparkSession, root: Path, table: str, dates: Iterable[dt.date]
) -> DataFrame:
    """Read raw log partitions `<root>/raw/<table>/date=.../` (Arrow schemas of `spark.schemas`)."""
    return read_spark_partitions(spark, Path(root) / RAW_DATASET_PREFIX, table, dates)
