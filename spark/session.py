"""Spark session factory: local mode by default, any Spark master by config."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"

# Small-data defaults: a laptop run should not pay for 200 shuffle partitions (on a cluster, pass
# a larger `spark.sql.shuffle.partitions` in the conf). A join may reuse its inputs' partitioning
# on a subset of its keys: the paper-plan explosion partitions by session_id once for both of its
# joins (spark.explode.explode_session_features).
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
    # Shuffle/spill compression: zstd writes about half of lz4's (Spark's default) shuffle bytes
    # for the paper-plan explosion (paper §14's "tuned compression"; see bench/shuffle.py).
    "spark.io.compression.codec": "zstd",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "3g",
}


def build_spark_session(
    master: str = DEFAULT_MASTER,
    conf: Mapping[str, str] | None = None,
    app_name: str = "lirank",
) -> SparkSession:
    """Return the process's Spark session, creating it on `master` with `conf` on first use.

    `PYSPARK_PYTHON` is pinned to the running interpreter so executors use the same virtual
    environment as the driver (on a cluster, set it to the workers' interpreter instead).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULT_CONF, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
