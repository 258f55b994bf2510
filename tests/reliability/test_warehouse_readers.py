"""A reader holding the warehouse open (another process, as a notebook would) no longer makes
pipeline writes fail: writes wait for the lock with backoff, and a holder that never lets go
gives an error naming the file and its PID, with the warehouse byte-identical afterwards."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lirank_assets.resources import DataRoot, Warehouse
from lirank_assets.warehouse_lock import WarehouseLockedError

DAY1, DAY2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)

HOLDER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read_only")
conn.execute("SELECT count(*) FROM offline_metrics").fetchall()
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
"""


def rows(date: dt.date, auc: float) -> pd.DataFrame:
    return pd.DataFrame({"date": [date, date], "head": ["click", "like"], "auc": [auc, auc + 0.01]})


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(data_root=DataRoot(path=str(tmp_path / "data")), lock_timeout_s=60)
    Path(warehouse.database).parent.mkdir(parents=True)
    warehouse.replace_partition("offline_metrics", DAY1, rows(DAY1, 0.70))
    return warehouse


def hold(database: str, mode: str, seconds: float) -> subprocess.Popen:
    """A separate process that opens the warehouse in `mode` and keeps it open `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database, mode, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = holder.stdout.readline()
    assert line.strip() == "holding", holder.stderr.read()
    return holder


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", ["read_only", "read_write"])
def test_a_write_issued_while_a_reader_holds_the_file_lands_once_it_exits(warehouse, mode):
    holder = hold(warehouse.database, mode, 3.0)
    try:
        start = time.monotonic()
        assert holder.poll() is None  # the file is held while the write is issued
        assert warehouse.replace_partition("offline_metrics", DAY2, rows(DAY2, 0.80)) == 2
        waited = time.monotonic() - start
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
    assert waited > 1.0  # it really waited for the holder rather than writing beside it
    expected = pd.concat([rows(DAY1, 0.70), rows(DAY2, 0.80)], ignore_index=True)
    got = warehouse.table_or_empty("offline_metrics").sort_values(["date", "head"])
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).assign(date=lambda f: pd.to_datetime(f["date"]).dt.date),
        expected,
        check_dtype=False,
    )


@pytest.mark.parametrize("mode", ["read_only", "read_write"])
def test_a_holder_that_never_exits_fails_the_write_naming_file_and_pid(warehouse, mode):
    before_rows = warehouse.table_or_empty("offline_metrics")
    before_bytes = sha256(warehouse.database)
    short = warehouse.model_copy(update={"lock_timeout_s": 1.5})
    holder = hold(warehouse.database, mode, 3600)
    try:
        start = time.monotonic()
        with pytest.raises(WarehouseLockedError) as raised:
            short.replace_partition("offline_metrics", DAY1, rows(DAY1, 0.99))
        elapsed = time.monotonic() - start
        assert sha256(warehouse.database) == before_bytes  # not one byte changed
    finally:
        holder.kill()
        holder.wait(timeout=30)
    message = str(raised.value)
    assert warehouse.database in message
    assert f"process {holder.pid}" in message and f"kill {holder.pid}" in message
    assert "nothing was written" in message
    assert str(warehouse.data_root.layout.review_snapshot) in message
    assert 1.5 <= elapsed < 10
    after_rows = warehouse.table_or_empty("offline_metrics")
    pd.testing.assert_frame_equal(after_rows, before_rows)


def test_reads_run_beside_a_read_only_reader_and_wait_out_a_writer(warehouse):
    reader = hold(warehouse.database, "read_only", 3600)
    try:
        got = warehouse.read("SELECT auc FROM offline_metrics ORDER BY head")
        assert reader.poll() is None  # read while the other reader still had the file open
    finally:
        reader.kill()
        reader.wait(timeout=30)
    assert got["auc"].tolist() == pytest.approx([0.70, 0.71])

    writer = hold(warehouse.database, "read_write", 2.0)
    try:
        assert warehouse.table_or_empty("offline_metrics")["auc"].tolist() == pytest.approx(
            [0.70, 0.71]
        )
        assert writer.wait(timeout=30) == 0  # the read returned after the writer let go
    finally:
        writer.kill()


def test_a_snapshot_is_a_consistent_copy_readers_can_keep_open(warehouse, tmp_path):
    copy = warehouse.snapshot(tmp_path / "notebook" / "warehouse-copy.duckdb")
    reader = hold(str(copy), "read_write", 3600)  # a notebook keeps the copy open, even writable
    try:
        warehouse.model_copy(update={"lock_timeout_s": 5}).replace_partition(
            "offline_metrics", DAY2, rows(DAY2, 0.80)
        )
    finally:
        reader.kill()
        reader.wait(timeout=30)
    with duckdb.connect(str(copy), read_only=True) as conn:
        copied_rows = conn.execute("SELECT * FROM offline_metrics ORDER BY head").df()
    assert copied_rows["auc"].tolist() == pytest.approx([0.70, 0.71])  # as of the snapshot
    assert len(warehouse.table_or_empty("offline_metrics")) == 4
    assert not list(copy.parent.glob(".*staging"))


def test_replace_rows_replaces_only_the_rows_of_its_key(warehouse):
    """`replace_rows` (what the ablation ladder stores its runs with) swaps the rows of one key."""

    def run(run_id: str, values: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {"run_id": run_id, "row": range(len(values)), "diff_vs_previous": values}
        )

    assert warehouse.replace_rows("ablation_results", "run_id", "a", run("a", [0.1, 0.2])) == 2
    warehouse.replace_rows("ablation_results", "run_id", "b", run("b", [0.3]))
    warehouse.replace_rows("ablation_results", "run_id", "a", run("a", [0.5]))
    table = warehouse.table_or_empty("ablation_results", order_by="run_id, row")
    assert table[["run_id", "diff_vs_previous"]].values.tolist() == [["a", 0.5], ["b", 0.3]]
    assert len(warehouse.table_or_empty("offline_metrics")) == 2  # other tables untouched
