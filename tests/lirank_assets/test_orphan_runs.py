"""A run whose in-process executor was killed stays STARTED; the next launcher start marks it
FAILED, naming the dead PID, and leaves runs whose process is alive alone."""

from __future__ import annotations

import subprocess
import sys

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from lirank_assets.orphan_runs import PID_TAG, fail_orphaned_runs

CHILD = """
import sys, time
from dagster import DagsterInstance, job, op
from lirank_assets.orphan_runs import launcher_tags

@op
def slow_step():
    print("running", flush=True)
    time.sleep(600)

@job
def slow_job():
    slow_step()

slow_job.execute_in_process(
    instance=DagsterInstance.local_temp(tempdir=sys.argv[1]), tags=launcher_tags("demo")
)
"""


def start_run(home: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, home], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    for line in child.stdout:
        if line.strip() == b"running":
            return child
    raise AssertionError(f"the child run did not start (exit {child.wait()})")


def runs_by_pid(instance: DagsterInstance) -> dict[int, object]:
    return {int(run.tags[PID_TAG]): run for run in instance.get_runs()}


def test_a_killed_demo_run_is_marked_failed_at_the_next_start_and_a_live_one_is_not(tmp_path):
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = str(tmp_path / "dagster_home")
    live, killed = start_run(home), start_run(home)
    try:
        killed.kill()
        killed.wait(timeout=30)
        instance = DagsterInstance.local_temp(tempdir=home)
        runs = runs_by_pid(instance)
        assert runs[killed.pid].status == DagsterRunStatus.STARTED  # the reported fault

        orphans = fail_orphaned_runs(instance, "demo")

        assert [run.run_id for run in orphans] == [runs[killed.pid].run_id]
        after = runs_by_pid(instance)
        assert after[killed.pid].status == DagsterRunStatus.FAILURE
        assert after[live.pid].status == DagsterRunStatus.STARTED  # alive: left alone
        failure = instance.all_logs(after[killed.pid].run_id, of_type=DagsterEventType.RUN_FAILURE)
        assert f"PID {killed.pid}" in failure[-1].dagster_event.message
        assert fail_orphaned_runs(instance, "demo") == []  # idempotent
        assert fail_orphaned_runs(instance, "other-launcher") == []
    finally:
        for child in (live, killed):
            child.kill()
            child.wait(timeout=30)
