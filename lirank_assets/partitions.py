"""Daily partitions and the time-window mappings between them."""

from __future__ import annotations

import datetime as dt
import warnings

from dagster import BetaWarning, DailyPartitionsDefinition, TimeWindowPartitionMapping


def daily_partitions(start: dt.date, end_exclusive: dt.date) -> DailyPartitionsDefinition:
    """One partition per day of logs, `start` to `end_exclusive`."""
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), end_date=end_exclusive.isoformat(), timezone="UTC"
    )


def trailing_days(days: int) -> TimeWindowPartitionMapping:
    """Partition d depends on days d-days+1 .. d (missing days before the first are allowed)."""
    return _window_mapping(start_offset=-(days - 1), end_offset=0)


def _window_mapping(start_offset: int, end_offset: int) -> TimeWindowPartitionMapping:
    # `allow_nonexistent_upstream_partitions` is flagged beta; the graph needs it (the first days
    # have no previous model and a short window), so its warning is expected, not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return TimeWindowPartitionMapping(
            start_offset=start_offset,
            end_offset=end_offset,
            allow_nonexistent_upstream_partitions=True,
        )


PREVIOUS_DAY = _window_mapping(start_offset=-1, end_offset=-1)


def partition_date(partition_key: str) -> dt.date:
    return dt.date.fromisoformat(partition_key)
