"""Raw feed logs, one daily partition at a time: simulated (default) or the user's files."""

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from lirank_assets.partitions import partition_date
from lirank_assets.resources import DataRoot, FeedLogSource
from spark.ingest import BadLogPartitionError, quarantine_bad_partition
from spark.storage import write_partition

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
        context: AssetExecutionContext, data_root: DataRoot, log_source: FeedLogSource
    ):
        """Load (simulate or read and validate) one day of raw logs, then write each table.

        Every table is validated before the first write, so a bad partition raises and leaves the
        previous good data untouched (a malformed one is quarantined, an empty one reported);
        each write is an atomic directory swap, so re-runs are idempotent.
        """
        date = partition_date(context.partition_key)
        try:
            tables = log_source.load_day(date, cache_dir=data_root.root / "world_state")
        except BadLogPartitionError as error:
            # User logs only: a malformed partition is moved to <logs>/_quarantine (spark.ingest).
            raise quarantine_bad_partition(error) from error
        for name, table in tables.items():
            path = write_partition(table, data_root.root / "raw", name, date)
            yield MaterializeResult(
                asset_key=name,
                metadata={
                    "rows": MetadataValue.int(table.num_rows),
                    "path": MetadataValue.path(str(path)),
                    "source": "simulated world"
                    if log_source.is_simulated
                    else log_source.logs_path,
                },
            )

    return raw_feed_logs
