"""The Dagster definitions: the LiRank asset graph with resources chosen from `Settings`.

`dagster dev -w workspace.yaml` loads `defs` from here. Local defaults: simulated world, Spark
`local[2]`, in-process TensorFlow training, DuckDB under the data root.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from lirank_assets.assets.evaluation import build_evaluation_assets
from lirank_assets.assets.features import build_feature_assets
from lirank_assets.assets.ranking import build_ranking_assets
from lirank_assets.assets.world import build_raw_log_assets
from lirank_assets.checks import build_checks
from lirank_assets.partitions import daily_partitions
from lirank_assets.resources import (
    DataRoot,
    FeedLogSource,
    SparkResource,
    TrainingResource,
    Warehouse,
)
from lirank_assets.sensors import build_new_log_day_sensor
from lirank_assets.settings import Settings, settings_from_env
from spark.storage import data_root

DOWNSTREAM_GROUPS = ("features", "ranking", "evaluation")


def build_resources(settings: Settings, root: str) -> dict[str, object]:
    data = DataRoot(path=root)
    return {
        "data_root": data,
        "spark": SparkResource(master=settings.spark_master),
        "log_source": (
            FeedLogSource(logs_path=settings.logs_path)
            if settings.logs_path
            else FeedLogSource.simulated(settings.world, num_shards=settings.world_shards)
        ),
        "training": TrainingResource(
            cold_start_days=settings.cold_start_days,
            horovod_hosts=settings.horovod_hosts,
            horovod_num_proc=settings.horovod_num_proc,
        ),
        "warehouse": Warehouse(database=str(data.warehouse_path)),
    }


def build_definitions(settings: Settings, root: str) -> Definitions:
    partitions = daily_partitions(settings.start_date, settings.end_date)
    assets = [
        build_raw_log_assets(partitions),
        *build_feature_assets(partitions),
        *build_ranking_assets(partitions, settings.cold_start_days),
        *build_evaluation_assets(partitions),
    ]
    daily_refresh = define_asset_job(
        "daily_refresh_job",
        selection=AssetSelection.groups(*DOWNSTREAM_GROUPS),
        description="Everything downstream of one day's raw logs, for that day.",
    )
    raw_logs = define_asset_job(
        "raw_logs_job",
        selection=AssetSelection.groups("world"),
        description="One day of raw feed logs (simulated, or the user's files validated).",
    )
    features = define_asset_job(
        "features_job",
        selection=AssetSelection.groups("features"),
        description="Features and labels of one day (the days before the first model).",
    )
    return Definitions(
        assets=assets,
        asset_checks=build_checks(partitions),
        jobs=[raw_logs, features, daily_refresh],
        sensors=[build_new_log_day_sensor(daily_refresh)],
        resources=build_resources(settings, root),
        # One process per run: the Spark session and TensorFlow runtime are started once per run.
        executor=in_process_executor,
    )


defs = build_definitions(settings_from_env(), str(data_root()))
