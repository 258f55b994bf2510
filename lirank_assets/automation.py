"""Declarative automation: a new day of raw logs refreshes everything downstream of it.

Every asset downstream of the raw logs carries `DAILY_REFRESH`: Dagster's `eager()` condition
(materialize a partition when a dependency of it updates, or when it goes missing, never while a
dependency is missing or in progress), widened from the latest day to the last `LOOKBACK` (logs
that land late, or a day reloaded by hand, refresh too), and held back until the blocking checks
of its dependencies pass (e.g. `training_examples_quality`). So when the raw logs of day D land,
one automation tick requests that day's features, labels, training examples and Avro shards,
the model (warm-started from day D-1), its random effects, metrics and review; the checks gate
each step. A day whose upstream changes again is refreshed again, down to later days that read it
(the dwell window, the incremental model chain).

`automation_sensor` evaluates the conditions every 30 seconds; it is on by default (`make ui`
runs the daemon; the UI's Automation page shows each tick and why each partition was requested).
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

LOOKBACK = dt.timedelta(days=14)
"""How far back from the latest day a landing of logs still refreshes automatically (older days:
a backfill)."""

DAILY_REFRESH: AutomationCondition = (
    AutomationCondition.eager().replace(
        "in_latest_time_window", AutomationCondition.in_latest_time_window(LOOKBACK)
    )
    & AutomationCondition.all_deps_blocking_checks_passed()
).with_label("daily_refresh")


def build_automation_sensor() -> AutomationConditionSensorDefinition:
    """The sensor that evaluates `DAILY_REFRESH` on every asset that has it, on by default."""
    return AutomationConditionSensorDefinition(
        "daily_refresh_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Refreshes the days whose raw logs landed: features, labels, the incremental "
        "model, random effects, metrics and the review snapshot (lirank_assets.automation).",
    )
