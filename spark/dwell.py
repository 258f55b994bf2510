"""Percentile long-dwell labels within context clusters, re-measured daily (paper §10).

Raw dwell time is too noisy to regress and a fixed threshold goes stale and favours long-format
content, so the label is binary: 1 when the dwell time exceeds the `percentile` (e.g. 90th) of the
dwell distribution of the example's context cluster (ranking position bucket x content type x
platform), measured over a trailing window of days. Clusters too sparse to estimate a percentile
back off to (content type x platform), then content type, then all examples.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark.schemas import TRAINING_EXAMPLE

CLUSTER_COLUMNS: tuple[str, ...] = ("position_bucket", "content_type", "platform")

LEVELS: tuple[str, ...] = ("cluster", "content_platform", "content", "global")
"""Back-off levels, finest first."""

# Output contract of `dwell_thresholds`.
THRESHOLD_COLUMNS: tuple[str, ...] = (
    *CLUSTER_COLUMNS,
    "threshold_seconds",
    "sample_count",
    "level",
    "percentile",
    "global_threshold_seconds",
)

DEFAULT_WINDOW_DAYS = 7
"""Days of examples behind a day's thresholds: the day itself and the 6 before it."""

# grouping_id() of rollup(content_type, platform, position_bucket): bit set = column rolled up.
_GROUPING_ID = {"cluster": 0, "content_platform": 1, "content": 3, "global": 7}


def position_bucket(position: Column) -> Column:
    """Position bucket of a 0-based served position: 0, 1, 2, 3-4, 5-9, 10+ -> 0..5 (int).

    Null stays null.
    """
    return (
        F.when(position.isNull(), F.lit(None))
        .when(position <= 2, position)
        .when(position <= 4, F.lit(3))
        .when(position <= 9, F.lit(4))
        .otherwise(F.lit(5))
        .cast("int")
    )


def trailing_window(
    end: dt.date, window_days: int = DEFAULT_WINDOW_DAYS, first: dt.date | None = None
) -> list[dt.date]:
    """The dates whose examples set the thresholds of day `end`: `end - window_days + 1` .. `end`.

    Days before `first` (the first day with logs) are left out, so early days use a shorter window.

    Raises:
        ValueError: `window_days` < 1, or `first` is after `end`.
    """
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(
            f"`window_days` must be an integer >= 1. Received: window_days={window_days!r}"
        )
    if first is not None and first > end:
        raise ValueError(
            f"the window of {end.isoformat()} starts after it: first={first.isoformat()}"
        )
    start = end - dt.timedelta(days=window_days - 1)
    if first is not None:
        start = max(start, first)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _check_arguments(percentile: float, min_count: int) -> None:
    if isinstance(percentile, bool) or not (
        isinstance(percentile, numbers.Real) and 0.0 < percentile < 1.0
    ):
        raise ValueError(
            f"`percentile` must be a number strictly between 0 and 1. Received: "
            f"percentile={percentile!r}"
        )
    if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) or min_count < 1:
        raise ValueError(f"`min_count` must be an integer >= 1. Received: min_count={min_count!r}")


def dwell_thresholds(
    examples: DataFrame, percentile: float = 0.9, min_count: int = 100
) -> DataFrame:
    """Long-dwell threshold per context cluster over a window of examples (paper §10).

    The threshold of a cluster (position bucket x content type x platform) is the exact
    `percentile` of its `dwell_seconds` (Spark's `percentile`, linear interpolation, the same as
    `numpy.percentile`). A cluster with fewer than `min_count` rows takes the threshold of the
    first coarser level that has at least `min_count`: (content type x platform), then content
    type, then all rows ("global", used whatever its count). One pass over the examples: a rollup
    over (content_type, platform, position_bucket) yields all four levels at once.

    Args:
        examples: the examples of the trailing window (the caller selects the days); needs
            `position`, `content_type`, `platform`, `dwell_seconds`. Rows with a null in any of
            them are ignored.
        percentile: in (0, 1); 0.9 labels about the top 10% of each cluster long.
        min_count: fewest rows a level needs for its own threshold.

    Returns:
        One row per cluster observed in `examples`, columns `THRESHOLD_COLUMNS`:
        position_bucket (int), content_type, platform, threshold_seconds (double), sample_count
        (rows behind the threshold, at the level used), level ("cluster" | "content_platform" |
        "content" | "global"), percentile (double), global_threshold_seconds (double, the same on
        every row: what `long_dwell_labels` uses for a cluster the window never saw).

    Raises:
        ValueError: `percentile` not in (0, 1) or `min_count` < 1.
    """
    _check_arguments(percentile, min_count)
    keyed = examples.select(
        position_bucket(F.col("position")).alias("position_bucket"),
        F.col("content_type"),
        F.col("platform"),
        F.col("dwell_seconds").cast("double").alias("dwell_seconds"),
    ).dropna()
    levels = keyed.rollup("content_type", "platform", "position_bucket").agg(
        F.grouping_id().alias("grouping_id"),
        F.count(F.col("dwell_seconds")).alias("sample_count"),
        F.percentile(F.col("dwell_seconds"), F.lit(float(percentile))).alias("threshold_seconds"),
    )
    # The rollup result is small (one row per cluster and coarser group); windows hand each
    # cluster row the counts and thresholds of its coarser levels without re-running the rollup.
    # Cluster keys are never null (dropna above), so a rollup's null marks only rolled-up keys.
    windows = {
        "content_platform": Window.partitionBy("content_type", "platform"),
        "content": Window.partitionBy("content_type"),
        "global": Window.partitionBy(F.lit(0)),  # one partition of a few hundred rows at most
    }

    def at_level(name: str, column: str) -> Column:
        value = F.when(F.col("grouping_id") == _GROUPING_ID[name], F.col(column))
        return F.max(value).over(windows[name]) if name in windows else value

    with_levels = levels.select(
        *[F.col(key) for key in CLUSTER_COLUMNS],
        F.col("grouping_id"),
        *[
            at_level(name, column).alias(f"{name}_{column}")
            for name in LEVELS
            for column in ("sample_count", "threshold_seconds")
        ],
    ).where(F.col("grouping_id") == _GROUPING_ID["cluster"])

    def backed_off(column: str) -> Column:
        chosen = F.col(f"global_{column}")
        for name in reversed(LEVELS[:-1]):
            enough = F.col(f"{name}_sample_count") >= min_count
            chosen = F.when(enough, F.col(f"{name}_{column}")).otherwise(chosen)
        return chosen

    level_used = F.lit("global")
    for name in reversed(LEVELS[:-1]):
        level_used = F.when(F.col(f"{name}_sample_count") >= min_count, F.lit(name)).otherwise(
            level_used
        )

    return with_levels.select(
        *[F.col(key) for key in CLUSTER_COLUMNS],
        backed_off("threshold_seconds").alias("threshold_seconds"),
        backed_off("sample_count").alias("sample_count"),
        level_used.alias("level"),
        F.lit(float(percentile)).alias("percentile"),
        F.col("global_threshold_seconds").alias("global_threshold_seconds"),
    )


def long_dwell_labels(examples: DataFrame, thresholds: DataFrame) -> DataFrame:
    """Attach `long_dwell` = int8(dwell_seconds > threshold of the example's cluster) (paper §10).

    Joined on (position bucket, content type, platform) with how="left"; an example whose cluster
    is missing from `thresholds` (never seen in the window) gets the global threshold. With an
    empty `thresholds` every label is null (no row is dropped).

    Args:
        examples: rows with the columns of TRAINING_EXAMPLE except `long_dwell`.
        thresholds: the output of `dwell_thresholds` (any window, typically ending on the day).

    Returns:
        TRAINING_EXAMPLE columns in order, `long_dwell` int8.
    """
    cluster_thresholds = thresholds.select(
        *[F.col(key) for key in CLUSTER_COLUMNS], F.col("threshold_seconds")
    )
    # Exactly one row even when `thresholds` is empty (then every label is null, not dropped).
    global_threshold = thresholds.agg(
        F.max(F.col("global_threshold_seconds")).alias("global_threshold_seconds")
    )
    keyed = examples.select(
        *[F.col(name) for name in examples.columns],
        position_bucket(F.col("position")).alias("position_bucket"),
    )
    # Thresholds are one small row per cluster: broadcast them rather than shuffle the examples.
    joined = keyed.join(F.broadcast(cluster_thresholds), on=list(CLUSTER_COLUMNS), how="left").join(
        F.broadcast(global_threshold), how="cross"
    )
    threshold = F.coalesce(F.col("threshold_seconds"), F.col("global_threshold_seconds"))
    return joined.select(
        *[F.col(name) for name in TRAINING_EXAMPLE.names if name != "long_dwell"],
        (F.col("dwell_seconds") > threshold).cast("tinyint").alias("long_dwell"),
    )


def static_long_dwell_labels(examples: DataFrame, threshold_seconds: float) -> DataFrame:
    """Attach `long_dwell` from one static threshold for every context: the baseline §10 replaced.

    Returns TRAINING_EXAMPLE columns in order. Raises ValueError if the threshold is negative or
    not finite.
    """
    if not (isinstance(threshold_seconds, numbers.Real) and math.isfinite(threshold_seconds)) or (
        threshold_seconds < 0
    ):
        raise ValueError(
            "`threshold_seconds` must be a finite number >= 0. "
            f"Received: threshold_seconds={threshold_seconds!r}"
        )
    return examples.select(
        *[F.col(name) for name in TRAINING_EXAMPLE.names if name != "long_dwell"],
        (F.col("dwell_seconds") > F.lit(float(threshold_seconds)))
        .cast("tinyint")
        .alias("long_dwell"),
    )


def positive_rate_by(
    examples_with_labels: DataFrame, *cols: str, label: str = "long_dwell"
) -> DataFrame:
    """Rows and positive rate of `label` per group of `cols` (all rows when no `cols`).

    Returns columns (*cols, rows, positive_rate), ordered by `cols`.
    """
    rates = (
        examples_with_labels.groupBy(*[F.col(name) for name in cols])
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(F.col(label).cast("double")).alias("positive_rate"),
        )
        .select(*[F.col(name) for name in cols], F.col("rows"), F.col("positive_rate"))
    )
    return rates.orderBy(*[F.col(name) for name in cols]) if cols else rates
