"""Ranking assets: the multi-task feed model (cold start, then incremental) and the per-post
popularity random effects on its residual."""

import dataclasses
import datetime as dt

from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from lirank_assets.assets.features import AVRO_DATASET
from lirank_assets.partitions import PREVIOUS_DAY, partition_date, trailing_days
from lirank_assets.resources import DataRoot, TrainingResource, Warehouse
from models.feed_model import FeedModelConfig
from models.training.job import (
    GRAPH_FEED_MODEL,
    RankingJobConfig,
    fit_popularity_effects,
    train_ranking_model,
)

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


class FeedModelChoice(Config):
    """The cold-start feed model's blocks, by name from the `models.feed_model` registries
    (`INTERACTIONS`, `CALIBRATIONS`, `TOWERS`, `HISTORY_POOLINGS`, `AFFINITY_ARCHS`,
    `ID_EMBEDDINGS`, `feature_spec.ID_HASHES`, `TASK_GROUPINGS`). Used by a cold start only:
    an incremental day keeps the previous day's model config. Defaults: `GRAPH_FEED_MODEL`."""

    interaction: str = GRAPH_FEED_MODEL.interaction
    cross_layers: int = GRAPH_FEED_MODEL.cross_layers
    cross_projection_dim: int = GRAPH_FEED_MODEL.cross_projection_dim
    calibration: str = GRAPH_FEED_MODEL.calibration
    tower: str = GRAPH_FEED_MODEL.tower
    tower_units: list[int] = list(GRAPH_FEED_MODEL.tower_units)
    history_pooling: str = GRAPH_FEED_MODEL.history_pooling
    affinity: str = GRAPH_FEED_MODEL.affinity
    id_embedding: str = GRAPH_FEED_MODEL.id_embedding
    id_hash: str = GRAPH_FEED_MODEL.id_hash
    embedding_dim: int = GRAPH_FEED_MODEL.embedding_dim
    task_grouping: str = GRAPH_FEED_MODEL.task_grouping
    score_weights: dict[str, float] = dict(GRAPH_FEED_MODEL.score_weights)

    def to_feed_model_config(self) -> FeedModelConfig:
        """`GRAPH_FEED_MODEL` with these choices; raises ValueError naming a bad one."""
        values = self.model_dump()
        values["tower_units"] = tuple(values["tower_units"])
        values["score_weights"] = tuple(values["score_weights"].items())
        return dataclasses.replace(GRAPH_FEED_MODEL, **values)


def model_dir(data_root: DataRoot, date: dt.date):
    return data_root.root / "models" / "feed_ranking_model" / f"date={date.isoformat()}"


def examples_dir(data_root: DataRoot, date: dt.date):
    return data_root.root / "features" / "training_examples" / f"date={date.isoformat()}"


def avro_examples_dir(data_root: DataRoot, date: dt.date):
    """The day's Avro shard directory of `training_examples` (what ATDS reads)."""
    return data_root.root / "features" / AVRO_DATASET / f"date={date.isoformat()}"


def training_examples_dir(data_root: DataRoot, date: dt.date, examples_format: str):
    """The day's examples in `examples_format`: the Avro shard directory or the Parquet one."""
    return (avro_examples_dir if examples_format == "avro" else examples_dir)(data_root, date)


def build_ranking_assets(partitions_def, cold_start_days: int):
    first_day = partitions_def.start.date()

    @asset(
        group_name="ranking",
        partitions_def=partitions_def,
        deps=[
            AssetDep("training_examples", partition_mapping=trailing_days(cold_start_days)),
            AssetDep("feed_ranking_model", partition_mapping=PREVIOUS_DAY),
        ],
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
        previous = model_dir(data_root, date - dt.timedelta(days=1))
        window = [
            date - dt.timedelta(days=i)
            for i in range(training.cold_start_days - 1, -1, -1)
            if date - dt.timedelta(days=i) >= first_day
        ]
        result = train_ranking_model(
            RankingJobConfig(
                cold_start_epochs=training.cold_start_epochs,
                incremental_epochs=training.incremental_epochs,
                batch_size=training.batch_size,
                learning_rate=training.learning_rate,
                horovod_hosts=training.horovod_hosts,
                horovod_num_proc=training.horovod_num_proc,
                model=config.to_feed_model_config(),
                examples_format=training.examples_format,
            ),
            cold_start_examples=[
                training_examples_dir(data_root, d, training.examples_format) for d in window
            ],
            day_examples=training_examples_dir(data_root, date, training.examples_format),
            previous_model=previous if (previous / "manifest.json").exists() else None,
            out_dir=model_dir(data_root, date),
            model_id=f"feed-{date.isoformat()}",
        )
        warehouse.replace_partition("models", date, result.manifest_row(date))
        return MaterializeResult(
            metadata={
                "model_id": result.model_id,
                "mode": result.mode,
                "base_model_id": result.base_model_id or "none (cold start)",
                "train_days": MetadataValue.int(result.train_days),
                "train_rows": MetadataValue.int(result.train_rows),
                "final_loss": MetadataValue.float(result.final_loss),
                "train_seconds": MetadataValue.float(result.train_seconds),
                "examples_per_second": MetadataValue.float(result.examples_per_second),
                "engine": result.engine,
                "examples_format": training.examples_format,
                "blocks": ", ".join(f"{b}={result.model_config.get(b)}" for b in _BLOCKS),
                "score_weights": MetadataValue.json(dict(result.model_config["score_weights"])),
                "path": MetadataValue.path(str(result.path)),
                "saved_model": str(result.saved_model or "not exported"),
            }
        )

    @asset(
        group_name="ranking",
        partitions_def=partitions_def,
        deps=["feed_ranking_model", "training_examples"],
    )
    def popularity_random_effects(
        context: AssetExecutionContext, data_root: DataRoot
    ) -> MaterializeResult:
        """Per-post random effects on the residual of the global model for the click and like
        heads (paper §8): y_final = sigmoid(logit(y_global) + b_post)."""
        date = partition_date(context.partition_key)
        out = data_root.root / "models" / "popularity_random_effects"
        summary = fit_popularity_effects(
            model_dir(data_root, date), examples_dir(data_root, date), out, date
        )
        return MaterializeResult(
            metadata={
                "posts": MetadataValue.int(summary["posts"]),
                "heads": ", ".join(summary["heads"]),
                "effect_sd": MetadataValue.md(summary["effect_sd_md"]),
                "path": MetadataValue.path(str(summary["path"])),
            }
        )

    return [feed_ranking_model, popularity_random_effects]
