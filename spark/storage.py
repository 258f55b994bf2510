"""Where data lives under the data root (`DataLayout`), and atomic, idempotent partition writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_DATA_ROOT = ".lirank"
DATA_ROOT_ENV = "LIRANK_DATA_ROOT"


def data_root() -> Path:
    """The data root: `$LIRANK_DATA_ROOT`, or `.lirank/` in the working directory."""
    return Path(os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)).resolve()


def partition_dir(root: Path, dataset: str, date: dt.date) -> Path:
    """Directory of one daily partition of `dataset`: `<root>/<dataset>/date=YYYY-MM-DD`."""
    return Path(root) / dataset / f"date={date.isoformat()}"


@dataclasses.dataclass(frozen=True)
class DataLayout:
    """Every path of the project under one data root, one method per dataset.

    Daily datasets are directories `<group>/<dataset>/date=YYYY-MM-DD/` (Parquet files, Avro
    shards or a model); the warehouse, the review snapshot and the simulator's state cache are
    single places. Nothing else in the project builds a path by hand.

    Example:
        >>> layout = DataLayout(Path("/data"))
        >>> layout.training_examples(dt.date(2026, 1, 2))
        PosixPath('/data/features/training_examples/date=2026-01-02')
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def from_env(cls) -> DataLayout:
        """The layout of `data_root()` (`$LIRANK_DATA_ROOT`, else `.lirank/`)."""
        return cls(data_root())

    # raw logs: <root>/raw/<table>/date=.../ (the four log tables and the simulator's truth)
    @property
    def raw(self) -> Path:
        return self.root / "raw"

    def raw_table(self, table: str, date: dt.date) -> Path:
        return partition_dir(self.raw, table, date)

    def ground_truth(self, date: dt.date) -> Path:
        """The simulator's true probabilities per served post (`feed_ground_truth`)."""
        return self.raw_table("feed_ground_truth", date)

    @property
    def world_state(self) -> Path:
        """The simulator's member-state cache, carried from day to day."""
        return self.root / "world_state"

    # features: <root>/features/<dataset>/date=.../
    @property
    def features(self) -> Path:
        return self.root / "features"

    def exploded_session_features(self, date: dt.date) -> Path:
        return partition_dir(self.features, "exploded_session_features", date)

    def replay_candidates(self, date: dt.date) -> Path:
        return partition_dir(self.features, "replay_candidates", date)

    def dwell_thresholds(self, date: dt.date) -> Path:
        return partition_dir(self.features, "dwell_thresholds", date)

    def training_examples(self, date: dt.date) -> Path:
        """The day's model-ready rows as Parquet."""
        return partition_dir(self.features, "training_examples", date)

    def training_examples_avro(self, date: dt.date) -> Path:
        """The day's model-ready rows as Avro shards `part-NNNNN.avro` (read by ATDS)."""
        return partition_dir(self.features, "training_examples_avro", date)

    def examples_in(self, examples_format: str, date: dt.date) -> Path:
        """The day's training examples in `examples_format` ("avro" or "parquet")."""
        if examples_format == "avro":
            return self.training_examples_avro(date)
        if examples_format == "parquet":
            return self.training_examples(date)
        raise ValueError(
            "`examples_format` must be 'avro' or 'parquet'. "
            f"Received: examples_format={examples_format!r}"
        )

    # models: <root>/models/<dataset>/date=.../
    @property
    def models(self) -> Path:
        return self.root / "models"

    def feed_model(self, date: dt.date) -> Path:
        """The day's feed ranking model directory (Keras model, SavedModel, manifest)."""
        return partition_dir(self.models, "feed_ranking_model", date)

    @property
    def random_effects_root(self) -> Path:
        return self.models / "popularity_random_effects"

    def random_effects(self, date: dt.date) -> Path:
        """The day's per-post popularity random effects."""
        return partition_dir(self.models, "popularity_random_effects", date)

    # single places
    @property
    def warehouse(self) -> Path:
        """The DuckDB warehouse (metrics and the model manifest)."""
        return self.root / "warehouse.duckdb"

    @property
    def review_snapshot(self) -> Path:
        """The dashboard's read-only DuckDB snapshot, replaced atomically."""
        return self.root / "review" / "review.duckdb"


def parquet_row_count(path: Path) -> int:
    """Rows of the Parquet files in directory `path`, from their footers (no data read)."""
    return sum(pq.read_metadata(file).num_rows for file in sorted(Path(path).glob("*.parquet")))


def parquet_schema(path: Path) -> pa.Schema:
    """The Arrow schema of the Parquet files in directory `path` (the first file's footer)."""
    files = sorted(Path(path).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {path}")
    return pq.read_schema(files[0])


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


def write_parquet_table(table: pa.Table, final: Path) -> Path:
    """Write `table` as `final/part-00000.parquet`, replacing directory `final` atomically."""
    final = Path(final)
    staging = staging_dir_for(final)
    staging.mkdir(parents=True)
    pq.write_table(table, staging / "part-00000.parquet", compression="zstd")
    atomic_replace_dir(staging, final)
    return final


def write_partition(table: pa.Table, root: Path, dataset: str, date: dt.date) -> Path:
    """Write `table` as the `date` partition of `dataset` atomically; returns the partition dir."""
    return write_parquet_table(table, partition_dir(root, dataset, date))


def read_partition(root: Path, dataset: str, date: dt.date) -> pa.Table:
    """Read one daily partition; raises FileNotFoundError naming the missing upstream."""
    path = partition_dir(root, dataset, date)
    if not path.exists():
        raise FileNotFoundError(
            f"missing upstream partition {dataset} for {date.isoformat()} (looked in {path}); "
            f"materialize `{dataset}` for that day first"
        )
    return pq.read_table(path, partitioning=None)
