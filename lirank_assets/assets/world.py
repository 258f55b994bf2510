"""Raw feed logs, one daily partition at a time: simulated by Spark (default) or user files."""

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from lirank_assets.partitions import partition_date
from lirank_assets.resources import DataRoot, FeedLogSource, SparkResource
from spark.ingest import BadLogPartitionError, quarantine_bad_partition
from spark.storage import write_partition
from spark.world_spark import WrittenTable

RAW_LOG_TABLES = ("feed_sessions", "feed_impressions", "posts", "members")
GROUND_TRUTH = "feed_ground_truth"

_DESCRIPTIONS = {
    "feed_sessions": "One row per feed session: member, platform, session features, served posts.",
    "feed_impressions": "One row per impressed post: actions and dwell time.",
    "posts": "Posts created that day.",
    "members": "Member snapshot at the start of the day, with interaction history.",
    GROUND_TRUTH: "True examination and action probabilities per served post (simulator only; "
    "no feature reads it, only evaluation).",
}


def build_raw_log_assets(partitions_def):
    @multi_asset(
        specs=[
            AssetSpec(
                name,
                group_name="world",
                description=_DESCRIPTIONS[name],
                partitions_def=partitions_def,
                skippable=name == GROUND_TRUTH,
            )
            for name in (*RAW_LOG_TABLES, GROUND_TRUTH)
        ],
        partitions_def=partitions_def,
        can_subset=False,
        name="raw_feed_logs",
    )
    def raw_feed_logs(
        context: AssetExecutionContext,
        data_root: DataRoot,
        log_source: FeedLogSource,
        spark: SparkResource,
    ):
        """Simulate one day of raw logs with Spark, or read and validate the user's, and write
        each table.

        User logs: every table is validated before the first write, so a bad partition raises and
        leaves the previous good data untouched (a malformed one is quarantined, an empty one
        reported). Either source: each write is an atomic directory swap, so re-runs are
        idempotent.
        """
        date = partition_date(context.partition_key)
        if log_source.is_simulated:
            written = log_source.simulate_day(spark.session(), date, data_root.root)
        else:
            try:
                tables = log_source.load_day(date)
            except BadLogPartitionError as error:
                # A malformed partition is moved to <logs>/_quarantine (spark.ingest).
                raise quarantine_bad_partition(error) from error
            raw = data_root.root / "raw"
            written = [
                WrittenTable(name, table.num_rows, write_partition(table, raw, name, date))
                for name, table in tables.items()
            ]
        for table in written:
            yield MaterializeResult(
                asset_key=table.name,
                metadata={
                    "rows": MetadataValue.int(table.rows),
                    "path": MetadataValue.path(str(table.path)),
                    "source": "simulated world"
                    if log_source.is_simulated
                    else log_source.logs_path,
                },
            )

    return raw_feed_logs
