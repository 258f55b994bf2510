"""Where data lives under the data root (`DataLayout`), and atomic, idempotent partition writes.

Every directory the project replaces (a dataset partition, a model directory) is written into a
staging sibling and swapped into place by `atomic_replace_dir`; `recover` undoes what a killed swap
left behind, and runs at the start of every write (`staging_dir_for`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import time
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


STAGING_MARK = "tmp"
"""`.{name}.tmp-<id>`: a directory being written for `name`; never read, removed on recovery."""

ASIDE_MARK = "old"
"""`.{name}.old-<ns>-<id>`: a complete previous version of `name`, moved aside during a swap."""

DELETING_MARK = "del"
"""`.{name}.del-<ns>-<id>`: a previous version being deleted; removed, never restored."""


@dataclasses.dataclass(frozen=True)
class Recovery:
    """What `recover` did to one directory's siblings.

    Args:
        restored: the aside copy renamed back to `final` (None: nothing to restore).
        removed: sibling directories deleted (staging, superseded or half-deleted copies).
    """

    restored: Path | None = None
    removed: tuple[Path, ...] = ()


def _siblings(final: Path, mark: str) -> list[Path]:
    """Sibling directories `.{final.name}.{mark}-*` of `final`, oldest name first."""
    if not final.parent.is_dir():
        return []
    prefix = f".{final.name}.{mark}-"
    return sorted(p for p in final.parent.iterdir() if p.name.startswith(prefix))


def _unique_suffix() -> str:
    """`<ns since epoch, 20 digits>-<random>`: sorts by creation time, unique across processes."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _delete(aside: Path) -> None:
    """Delete a moved-aside directory: renamed to `.del-` first, so a kill mid-way never leaves a
    half-deleted directory that recovery could mistake for a complete previous version."""
    doomed = aside.with_name(aside.name.replace(f".{ASIDE_MARK}-", f".{DELETING_MARK}-", 1))
    try:
        os.replace(aside, doomed)
    except FileNotFoundError:  # already recovered by someone else
        return
    shutil.rmtree(doomed, ignore_errors=True)


def recover(final: Path, *, clean: bool = True) -> Recovery:
    """Bring directory `final` back to a committed state after a killed swap; returns what it did.

    The rule, for every point at which `atomic_replace_dir` can die:

    * `final` missing and aside copies `.{name}.old-*` present (killed between the two renames):
      the newest aside copy is renamed back to `final`, the previous version readers had.
    * `final` present: aside copies are superseded versions (killed before their deletion) and are
      deleted (with `clean`).
    * staging directories `.{name}.tmp-*` (killed while writing, or before the swap) and
      half-deleted `.{name}.del-*` directories are deleted (with `clean`).

    Only siblings of this `final` name are touched (the prefix `.{final.name}.`), so writes of
    other partitions of the same dataset are never disturbed. Writers call it with `clean=True`
    at the start of every write (`staging_dir_for`); two concurrent writes of the SAME directory
    are not supported (the second would delete the first's staging directory). Readers may call
    it with `clean=False`, which only restores a missing `final` and deletes nothing.

    Args:
        final: the directory a swap replaces (a dataset partition, a model directory).
        clean: also delete staging, superseded and half-deleted sibling directories.
    """
    final = Path(final)
    restored = None
    asides = _siblings(final, ASIDE_MARK)
    if asides and not final.exists():
        newest = asides.pop()
        os.replace(newest, final)
        restored = final
    if not clean:
        return Recovery(restored=restored)
    removed = []
    for aside in asides:
        _delete(aside)
        removed.append(aside)
    for leftover in [*_siblings(final, STAGING_MARK), *_siblings(final, DELETING_MARK)]:
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return Recovery(restored=restored, removed=tuple(removed))


def recover_tree(root: Path) -> dict[Path, Recovery]:
    """`recover` every directory under `root` that has staging or aside siblings left behind.

    For a clean-up by hand (e.g. `python -m spark.storage <data root>`) while NO run writes under
    `root`: it deletes every staging directory it finds, including those of a write in progress.

    Returns:
        What was done, by the directory recovered.
    """
    pattern = re.compile(rf"^\.(?P<name>.+)\.(?:{STAGING_MARK}|{ASIDE_MARK}|{DELETING_MARK})-")
    finals = set()
    for dirpath, dirnames, _ in os.walk(root):
        for dirname in dirnames:
            match = pattern.match(dirname)
            if match:
                finals.add(Path(dirpath) / match["name"])
        dirnames[:] = [d for d in dirnames if not pattern.match(d)]  # not inside the debris
    return {final: recover(final) for final in sorted(finals)}


def atomic_replace_dir(staging: Path, final: Path) -> None:
    """Move a fully written `staging` directory to `final`, replacing any previous version.

    Three steps: (1) the previous `final` is renamed aside to `.{name}.old-<ns>-<id>`, (2) `staging`
    is renamed to `final`, (3) the aside copy is renamed to `.{name}.del-...` and deleted. Each
    rename is atomic, so a process killed at any point leaves `final` holding the old or the new
    complete version, except between (1) and (2), where `final` is missing and the complete old
    version sits aside: `recover(final)` (run by the next write, and by readers that find `final`
    missing) renames it back. A failed rename in (2) renames the old version back at once.

    Raises:
        FileNotFoundError: `staging` does not exist (`final` is left as it was).
    """
    staging, final = Path(staging), Path(final)
    if not staging.is_dir():
        raise FileNotFoundError(
            f"staging directory {staging} for {final} does not exist; nothing to commit "
            f"({final} is left as it was)"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    aside = None
    if final.exists():
        aside = final.with_name(f".{final.name}.{ASIDE_MARK}-{_unique_suffix()}")
        os.replace(final, aside)
    try:
        os.replace(staging, final)
    except OSError:
        if aside is not None and not final.exists():
            os.replace(aside, final)
        raise
    if aside is not None:
        _delete(aside)


def staging_dir_for(final: Path) -> Path:
    """A fresh sibling path of `final` to write into before `atomic_replace_dir` (not created).

    Starting a write first recovers `final` (`recover`): a version left aside by a killed swap is
    restored and the staging directories of killed writes of `final` are deleted.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover(final)
    return final.with_name(f".{final.name}.{STAGING_MARK}-{_unique_suffix()}")


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
        recover(path, clean=False)
    if not path.exists():
        raise FileNotFoundError(
            f"missing upstream partition {dataset} for {date.isoformat()} (looked in {path}); "
            f"materialize `{dataset}` for that day first"
        )
    return pq.read_table(path, partitioning=None)


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else data_root()
    for final, done in recover_tree(root).items():
        restored = f"restored {final}; " if done.restored else ""
        print(f"{final}: {restored}removed {len(done.removed)} leftover directories")
