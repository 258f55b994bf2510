"""Percentile long-dwell labels vs one static threshold on the default world (paper §10).

Usage: `python bench/dwell_labels.py [--days 4] [--percentile 0.9] [--window-days 7]
[--min-count 100]`.

Simulates `--days` days of the default world (`WorldConfig()`), explodes them with the paper plan
(`spark.explode`) in a `local[2]` Spark session, and labels every impression twice:

* percentile (what the graph does): day d's thresholds are the `--percentile` of dwell per
  context cluster (position bucket x content type x platform, `spark.dwell.dwell_thresholds`,
  back-off under `--min-count` rows) over the trailing window of `--window-days` days ending on d
  (`spark.dwell.trailing_window`), and label day d;
* static: one threshold for every context, the `--percentile` of all dwell times of all days
  (the best a single threshold can do: the same overall positive rate as the percentile label).

It prints the positive rate per content type under both labels and their spread (max - min) and
standard deviation across content types, in percentage points; the per-cluster deviation from
the target rate (100 - percentile)% within the window the thresholds were measured on (the
definition: every cluster should be on target) and for the daily labels (day d labelled with
thresholds that include d's own data and the days before it: the world's dwell distribution
drifts day to day, so these deviate more); and the per-day overall rate. The last line is one
JSON object: `percentile_spread_points`, `static_spread_points`, `spread_ratio` (static /
percentile), the standard deviations, `max_cluster_deviation_points_window`,
`max_cluster_deviation_points_daily`, the static threshold and the rates per content type.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from spark.dwell import (  # noqa: E402
    CLUSTER_COLUMNS,
    DEFAULT_WINDOW_DAYS,
    dwell_thresholds,
    long_dwell_labels,
    position_bucket,
    positive_rate_by,
    static_long_dwell_labels,
    trailing_window,
)
from spark.explode import explode_session_features  # noqa: E402
from spark.session import build_spark_session  # noqa: E402
from spark.world import FeedWorld, WorldConfig  # noqa: E402


def simulated_examples(spark: SparkSession, days: int, directory: Path) -> DataFrame:
    """Exploded examples (no label) of the default world's first `days` days, cached."""
    world = FeedWorld(WorldConfig())
    simulated = [world.simulate_day(day) for day in range(days)]
    for name in ("feed_sessions", "feed_impressions"):
        table = pa.concat_tables([getattr(day, name) for day in simulated])
        pq.write_table(table, directory / f"{name}.parquet")
    sessions = spark.read.parquet(str(directory / "feed_sessions.parquet"))
    impressions = spark.read.parquet(str(directory / "feed_impressions.parquet"))
    return explode_session_features(sessions, impressions).cache()


def with_bucket(labelled: DataFrame) -> DataFrame:
    """`labelled` plus its `position_bucket` (the cluster key column)."""
    return labelled.withColumn("position_bucket", position_bucket(F.col("position")))


def spread(rates: pd.Series) -> tuple[float, float]:
    """(max - min, population std) of rates, in percentage points."""
    return float(100 * (rates.max() - rates.min())), float(100 * rates.std(ddof=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=4, help="simulated days of the default world")
    parser.add_argument("--percentile", type=float, default=0.9)
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument("--min-count", type=int, default=100)
    args = parser.parse_args()
    if args.days < 1:
        raise SystemExit(f"--days must be >= 1. Received: --days {args.days}")
    target = 1.0 - args.percentile

    spark = build_spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    with tempfile.TemporaryDirectory(prefix="lirank-dwell-") as tmp:
        tick = time.perf_counter()
        examples = simulated_examples(spark, args.days, Path(tmp))
        rows = examples.count()
        dates = sorted(row.date for row in examples.select("date").distinct().collect())
        print(f"{rows} impressions over {len(dates)} days ({time.perf_counter() - tick:.1f} s)")

        daily_parts, last_thresholds = [], None
        for date in dates:
            window = trailing_window(date, args.window_days, dates[0])
            thresholds = dwell_thresholds(
                examples.where(F.col("date").isin(window)), args.percentile, args.min_count
            )
            # Materialized as the asset stores them, then joined (small: one row per cluster).
            last_thresholds = spark.createDataFrame(thresholds.toPandas(), thresholds.schema)
            daily_parts.append(
                long_dwell_labels(examples.where(F.col("date") == date), last_thresholds)
            )
        daily = daily_parts[0]
        for part in daily_parts[1:]:
            daily = daily.unionByName(part)
        last_window = trailing_window(dates[-1], args.window_days, dates[0])
        in_window = long_dwell_labels(
            examples.where(F.col("date").isin(last_window)), last_thresholds
        )
        static_threshold = float(
            examples.agg(
                F.percentile(F.col("dwell_seconds"), F.lit(args.percentile)).alias("t")
            ).first()["t"]
        )
        static = static_long_dwell_labels(examples, static_threshold)

        by_type = (
            positive_rate_by(daily, "content_type")
            .toPandas()
            .set_index("content_type")
            .rename(columns={"positive_rate": "percentile"})
        )
        by_type["static"] = (
            positive_rate_by(static, "content_type").toPandas().set_index("content_type")
        )["positive_rate"]
        cluster_window = positive_rate_by(with_bucket(in_window), *CLUSTER_COLUMNS).toPandas()
        cluster_daily = positive_rate_by(with_bucket(daily), *CLUSTER_COLUMNS).toPandas()
        per_day = positive_rate_by(daily, "date").toPandas().set_index("date")
        per_day["static"] = (positive_rate_by(static, "date").toPandas().set_index("date"))[
            "positive_rate"
        ]
    spark.stop()

    print(f"\nstatic threshold: {static_threshold:.2f} s (the {args.percentile:.0%} of all dwell)")
    print(f"\npositive rate by content type, % (target {100 * target:.1f})")
    print(f"{'content_type':<14}{'rows':>8}{'percentile':>12}{'static':>9}")
    for name, row in by_type.iterrows():
        pct, fixed = 100 * row["percentile"], 100 * row["static"]
        print(f"{name:<14}{int(row['rows']):>8}{pct:>12.2f}{fixed:>9.2f}")
    pct_spread, pct_std = spread(by_type["percentile"])
    static_spread, static_std = spread(by_type["static"])
    print(f"{'spread (pts)':<22}{pct_spread:>12.2f}{static_spread:>9.2f}")
    print(f"{'std (pts)':<22}{pct_std:>12.2f}{static_std:>9.2f}")

    window_dev = 100 * (cluster_window["positive_rate"] - target).abs()
    daily_dev = 100 * (cluster_daily["positive_rate"] - target).abs()
    print(
        f"\nper cluster ({len(cluster_window)} clusters), |rate - target| in points: "
        f"within the thresholds' window max {window_dev.max():.2f} (mean {window_dev.mean():.2f}); "
        f"daily labels max {daily_dev.max():.2f} (mean {daily_dev.mean():.2f})"
    )
    print(
        "\nper day, %: "
        + ", ".join(
            f"{date}: {100 * r['positive_rate']:.2f} vs static {100 * r['static']:.2f}"
            for date, r in per_day.iterrows()
        )
    )
    print(
        json.dumps(
            {
                "percentile": args.percentile,
                "target_rate": round(target, 4),
                "days": len(dates),
                "rows": rows,
                "window_days": args.window_days,
                "percentile_spread_points": round(pct_spread, 3),
                "static_spread_points": round(static_spread, 3),
                "spread_ratio": round(static_spread / pct_spread, 2) if pct_spread else None,
                "percentile_std_points": round(pct_std, 3),
                "static_std_points": round(static_std, 3),
                "static_threshold_seconds": round(static_threshold, 3),
                "clusters": len(cluster_window),
                "max_cluster_deviation_points_window": round(float(window_dev.max()), 3),
                "max_cluster_deviation_points_daily": round(float(daily_dev.max()), 3),
                "rate_by_content_type": {
                    name: {
                        "percentile": round(float(row["percentile"]), 4),
                        "static": round(float(row["static"]), 4),
                    }
                    for name, row in by_type.iterrows()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
