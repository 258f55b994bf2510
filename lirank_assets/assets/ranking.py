"""Ranking assets: the multi-task feed model (cold start, then incremental) and the per-post
popularity random effects on its residual."""

import pyarrow as pa
from dagster import (
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.code_version import FEED_MODEL_PACKAGES, source_version
from lirank_assets.metadata import frame_table, parquet_metadata, rounded
from lirank_assets.model_choice import FeedModelChoice
from lirank_assets.partitions import PREVIOUS_DAY, DailyCalendar, partition_date, trailing_days
from lirank_assets.resources import DataRoot, TrainingResource, Warehouse
from models.popularity import effect_spread, fit_popularity_effects
from models.training.job import run_training
from spark.storage import write_parquet_table

FEED_MODEL_CODE_VERSION = source_version(FEED_MODEL_PACKAGES)
"""`feed_ranking_model`'s code version: a hash of the model's packages (`code_version`)."""

# the block choices shown in the asset's metadata
_BLOCKS = (
    "interaction",
    "calibration",
    "tower",
    "history_pooling",
    "affinity",
    "id_embedding",
    "id_hash",
    "task_grouping",
)


def build_ranking_assets(calendar: DailyCalendar):
    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=[
            AssetDep(
                "training_examples_avro",
                partition_mapping=trailing_days(calendar.cold_start_days),
            ),
            AssetDep("feed_ranking_model", partition_mapping=PREVIOUS_DAY),
        ],
        kinds={"tensorflow", "keras"},
        code_version=FEED_MODEL_CODE_VERSION,
        automation_condition=DAILY_REFRESH,
    )
    def feed_ranking_model(
        context: AssetExecutionContext,
        config: FeedModelChoice,
        data_root: DataRoot,
        training: TrainingResource,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """Multi-task feed ranker (click tower: click, long dwell; contribution tower: like,
        comment, share, vote). Warm-starts from the previous day's model and trains on the new day
        (paper §5); without one, cold-starts on the trailing `cold_start_days` days with the
        blocks of `config` (Residual DCN, isotonic calibration, dense gating, history encoder,
        QR or hashed ids, task grouping, score weights). Reads the training examples' Avro shards
        through ATDS (paper §13; `training.examples_format`). Also writes the serving
        SavedModel."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        plan = training.plan(
            layout, calendar, date, model=config.to_feed_model_config(), model_id=f"feed-{date}"
        )
        result = run_training(plan)
        warehouse.replace_partition("models", date, result.manifest_row(date))
        return MaterializeResult(
            metadata={
                "model_id": result.model_id,
                "mode": result.mode,
                "base_model_id": result.base_model_id or "none (cold start)",
                "train_days": MetadataValue.int(result.train_days),
                "train_rows": MetadataValue.int(result.train_rows),
                "final_loss": rounded(result.final_loss),
                "train_seconds": rounded(result.train_seconds, 1),
                "examples_per_second": rounded(result.examples_per_second, 0),
                "engine": result.engine,
                "examples_format": plan.examples_format,
                "blocks": ", ".join(f"{b}={result.model_config.get(b)}" for b in _BLOCKS),
                "score_weights": MetadataValue.json(dict(result.model_config["score_weights"])),
                "out_of_vocabulary": MetadataValue.json(dict(result.out_of_vocabulary)),
                "path": MetadataValue.path(str(result.path)),
                "saved_model": str(result.saved_model or "not exported"),
            }
        )

    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=["feed_ranking_model", "training_examples"],
        kinds={"pandas", "parquet"},
        automation_condition=DAILY_REFRESH,
    )
    def popularity_random_effects(
        context: AssetExecutionContext, data_root: DataRoot
    ) -> MaterializeResult:
        """Per-post random effects on the residual of the global model for the click and like
        heads (paper §8): y_final = sigmoid(logit(y_global) + b_post)."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        effects = fit_popularity_effects(layout.feed_model(date), layout.training_examples(date))
        path = write_parquet_table(
            pa.Table.from_pandas(effects, preserve_index=False), layout.random_effects(date)
        )
        return MaterializeResult(
            metadata={
                **parquet_metadata(path),
                "posts": MetadataValue.int(int(effects["post_id"].nunique())),
                "heads": ", ".join(sorted(effects["head"].unique())),
                "effect_sd": frame_table(effect_spread(effects)),
            }
        )

    return [feed_ranking_model, popularity_random_effects]
