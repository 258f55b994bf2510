"""Incremental refresh: a new day of raw logs requests the downstream assets for that day."""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    SensorEvaluationContext,
    asset_sensor,
)


def build_new_log_day_sensor(job):
    @asset_sensor(
        asset_key=AssetKey("feed_impressions"),
        job=job,
        name="new_log_day_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="When a new daily partition of feed_impressions lands, run the daily refresh "
        "(features, labels, incremental model, random effects, metrics, review) for that day.",
    )
    def new_log_day_sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
        partition = asset_event.dagster_event.partition
        if partition is None:
            return None
        return RunRequest(
            run_key=f"{partition}:{asset_event.run_id}",
            partition_key=partition,
            tags={"lirank/trigger": "new_log_day"},
        )

    return new_log_day_sensor
