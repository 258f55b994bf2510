"""A Spark standalone cluster (one master, N workers) on this machine, for cluster-mode checks.

The pyspark wheel ships `sbin/spark-daemon.sh` (not `start-master.sh` / `start-worker.sh`), which
starts any Spark daemon class in the background with a pid file; this module drives it:

    python -m spark.standalone start --dir .lirank/spark-cluster   # prints the master URL
    LIRANK_SPARK_MASTER=spark://127.0.0.1:<port> make demo          # or any Spark job
    python -m spark.standalone stop --dir .lirank/spark-cluster

Every file of the cluster (pid files, logs, the workers' scratch space) lives under `--dir`, the
ports are free ones picked at start (written to `<dir>/cluster.json`), so several clusters can
coexist, and `stop` ends exactly the daemons its pid files name. On a real cluster, start the same
classes on each machine (or use a Spark distribution's `start-master.sh` / `start-worker.sh`).

Every daemon listens on `host` only (127.0.0.1 by default, `--host` on the command line): its RPC
port through `--host`, its web UI through `SPARK_LOCAL_IP` (Spark's `WebUI.bind` reads that
variable and binds 0.0.0.0 without it), and the executors a worker starts bind to the worker's
host. The web UIs have no authentication; give a reachable `host` only on a trusted network.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
_IDENT = "lirank"
_STATE_FILE = "cluster.json"


@dataclasses.dataclass(frozen=True)
class StandaloneCluster:
    """A running local standalone cluster.

    Args:
        master_url: `spark://host:port`, what a SparkSession's master is set to.
        web_ui_url: the master's web UI (its `/json/` lists the workers).
        directory: where its pid files, logs and worker scratch space live.
        workers: number of worker daemons.
    """

    master_url: str
    web_ui_url: str
    directory: Path
    workers: int


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package (holds bin/ and sbin/)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def start_standalone_cluster(
    directory: Path,
    *,
    workers: int = 1,
    worker_cores: int = 2,
    worker_memory: str = "2g",
    host: str = "127.0.0.1",
    timeout_s: float = 90.0,
) -> StandaloneCluster:
    """Start a master and `workers` workers under `directory`; return once every worker is ALIVE.

    Every daemon, its web UI and the workers' executors listen on `host` only.

    Raises:
        ValueError: `workers` or `worker_cores` < 1.
        RuntimeError: a daemon did not start or the workers did not register within `timeout_s`
            (the message quotes the daemon logs); whatever started is stopped again.
    """
    if workers < 1 or worker_cores < 1:
        raise ValueError(
            f"`workers` and `worker_cores` must be >= 1. Received: workers={workers}, "
            f"worker_cores={worker_cores}"
        )
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port, web_port = _free_port(host), _free_port(host)
    cluster = StandaloneCluster(
        master_url=f"spark://{host}:{port}",
        web_ui_url=f"http://{host}:{web_port}",
        directory=directory,
        workers=workers,
    )
    (directory / _STATE_FILE).write_text(json.dumps(dataclasses.asdict(cluster), default=str))
    try:
        _daemon(
            directory,
            "start",
            MASTER_CLASS,
            1,
            "--host",
            host,
            "--port",
            str(port),
            "--webui-port",
            str(web_port),
            host=host,
        )
        _wait_for(cluster, lambda state: True, timeout_s, "the master's web UI to answer")
        for instance in range(1, workers + 1):
            _daemon(
                directory,
                "start",
                WORKER_CLASS,
                instance,
                "--host",
                host,
                "--webui-port",
                str(_free_port(host)),
                "--cores",
                str(worker_cores),
                "--memory",
                worker_memory,
                "--work-dir",
                str(directory / "work"),
                cluster.master_url,
                host=host,
            )
        _wait_for(
            cluster,
            lambda state: (
                sum(w.get("state") == "ALIVE" for w in state.get("workers", [])) >= workers
            ),
            timeout_s,
            f"{workers} worker(s) to register as ALIVE",
        )
    except BaseException:
        stop_standalone_cluster(directory)
        raise
    return cluster


def stop_standalone_cluster(directory: Path) -> None:
    """Stop the workers, then the master, that `start_standalone_cluster` started in `directory`.

    Only the processes named by the pid files under `directory` are signalled; waits for them to
    exit. Stopping a cluster that is not running does nothing.
    """
    directory = Path(directory).resolve()
    pid_dir = directory / "pids"
    if not pid_dir.is_dir():
        return
    pids = {}
    for pid_file in sorted(pid_dir.glob(f"spark-{_IDENT}-*.pid")):
        with contextlib.suppress(ValueError, OSError):
            pids[pid_file] = int(pid_file.read_text().strip())
    workers = sorted(p for p in pids if WORKER_CLASS in p.name)
    for pid_file in workers + [p for p in pids if MASTER_CLASS in p.name]:
        command = WORKER_CLASS if WORKER_CLASS in pid_file.name else MASTER_CLASS
        instance = int(pid_file.stem.rsplit("-", 1)[1])
        _daemon(directory, "stop", command, instance, check=False)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)


@contextlib.contextmanager
def standalone_cluster(directory: Path, **kwargs) -> Iterator[StandaloneCluster]:
    """`start_standalone_cluster(directory, **kwargs)`, stopped on exit (also on failure)."""
    cluster = start_standalone_cluster(directory, **kwargs)
    try:
        yield cluster
    finally:
        stop_standalone_cluster(directory)


def _daemon(
    directory: Path,
    action: str,
    command: str,
    instance: int,
    *args: str,
    check: bool = True,
    host: str | None = None,
) -> None:
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOG_DIR": str(directory / "logs"),
        "SPARK_PID_DIR": str(directory / "pids"),
        "SPARK_WORKER_DIR": str(directory / "work"),
        "SPARK_IDENT_STRING": _IDENT,
    }
    if host is not None:
        env["SPARK_LOCAL_IP"] = host  # the daemon's web UI binds here (else 0.0.0.0)
    env.pop("SPARK_NO_DAEMONIZE", None)  # spark-daemon.sh runs in the foreground if it is set
    script = spark_home() / "sbin" / "spark-daemon.sh"
    done = subprocess.run(
        ["bash", str(script), action, command, str(instance), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if check and (done.returncode != 0 or "failed to launch" in done.stdout):
        raise RuntimeError(
            f"spark-daemon.sh {action} {command} failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}\nlogs: {directory / 'logs'}"
        )


def _wait_for(cluster: StandaloneCluster, ready, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{cluster.web_ui_url}/json/", timeout=5) as response:
                if ready(json.loads(response.read().decode("utf-8"))):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {log.name}\n" + log.read_text()[-2000:]
                for log in sorted((cluster.directory / "logs").glob("*.out"))
            )
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{logs}")
        time.sleep(0.5)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--dir", type=Path, default=Path(".lirank/spark-cluster"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-cores", type=int, default=2)
    parser.add_argument("--worker-memory", default="2g")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address every daemon and web UI listens on (default: loopback only)",
    )
    args = parser.parse_args()
    if args.action == "stop":
        stop_standalone_cluster(args.dir)
        print(f"stopped the cluster in {args.dir}")
        return
    cluster = start_standalone_cluster(
        args.dir,
        workers=args.workers,
        worker_cores=args.worker_cores,
        worker_memory=args.worker_memory,
        host=args.host,
    )
    print(f"master {cluster.master_url} (web UI {cluster.web_ui_url}); logs in {args.dir}/logs")
    print(cluster.master_url)


if __name__ == "__main__":
    main()
