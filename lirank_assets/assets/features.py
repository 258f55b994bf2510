"""Spark feature assets: exploded session features, replay candidates, percentile dwell labels,
training examples (Parquet) and their Avro shards (ATDS).

Each takes a range of days in one run (`BackfillPolicy.single_run()`): a backfill of N days is one
run that starts Spark once and processes the days in order, recording each day's metadata on its
own partition.
"""

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    Config,
    MetadataValue,
    asset,
    multi_asset,
)

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import avro_table_schema, frame_table, parquet_metadata
from lirank_assets.partitions import DailyCalendar, partition_dates, trailing_days
from lirank_assets.resources import DataRoot, SparkResource
from spark.avro_shards import AVRO_SCHEMA, AVRO_SCHEMA_VERSION, write_avro_shards_spark
from spark.dwell import CLUSTER_COLUMNS, DEFAULT_WINDOW_DAYS
from spark.dwell import dwell_thresholds as compute_dwell_thresholds
from spark.dwell import long_dwell_labels as attach_long_dwell_labels
from spark.examples import label_rates_by_split
from spark.explode import EXAMPLE_COLUMNS
from spark.explode import explode_session_features as explode_paper_plan
from spark.io import read_parquet_dirs, write_parquet_dir, write_parquet_dirs_together
from spark.partition_manifest import example_manifest
from spark.replay_candidates import random_bucket_candidates
from spark.schemas import check_example_schema

FEATURE = {"group_name": "features", "automation_condition": DAILY_REFRESH}
ONE_RUN = BackfillPolicy.single_run()


class DwellLabelConfig(Config):
    """Percentile long-dwell labels (paper §10): percentile within a context cluster, over the
    trailing `window_days` days (at most the window the asset graph was built with)."""

    percentile: float = 0.9
    window_days: int = DEFAULT_WINDOW_DAYS
    min_count: int = 100


class AvroShardsConfig(Config):
    """How `training_examples_avro` writes the day's shards: `avro_shards` files (0: one per
    Spark partition of the day; a multiple of the Horovod ranks lets each rank read whole files)
    with the `avro_codec` block codec ("deflate" or "null")."""

    avro_shards: int = 0
    avro_codec: str = "deflate"


def build_feature_assets(calendar: DailyCalendar, window_days: int = DEFAULT_WINDOW_DAYS):
    """The features group; `dwell_thresholds` of day d depends on `exploded_session_features`
    of days d - window_days + 1 .. d (the longest window its config may ask for)."""
    partitions_def = calendar.logs

    @multi_asset(
        specs=[
            AssetSpec(
                "exploded_session_features",
                description="One row per impression: served post features + keys exploded, "
                "joined with labels first, session features second (paper §14).",
                deps=["feed_sessions", "feed_impressions"],
                kinds={"spark", "parquet"},
                **FEATURE,
            ),
            AssetSpec(
                "replay_candidates",
                description="Every served post of the random-bucket sessions (impressed or not): "
                "what the replay metric re-ranks (paper §15).",
                deps=["feed_sessions", "feed_impressions"],
                kinds={"spark", "parquet"},
                **FEATURE,
            ),
        ],
        partitions_def=partitions_def,
        backfill_policy=ONE_RUN,
        name="session_explosion",
    )
    def session_explosion(
        context: AssetExecutionContext, data_root: DataRoot, spark: SparkResource
    ):
        layout, session = data_root.layout, spark.session()
        for date in partition_dates(context):
            sessions = read_parquet_dirs(session, [layout.raw_table("feed_sessions", date)])
            impressions = read_parquet_dirs(session, [layout.raw_table("feed_impressions", date)])
            outputs = {
                "exploded_session_features": (
                    explode_paper_plan(sessions, impressions),
                    layout.exploded_session_features(date),
                ),
                "replay_candidates": (
                    random_bucket_candidates(sessions, impressions),
                    layout.replay_candidates(date),
                ),
            }
            write_parquet_dirs_together(list(outputs.values()), layout.commits)  # one unit
            for name, (_, path) in outputs.items():
                context.add_asset_metadata(
                    parquet_metadata(path), asset_key=name, partition_key=date.isoformat()
                )

    @asset(
        partitions_def=partitions_def,
        deps=[AssetDep("exploded_session_features", partition_mapping=trailing_days(window_days))],
        kinds={"spark", "parquet"},
        backfill_policy=ONE_RUN,
        **FEATURE,
    )
    def dwell_thresholds(
        context: AssetExecutionContext,
        config: DwellLabelConfig,
        data_root: DataRoot,
        spark: SparkResource,
    ) -> None:
        """Long-dwell threshold per context cluster (position bucket x content type x platform),
        the `percentile` of dwell time over the trailing window, re-measured daily (paper §10)."""
        if config.window_days > window_days:
            raise ValueError(
                f"`window_days` {config.window_days} is longer than the {window_days}-day "
                "dependency window this graph declares; use at most that, or build the graph "
                f"with build_feature_assets(..., window_days={config.window_days})"
            )
        layout, session = data_root.layout, spark.session()
        for date in partition_dates(context):
            window = calendar.window(date, config.window_days)
            examples = read_parquet_dirs(
                session, [layout.exploded_session_features(day) for day in window]
            )
            thresholds = compute_dwell_thresholds(examples, config.percentile, config.min_count)
            path = write_parquet_dir(thresholds, layout.dwell_thresholds(date))
            table = pd.read_parquet(path).sort_values(list(CLUSTER_COLUMNS), ignore_index=True)
            metadata = {
                **parquet_metadata(path),
                "window_days": MetadataValue.int(len(window)),
                "window": f"{window[0].isoformat()} .. {window[-1].isoformat()}",
                "backed_off_clusters": MetadataValue.int(int((table["level"] != "cluster").sum())),
                "thresholds": frame_table(table.drop(columns=["date"], errors="ignore"), digits=2),
            }
            context.add_asset_metadata(metadata, partition_key=date.isoformat())

    @asset(
        partitions_def=partitions_def,
        deps=["exploded_session_features", "dwell_thresholds"],
        kinds={"spark", "parquet"},
        backfill_policy=ONE_RUN,
        **FEATURE,
    )
    def training_examples(
        context: AssetExecutionContext, data_root: DataRoot, spark: SparkResource
    ) -> None:
        """Model-ready rows as Parquet: exploded features with the day's percentile long-dwell
        label (what random effects and evaluation read; `training_examples_avro` for training)."""
        layout, session = data_root.layout, spark.session()
        for date in partition_dates(context):
            exploded = layout.exploded_session_features(date)
            examples = read_parquet_dirs(session, [exploded])
            check_example_schema(examples.columns, exploded, required=EXAMPLE_COLUMNS)
            thresholds = read_parquet_dirs(session, [layout.dwell_thresholds(date)])
            path = write_parquet_dir(
                attach_long_dwell_labels(examples, thresholds),
                layout.training_examples(date),
                manifest=example_manifest,  # fingerprint checked against the Avro shards
            )
            rates = label_rates_by_split(read_parquet_dirs(session, [path]))
            metadata = {**parquet_metadata(path), "label_rates_by_split": frame_table(rates)}
            context.add_asset_metadata(metadata, partition_key=date.isoformat())

    @asset(
        partitions_def=partitions_def,
        deps=["training_examples"],
        kinds={"spark", "avro"},
        backfill_policy=ONE_RUN,
        **FEATURE,
    )
    def training_examples_avro(
        context: AssetExecutionContext,
        config: AvroShardsConfig,
        data_root: DataRoot,
        spark: SparkResource,
    ) -> None:
        """The day's training examples as Avro shards in the ATDS layout (paper §13), written by
        the Spark tasks: what the model trains on."""
        layout, session = data_root.layout, spark.session()
        for date in partition_dates(context):
            examples = read_parquet_dirs(session, [layout.training_examples(date)])
            check_example_schema(examples.columns, layout.training_examples(date))
            shards = write_avro_shards_spark(
                examples,
                layout.training_examples_avro(date),
                num_shards=config.avro_shards or None,
                codec=config.avro_codec,
            )
            metadata = {
                "dagster/row_count": MetadataValue.int(sum(shard.rows for shard in shards)),
                "dagster/column_schema": avro_table_schema(AVRO_SCHEMA),
                "shards": MetadataValue.int(len(shards)),
                "bytes": MetadataValue.int(sum(shard.bytes for shard in shards)),
                "schema_version": MetadataValue.int(AVRO_SCHEMA_VERSION),
                "path": MetadataValue.path(str(layout.training_examples_avro(date))),
            }
            context.add_asset_metadata(metadata, partition_key=date.isoformat())

    return [session_explosion, dwell_thresholds, training_examples, training_examples_avro]
