"""`make demo`: materialize the whole graph day by day on the default world and print a summary.

Runs every daily partition in order into the persistent Dagster instance (`$DAGSTER_HOME`), so the
materializations, checks and metadata are there to browse with `make ui` afterwards: each day its
raw logs and features, from the first day with a full cold-start window its model, and from the
day after, the evaluation of its traffic by the previous day's model (next-day protocol): what the
daily automation does when a day of logs lands, run here without a daemon.

Runs of an earlier demo that was killed mid-run would stay STARTED forever (no daemon watches
in-process runs): each run is tagged with the demo's PID, and the next demo marks those whose
process is gone FAILED before it starts (`lirank_assets.orphan_runs`).
"""

from __future__ import annotations

import sys
import time

from dagster import DagsterInstance

from lirank_assets.definitions import build_definitions, calendar_of
from lirank_assets.orphan_runs import fail_orphaned_runs, launcher_tags
from lirank_assets.settings import settings_from_env
from models.reporting.summary import (
    format_product_verdicts,
    format_summary,
    pool_product_verdicts,
    summarize,
)
from spark.storage import DataLayout

# Dagster's console logger prints every event at DEBUG; the demo shows one line per day instead.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step_failure_message(event) -> str:
    """The user's error behind Dagster's wrapper ("Error occurred while executing op ...")."""
    error, messages = event.event_specific_data.error, []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause
    return f"{event.step_key}: " + " <- ".join(reversed(messages[1:] or messages))


def main() -> int:
    settings = settings_from_env()
    layout = DataLayout.from_env()
    defs = build_definitions(settings, str(layout.root))
    calendar = calendar_of(settings)
    instance = DagsterInstance.get()
    for run in fail_orphaned_runs(instance, "demo"):
        print(
            f"run {run.run_id} ({run.job_name}, partition {run.tags.get('dagster/partition')}) "
            f"was left {run.status.value} by a demo that was killed: marked FAILED",
            flush=True,
        )
    tags = launcher_tags("demo")
    print(
        f"LiRank demo: {len(calendar.days)} days of the simulated world "
        f"({settings.world.num_members} members), data root {layout.root}",
        flush=True,
    )
    for day in calendar.days:
        key = day.isoformat()
        jobs = ["raw_logs_job", "features_job"]
        if day >= calendar.first_model_day:
            jobs.append("ranking_job")
        if day > calendar.first_model_day:
            jobs.append("evaluation_job")
        started = time.perf_counter()
        for name in jobs:
            result = defs.resolve_job_def(name).execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags=tags,
            )
            if not result.success:
                failures = [
                    step_failure_message(event)
                    for event in result.all_events
                    if event.is_step_failure
                ]
                print(f"{key} {name} FAILED:\n" + "\n".join(failures), file=sys.stderr)
                return 1
        stages = ", ".join(name.removesuffix("_job") for name in jobs)
        print(f"{key}: {stages} done in {time.perf_counter() - started:.1f}s", flush=True)
    warehouse = defs.resources["warehouse"]
    summary = summarize(
        warehouse.table_or_empty("offline_metrics"),
        warehouse.table_or_empty("replay_metrics"),
        warehouse.table_or_empty("paired_differences"),
    )
    print("\nFeed" + format_summary(summary))
    print(
        format_product_verdicts(pool_product_verdicts(warehouse.table_or_empty("product_verdicts")))
    )
    print(
        "\nBrowse it: `make ui` (Dagster, http://127.0.0.1:3000) and `make dashboard` (Streamlit)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
