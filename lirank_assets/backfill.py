"""Materialize raw logs and features for a range of days outside the UI: what the benchmarks train
and evaluate on, written by the graph's own jobs so they measure what the graph would get."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lirank_assets.settings import Settings, settings_from_env


def avro_examples_dir(root: Path, day: dt.date) -> Path:
    """The day's Avro shards of `training_examples`: what the graph's trainer reads."""
    return Path(root) / "features" / "training_examples_avro" / f"date={day.isoformat()}"


def partition_dir(root: Path, group: str, name: str, day: dt.date) -> Path:
    """The day's partition of asset `name` of asset group folder `group` under data root `root`."""
    return Path(root) / group / name / f"date={day.isoformat()}"


def materialize_days(
    root: Path, num_days: int | None = None, settings: Settings | None = None
) -> tuple[list[dt.date], Settings]:
    """Run `raw_logs_job` and `features_job` for each of the first `num_days` days of the
    settings' world (all by default) whose Avro examples are not in `root` yet.

    Args:
        root: the data root to write (`LIRANK_DATA_ROOT` layout).
        num_days: only the first this many days.
        settings: the run settings; by default from the environment (`LIRANK_WORLD`, ...).

    Returns:
        The days and the settings used.
    """
    from dagster import DagsterInstance

    from lirank_assets.definitions import build_definitions

    settings = settings or settings_from_env()
    days = [settings.world.date_of(d) for d in range(settings.world.num_days)][:num_days]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    missing = [day for day in days if not any(avro_examples_dir(root, day).glob("part-*.avro"))]
    if missing:
        defs = build_definitions(settings, str(root))
        instance = DagsterInstance.ephemeral()
        for day in missing:
            for job in ("raw_logs_job", "features_job"):
                defs.resolve_job_def(job).execute_in_process(
                    partition_key=day.isoformat(), instance=instance, run_config=quiet
                )
            print(f"prepared {day}", flush=True)
    return days, settings
