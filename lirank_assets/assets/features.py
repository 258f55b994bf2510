"""Spark feature assets: exploded session features, percentile dwell labels, training examples."""

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from pyspark.sql import functions as F

from lirank_assets.partitions import partition_date, trailing_days
from lirank_assets.resources import DataRoot, SparkResource
from spark.avro_shards import AVRO_SCHEMA_VERSION, write_avro_shards_spark
from spark.dwell import DEFAULT_WINDOW_DAYS, trailing_window
from spark.dwell import dwell_thresholds as compute_dwell_thresholds
from spark.dwell import long_dwell_labels as attach_long_dwell_labels
from spark.explode import explode_session_features as explode_paper_plan
from spark.io import read_spark_partitions, write_spark_partition
from spark.replay_candidates import random_bucket_candidates
from spark.storage import partition_dir

AVRO_DATASET = "training_examples_avro"
"""Avro shards of `training_examples` (ATDS reader): `features/<this>/date=.../part-*.avro`."""


class DwellLabelConfig(Config):
    """Percentile long-dwell labels (paper §10): percentile within a context cluster, over the
    trailing `window_days` days (at most the window the asset graph was built with)."""

    percentile: float = 0.9
    window_days: int = DEFAULT_WINDOW_DAYS
    min_count: int = 100


class TrainingExamplesConfig(Config):
    """How `training_examples` writes its Avro shards: `avro_shards` files (0: one per Spark
    partition of the day; a multiple of the Horovod ranks lets each rank read whole files) with
    the `avro_codec` block codec ("deflate" or "null")."""

    avro_shards: int = 0
    avro_codec: str = "deflate"


def build_feature_assets(partitions_def, window_days: int = DEFAULT_WINDOW_DAYS):
    """The features group; `dwell_thresholds` of day d depends on `exploded_session_features`
    of days d - window_days + 1 .. d (the longest window its config may ask for)."""
    first_day = partitions_def.start.date()

    @multi_asset(
        specs=[
            AssetSpec(
                "exploded_session_features",
                group_name="features",
                description="One row per impression: served post features + keys exploded, "
                "joined with labels first, session features second (paper §14).",
                deps=["feed_sessions", "feed_impressions"],
                partitions_def=partitions_def,
            ),
            AssetSpec(
                "replay_candidates",
                group_name="features",
                description="Every served post of the random-bucket sessions (impressed or not): "
                "what the replay metric re-ranks (paper §15).",
                deps=["feed_sessions", "feed_impressions"],
                partitions_def=partitions_def,
            ),
        ],
        partitions_def=partitions_def,
        name="session_explosion",
    )
    def session_explosion(
        context: AssetExecutionContext, data_root: DataRoot, spark: SparkResource
    ):
        date = partition_date(context.partition_key)
        session = spark.session()
        raw = data_root.root / "raw"
        sessions = read_spark_partitions(session, raw, "feed_sessions", [date])
        impressions = read_spark_partitions(session, raw, "feed_impressions", [date])
        features = data_root.root / "features"
        outputs = {
            "exploded_session_features": explode_paper_plan(sessions, impressions),
            "replay_candidates": random_bucket_candidates(sessions, impressions),
        }
        for name, frame in outputs.items():
            path = write_spark_partition(frame, features, name, date)
            rows = session.read.parquet(str(path)).count()
            yield MaterializeResult(
                asset_key=name,
                metadata={"rows": MetadataValue.int(rows), "path": MetadataValue.path(str(path))},
            )

    @asset(
        group_name="features",
        partitions_def=partitions_def,
        deps=[AssetDep("exploded_session_features", partition_mapping=trailing_days(window_days))],
    )
    def dwell_thresholds(
        context: AssetExecutionContext,
        config: DwellLabelConfig,
        data_root: DataRoot,
        spark: SparkResource,
    ) -> MaterializeResult:
        """Long-dwell threshold per context cluster (position bucket x content type x platform),
        the `percentile` of dwell time over the trailing window, re-measured daily (paper §10)."""
        date = partition_date(context.partition_key)
        if config.window_days > window_days:
            raise ValueError(
                f"`window_days` {config.window_days} is longer than the {window_days}-day "
                "dependency window this graph declares; use at most that, or build the graph "
                f"with build_feature_assets(..., window_days={config.window_days})"
            )
        features = data_root.root / "features"
        window = trailing_window(date, config.window_days, first_day)
        session = spark.session()
        examples = read_spark_partitions(session, features, "exploded_session_features", window)
        thresholds = compute_dwell_thresholds(examples, config.percentile, config.min_count)
        path = write_spark_partition(thresholds, features, "dwell_thresholds", date)
        written = session.read.parquet(str(path))  # the small table as stored, not recomputed
        table = written.orderBy("content_type", "platform", "position_bucket").toPandas()
        return MaterializeResult(
            metadata={
                "clusters": MetadataValue.int(len(table)),
                "window_days": MetadataValue.int(len(window)),
                "window": f"{window[0].isoformat()} .. {window[-1].isoformat()}",
                "backed_off_clusters": MetadataValue.int(int((table["level"] != "cluster").sum())),
                "thresholds": MetadataValue.md(table.round(2).to_markdown(index=False)),
                "path": MetadataValue.path(str(path)),
            }
        )

    @asset(
        group_name="features",
        partitions_def=partitions_def,
        deps=["exploded_session_features", "dwell_thresholds"],
    )
    def training_examples(
        context: AssetExecutionContext,
        config: TrainingExamplesConfig,
        data_root: DataRoot,
        spark: SparkResource,
    ) -> MaterializeResult:
        """Model-ready rows: exploded features with the day's percentile long-dwell label, as
        Parquet and as Avro shards in the ATDS layout (paper §13), written by the Spark tasks."""
        date = partition_date(context.partition_key)
        session = spark.session()
        features = data_root.root / "features"
        examples = read_spark_partitions(session, features, "exploded_session_features", [date])
        thresholds = read_spark_partitions(session, features, "dwell_thresholds", [date])
        labelled = attach_long_dwell_labels(examples, thresholds)
        path = write_spark_partition(labelled, features, "training_examples", date)
        written = session.read.parquet(str(path))
        shards = write_avro_shards_spark(
            written,
            partition_dir(features, AVRO_DATASET, date),
            num_shards=config.avro_shards or None,
            codec=config.avro_codec,
        )
        rates = (
            written.groupBy("split")
            .agg(
                F.count("*").alias("rows"),
                *[
                    F.avg(label).alias(label)
                    for label in ("click", "like", "comment", "share", "vote", "long_dwell")
                ],
            )
            .toPandas()
        )
        return MaterializeResult(
            metadata={
                "rows": MetadataValue.int(int(rates["rows"].sum())),
                "label_rates_by_split": MetadataValue.md(rates.round(4).to_markdown(index=False)),
                "path": MetadataValue.path(str(path)),
                "avro_shards": MetadataValue.int(len(shards)),
                "avro_rows": MetadataValue.int(sum(shard.rows for shard in shards)),
                "avro_bytes": MetadataValue.int(sum(shard.bytes for shard in shards)),
                "avro_schema_version": MetadataValue.int(AVRO_SCHEMA_VERSION),
                "avro_path": MetadataValue.path(str(shards[0].path.parent)),
            }
        )

    return [session_explosion, dwell_thresholds, training_examples]
