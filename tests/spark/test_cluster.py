"""Cluster mode: one day of the features group on a real local standalone cluster equals local mode.

The day's raw logs are materialized in this process (local mode). A second SparkSession cannot
share the test session's JVM, so the cluster's driver runs in a subprocess: it materializes the
features group for that day through the Dagster definitions with `LIRANK_SPARK_MASTER=spark://...`,
exactly as a user would. The test then recomputes the day in local mode and compares every output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import DataFrame

from spark.avro_shards import AVRO_SCHEMA_VERSION, check_schema_version
from spark.dwell import dwell_thresholds, long_dwell_labels
from spark.explode import explode_session_features
from spark.io import read_raw_partitions, read_spark_partitions
from spark.standalone import standalone_cluster

REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import json, sys, urllib.request
from dagster import DagsterInstance
from pyspark.sql import SparkSession
from lirank_assets.definitions import defs

defs.resolve_job_def("features_job").execute_in_process(
    partition_key=sys.argv[1], instance=DagsterInstance.ephemeral()
)
context = SparkSession.getActiveSession().sparkContext
api = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/allexecutors"
with urllib.request.urlopen(api, timeout=30) as response:
    executors = json.loads(response.read())
tasks = {e["id"]: e["totalTasks"] for e in executors}
print(json.dumps({"master": context.master, "tasks_by_executor": tasks}))
"""


def _same_rows(left: DataFrame, right: DataFrame) -> bool:
    """Equal as multisets of rows (same columns in the same order)."""
    if left.columns != right.columns:
        return False
    return left.count() == right.count() and left.exceptAll(right).isEmpty()


@pytest.mark.slow
def test_one_day_of_features_on_a_standalone_cluster_equals_local_mode(spark, tmp_path):
    from dagster import DagsterInstance

    from lirank_assets.definitions import build_definitions
    from lirank_assets.settings import settings_from_env

    settings = settings_from_env({"LIRANK_WORLD": "tiny"})
    day = settings.world.start_date
    root = tmp_path / "data"
    raw = build_definitions(settings, str(root)).resolve_job_def("raw_logs_job")
    assert raw.execute_in_process(
        partition_key=day.isoformat(), instance=DagsterInstance.ephemeral()
    ).success
    with standalone_cluster(tmp_path / "cluster", worker_cores=2, worker_memory="1g") as cluster:
        env = {
            **os.environ,
            "LIRANK_WORLD": "tiny",
            "LIRANK_SPARK_MASTER": cluster.master_url,
            "LIRANK_DATA_ROOT": str(root),
            "DAGSTER_HOME": str(tmp_path),
            "PYSPARK_PYTHON": sys.executable,
        }
        driver = subprocess.run(
            [sys.executable, "-c", DRIVER, day.isoformat()],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
    assert driver.returncode == 0, driver.stderr[-6000:]
    report = json.loads(driver.stdout.strip().splitlines()[-1])
    assert report["master"] == cluster.master_url
    # Tasks ran on the cluster's executor(s), not in the driver.
    executor_tasks = {k: v for k, v in report["tasks_by_executor"].items() if k != "driver"}
    assert executor_tasks and sum(executor_tasks.values()) > 0, report

    features = root / "features"
    local_explode = explode_session_features(
        read_raw_partitions(spark, root, "feed_sessions", [day]),
        read_raw_partitions(spark, root, "feed_impressions", [day]),
    )
    cluster_explode = read_spark_partitions(spark, features, "exploded_session_features", [day])
    assert cluster_explode.count() > 1000
    assert _same_rows(cluster_explode, local_explode)

    local_thresholds = dwell_thresholds(local_explode, 0.9, 100)
    cluster_thresholds = read_spark_partitions(spark, features, "dwell_thresholds", [day])
    assert _same_rows(cluster_thresholds, local_thresholds)

    local_examples = long_dwell_labels(local_explode, local_thresholds)
    cluster_examples = read_spark_partitions(spark, features, "training_examples", [day])
    assert _same_rows(cluster_examples, local_examples)

    shard_dir = features / "training_examples_avro" / f"date={day.isoformat()}"
    shards = sorted(p for p in shard_dir.iterdir() if p.name != "_manifest.json")
    assert shards and all(shard.name.endswith(".avro") for shard in shards)
    for shard in shards:
        check_schema_version(shard)  # raises unless written with AVRO_SCHEMA_VERSION
    assert AVRO_SCHEMA_VERSION >= 1
    assert not (tmp_path / "cluster" / "pids").exists() or not any(
        (tmp_path / "cluster" / "pids").iterdir()
    )


def test_the_cluster_is_stopped_when_the_body_fails(tmp_path):
    """The context manager stops the daemons also when its body raises."""
    with pytest.raises(RuntimeError, match="boom"):
        with standalone_cluster(tmp_path / "cluster", worker_cores=1, worker_memory="512m"):
            pids = [int(p.read_text()) for p in (tmp_path / "cluster" / "pids").iterdir()]
            assert len(pids) == 2
            raise RuntimeError("boom")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
