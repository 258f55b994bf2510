"""Where data lives under the data root (`DataLayout`), and atomic, idempotent partition writes.

Every directory the project replaces (a dataset partition, a model directory) is written into a
staging sibling and swapped into place by `atomic_replace_dir`; `recover` undoes what a killed swap
left behind, and runs at the start of every write (`staging_dir_for`). A step that writes several
directories for one day commits them as a unit with `commit_together`: a journal under
`<root>/.commits/` lists the swaps, and `recover_journals` (run before every write and read)
finishes a commit a kill interrupted, so readers never see a mix of versions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_DATA_ROOT = ".lirank"
COMMITS_DIR = ".commits"
"""Hidden directory of the data root holding the journals of `commit_together`."""
DATA_ROOT_ENV = "LIRANK_DATA_ROOT"


def data_root() -> Path:
    """The data root: `$LIRANK_DATA_ROOT`, or `.lirank/` in the working directory."""
    return Path(os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)).resolve()


def partition_dir(root: Path, dataset: str, date: dt.date) -> Path:
    """Directory of one daily partition of `dataset`: `<root>/<dataset>/date=YYYY-MM-DD`."""
    return Path(root) / dataset / f"date={date.isoformat()}"


PRODUCT_MODEL_ASSETS: dict[str, str] = {"ads": "ads_ctr_model", "jobs": "jobs_ranking_model"}
"""Each product's model asset, which names its model directories."""


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

    def product_examples(self, product: str, date: dt.date) -> Path:
        """The day's Ads or Jobs model-ready rows as Parquet (`ads_examples`, `jobs_examples`)."""
        return partition_dir(self.features, f"{product}_examples", date)

    # models: <root>/models/<dataset>/date=.../
    @property
    def models(self) -> Path:
        return self.root / "models"

    def product_model(self, product: str, date: dt.date) -> Path:
        """The day's Ads CTR or Jobs ranking model directory (`ads_ctr_model`,
        `jobs_ranking_model`)."""
        return partition_dir(self.models, PRODUCT_MODEL_ASSETS[product], date)

    def quantized_ads_model(self, date: dt.date) -> Path:
        """The day's promoted Ads model with 8-bit ID embedding tables (`ads_ctr_model_8bit`)."""
        return partition_dir(self.models, "ads_ctr_model_8bit", date)

    def feed_model(self, date: dt.date) -> Path:
        """The day's feed ranking model directory (Keras model, SavedModel, manifest)."""
        return partition_dir(self.models, "feed_ranking_model", date)

    def compressed_feed_model(self, date: dt.date) -> Path:
        """The day's quantized feed model directory (Keras model, SavedModel, manifest)."""
        return partition_dir(self.models, "compressed_feed_model", date)

    @property
    def random_effects_root(self) -> Path:
        return self.models / "windowed_random_effects"

    def random_effects(self, date: dt.date) -> Path:
        """The windowed post and author random effects that score the day's traffic."""
        return partition_dir(self.models, "windowed_random_effects", date)

    def explore_posterior(self, date: dt.date) -> Path:
        """The day's last-layer posterior for Thompson sampling (`models.explore`)."""
        return partition_dir(self.models, "explore_exploit_posterior", date)

    # single places
    @property
    def commits(self) -> Path:
        """Journals of multi-directory commits in progress (`commit_together`); empty at rest."""
        return self.root / COMMITS_DIR

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


def recover(final: Path, *, clean: bool = True, keep: Collection[Path] = ()) -> Recovery:
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
        keep: staging directories not to delete (those a pending commit journal still lists).
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
    keep = {Path(path).absolute() for path in keep}
    for leftover in [*_siblings(final, STAGING_MARK), *_siblings(final, DELETING_MARK)]:
        if leftover.absolute() in keep:
            continue
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return Recovery(restored=restored, removed=tuple(removed))


def recover_tree(root: Path) -> dict[Path, Recovery]:
    """`recover` every directory under `root` that has staging or aside siblings left behind.

    For a clean-up by hand (e.g. `python -m spark.storage <data root>`) while NO run writes under
    `root`: it deletes every staging directory it finds, including those of a write in progress.
    Commits a kill interrupted (`<root>/.commits/`) are finished first (`recover_journals`).

    Returns:
        What was done, by the directory recovered.
    """
    if (Path(root) / COMMITS_DIR).is_dir():
        recover_journals(Path(root) / COMMITS_DIR)
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

    Starting a write first finishes the interrupted commits of the data root (`recover_journals`),
    then recovers `final` (`recover`): a version left aside by a killed swap is restored and the
    staging directories of killed writes of `final` are deleted, except those a commit in
    progress in another process still lists in its journal.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    journals = journal_root_for(final)
    keep: set[Path] = set()
    if journals is not None:
        recover_journals(journals)
        keep = journaled_staging(journals)
    recover(final, keep=keep)
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
    recover_pending_commits([path])
    if not path.exists():
        recover(path, clean=False)
    if not path.exists():
        raise FileNotFoundError(
            f"missing upstream partition {dataset} for {date.isoformat()} (looked in {path}); "
            f"materialize `{dataset}` for that day first"
        )
    return pq.read_table(path, partitioning=None)


# --- several directories as one commit --------------------------------------------------------

JOURNAL_SUFFIX = ".commit.json"
"""`<journal root>/<ns>-<id>.commit.json`: the swaps of one `commit_together`, pending."""

JOURNAL_VERSION = 1


class CommitJournalError(ValueError):
    """A commit journal that cannot be read; the message names the file and what to do."""


def journal_root_for(path: Path) -> Path | None:
    """The journal directory of the data root holding `path`: the nearest `<ancestor>/.commits`.

    The convention (`DataLayout.commits`) lets every write and read find pending commits from a
    directory path alone. None when no ancestor has one (no multi-directory commit ever ran).
    """
    for ancestor in Path(path).absolute().parents:
        candidate = ancestor / COMMITS_DIR
        if candidate.is_dir():
            return candidate
    return None


def _journals(journal_root: Path) -> list[Path]:
    """Committed journal files under `journal_root`, oldest first."""
    if not journal_root.is_dir():
        return []
    return sorted(
        p
        for p in journal_root.iterdir()
        if p.name.endswith(JOURNAL_SUFFIX) and not p.name.startswith(".")
    )


def _read_journal(journal: Path) -> list[tuple[Path, Path]]:
    """The (staging, final) pairs a journal lists, as absolute paths."""
    base = journal.parent.parent
    try:
        content = json.loads(journal.read_text())
        pairs = [(base / staging, base / final) for staging, final in content["pairs"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CommitJournalError(
            f"commit journal {journal} is unreadable ({type(error).__name__}: {error}); it lists "
            "the directory swaps of one interrupted multi-directory commit. Check those "
            "directories by hand (staging siblings `.<name>.tmp-*`), then delete the journal and "
            "re-materialize the day"
        ) from error
    return pairs


def journaled_staging(journal_root: Path) -> set[Path]:
    """Staging directories listed by the journals still under `journal_root` (commits pending)."""
    listed: set[Path] = set()
    for journal in _journals(Path(journal_root)):
        try:
            listed.update(staging for staging, _ in _read_journal(journal))
        except FileNotFoundError:  # finished meanwhile
            continue
    return listed


@contextmanager
def _unless_live(path: Path) -> Iterator[bool]:
    """Yields True holding an exclusive lock on file `path`, False if another process holds it
    (its commit is running) or the file is gone.

    A committing process locks its journal (`flock`) until the commit is done; the kernel drops
    the lock when the process dies, so an unlockable journal belongs to a live commit.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:  # the same file still? (finished and deleted while we waited to open it)
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        yield same
    finally:
        os.close(fd)


def _finish(staging: Path, final: Path, keep: Collection[Path]) -> None:
    """Roll one swap of an interrupted commit forward: swap it if its staging directory is still
    there (not swapped yet), then clean up as `recover` does (an aside old copy is deleted, or
    restored if `final` is missing and nothing newer exists)."""
    if staging.is_dir():
        atomic_replace_dir(staging, final)
    recover(final, keep=keep)


def recover_journals(journal_root: Path) -> list[Path]:
    """Finish every commit of `commit_together` that a kill interrupted; returns their journals.

    The rule is roll-forward: a journal exists only once every staging directory of the commit
    was complete, so the commit is finished, never undone. Each listed swap whose staging
    directory still exists is done (`atomic_replace_dir`); one whose staging directory is gone
    was already done, and only its leftovers are cleaned (`recover`). Then the journal is
    deleted. Journals locked by a live process (a commit in progress) are left alone, and so
    are the staging directories any pending journal lists. Journal temp files of commits killed
    before their journal was complete are deleted (those commits never started swapping).

    Raises:
        CommitJournalError: a journal cannot be parsed (it names the file and what to do).
    """
    journal_root = Path(journal_root)
    if not journal_root.is_dir():
        return []
    for temp in journal_root.glob(f".*{JOURNAL_SUFFIX}.{STAGING_MARK}"):
        with _unless_live(temp) as dead:
            if dead:
                temp.unlink(missing_ok=True)
    finished = []
    for journal in _journals(journal_root):
        with _unless_live(journal) as dead:
            if not dead:
                continue
            pairs = _read_journal(journal)
            others = journaled_staging(journal_root) - {staging for staging, _ in pairs}
            for staging, final in pairs:
                _finish(staging, final, keep=others)
            journal.unlink()
            finished.append(journal)
    return finished


def recover_pending_commits(paths: Sequence[Path]) -> None:
    """`recover_journals` for the data roots holding `paths` (what readers run before reading)."""
    roots = {journal_root_for(Path(path).parent) for path in paths}
    for root in sorted(r for r in roots if r is not None):
        recover_journals(root)


def _write_journal(journal_root: Path, pairs: Sequence[tuple[Path, Path]]) -> tuple[Path, int]:
    """Write the journal atomically (temp file, fsync, `os.replace`) and return it with an open,
    locked descriptor; the lock, taken before the rename, marks the commit as live."""
    journal_root.mkdir(parents=True, exist_ok=True)
    base = journal_root.parent
    name = f"{_unique_suffix()}{JOURNAL_SUFFIX}"
    journal, temp = journal_root / name, journal_root / f".{name}.{STAGING_MARK}"
    content = {
        "version": JOURNAL_VERSION,
        "pairs": [[str(s.relative_to(base)), str(f.relative_to(base))] for s, f in pairs],
    }
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = json.dumps(content, indent=1).encode()
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
        os.replace(temp, journal)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    return journal, fd


def commit_together(pairs: Sequence[tuple[Path, Path]], journal_root: Path) -> None:
    """Swap several fully written staging directories into place as one commit.

    Each `(staging, final)` pair is as for `atomic_replace_dir`. First a journal listing every
    pair is written atomically under `journal_root` (`DataLayout.commits`), then each swap runs,
    then the journal is deleted. A process killed at any point leaves either no journal (nothing
    swapped: every `final` is the old version, the staging directories are removed by the next
    write) or a journal, which `recover_journals` (run by every write and read) rolls forward to
    the new version of every directory. Readers thus see all the old versions or all the new.

    Args:
        pairs: (staging, final) directories; every staging directory must be complete.
        journal_root: the data root's journal directory; its parent must hold every path.

    Raises:
        ValueError: no pairs, a `final` listed twice, or a path outside `journal_root.parent`.
        FileNotFoundError: a staging directory is missing (nothing is swapped).
    """
    pairs = [(Path(staging).absolute(), Path(final).absolute()) for staging, final in pairs]
    journal_root = Path(journal_root).absolute()
    if not pairs:
        raise ValueError(f"`pairs` must list at least one directory. Received: pairs={pairs}")
    finals = [final for _, final in pairs]
    if len(set(finals)) != len(finals):
        raise ValueError(f"each directory may be committed once. Received finals: {finals}")
    for path in (path for pair in pairs for path in pair):
        if not path.is_relative_to(journal_root.parent):
            raise ValueError(
                f"{path} is outside {journal_root.parent}, the data root of journal directory "
                f"{journal_root}; pass the `DataLayout.commits` of the root holding it"
            )
    for staging, final in pairs:
        if not staging.is_dir():
            raise FileNotFoundError(
                f"staging directory {staging} for {final} does not exist; nothing was committed"
            )
    journal, fd = _write_journal(journal_root, pairs)
    try:
        for staging, final in pairs:
            atomic_replace_dir(staging, final)
        journal.unlink()
    finally:
        os.close(fd)


def discard_uncommitted(stagings: Sequence[Path], journal_root: Path) -> None:
    """Delete the staging directories of a write that failed, except those a pending journal
    lists (`recover_journals` will swap them in). For a writer's `finally` clause."""
    listed = journaled_staging(Path(journal_root))
    for staging in stagings:
        if Path(staging).absolute() not in listed and Path(staging).exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_parquet_tables_together(
    tables: Sequence[tuple[pa.Table, Path]], journal_root: Path
) -> list[Path]:
    """Write each `(table, final)` as `final/part-00000.parquet`, all committed as one unit
    (`commit_together`); returns the `final` directories."""
    stagings: list[Path] = []
    try:
        for table, final in tables:
            staging = staging_dir_for(final)
            stagings.append(staging)
            staging.mkdir(parents=True)
            pq.write_table(table, staging / "part-00000.parquet", compression="zstd")
        finals = [final for _, final in tables]
        commit_together(list(zip(stagings, finals, strict=True)), journal_root)
    finally:
        discard_uncommitted(stagings, journal_root)
    return [Path(final) for _, final in tables]


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else data_root()
    for final, done in recover_tree(root).items():
        restored = f"restored {final}; " if done.restored else ""
        print(f"{final}: {restored}removed {len(done.removed)} leftover directories")
