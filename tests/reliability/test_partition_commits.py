"""A day's partition commits as a unit: directory swaps survive a kill at every stage, orphans are
cleaned by the next write, and the Avro shards are checked against the Parquet by content."""

from __future__ import annotations

import datetime as dt
import json
import os
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

from spark.partition_manifest import MANIFEST_FILE, fingerprint_table, read_fingerprint
from spark.schemas import LABELS, TRAINING_EXAMPLE
from spark.storage import (
    DataLayout,
    atomic_replace_dir,
    read_partition,
    recover,
    recover_tree,
    staging_dir_for,
    write_parquet_table,
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
