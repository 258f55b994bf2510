"""The graph's calendar: daily partitions of the logs and of the models, the time-window mappings
between them, and the windows of days an asset reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    BetaWarning,
    DailyPartitionsDefinition,
    TimeWindowPartitionMapping,
)

from spark.dwell import trailing_window


@dataclasses.dataclass(frozen=True)
class DailyCalendar:
    """The days of the graph.

    Logs, features and labels have one partition per day from `first_day` to `end` (exclusive).
    The model has partitions from the first day whose cold-start window of `cold_start_days`
    days is full: a model is never trained on a shorter window, however its partition is
    launched (by hand, by a backfill or by automation). The evaluation has partitions from the
    day after: day D is ranked by the model of day D−1.
    """

    first_day: dt.date
    end: dt.date
    cold_start_days: int

    def __post_init__(self) -> None:
        if self.end <= self.first_day:
            raise ValueError(
                f"the calendar needs at least one day: first_day={self.first_day.isoformat()}, "
                f"end={self.end.isoformat()} (exclusive)"
            )
        if self.cold_start_days < 1:
            raise ValueError(f"`cold_start_days` must be >= 1. Received: {self.cold_start_days}")

    @property
    def first_model_day(self) -> dt.date:
        """The first day with a model: the cold-start window's last day (at most the last day)."""
        first = self.first_day + dt.timedelta(days=self.cold_start_days - 1)
        return min(first, self.end - dt.timedelta(days=1))

    @functools.cached_property
    def logs(self) -> DailyPartitionsDefinition:
        """Partitions of the raw logs, features and labels."""
        return _daily(self.first_day, self.end)

    @functools.cached_property
    def models(self) -> DailyPartitionsDefinition:
        """Partitions of the model and its random effects."""
        return _daily(self.first_model_day, self.end)

    @property
    def first_evaluated_day(self) -> dt.date:
        """The first day evaluated next-day: the day after the first model (at most the last
        day, where a one-day window leaves nothing to evaluate next-day)."""
        return min(self.first_model_day + dt.timedelta(days=1), self.end - dt.timedelta(days=1))

    @functools.cached_property
    def evaluations(self) -> DailyPartitionsDefinition:
        """Partitions of the evaluation: day D is ranked by the model of day D−1 (next-day
        protocol, `models.evaluation.protocol`)."""
        return _daily(self.first_evaluated_day, self.end)

    @property
    def days(self) -> list[dt.date]:
        return [
            self.first_day + dt.timedelta(days=i) for i in range((self.end - self.first_day).days)
        ]

    def window(self, date: dt.date, days: int) -> list[dt.date]:
        """`date` and the `days - 1` days before it, from `first_day` on."""
        return trailing_window(date, days, self.first_day)

    def cold_start_window(self, date: dt.date) -> list[dt.date]:
        """The days a cold-start model of `date` trains on."""
        return self.window(date, self.cold_start_days)


def _daily(start: dt.date, end_exclusive: dt.date) -> DailyPartitionsDefinition:
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


def partition_dates(context: AssetExecutionContext | AssetCheckExecutionContext) -> list[dt.date]:
    """The days a run materializes, in order: one for a daily run, every day of the range for a
    single-run backfill (`BackfillPolicy.single_run()`)."""
    return [partition_date(key) for key in context.partition_keys]
