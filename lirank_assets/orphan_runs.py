"""Runs left in progress by a process that no longer exists (killed mid-run), marked FAILED.

A job executed in-process (`execute_in_process`, what `make demo` does) records its own status:
if its process is killed, nothing is left to record the end and the run stays STARTED in the
instance forever (Dagster's run monitoring cannot help: it watches run workers that a run launcher
started, and the in-process runs have none). So a launcher tags each run with its PID and host
(`launcher_tags`), and at its next start `fail_orphaned_runs` marks FAILED every run of that
launcher still in progress whose process is gone. A PID that is alive, even if reused by another
program, leaves the run alone: when in doubt, nothing is marked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

LAUNCHER_TAG = "lirank/launcher"
PID_TAG = "lirank/pid"
HOST_TAG = "lirank/host"
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def launcher_tags(launcher: str) -> dict[str, str]:
    """The tags that let `fail_orphaned_runs` find this process's runs later."""
    return {LAUNCHER_TAG: launcher, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def fail_orphaned_runs(
    instance: DagsterInstance, launcher: str, *, is_alive: Callable[[int], bool] = pid_alive
) -> list[DagsterRun]:
    """Mark FAILED the unfinished runs of `launcher` on this host whose process is gone; return
    them. Runs of other launchers or hosts, and runs whose process is alive, are left alone."""
    host = socket.gethostname()
    orphans = []
    runs = instance.get_runs(filters=RunsFilter(statuses=UNFINISHED, tags={LAUNCHER_TAG: launcher}))
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit():
            continue
        if int(pid) == os.getpid() or is_alive(int(pid)):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"The {launcher} process (PID {pid}) that ran this run ended without finishing it "
                f"(killed?); marked FAILED at the next {launcher} start. Re-run partition "
                f"{run.tags.get('dagster/partition', '(none)')} of {run.job_name}: re-runs "
                "replace the partition's outputs."
            ),
        )
        orphans.append(run)
    return orphans
