"""Asset checks: label rates, NaN features and Avro shards of the training examples; AUC floor."""

import warnings

import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    PreviewWarning,
    asset_check,
)

from lirank_assets.assets.features import AVRO_DATASET
from lirank_assets.partitions import partition_date
from lirank_assets.resources import DataRoot, Warehouse
from models.data_quality import mean_auc, measure_example_quality
from spark.avro_shards import AVRO_SCHEMA_VERSION, shard_row_counts
from spark.storage import partition_dir

AUC_FLOOR = 0.60


def build_checks(partitions_def):
    """The graph's asset checks, partitioned like their assets."""
    # Partitioned asset checks are flagged preview; per-day checks are what the graph needs, so
    # their warning is expected, not news.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return _build_checks(partitions_def)


def _build_checks(partitions_def):
    @asset_check(asset="training_examples", partitions_def=partitions_def, blocking=True)
    def training_examples_quality(
        context: AssetCheckExecutionContext, data_root: DataRoot
    ) -> AssetCheckResult:
        """Blocks training on an empty day, NaN features or implausible label rates."""
        date = partition_date(context.partition_key)
        path = partition_dir(data_root.root / "features", "training_examples", date)
        quality = measure_example_quality(pq.read_table(path).to_pandas())
        return AssetCheckResult(
            passed=quality.passed,
            description=quality.describe(),
            metadata={
                "rows": MetadataValue.int(quality.rows),
                **{f"{k}_rate": MetadataValue.float(v) for k, v in quality.label_rates.items()},
                "nan_features": MetadataValue.int(sum(quality.nan_counts.values())),
            },
        )

    @asset_check(asset="training_examples", partitions_def=partitions_def, blocking=True)
    def training_examples_avro_shards(
        context: AssetCheckExecutionContext, data_root: DataRoot
    ) -> AssetCheckResult:
        """The ATDS Avro shards hold the Parquet's row count, at this reader's schema version."""
        date = partition_date(context.partition_key)
        features = data_root.root / "features"
        parquet = partition_dir(features, "training_examples", date)
        parquet_rows = sum(pq.read_metadata(f).num_rows for f in parquet.glob("*.parquet"))
        shards = sorted(partition_dir(features, AVRO_DATASET, date).glob("part-*.avro"))
        counts = shard_row_counts(shards)
        avro_rows = sum(counts.values())
        return AssetCheckResult(
            passed=bool(shards) and avro_rows == parquet_rows,
            description=f"{avro_rows} rows in {len(shards)} Avro shards (schema version "
            f"{AVRO_SCHEMA_VERSION}) vs {parquet_rows} Parquet rows",
            metadata={
                "avro_rows": MetadataValue.int(avro_rows),
                "parquet_rows": MetadataValue.int(parquet_rows),
                "shards": MetadataValue.int(len(shards)),
            },
        )

    @asset_check(asset="offline_metrics", partitions_def=partitions_def)
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
                "mean_auc": MetadataValue.float(model),
                "baseline_mean_auc": MetadataValue.float(baseline),
                "floor": MetadataValue.float(AUC_FLOOR),
            },
        )

    return [training_examples_quality, training_examples_avro_shards, auc_floor]
