"""Nothing exposed: every listening socket of a real Spark driver (its JVM and the Python process,
with Python workers running) and of a local standalone cluster (master, worker, executors) is on
127.0.0.1, also when the environment says `SPARK_LOCAL_IP=0.0.0.0`; with the UI off there is no UI.

Sockets are read from /proc (Linux): each process's socket inodes, matched against the LISTEN rows
of /proc/net/tcp and /proc/net/tcp6 (an IPv6 `::` listener counts as exposed, as it is).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from spark.standalone import standalone_cluster

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = ipaddress.ip_address("127.0.0.1")

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads listening sockets from Linux's /proc"
)

DRIVER = """
import json, os, sys
from spark.session import build_spark_session

options = json.loads(sys.argv[1])
spark = build_spark_session(options.pop("master"), options.pop("conf", {}), **options)
# Python workers (mapInPandas) and an Arrow transfer: every kind of socket a materialization opens.
rows = spark.range(1000).repartition(2).mapInPandas(lambda frames: frames, "id long").count()
spark.createDataFrame([(1, "a")], "x int, y string").toPandas()
context = spark.sparkContext
print(json.dumps({
    "rows": rows,
    "ui": context.uiWebUrl,
    "app": context.applicationId,
    "spark_local_ip_after": os.environ.get("SPARK_LOCAL_IP"),
}), flush=True)
sys.stdin.read()  # keep the session up until the test has looked at its sockets
"""


def _listeners() -> dict[int, tuple[ipaddress._BaseAddress, int]]:
    """Socket inode -> (address, port) of every TCP socket in LISTEN state (state 0A)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            address = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[int(fields[9])] = (ipaddress.ip_address(address), int(port_hex, 16))
    return found


def _process_tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def listening_sockets(*roots: int) -> list[tuple[int, str, ipaddress._BaseAddress, int]]:
    """(pid, program, address, port) of every listening socket of the process trees."""
    listeners = _listeners()
    found = []
    for root in roots:
        for pid in _process_tree(root):
            try:
                program = Path(f"/proc/{pid}/comm").read_text().strip()
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                continue
            for link in links:
                if link.startswith("socket:["):
                    inode = int(link[len("socket:[") : -1])
                    if inode in listeners:
                        found.append((pid, program, *listeners[inode]))
    return found


def exposed(sockets) -> list:
    """The sockets not on 127.0.0.1 (IPv4, or IPv4-mapped IPv6)."""
    return [
        s for s in sockets if s[2] != LOOPBACK and getattr(s[2], "ipv4_mapped", None) != LOOPBACK
    ]


def start_driver(options: dict, env: dict) -> tuple[subprocess.Popen, dict]:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(options)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in driver.stdout:
        if line.startswith("{"):
            return driver, json.loads(line)
    driver.wait(timeout=60)
    raise AssertionError(f"the driver did not start:\n{driver.stderr.read()[-4000:]}")


def stop_driver(driver: subprocess.Popen) -> None:
    driver.stdin.close()
    try:
        driver.wait(timeout=60)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait(timeout=30)


def driver_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    return {**env, "PYSPARK_PYTHON": sys.executable, **extra}


def test_the_driver_listens_on_loopback_only_even_with_spark_local_ip_inherited():
    """The reported case: a JVM launched with SPARK_LOCAL_IP=0.0.0.0 bound its UI to `::`."""
    driver, report = start_driver({"master": "local[2]"}, driver_env(SPARK_LOCAL_IP="0.0.0.0"))
    try:
        sockets = listening_sockets(driver.pid)
        ui_port = int(report["ui"].rsplit(":", 1)[1])
        api = f"http://127.0.0.1:{ui_port}/api/v1/applications"
        with urllib.request.urlopen(api, timeout=30) as response:
            applications = json.loads(response.read())
    finally:
        stop_driver(driver)
    assert report["rows"] == 1000
    programs = {program for _, program, _, _ in sockets}
    assert "java" in programs and any(p.startswith("python") for p in programs), sockets
    assert ui_port in {port for *_, port in sockets}  # the UI is up, on loopback
    assert [a["id"] for a in applications] == [report["app"]]  # and its REST API answers
    assert exposed(sockets) == [], f"listening beyond loopback: {exposed(sockets)}"
    # The environment of the Python process is left as it was.
    assert report["spark_local_ip_after"] == "0.0.0.0"


def test_with_the_ui_off_there_is_no_ui_and_nothing_else_exposed():
    driver, report = start_driver({"master": "local[2]", "ui": False}, driver_env())
    try:
        sockets = listening_sockets(driver.pid)
    finally:
        stop_driver(driver)
    assert report["rows"] == 1000
    assert report["ui"] is None
    assert report["spark_local_ip_after"] is None
    assert exposed(sockets) == [], f"listening beyond loopback: {exposed(sockets)}"
    java_ports = sorted(port for _, program, _, port in sockets if program == "java")
    # Driver RPC, block manager, Py4J gateway: three listeners, none of them an HTTP server.
    assert len(java_ports) == 3, sockets
    for port in java_ports:
        with pytest.raises((OSError, http.client.HTTPException)):  # not an HTTP server
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/applications", timeout=3)


@pytest.mark.slow
def test_a_standalone_cluster_and_its_driver_listen_on_loopback_only(tmp_path):
    directory = tmp_path / "cluster"
    with standalone_cluster(directory, worker_cores=1, worker_memory="1g") as cluster:
        daemons = [int(p.read_text()) for p in sorted((directory / "pids").iterdir())]
        options = {
            "master": cluster.master_url,
            "conf": {"spark.executor.memory": "512m", "spark.executor.cores": "1"},
        }
        driver, report = start_driver(options, driver_env())
        try:
            sockets = listening_sockets(driver.pid, *daemons)
            driver_tree = set(_process_tree(driver.pid))
        finally:
            stop_driver(driver)
    assert report["rows"] == 1000  # executors reached the loopback-bound driver
    web_ui_port = int(cluster.web_ui_url.rsplit(":", 1)[1])
    assert web_ui_port in {port for *_, port in sockets}
    daemon_pids = {pid for pid, *_ in sockets if pid in daemons}
    assert daemon_pids == set(daemons), sockets  # master and worker both listen
    executors = [s for s in sockets if s[0] not in daemons and s[0] not in driver_tree]
    assert executors, f"no executor sockets seen: {sockets}"
    assert exposed(sockets) == [], f"listening beyond loopback: {exposed(sockets)}"
