"""Daily partitions and the time-window mappings between them."""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition, TimeWindowPartitionMapping


def daily_partitions(start: dt.date, end_exclusive: dt.date) -> DailyPartitionsDefinition:
    """One partition per day of logs, `start` to `end_exclusive`."""
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), end_date=end_exclusive.isoformat(), timezone="UTC"
    )


def trailing_days(days: int) -> TimeWindowPartitionMapping:
    """Partition d depends on days d-days+1 .. d (missing days before the first are allowed)."""
    return TimeWindowPartitionMapping(
        start_offset=-(days - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
    )


PREVIOUS_DAY = TimeWindowPartitionMapping(
    start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
)


def partition_date(partition_key: str) -> dt.date:
    return dt.date.fromisoformat(partition_key)
