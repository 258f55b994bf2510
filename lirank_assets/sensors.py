"""Incremental refresh: a new day of raw logs requests the downstream assets for that day."""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
)

WATCHED = AssetKey("feed_impressions")
# The last asset of the daily refresh: newer than the raw logs means the day is up to date.
REFRESHED = AssetKey("model_review")


def build_new_log_day_sensor(job):
    @asset_sensor(
        asset_key=WATCHED,
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
            return SkipReason("feed_impressions materialized without a partition")
        refreshed = context.instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=REFRESHED,
                asset_partitions=[partition],
                after_timestamp=asset_event.timestamp,
            ),
            limit=1,
        )
        if refreshed.records:
            return SkipReason(f"{partition} was already refreshed after its logs landed")
        return RunRequest(
            run_key=f"{partition}:{asset_event.run_id}",
            partition_key=partition,
            tags={"lirank/trigger": "new_log_day"},
        )

    return new_log_day_sensor
