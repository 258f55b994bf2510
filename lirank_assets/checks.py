"""Asset checks: label rates and NaN features of the training examples, the Avro shards against
the Parquet rows, and the AUC floor.

The two checks on the training data are blocking: a failing day stops its run before the model
trains, and `DAILY_REFRESH` does not request a model whose inputs failed. They run once per day;
in a single-run backfill of several days they record one evaluation per day, and the run's
result (blocking the rest of the run) passes only if every day passes.
"""

import datetime as dt
import warnings
from collections.abc import Callable

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    PreviewWarning,
    asset_check,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # not exported; see `day_evaluation`
)

from lirank_assets.metadata import rounded
from lirank_assets.partitions import DailyCalendar, partition_date, partition_dates
from lirank_assets.resources import DataRoot, Warehouse
from models.evaluation.data_quality import mean_auc, measure_example_quality
from spark.avro_shards import AVRO_SCHEMA_VERSION, check_shards_match_parquet

AUC_FLOOR = 0.60

DayCheck = Callable[[dt.date], AssetCheckResult]


def build_checks(calendar: DailyCalendar):
    """The graph's asset checks, partitioned like their assets."""
    # Partitioned asset checks are flagged preview; per-day checks are what the graph needs, so
    # their warning is expected, not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return _build_checks(calendar)


def check_each_day(
    context: AssetCheckExecutionContext, asset: str, name: str, check_day: DayCheck
) -> AssetCheckResult:
    """Run `check_day` for every day of the run: the result itself for one day; for a range,
    one recorded evaluation per day and a result that passes only if every day passed."""
    dates = partition_dates(context)
    if len(dates) == 1:
        return check_day(dates[0])
    results = {date: check_day(date) for date in dates}
    for date, result in results.items():
        context.op_execution_context.log_event(
            day_evaluation(context.instance, asset, name, date.isoformat(), result)
        )
    failed = [date.isoformat() for date, result in results.items() if not result.passed]
    return AssetCheckResult(
        passed=not failed,
        description=f"{len(dates) - len(failed)} of {len(dates)} days passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
    )


def day_evaluation(
    instance: DagsterInstance, asset: str, name: str, day: str, result: AssetCheckResult
) -> AssetCheckEvaluation:
    """The blocking check `name`'s evaluation of one day of `asset`, tied to that day's latest
    materialization (so automation counts it as the current result of that partition).

    Dagster records a check in a run of several partitions once, without a partition; this is
    the per-day record it would write in a one-day run.
    """
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=records[0].storage_id,
            run_id=records[0].run_id,
            timestamp=records[0].timestamp,
        )
        if records
        else None
    )
    return AssetCheckEvaluation(
        asset_key=AssetKey(asset),
        check_name=name,
        passed=result.passed,
        metadata=result.metadata,
        description=result.description,
        target_materialization_data=target,
        blocking=True,
        partition=day,
    )


def _build_checks(calendar: DailyCalendar):
    @asset_check(asset="training_examples", partitions_def=calendar.logs, blocking=True)
    def training_examples_quality(
        context: AssetCheckExecutionContext, data_root: DataRoot
    ) -> AssetCheckResult:
        """Blocks training on an empty day, NaN or infinite features, labels outside {0, 1} or
        implausible label rates."""

        def check_day(date: dt.date) -> AssetCheckResult:
            quality = measure_example_quality(
                pd.read_parquet(data_root.layout.training_examples(date))
            )
            return AssetCheckResult(
                passed=quality.passed,
                description=quality.describe(),
                metadata={
                    "rows": MetadataValue.int(quality.rows),
                    **{f"{k}_rate": rounded(v) for k, v in quality.label_rates.items()},
                    "nonfinite_features": MetadataValue.int(sum(quality.nonfinite_counts.values())),
                    "non_binary_labels": MetadataValue.int(sum(quality.non_binary_labels.values())),
                },
            )

        return check_each_day(context, "training_examples", "training_examples_quality", check_day)

    @asset_check(asset="training_examples_avro", partitions_def=calendar.logs, blocking=True)
    def training_examples_avro_shards(
        context: AssetCheckExecutionContext, data_root: DataRoot
    ) -> AssetCheckResult:
        """The ATDS Avro shards hold the Parquet's rows and labels (content fingerprints: counts,
        per-label sums, checksums; `spark.avro_shards.check_shards_match_parquet`), at this
        reader's schema version."""

        def check_day(date: dt.date) -> AssetCheckResult:
            layout = data_root.layout
            result = check_shards_match_parquet(
                layout.training_examples_avro(date), layout.training_examples(date)
            )
            return AssetCheckResult(
                passed=result.passed,
                description=result.description,
                metadata={
                    "avro_rows": MetadataValue.int(result.avro_rows),
                    "parquet_rows": MetadataValue.int(result.parquet_rows),
                    "shards": MetadataValue.int(result.shards),
                    "schema_version": MetadataValue.int(AVRO_SCHEMA_VERSION),
                },
            )

        return check_each_day(
            context, "training_examples_avro", "training_examples_avro_shards", check_day
        )

    @asset_check(asset="offline_metrics", partitions_def=calendar.evaluations)
    def auc_floor(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        """The model's mean AUC over heads must reach the floor and beat the popularity baseline."""
        date = partition_date(context.partition_key)
        metrics = warehouse.read("SELECT * FROM offline_metrics WHERE date = ?", [date])
        model, baseline = mean_auc(metrics, "model"), mean_auc(metrics, "popularity_baseline")
        return AssetCheckResult(
            passed=bool(model >= AUC_FLOOR),
            severity=AssetCheckSeverity.WARN,
            description=(
                f"mean AUC {model:.4f} (floor {AUC_FLOOR}, popularity baseline {baseline:.4f})"
            ),
            metadata={
                "mean_auc": rounded(model),
                "baseline_mean_auc": rounded(baseline),
                "floor": MetadataValue.float(AUC_FLOOR),
            },
        )

    return [training_examples_quality, training_examples_avro_shards, auc_floor]
