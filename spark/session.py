"""Spark session factory: local mode by default, any Spark master by config, quiet start-up."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
LOG4J2_CONFIG = Path(__file__).with_name("log4j2.properties")
"""Spark's JVM logging: WARN and above on stderr (no INFO start-up lines)."""
LOOPBACK = "127.0.0.1"

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
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J2_CONFIG}",
}

# A local master talks to itself only: bind the driver, and with `SPARK_LOCAL_IP` its web UI, to
# the loopback interface (no "hostname resolves to a loopback address" warning, nothing listening
# on the network). A cluster master keeps Spark's defaults: its executors must reach the driver.
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
}


def session_conf(master: str, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Spark conf of a session on `master`: the defaults, then `conf` over them."""
    local = master.startswith("local")
    return {**DEFAULT_CONF, **(LOCAL_CONF if local else {}), **dict(conf or {})}


def build_spark_session(
    master: str = DEFAULT_MASTER,
    conf: Mapping[str, str] | None = None,
    app_name: str = "lirank",
) -> SparkSession:
    """Return the process's Spark session, creating it on `master` with `conf` on first use.

    `PYSPARK_PYTHON` is pinned to the running interpreter so executors use the same virtual
    environment as the driver (on a cluster, set it to the workers' interpreter instead). A local
    master also sets `SPARK_LOCAL_IP` to the loopback address unless it is already set.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
