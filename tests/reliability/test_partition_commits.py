"""A day's partition commits as a unit: directory swaps survive a kill at every stage, several
directories of one step commit together (journal, roll-forward), orphans are cleaned by the next
write, and the Avro shards are checked against the Parquet by content."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark import storage
from spark.partition_manifest import MANIFEST_FILE, fingerprint_table, read_fingerprint
from spark.schemas import LABELS, TRAINING_EXAMPLE
from spark.storage import (
    CommitJournalError,
    DataLayout,
    atomic_replace_dir,
    commit_together,
    read_partition,
    recover,
    recover_journals,
    recover_tree,
    staging_dir_for,
    write_parquet_table,
    write_parquet_tables_together,
)

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 1, 2)
OLD = pa.table({"value": pa.array([1, 2, 3], pa.int64())})
NEW = pa.table({"value": pa.array([7, 8, 9, 10], pa.int64())})

# Runs in a fresh interpreter: writes `NEW` over the partition with `write_parquet_table`, but
# SIGKILLs itself at the k-th filesystem step (`pq.write_table`, `os.replace`, `shutil.rmtree`).
# A killed `write_table` leaves half a file behind, a killed `rmtree` one file fewer: the debris
# a real kill leaves. Every step is logged (flushed) before it runs; k=0 never kills.
WRITER = textwrap.dedent(
    """
    import io, json, os, shutil, signal, sys
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from spark import storage

    kill_at, final, log_path = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    calls = 0
    log = open(log_path, "a")

    def half_write(table, where, **kwargs):
        buffer = io.BytesIO()
        real_write_table(table, buffer, **kwargs)
        data = buffer.getvalue()
        with open(where, "wb") as out:
            out.write(data[: len(data) // 2])

    def delete_one_file(path, *args, **kwargs):
        for root, _, files in os.walk(path):
            for name in files:
                os.unlink(os.path.join(root, name))
                return

    def faulty(step, real, partial=None):
        def wrapper(*args, **kwargs):
            global calls
            calls += 1
            log.write(json.dumps([step, *[str(a) for a in args[:2]]]) + "\\n")
            log.flush()
            if calls == kill_at:
                if partial is not None:
                    partial(*args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return wrapper

    real_write_table = pq.write_table
    pq.write_table = faulty("write_table", real_write_table, half_write)
    os.replace = faulty("replace", os.replace)
    shutil.rmtree = faulty("rmtree", shutil.rmtree, delete_one_file)

    storage.write_parquet_table(pa.table({"value": pa.array([7, 8, 9, 10], pa.int64())}), final)
    print(calls)
    """
)


def _snapshot(directory: Path) -> dict[str, bytes] | None:
    """Every file under `directory` by relative path (None: the directory does not exist)."""
    if not directory.is_dir():
        return None
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _siblings(final: Path) -> list[str]:
    """Leftover hidden siblings of `final` (staging, aside, being-deleted copies)."""
    return sorted(p.name for p in final.parent.iterdir() if p.name.startswith(f".{final.name}."))


def _run_writer(tmp_path: Path, final: Path, kill_at: int) -> list[list[str]]:
    """Run `WRITER` killed at step `kill_at` (0: never); returns the steps it started."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    log = tmp_path / f"steps-{kill_at}.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(script), str(kill_at), str(final), str(log)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    steps = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if kill_at == 0:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    return steps


def _references(tmp_path: Path) -> tuple[dict, dict]:
    old, new = tmp_path / "ref" / "old", tmp_path / "ref" / "new"
    write_parquet_table(OLD, old)
    write_parquet_table(NEW, new)
    return _snapshot(old), _snapshot(new)


KILL_POINTS = [(True, k) for k in range(1, 6)] + [(False, k) for k in range(1, 3)]
"""(an old version present, k): every step of a write over an old version, and into nothing."""


def test_a_write_has_the_expected_stages(tmp_path):
    """Over an old version: write, rename old aside, rename staging in, rename aside to
    deleting, delete. Into nothing: write, rename staging in. (`KILL_POINTS` covers them all.)"""
    final = tmp_path / "ds" / f"date={DAY.isoformat()}"
    steps = _run_writer(tmp_path, final, kill_at=0)
    assert [step[0] for step in steps] == ["write_table", "replace"]
    steps = _run_writer(tmp_path, final, kill_at=0)
    assert [step[0] for step in steps] == ["write_table", "replace", "replace", "replace", "rmtree"]
    assert [(with_old, k) for with_old, k in KILL_POINTS if with_old] == [
        (True, k) for k in range(1, len(steps) + 1)
    ]
    assert _snapshot(final) == _references(tmp_path / "r")[1]
    assert _siblings(final) == []


@pytest.mark.parametrize(("with_old", "kill_at"), KILL_POINTS)
def test_a_write_killed_at_any_stage_leaves_the_old_or_the_new_version(tmp_path, with_old, kill_at):
    """SIGKILL at the k-th step of a real writer process: readers see the old version until the
    new one is renamed into place and the new one after, byte for byte; the next write (or
    `recover`) leaves no staging or aside directory and the new data."""
    old, new = _references(tmp_path)
    final = tmp_path / "data" / "ds" / f"date={DAY.isoformat()}"
    if with_old:
        write_parquet_table(OLD, final)
    assert _snapshot(final) == (old if with_old else None)

    steps = _run_writer(tmp_path, final, kill_at)
    committed = any(
        step[0] == "replace" and Path(step[2]) == final for step in steps[: kill_at - 1]
    )
    expected = new if committed else (old if with_old else None)

    if _snapshot(final) is None and with_old:
        # killed between the two renames: the complete old version waits aside for recovery
        (aside,) = [s for s in _siblings(final) if ".old-" in s]
        assert _snapshot(final.parent / aside) == old
    # what a reader sees: `read_partition` restores an aside copy (deleting nothing)
    if expected is not None:
        table = read_partition(final.parents[1], "ds", DAY)
        assert table.equals(NEW if committed else OLD)
    assert _snapshot(final) == expected

    recover(final)  # what the next write runs first
    assert _snapshot(final) == expected
    assert _siblings(final) == []

    write_parquet_table(NEW, final)  # the re-run
    assert _snapshot(final) == new
    assert _siblings(final) == []


def test_the_next_write_restores_an_aside_copy_and_cleans_only_its_own_partition(tmp_path):
    """A kill between the renames left `final` missing: the next write of it restores, cleans
    its staging debris, and never touches the live staging directory of another partition."""
    final = tmp_path / "ds" / "date=2026-01-02"
    other = tmp_path / "ds" / "date=2026-01-03"
    write_parquet_table(OLD, final)
    old = _snapshot(final)
    # the state a kill between the two renames of `atomic_replace_dir` leaves
    aside = final.with_name(f".{final.name}.old-00000000000000000001-deadbeef")
    os.replace(final, aside)
    killed_staging = staging_dir_for(final)
    killed_staging.mkdir()
    (killed_staging / "part-00000.parquet").write_bytes(b"PAR1 half")
    live_other = staging_dir_for(other)  # another partition's write in progress
    live_other.mkdir()
    (live_other / "part-00000.parquet").write_bytes(b"in progress")

    staging = staging_dir_for(final)  # a new write of `final` starts: recovery runs
    assert _snapshot(final) == old
    assert _siblings(final) == []
    assert (live_other / "part-00000.parquet").read_bytes() == b"in progress"
    staging.mkdir()
    pq.write_table(NEW, staging / "part-00000.parquet")
    atomic_replace_dir(staging, final)
    assert pq.read_table(final).equals(NEW)
    assert _siblings(final) == [] and live_other.is_dir()


def test_recover_for_readers_restores_the_newest_aside_copy_and_deletes_nothing(tmp_path):
    final = tmp_path / "ds" / "date=2026-01-02"
    older = final.with_name(f".{final.name}.old-00000000000000000001-aaaaaaaa")
    newer = final.with_name(f".{final.name}.old-00000000000000000002-bbbbbbbb")
    staging = final.with_name(f".{final.name}.tmp-00000000000000000003-cccccccc")
    for directory, table in [(older, OLD), (newer, NEW)]:
        directory.mkdir(parents=True)
        pq.write_table(table, directory / "part-00000.parquet")
    staging.mkdir()

    result = recover(final, clean=False)
    assert result.restored == final and result.removed == ()
    assert pq.read_table(final).equals(NEW)
    assert _siblings(final) == sorted([older.name, staging.name])  # a reader deletes nothing
    result = recover(final)
    assert sorted(result.removed) == sorted([older, staging])
    assert _siblings(final) == [] and pq.read_table(final).equals(NEW)


def test_recover_tree_cleans_every_dataset_and_restores_missing_partitions(tmp_path):
    """The clean-up by hand (`python -m spark.storage <root>`): every partition with debris."""
    kept = tmp_path / "features" / "a" / "date=2026-01-01"
    lost = tmp_path / "models" / "b" / "date=2026-01-02"
    untouched = tmp_path / "features" / "a" / "date=2026-01-03"
    for final in (kept, lost, untouched):
        write_parquet_table(OLD, final)
    staging_dir_for(kept).mkdir()  # a killed write's staging
    os.replace(lost, lost.with_name(f".{lost.name}.old-00000000000000000001-deadbeef"))
    before = _snapshot(untouched)

    done = recover_tree(tmp_path)
    assert sorted(done) == sorted([kept, lost])
    assert done[lost].restored == lost and len(done[kept].removed) == 1
    assert pq.read_table(lost).equals(OLD) and pq.read_table(kept).equals(OLD)
    assert _snapshot(untouched) == before
    hidden = [p for p in tmp_path.rglob(".*") if p.is_dir()]
    assert hidden == []


def test_a_failed_swap_puts_the_old_version_back(tmp_path):
    final = tmp_path / "ds" / "date=2026-01-02"
    write_parquet_table(OLD, final)
    old = _snapshot(final)
    with pytest.raises(FileNotFoundError, match=r"staging directory .* does not exist"):
        atomic_replace_dir(tmp_path / "ds" / ".never-written", final)
    assert _snapshot(final) == old and _siblings(final) == []


# --- several directories of one step commit together ----------------------------------------

# Like `WRITER`, but writes NEW_A and NEW_B over two partitions of one data root with
# `write_parquet_tables_together` (journal under `<root>/.commits`).
WRITER_TOGETHER = WRITER.split("storage.write_parquet_table(")[0] + textwrap.dedent(
    """
    storage.write_parquet_tables_together(
        [
            (pa.table({"value": pa.array([7, 8, 9, 10], pa.int64())}), final),
            (pa.table({"name": pa.array(["x", "y"])}), Path(sys.argv[4])),
        ],
        final.parents[2] / ".commits",
    )
    print(calls)
    """
)
OLD_B = pa.table({"name": pa.array(["a", "b", "c"])})
NEW_B = pa.table({"name": pa.array(["x", "y"])})


def _run_writer_together(tmp_path: Path, a: Path, b: Path, kill_at: int) -> list[list[str]]:
    """Run `WRITER_TOGETHER` killed at step `kill_at` (0: never); returns the steps it started."""
    script = tmp_path / "writer_together.py"
    script.write_text(WRITER_TOGETHER)
    log = tmp_path / f"steps-together-{kill_at}.jsonl"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, str(script), str(kill_at), str(a), str(log), str(b)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    steps = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    expected_rc = 0 if kill_at == 0 else -signal.SIGKILL
    assert done.returncode == expected_rc, (done.returncode, done.stderr)
    return steps


def _two_partitions(root: Path) -> tuple[Path, Path]:
    layout = DataLayout(root)
    return layout.raw_table("feed_sessions", DAY), layout.raw_table("posts", DAY)


def _hidden(root: Path) -> list[str]:
    """Every staging, aside or deleting copy under `root` and every journal (or its temp file)."""
    debris = re.compile(r"^\..+\.(tmp|old|del)-|\.commit\.json")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if debris.search(p.name))


def _together_references(tmp_path: Path) -> dict[str, dict]:
    ref = tmp_path / "ref"
    return {
        name: (write_parquet_table(table, ref / name), _snapshot(ref / name))[1]
        for name, table in [("a_old", OLD), ("a_new", NEW), ("b_old", OLD_B), ("b_new", NEW_B)]
    }


TOGETHER_STEPS_OVER_OLD = 11
"""write A, write B, journal in, then per directory: old aside, staging in, aside to deleting,
delete (`test_a_joint_write_has_the_expected_stages` proves the count)."""
TOGETHER_KILL_POINTS = [(True, k) for k in range(1, TOGETHER_STEPS_OVER_OLD + 1)] + [
    (False, k) for k in range(1, 6)
]


def test_a_joint_write_has_the_expected_stages(tmp_path):
    a, b = _two_partitions(tmp_path / "data")
    steps = _run_writer_together(tmp_path, a, b, kill_at=0)
    assert [s[0] for s in steps] == ["write_table", "write_table", "replace", "replace", "replace"]
    assert steps[2][2].endswith(".commit.json")  # the journal, renamed into place first
    steps = _run_writer_together(tmp_path, a, b, kill_at=0)
    assert [s[0] for s in steps] == ["write_table"] * 2 + ["replace"] + [
        "replace",
        "replace",
        "replace",
        "rmtree",
    ] * 2
    assert len(steps) == TOGETHER_STEPS_OVER_OLD
    assert _hidden(tmp_path / "data") == []
    assert list((tmp_path / "data" / ".commits").iterdir()) == []


@pytest.mark.parametrize(("with_old", "kill_at"), TOGETHER_KILL_POINTS)
def test_a_joint_write_killed_at_any_stage_leaves_both_old_or_both_new(tmp_path, with_old, kill_at):
    """SIGKILL at the k-th step of a real two-directory commit: after `recover_journals` (what
    every write and read runs first) both directories hold the old version or both the new one,
    byte for byte, never one of each; the re-run leaves no hidden sibling and no journal."""
    ref = _together_references(tmp_path)
    root = tmp_path / "data"
    a, b = _two_partitions(root)
    if with_old:
        write_parquet_table(OLD, a)
        write_parquet_table(OLD_B, b)

    steps = _run_writer_together(tmp_path, a, b, kill_at)
    journal_in = any(
        step[0] == "replace" and step[2].endswith(".commit.json") for step in steps[: kill_at - 1]
    )
    if journal_in:
        expected = (ref["a_new"], ref["b_new"])
    else:
        expected = (ref["a_old"], ref["b_old"]) if with_old else (None, None)

    if journal_in:  # killed mid-commit: the journal is pending
        assert len(list((root / ".commits").glob("*.commit.json"))) == 1
    recover_journals(DataLayout(root).commits)
    assert (_snapshot(a), _snapshot(b)) == expected
    assert list((root / ".commits").glob("*.commit.json")) == []

    if expected[0] is not None:  # what a reader sees
        assert read_partition(root / "raw", "feed_sessions", DAY).equals(NEW if journal_in else OLD)
        assert read_partition(root / "raw", "posts", DAY).equals(NEW_B if journal_in else OLD_B)

    write_parquet_tables_together([(NEW, a), (NEW_B, b)], DataLayout(root).commits)  # the re-run
    assert (_snapshot(a), _snapshot(b)) == (ref["a_new"], ref["b_new"])
    assert _hidden(root) == []


def test_a_reader_finishes_an_interrupted_commit_before_reading(tmp_path):
    """A kill right after the first directory was swapped: a reader of the SECOND directory
    (which still holds the old version) rolls the commit forward and reads the new version."""
    root = tmp_path / "data"
    a, b = _two_partitions(root)
    write_parquet_table(OLD, a)
    write_parquet_table(OLD_B, b)
    _run_writer_together(tmp_path, a, b, kill_at=6)  # after A's staging was renamed in
    assert pq.read_table(a).equals(NEW) and pq.read_table(b).equals(OLD_B)  # the mix on disk
    assert read_partition(root / "raw", "posts", DAY).equals(NEW_B)
    assert pq.read_table(a).equals(NEW)
    assert list((root / ".commits").iterdir()) == []


def test_a_live_commit_is_left_alone_and_its_staging_kept(tmp_path):
    """A journal another commit still holds (locked) is not rolled forward, and a write of one
    of its directories does not delete the staging directory the journal lists."""
    root = tmp_path / "data"
    a, b = _two_partitions(root)
    write_parquet_table(OLD, a)
    write_parquet_table(OLD_B, b)
    stagings = []
    for table, final in [(NEW, a), (NEW_B, b)]:
        stagings.append(staging_dir_for(final))
        stagings[-1].mkdir()
        pq.write_table(table, stagings[-1] / "part-00000.parquet")
    journal, fd = storage._write_journal(
        DataLayout(root).commits, list(zip(stagings, [a, b], strict=True))
    )
    try:
        assert recover_journals(DataLayout(root).commits) == []  # live: left alone
        staging_dir_for(a)  # another write of `a` starts
        assert all(staging.is_dir() for staging in stagings)
        assert pq.read_table(a).equals(OLD) and pq.read_table(b).equals(OLD_B)
    finally:
        os.close(fd)  # what the kernel does when the committing process dies
    assert recover_journals(DataLayout(root).commits) == [journal]
    assert pq.read_table(a).equals(NEW) and pq.read_table(b).equals(NEW_B)
    assert _hidden(root) == []


def test_a_journal_is_locked_while_its_commit_runs(tmp_path):
    root = tmp_path / "data"
    a, _ = _two_partitions(root)
    staging = staging_dir_for(a)
    staging.mkdir()
    journal, fd = storage._write_journal(DataLayout(root).commits, [(staging, a)])
    try:
        other = os.open(journal, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)
    finally:
        os.close(fd)


def test_an_unreadable_journal_fails_naming_the_file(tmp_path):
    commits = DataLayout(tmp_path).commits
    commits.mkdir(parents=True)
    bad = commits / "00000000000000000001-deadbeef.commit.json"
    bad.write_text('{"version": 1, "pairs": [["raw/a/.x.tmp-1"')
    with pytest.raises(CommitJournalError, match=rf"commit journal {bad} is unreadable"):
        recover_journals(commits)
    assert bad.exists()  # left for a person to inspect


def test_commit_together_refuses_bad_arguments_and_commits_nothing(tmp_path):
    root = tmp_path / "data"
    a, b = _two_partitions(root)
    write_parquet_table(OLD, a)
    write_parquet_table(OLD_B, b)
    before = (_snapshot(a), _snapshot(b))
    staging = staging_dir_for(a)
    staging.mkdir()
    missing = b.with_name(f".{b.name}.tmp-never")
    with pytest.raises(FileNotFoundError, match=rf"staging directory {missing} .* nothing"):
        commit_together([(staging, a), (missing, b)], DataLayout(root).commits)
    with pytest.raises(ValueError, match="outside"):
        commit_together([(staging, a)], tmp_path / "elsewhere" / ".commits")
    with pytest.raises(ValueError, match="committed once"):
        commit_together([(staging, a), (staging, a)], DataLayout(root).commits)
    assert (_snapshot(a), _snapshot(b)) == before
    assert not (root / ".commits").exists() or list((root / ".commits").iterdir()) == []


def test_spark_dirs_commit_together_and_a_failed_frame_commits_none(spark, tmp_path):
    from pyspark.sql import functions as F

    from spark.io import read_parquet_dirs, write_parquet_dirs_together

    root = tmp_path / "data"
    layout = DataLayout(root)
    a, b = layout.exploded_session_features(DAY), layout.replay_candidates(DAY)
    frames = [(spark.range(3).withColumn("v", F.lit(1)), a), (spark.range(2), b)]
    assert write_parquet_dirs_together(frames, layout.commits) == [a, b]
    before = (_snapshot(a), _snapshot(b))
    assert read_parquet_dirs(spark, [a]).count() == 3

    failing = spark.range(2).select(F.raise_error(F.lit("boom")).cast("long").alias("id"))
    with pytest.raises(Exception, match="boom"):
        write_parquet_dirs_together([(spark.range(5), a), (failing, b)], layout.commits)
    assert (_snapshot(a), _snapshot(b)) == before  # the first frame was staged, never swapped
    assert _hidden(root) == []


# --- Parquet and Avro: the same rows, checked by content --------------------------------------


def _training_examples(n: int, seed: int = 0) -> pa.Table:
    """`n` TRAINING_EXAMPLE rows with distinct (session_id, post_id) and mixed labels."""
    rng = np.random.default_rng(seed)
    columns = {
        "date": [DAY] * n,
        "session_id": [10_000 + i // 4 for i in range(n)],
        "split": [("train", "holdout")[i % 2] for i in range(n)],
        "member_id": [500 + i // 4 for i in range(n)],
        "post_id": [2**40 + i for i in range(n)],
        "position": [i % 4 for i in range(n)],
        "platform": ["web"] * n,
        "hour": [i % 24 for i in range(n)],
        "member_seniority": [1] * n,
        "member_industry": [2] * n,
        "member_country": [3] * n,
        "member_log_connections": rng.random(n).astype(np.float32),
        "hist_post_ids": [[70, 80][: i % 3] for i in range(n)],
        "hist_author_ids": [[7, 8][: i % 3] for i in range(n)],
        "hist_actions": [[1, 0][: i % 3] for i in range(n)],
        "author_id": [900 + i % 5 for i in range(n)],
        "content_type": ["text"] * n,
        "hashtag_ids": [[i % 7] for i in range(n)],
        "length": rng.random(n).astype(np.float32),
        "post_age_hours": rng.random(n).astype(np.float32),
        "author_log_followers": rng.random(n).astype(np.float32),
        **{label: rng.integers(0, 2, n).astype(np.int8) for label in LABELS},
        "dwell_seconds": (rng.random(n) * 30).astype(np.float32),
    }
    return pa.table({name: columns[name] for name in TRAINING_EXAMPLE.names}, TRAINING_EXAMPLE)


def test_readers_skip_the_manifest_file(spark, tmp_path):
    """`_manifest.json` sits in the partition, but pandas, pyarrow and Spark read only the rows."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from spark.io import write_parquet_dir
    from spark.partition_manifest import example_manifest

    table = _training_examples(12)
    frame = spark.createDataFrame(table.to_pandas(), schema=from_arrow_schema(TRAINING_EXAMPLE))
    path = write_parquet_dir(frame, tmp_path / "examples", manifest=example_manifest)
    assert MANIFEST_FILE in os.listdir(path)
    assert read_fingerprint(path) == fingerprint_table(table)
    assert len(pd.read_parquet(path)) == 12
    assert pq.read_table(path).num_rows == 12
    assert spark.read.parquet(str(path)).count() == 12


def test_avro_check_fails_naming_the_label_when_parquet_was_rewritten_alone(spark, tmp_path):
    """The reported fault: `training_examples` re-written with other long-dwell labels, the run
    killed before `training_examples_avro`. Same row counts, so only the content check sees it;
    it names the label with both rates and says what to re-materialize."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from spark.avro_shards import check_shards_match_parquet, write_avro_shards_spark
    from spark.io import read_parquet_dirs, write_parquet_dir
    from spark.partition_manifest import example_manifest

    layout = DataLayout(tmp_path)
    parquet_dir, avro_dir = layout.training_examples(DAY), layout.training_examples_avro(DAY)
    table = _training_examples(40)
    frame = spark.createDataFrame(table.to_pandas(), schema=from_arrow_schema(TRAINING_EXAMPLE))
    write_parquet_dir(frame, parquet_dir, manifest=example_manifest)
    write_avro_shards_spark(read_parquet_dirs(spark, [parquet_dir]), avro_dir, num_shards=3)
    ok = check_shards_match_parquet(avro_dir, parquet_dir)
    assert ok.passed, ok.description
    assert (ok.avro_rows, ok.parquet_rows, ok.shards) == (40, 40, 3)

    relabelled = frame.withColumn("long_dwell", F.lit(1).cast("tinyint"))
    write_parquet_dir(relabelled, parquet_dir, manifest=example_manifest)
    avro_before = _snapshot(avro_dir)
    bad = check_shards_match_parquet(avro_dir, parquet_dir)
    assert not bad.passed
    assert bad.avro_rows == bad.parquet_rows == 40  # a count check would have passed
    long_dwell = sum(table.column("long_dwell").to_pylist())
    assert (
        f"label `long_dwell`: Parquet 40 of 40 rows (rate 1.000), Avro {long_dwell} of 40 rows "
        f"(rate {long_dwell / 40:.3f})" in bad.description
    )
    assert not any(f"label `{label}`" in bad.description for label in LABELS[:-1])
    assert f"re-materialize `training_examples_avro` for {DAY.isoformat()}" in bad.description
    assert _snapshot(avro_dir) == avro_before  # the check reads only

    write_avro_shards_spark(read_parquet_dirs(spark, [parquet_dir]), avro_dir)  # the fix
    fixed = check_shards_match_parquet(avro_dir, parquet_dir)
    assert fixed.passed, fixed.description


def test_avro_check_sees_labels_moved_between_rows_and_parquet_without_manifest(tmp_path):
    """Same rows, same label sums, one click moved to another row: the content checksum differs.
    A Parquet partition written without a manifest is fingerprinted from its files."""
    from spark.avro_shards import check_shards_match_parquet, write_avro_shards

    layout = DataLayout(tmp_path)
    parquet_dir, avro_dir = layout.training_examples(DAY), layout.training_examples_avro(DAY)
    table = _training_examples(20, seed=3)
    clicks = table.column("click").to_pylist()
    one, zero = clicks.index(1), clicks.index(0)
    clicks[one], clicks[zero] = 0, 1
    moved = table.set_column(
        table.schema.get_field_index("click"), "click", pa.array(clicks, pa.int8())
    )
    write_avro_shards(table, avro_dir, num_shards=2)
    write_parquet_table(table, parquet_dir)  # no manifest
    assert read_fingerprint(parquet_dir) is None
    assert check_shards_match_parquet(avro_dir, parquet_dir).passed

    write_parquet_table(moved, parquet_dir)
    bad = check_shards_match_parquet(avro_dir, parquet_dir)
    assert not bad.passed
    assert "labels differ row by row between Parquet and Avro" in bad.description


def test_avro_check_refuses_shards_without_a_manifest(tmp_path):
    from spark.avro_shards import check_shards_match_parquet, write_avro_shards

    layout = DataLayout(tmp_path)
    parquet_dir, avro_dir = layout.training_examples(DAY), layout.training_examples_avro(DAY)
    write_avro_shards(_training_examples(4), avro_dir)
    write_parquet_table(_training_examples(4), parquet_dir)
    (avro_dir / MANIFEST_FILE).unlink()
    bad = check_shards_match_parquet(avro_dir, parquet_dir)
    assert not bad.passed
    assert f"{avro_dir} has no _manifest.json" in bad.description
    assert f"re-materialize `training_examples_avro` for {DAY.isoformat()}" in bad.description
