"""Spark session factory: local mode by default, any Spark master by config, quiet start-up, and
every socket of the driver on the loopback interface unless a cluster needs otherwise."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
LOG4J2_CONFIG = Path(__file__).with_name("log4j2.properties")
"""Spark's JVM logging: WARN and above on stderr (no INFO start-up lines)."""
LOOPBACK = "127.0.0.1"
WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", "*", ""})
"""Bind addresses that mean "every interface"."""

log = logging.getLogger(__name__)

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


def is_wildcard(address: str) -> bool:
    """True if binding to `address` listens on every interface (0.0.0.0, ::)."""
    if address.strip() in WILDCARDS:
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(address.strip("[]")).is_unspecified
    return False


def driver_network_conf(
    bind_address: str = LOOPBACK, *, ui: bool = True, conf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The Spark conf that decides where the driver listens.

    The driver's RPC endpoint and its block manager listen on `bind_address`
    (`spark.driver.bindAddress`), and executors are told to reach it there (`spark.driver.host`).
    The loopback default suits local mode and a standalone cluster on this machine; executors on
    other machines need the address of an interface they can reach (e.g. `10.0.0.5`). A wildcard
    (`0.0.0.0`) listens everywhere and then needs `spark.driver.host` in `conf`, the address to
    advertise: Spark's own guess would be `SPARK_LOCAL_IP`, the UI's host. `ui=False` turns the
    web UI and its REST API off (`spark.ui.enabled`). Where the UI listens is not a conf setting
    (Spark's `WebUI.bind` reads `SPARK_LOCAL_IP`, else binds 0.0.0.0): `build_spark_session` sets
    it from `ui_host`.

    Raises:
        ValueError: a wildcard `bind_address` without `spark.driver.host` in `conf`.
    """
    conf = dict(conf or {})
    network = {"spark.driver.bindAddress": bind_address, "spark.ui.enabled": str(ui).lower()}
    if not is_wildcard(bind_address):
        network["spark.driver.host"] = bind_address
    elif "spark.driver.host" not in conf:
        raise ValueError(
            f"`bind_address` {bind_address!r} listens on every interface, so Spark cannot tell "
            "executors which address reaches the driver. Received: bind_address="
            f"{bind_address!r} and no `spark.driver.host` in conf. Set bind_address to the "
            "address of the interface the executors reach (e.g. 10.0.0.5), or add "
            "conf={'spark.driver.host': '<that address>'}."
        )
    return network


def session_conf(
    master: str,
    conf: Mapping[str, str] | None = None,
    *,
    bind_address: str = LOOPBACK,
    ui: bool = True,
) -> dict[str, str]:
    """The Spark conf of a session on `master`: the defaults, where the driver listens
    (`driver_network_conf`), then `conf` over them."""
    del master  # the same rules hold for every master: loopback unless told otherwise
    network = driver_network_conf(bind_address, ui=ui, conf=conf)
    return {**DEFAULT_CONF, **network, **dict(conf or {})}


@contextlib.contextmanager
def jvm_local_ip(ui_host: str) -> Iterator[None]:
    """`SPARK_LOCAL_IP` set to `ui_host` while the JVM is launched, restored afterwards.

    Spark's `WebUI.bind` listens on `SPARK_LOCAL_IP` from the JVM's environment, and on 0.0.0.0
    without it; PySpark copies `os.environ` into the JVM at launch. An inherited value (e.g.
    `SPARK_LOCAL_IP=0.0.0.0` from a container image) is overridden, with a warning, so the UI
    listens where `ui_host` says and nowhere else.
    """
    previous = os.environ.get("SPARK_LOCAL_IP")
    if previous is not None and previous != ui_host:
        log.warning(
            "SPARK_LOCAL_IP=%s from the environment is overridden: the Spark UI listens on "
            "ui_host=%s (set SparkResource.ui_host to change it)",
            previous,
            ui_host,
        )
    os.environ["SPARK_LOCAL_IP"] = ui_host
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SPARK_LOCAL_IP", None)
        else:
            os.environ["SPARK_LOCAL_IP"] = previous


def build_spark_session(
    master: str = DEFAULT_MASTER,
    conf: Mapping[str, str] | None = None,
    app_name: str = "lirank",
    *,
    bind_address: str = LOOPBACK,
    ui: bool = True,
    ui_host: str = LOOPBACK,
) -> SparkSession:
    """Return the process's Spark session, creating it on `master` with `conf` on first use.

    Every listening socket of the driver is on `bind_address` (RPC, block manager) and
    `ui_host` (web UI and its REST API `/api/v1`, off with `ui=False`), both the loopback
    address by default, for any master (`driver_network_conf`, `jvm_local_ip`). Those settings
    only take effect when this call creates the session (and launches the JVM).

    `PYSPARK_PYTHON` is pinned to the running interpreter so executors use the same virtual
    environment as the driver (on a cluster, set it to the workers' interpreter instead).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_conf(master, conf, bind_address=bind_address, ui=ui).items():
        builder = builder.config(key, value)
    with jvm_local_ip(ui_host):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
